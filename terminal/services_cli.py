"""CLI edges of the card services: `sscard keys new-issuer`, `sscard card pin ...`, `sscard card bank`.

Thin: options in, a service call, text or JSON out. A PSAM is a reader (`--psam NAME`) or a software PSAM folder
(`--psam DIR`, also `--keys DIR`), opened by the `sscard` command (cli.open_psam). PINs come from a hidden
prompt or, for scripts, one line on stdin (`--pin-stdin`); never from the command line.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from cardlib import issuer_keys, pboc, security
from cardlib.channel import Channel
from cardlib.cli import psam_from_context, psam_options
from cardlib.psam import Psam
from cardlib.sw import CardError, interface_code
from cardlib.transport import TransportError

READER_ERROR = interface_code("device")  # -1..-15: no reader, no card, card pulled


def _out(as_json: bool, payload: dict[str, object], text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


def _fail(as_json: bool, message: str, code: int) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, "code": code}, ensure_ascii=False), err=True)
    else:
        click.echo(f"error {code}: {message}", err=True)
    sys.exit(1)


@contextmanager
def open_card(reader: str | None) -> Iterator[Channel]:
    """The card in `reader` (the first reader with a card when None), as a Channel: every APDU through one stack."""
    from cardlib.pcsc import PcscTransport

    with PcscTransport(reader) as transport:
        yield Channel(transport)


@contextmanager
def open_psam(psam_spec: str | None, keys: str | Path | None) -> Iterator[Psam]:
    """The PSAM named by --psam (a reader or a software PSAM folder) or --keys (a folder), opened by the CLI."""
    spec = psam_spec or keys
    if spec is None:
        raise click.UsageError("a PSAM is needed: --psam READER, or --psam DIR for a software PSAM folder")
    with psam_from_context(spec) as psam:
        yield psam


def read_pin(pin_stdin: bool, prompt: str, confirm: bool = False) -> str:
    if pin_stdin:
        line = sys.stdin.readline()
        return line.strip()
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


# ---- keys -------------------------------------------------------------------------------------------------------

@click.command("new-issuer")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the key set (created; files are 0600).")
@click.option("--alg", type=click.Choice(["3des", "sm4"]), default="sm4", show_default=True)
@click.option("--issuer", default=None, help="Issuer name recorded in the set (random when omitted).")
@click.option("--json", "as_json", is_flag=True)
def keys_new_issuer(out: Path, alg: str, issuer: str | None, as_json: bool) -> None:
    """Make an issuer master key set (SSSE and financial keys) for one algorithm."""
    try:
        path = issuer_keys.save(issuer_keys.new_key_set(alg, issuer), out)  # type: ignore[arg-type]
    except issuer_keys.KeySetError as exc:
        raise click.ClickException(str(exc)) from None
    _out(as_json, {"ok": True, "path": str(path), "alg": alg, "usages": list(issuer_keys.usages())},
         f"issuer key set ({alg}) written to {path} (mode 0600)")


# ---- PIN --------------------------------------------------------------------------------------------------------

_reader = click.option("--reader", default=None, help="PC/SC reader name (default: the first with a card).")
_json = click.option("--json", "as_json", is_flag=True)
_stdin = click.option("--pin-stdin", is_flag=True, help="Read PIN(s) from stdin, one per line (for scripts).")


def _pin_errors(as_json: bool, fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except security.PinError as exc:
        payload = {"ok": False, "error": str(exc), "code": exc.code, "tries_left": exc.tries_left}
        if as_json:
            click.echo(json.dumps(payload), err=True)
        else:
            click.echo(f"error {exc.code}: {exc}", err=True)
        sys.exit(1)
    except CardError as exc:
        _fail(as_json, str(exc), exc.code)
    except TransportError as exc:
        _fail(as_json, str(exc), READER_ERROR)
    except ValueError as exc:
        _fail(as_json, str(exc), -1)


@click.command("verify")
@_reader
@_stdin
@_json
def pin_verify(reader: str | None, pin_stdin: bool, as_json: bool) -> None:
    """Check the holder's PIN (tries left are shown when wrong)."""
    pin = read_pin(pin_stdin, "PIN")

    def run() -> None:
        with open_card(reader) as t:
            security.select_ssse(t)
            security.verify_pin(t, pin)

    _pin_errors(as_json, run)
    _out(as_json, {"ok": True}, "PIN correct")


