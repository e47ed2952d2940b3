"""`sscard sim ...`: make card images and serve them in the vpcd virtual reader."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from cardlib.idnumber import mask

from . import image as card_image
from . import issue as card_issue
from . import vpcd


@click.command("new")
@click.option("--holder", "holder_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Holder file (JSON): ssn, name, gender, nation, birthplace, birth_date, card_no, card_id, "
                   "version, issue_date, expiry, pin.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Card image file to write.")
@click.option("--alg", type=click.Choice(["3des", "sm4"]), default=None,
              help="Card algorithm (default: the holder file's `algorithm`, else sm4).")
@click.option("--force", is_flag=True, help="Replace an existing card image.")
@click.option("--keys", "keys_dir", default=None, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Issuer key directory: card keys diversified from its master keys (default: random keys).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def sim_new(holder_path: Path, out_path: Path, alg: str | None, force: bool, as_json: bool,
            keys_dir: Path | None = None) -> None:
    """Make a personalized software card image from a holder file."""
    if out_path.exists() and not force:
        raise click.ClickException(f"{out_path} exists; use --force to replace it")
    try:
        holder = card_issue.load_holder(holder_path)
        key_set = None
        if keys_dir is not None:  # card services (issue 3): the issuer's key set for the card's algorithm
            from cardlib import issuer_keys

            alg = alg or holder.get("algorithm") or card_issue.DEFAULT_ALG
            key_set = issuer_keys.load(keys_dir).get(alg)  # type: ignore[call-overload]
            if key_set is None:
                raise card_issue.HolderError(f"no {alg} issuer key set in {keys_dir}")
        img = card_issue.issue(holder, alg=alg, key_set=key_set)  # type: ignore[arg-type]
    except (card_issue.HolderError, card_image.ImageError, ValueError) as exc:
        raise click.ClickException(f"{holder_path}: {exc}") from None
    img.path = out_path
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        img.save()
    except OSError as exc:
        raise click.ClickException(f"cannot write {out_path}: {exc.strerror or exc}") from None
    result = {"card": str(out_path), "card_no": holder["card_no"], "ssn": mask(holder["ssn"]),
              "algorithm": img.alg, "atr": img.atr.hex().upper()}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"card image {out_path}: card {result['card_no']}, holder {result['ssn']}, "
                   f"{img.alg.upper()}, ATR {result['atr']}")


@click.command("serve")
@click.option("--card", "card_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Card image file (made by `sscard sim new`).")
@click.option("--hopper", "hopper_dir", default=None, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Instead of --card: serve the card images in DIR one after another, the next when the host "
                   "ejects the current one (EJECT 80EE0000), as a card printer's hopper does.")
@click.option("--vpcd", "address", default=f"{vpcd.DEFAULT_HOST}:{vpcd.DEFAULT_PORT}", show_default=True,
              help="Where vpcd (pcscd's virtual reader) listens; port 35963 is slot 0, 35964 slot 1.")
@click.option("-v", "--verbose", is_flag=True, help="Log every APDU (header, lengths and SW only).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines on stdout.")
def sim_serve(card_path: Path | None, address: str, verbose: bool, as_json: bool, hopper_dir: Path | None = None) -> None:
    """Serve a card image in the vpcd virtual reader until SIGTERM or Ctrl-C."""
    from .cardos import build_card

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if (card_path is None) == (hopper_dir is None):
        raise click.UsageError("give one of --card FILE and --hopper DIR")
    if hopper_dir is not None:  # card services (issue 3): simulators/services_cli.py
        from .services_cli import serve_hopper

        try:
            return serve_hopper(hopper_dir, address, as_json)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        host, port = vpcd.parse_address(address)
        img = card_image.load(card_path)
        card = build_card(img)
    except (ValueError, card_image.ImageError) as exc:
        raise click.ClickException(str(exc)) from None

    def event(name: str, data: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps({"event": name, **data}), nl=True)
            sys.stdout.flush()

    def stopped() -> None:
        try:
            img.save()
        except OSError as exc:
            logging.getLogger("sscard.sim").error("could not save %s: %s", card_path, exc.strerror or exc)
        event("stopped", {"card": str(card_path)})

    if not as_json:
        click.echo(f"serving {card_path} (ATR {card.atr.hex().upper()}) in vpcd {host}:{port}; Ctrl-C stops",
                   err=True)
    event("serving", {"card": str(card_path), "vpcd": f"{host}:{port}", "atr": card.atr.hex().upper()})
    vpcd.serve(card, host, port, on_stop=stopped, on_event=event)
