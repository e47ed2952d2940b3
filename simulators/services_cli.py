"""`sscard sim blanks`, `sscard sim psam` and the hopper behind `sscard sim serve --hopper DIR`."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from cardlib import issuer_keys

from . import vpcd


def _event(as_json: bool):  # type: ignore[no-untyped-def]
    def event(name: str, data: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps({"event": name, **data}))
            sys.stdout.flush()

    return event


@click.command("blanks")
@click.option("--keys", "keys_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Issuer key directory (the transport key of each chip comes from its perso master).")
@click.option("--alg", type=click.Choice(["3des", "sm4"]), default=None,
              help="Chip algorithm (default: the only set in --keys, else sm4).")
@click.option("--count", type=click.IntRange(1, 100000), default=10, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the blank card images (a hopper).")
@click.option("--json", "as_json", is_flag=True)
def sim_blanks(keys_dir: Path, alg: str | None, count: int, out_dir: Path, as_json: bool) -> None:
    """Make blank (pre-personalization) card images, as a card maker delivers chips for an issuer."""
    from .personalization import new_blank, write_json_atomic

    try:
        sets = issuer_keys.load(keys_dir)
    except issuer_keys.KeySetError as exc:
        raise click.ClickException(str(exc)) from None
    alg = alg or (next(iter(sets)) if len(sets) == 1 else "sm4")
    if alg not in sets:
        raise click.ClickException(f"no {alg} key set in {keys_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = len(list(out_dir.glob("*.json")))
    made = []
    with click.progressbar(range(count), label="blank cards", file=sys.stderr) as bar:
        for i in bar:
            path = out_dir / f"card{start + i:05d}.json"
            blank = new_blank(sets[alg])  # type: ignore[index]
            write_json_atomic(path, blank)
            made.append({"path": str(path), "serial": blank["atr"][-16:]})
    if as_json:
        click.echo(json.dumps({"blanks": made, "alg": alg}))
    else:
        click.echo(f"{count} blank {alg} cards in {out_dir}")


@click.command("psam")
@click.option("--keys", "keys_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Issuer key directory the PSAM holds.")
@click.option("--vpcd", "address", default=f"{vpcd.DEFAULT_HOST}:{vpcd.DEFAULT_PORT + 1}", show_default=True,
              help="vpcd slot for the PSAM (default: the second slot).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
def sim_psam(keys_dir: Path, address: str, as_json: bool) -> None:
    """Serve the simulated PSAM, holding an issuer's key sets, in a vpcd slot."""
    from .psam import Psam

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        host, port = vpcd.parse_address(address)
        card = Psam.from_dir(keys_dir)
    except (ValueError, issuer_keys.KeySetError) as exc:
        raise click.ClickException(str(exc)) from None
    event = _event(as_json)
    event("serving", {"psam": str(keys_dir), "vpcd": f"{host}:{port}", "atr": card.atr.hex().upper()})
    vpcd.serve(card, host, port, on_event=event)


def serve_hopper(directory: Path, address: str, as_json: bool) -> None:
    """Serve the card images of `directory` one after another (EJECT 80EE0000 presents the next); stop, so the
    reader reports no card, once the last one is ejected."""
    from .cardos import build_card
    from .hopper import Hopper

    host, port = vpcd.parse_address(address)
    event = _event(as_json)
    bridge: list[vpcd.Bridge] = []

    def empty() -> None:
        event("empty", {"hopper": str(directory)})
        if bridge:
            bridge[0].stopping = True  # the bridge finishes answering the EJECT, then lets go of the slot

    hopper = Hopper(directory, build_card, on_empty=empty)
    if not hopper.paths:
        raise click.ClickException(f"no card images in {directory}")
    b = vpcd.Bridge(hopper, host, port, event)
    bridge.append(b)
    import signal

    previous = {s: signal.signal(s, b.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    event("serving", {"hopper": str(directory), "cards": len(hopper.paths), "vpcd": f"{host}:{port}"})
    try:
        b.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    event("stopped", {"hopper": str(directory), "ejected": hopper.ejected})
