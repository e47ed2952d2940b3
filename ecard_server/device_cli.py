"""`sscard ecard ...`: the holder's phone and the counter terminal from a shell, so the whole e-card flow can be
walked without an app: a terminal asks for an activation code, a device file is activated, codes are shown online
or made offline, the holder reports the card lost."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from ecard.client import ClientError, EcardClient
from ecard_server.cli import _emit, _one_line
from sscard_settings import db_option


def _fail(exc: ClientError, hint: str = "") -> click.ClickException:
    if exc.reason == "unreachable":
        return click.ClickException(exc.detail + hint)
    return click.ClickException(exc.detail)


def _save(path: Path, data: dict[str, Any]) -> None:
    """Written whole to a temporary file and renamed: a spent credential is gone from the file, or the file is as
    it was (an interrupted write never leaves half a key)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _batch_out(dev: Any) -> list[dict[str, str]]:
    from ecard.keys import b64u

    return [{"key_pem": k.pem().decode(), "alg": k.alg, "credential": b64u(c)} for k, c in dev.batch]


def _load(path: str) -> tuple[Any, dict[str, Any]]:
    from ecard.device import Device
    from ecard.keys import BadKeyError, b64u_decode, signing_key_from_pem

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        dev = Device(signing_key_from_pem(data["key_pem"].encode(), data["alg"]), device_id=str(data["device_id"]))
        dev.credential = b64u_decode(data.get("credential", "")) if data.get("credential") else b""
        dev.batch = [(signing_key_from_pem(m["key_pem"].encode(), m["alg"]), b64u_decode(m["credential"]))
                     for m in data.get("batch", [])]
    except (OSError, ValueError, KeyError, TypeError, BadKeyError) as exc:
        raise click.ClickException(f"{path} is not a device file from `sscard ecard activate` "
                                   f"({exc.__class__.__name__})") from None
    return dev, data


def _batch_size() -> int:
    from sscard_settings import Settings

    return Settings().ecard_batch


@click.command("sample")
@db_option
@click.option("--seed", type=int, default=1, show_default=True, help="Which synthetic holder (same seed, same one).")
@click.option("--json", "as_json", is_flag=True)
def sample(db_url: str | None, seed: int, as_json: bool) -> None:
    """Add a synthetic sample holder with an active card (for demos); prints the card number to use."""
    from cardlib.idnumber import mask
    from holder_db.ecard import EcardStore, StoreError

    try:
        h = EcardStore(db_url).add_sample_holder(seed)
    except StoreError as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    _emit(as_json, {"card_no": h.card_no, "card_status": h.card_status, "holder": mask(h.ssn), "name": h.name},
          f"sample holder {h.name} ({mask(h.ssn)}), card {h.card_no} ({h.card_status})")


server_option = click.option("--server", default="http://127.0.0.1:8000", show_default=True, help="E-card server.")


@click.command("activation-code")
@server_option
@click.option("--terminal-key", envvar="SSCARD_TERMINAL_KEY", required=True, help="From `sscard keys terminal`.")
@click.option("--ssn", help="SSN read from the card.")
@click.option("--card-no", help="Card number read from the card.")
@click.option("--json", "as_json", is_flag=True)
def activation_code(server: str, terminal_key: str, ssn: str | None, card_no: str | None, as_json: bool) -> None:
    """Counter terminal: after reading the card and checking the PIN, get a one-time activation code."""
    if bool(ssn) == bool(card_no):
        raise click.UsageError("give either --ssn or --card-no")
    try:
        with EcardClient(server) as c:
            got = c.activation_code(terminal_key, ssn=ssn, card_no=card_no)
    except ClientError as exc:
        raise _fail(exc) from None
    out = {"code": got.code, "expires_at": int(got.expires_at)}
    _emit(as_json, out, f"activation code {got.code} (valid for {int(got.expires_at - time.time())} s)")


@click.command("activate")
@click.argument("code")
@server_option
@click.option("--device", "device_file", required=True, type=click.Path(dir_okay=False),
              help="Device file to create (holds the device's private key, mode 0600).")