@click.command("change")
@_reader
@_stdin
@_json
def pin_change(reader: str | None, pin_stdin: bool, as_json: bool) -> None:
    """Change the PIN: the old one, then the new one (twice at a prompt)."""
    old = read_pin(pin_stdin, "Current PIN")
    new = read_pin(pin_stdin, "New PIN", confirm=not pin_stdin)

    def run() -> None:
        with open_card(reader) as t:
            security.select_ssse(t)
            security.change_pin(t, old, new)

    _pin_errors(as_json, run)
    _out(as_json, {"ok": True}, "PIN changed")


@click.command("unblock")
@_reader
@psam_options
@_stdin
@_json
def pin_unblock(reader: str | None, psam_spec: str | None, keys_dir: str | None, pin_stdin: bool,
                as_json: bool) -> None:
    """Unblock the PIN and set a new one, under secure messaging (needs a PSAM)."""
    new = read_pin(pin_stdin, "New PIN", confirm=not pin_stdin)

    def run() -> None:
        with open_card(reader) as t, open_psam(psam_spec, keys_dir) as psam:
            session = security.authenticate(t, psam)
            security.unblock_pin(t, psam, session, new)

    _pin_errors(as_json, run)
    _out(as_json, {"ok": True}, "PIN unblocked")


# ---- bank -------------------------------------------------------------------------------------------------------

@click.command("bank")
@_reader
@click.option("--amount", type=int, default=None, help="Also run GENERATE AC for this amount in fen (ARQC).")
@click.option("--issuer-keys", "issuer_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Act as the issuer too: verify the ARQC and compute the ARPC with this key directory.")
@_json
def card_bank(reader: str | None, amount: int | None, issuer_dir: Path | None, as_json: bool) -> None:
    """Read the financial (UnionPay debit) application: masked PAN, expiry, electronic cash balance."""
    try:
        with open_card(reader) as t:
            info = pboc.read_card(t, amount=amount)
    except CardError as exc:
        _fail(as_json, str(exc), exc.code)
        return
    except TransportError as exc:
        _fail(as_json, str(exc), READER_ERROR)
        return
    except ValueError as exc:
        _fail(as_json, str(exc), -1)
        return
    payload = info.as_dict()
    if issuer_dir is not None and info.cryptogram is not None:
        from terminal import issuer

        try:
            payload["issuer"] = issuer.authorise(issuer_keys.load(issuer_dir), info.cryptogram).as_dict()
        except issuer.ArqcError as exc:
            payload["issuer"] = {"approved": False, "error": str(exc)}
    d = payload
    lines = [f"{d['label']} ({d['aid']})", f"PAN      {d['pan']}", f"expiry   {d['expiry']}",
             f"balance  {d['balance'] if d['balance'] is not None else 'n/a'}", f"ATC      {d['atc']}"]
    if "cryptogram" in d:
        c = d["cryptogram"]  # type: ignore[index]
        lines.append(f"{c['type']}     {c['ac']}")  # type: ignore[index]
    if "issuer" in d:
        lines.append(f"issuer   {json.dumps(d['issuer'])}")
    _out(as_json, payload, "\n".join(lines))


# ---- secure writes ----------------------------------------------------------------------------------------------

@click.command("update")
@click.argument("field")
@click.argument("value")
@_reader
@psam_options
@_json
def card_update(field: str, value: str, reader: str | None, psam_spec: str | None, keys_dir: str | None,
                as_json: bool) -> None:
    """Change a holder record under secure messaging (e.g. `name` after a legal name change)."""
    import apdu_specs
    from cardlib import fields

    profile = apdu_specs.profile()
    try:
        ef, spec = profile.field(field)
    except KeyError:
        raise click.UsageError(f"no field {field!r} in the card profile") from None
    if ef.update != "mac":
        raise click.UsageError(f"{spec.label} ({field}) is not written under secure messaging")
    try:
        if field == "name":  # 姓名 and 姓名扩展 change together
            head, tail = fields.split_name(value)
            ext = profile.field("name_ext")[1]
            updates = [("name", fields.encode_field(spec, head)), ("name_ext", fields.encode_field(ext, tail))]
        else:
            updates = [(field, fields.encode_field(spec, value))]
    except fields.FieldError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        with open_card(reader) as t, open_psam(psam_spec, keys_dir) as psam:
            session = security.authenticate(t, psam)
            for name, raw in updates:
                security.update_record(t, psam, session, name, raw)
    except CardError as exc:
        _fail(as_json, str(exc), exc.code)
    except TransportError as exc:
        _fail(as_json, str(exc), READER_ERROR)
    _out(as_json, {"ok": True, "field": field}, f"{spec.label} updated under secure messaging")