@click.option("--alg", type=click.Choice(["EdDSA", "ES256", "SM2"]), default="EdDSA", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def activate(code: str, server: str, device_file: str, alg: str, as_json: bool) -> None:
    """Holder's device: bind a new device key with an activation code, and fetch the offline credential."""
    from ecard.device import Device
    from ecard.keys import generate

    path = Path(device_file)
    if path.exists():
        raise click.ClickException(f"{path} exists; a device file is made once per activation")
    dev = Device(generate(alg))
    try:
        with EcardClient(server) as c:
            info = c.activate(code, dev)
            cred = c.offline_batch(dev, _batch_size())
    except ClientError as exc:
        raise _fail(exc) from None
    _save(path, {"server": server, "alg": alg, "device_id": dev.device_id, "holder": info.holder,
                 "key_pem": dev.key.pem().decode(), "batch": _batch_out(dev),
                 "credential_expires_at": cred.expires_at})
    _emit(as_json, {"device_id": dev.device_id, "holder": info.holder, "device_file": str(path)},
          f"e-card activated on device {dev.device_id}; device file {path} (keep it private)")


@click.command("code")
@click.option("--device", "device_file", required=True, type=click.Path(dir_okay=False))
@click.option("--offline", is_flag=True, help="Make the code on the device, with no network.")
@click.option("--ttl", type=click.IntRange(10, 300), default=60, show_default=True)
@click.option("--png", "png_file", type=click.Path(dir_okay=False), help="Also write the QR as a PNG.")
@click.option("--show", is_flag=True, help="Also draw the QR in the terminal.")
@click.option("--json", "as_json", is_flag=True)
def code(device_file: str, offline: bool, ttl: int, png_file: str | None, show: bool, as_json: bool) -> None:
    """Holder's device: a dynamic QR code, from the server (default) or made offline under the credential."""
    from ecard import render as qr_render

    dev, data = _load(device_file)
    if offline:
        try:
            token = dev.offline_code(ttl=ttl)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        _save(Path(device_file), {**data, "batch": _batch_out(dev)})  # the member just used is spent
    else:
        try:
            with EcardClient(data.get("server", "")) as c:
                token = c.token(dev, ttl).token
                if not dev.batch:  # online anyway: a fresh batch for the next codes made offline
                    cred = c.offline_batch(dev, _batch_size())
                    _save(Path(device_file), {**data, "batch": _batch_out(dev),
                                              "credential_expires_at": cred.expires_at})
        except ClientError as exc:
            raise _fail(exc, "; try --offline") from None
    if png_file:
        Path(png_file).write_bytes(qr_render.png(token, 6))
    if show and not as_json:
        click.echo(qr_render.terminal(token))
    _emit(as_json, {"token": token, "chars": len(token), "offline": offline}, token)


@click.command("loss")
@click.option("--device", "device_file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def loss(device_file: str, as_json: bool) -> None:
    """Holder's device: report the card lost; every e-card code of it stops verifying."""
    dev, data = _load(device_file)
    try:
        with EcardClient(data.get("server", "")) as c:
            got = c.report_loss(dev)
    except ClientError as exc:
        raise _fail(exc) from None
    _emit(as_json, {"card_no_masked": got.card_no_masked, "card_status": got.card_status,
                    "revoked_indices": got.revoked}, f"card {got.card_no_masked} is now {got.card_status}")


@click.command("access-log")
@click.option("--device", "device_file", required=True, type=click.Path(dir_okay=False))
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="Entries a page.")
@click.option("--before", type=click.IntRange(1), default=None, help="Older than this entry (the next page).")
@click.option("--json", "as_json", is_flag=True)
def access_log(device_file: str, limit: int, before: int | None, as_json: bool) -> None:
    """Holder's device: who read my record, when, why and which fields, and what I approved; newest first."""
    dev, data = _load(device_file)
    try:
        with EcardClient(data.get("server", "")) as c:
            page = c.access_log(dev, before=before, limit=limit)
    except ClientError as exc:
        raise _fail(exc) from None
    lines = [f"{e['at'][:19]}  {e['kind']:<12} {e['who']:<28} {e['why']}"
             + (f" [{', '.join(e['fields'])}]" if e["fields"] else "") for e in page.entries]
    if page.next_before is not None:
        lines.append(f"(older: --before {page.next_before})")
    _emit(as_json, {"entries": page.entries, "next_before": page.next_before},
          "\n".join(lines) or "no one has read your record")
