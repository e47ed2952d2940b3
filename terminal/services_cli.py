"""CLI edges of the card services: `sscard keys new-issuer`, `sscard card pin ...`, `sscard card bank`.

Thin: options in, a service call, text or JSON out. A PSAM is a reader (`--psam NAME`) or, for development and
tests, the simulated one loaded in process from an issuer key directory (`--keys DIR`). PINs come from a hidden
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
from cardlib.psam import Psam, PsamError
from cardlib.transport import TransportError

READER_ERROR = -1  # reader-interface device error (-1..-15): no reader, no card, card pulled


def _out(as_json: bool, payload: dict[str, object], text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


def _fail(as_json: bool, message: str, code: int) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, "code": code}, ensure_ascii=False), err=True)
    else:
        click.echo(f"error {code}: {message}", err=True)
    sys.exit(1)


@contextmanager
def open_card(reader: str | None) -> Iterator[object]:
    """A connected PC/SC transport to the card in `reader` (the first reader with a card when None)."""
    from cardlib.pcsc import PcscTransport

    transport = PcscTransport(reader)
    transport.connect()
    try:
        yield transport
    finally:
        transport.disconnect()


@contextmanager
def open_psam(psam_reader: str | None, keys: Path | None) -> Iterator[Psam]:
    """The PSAM: in a reader, or the simulated one in process loaded from an issuer key directory."""
    if keys is not None:
        from cardlib.transport import LoopbackTransport
        from simulators.psam import Psam as SimulatedPsam

        loop = LoopbackTransport(SimulatedPsam.from_dir(keys))
        loop.connect()
        yield Psam(loop)
        return
    if psam_reader is None:
        raise click.UsageError("a PSAM is needed: --psam READER, or --keys DIR for the simulated one in process")
    with open_card(psam_reader) as t:
        yield Psam(t)  # type: ignore[arg-type]


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


# ---- verified reading -------------------------------------------------------------------------------------------

def verify_card(transport: object, psam_reader: str | None, keys: Path | None) -> security.CardSession:
    """Run the verified-reading authentications on a connected card; CardSecurityError (with its code) if not."""
    with open_psam(psam_reader, keys) as psam:
        return security.authenticate(transport, psam, transport.atr)  # type: ignore[attr-defined, arg-type]


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
    except (security.CardSecurityError, PsamError) as exc:
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
            security.select_ssse(t)  # type: ignore[arg-type]
            security.verify_pin(t, pin)  # type: ignore[arg-type]

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
            security.select_ssse(t)  # type: ignore[arg-type]
            security.change_pin(t, old, new)  # type: ignore[arg-type]

    _pin_errors(as_json, run)
    _out(as_json, {"ok": True}, "PIN changed")


@click.command("unblock")
@_reader
@click.option("--psam", "psam_reader", default=None, help="Reader holding the PSAM.")
@click.option("--keys", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Issuer key directory for an in-process simulated PSAM (development).")
@_stdin
@_json
def pin_unblock(reader: str | None, psam_reader: str | None, keys: Path | None, pin_stdin: bool,
                as_json: bool) -> None:
    """Unblock the PIN and set a new one, under secure messaging (needs a PSAM)."""
    new = read_pin(pin_stdin, "New PIN", confirm=not pin_stdin)

    def run() -> None:
        with open_card(reader) as t, open_psam(psam_reader, keys) as psam:
            session = security.authenticate(t, psam, t.atr)  # type: ignore[arg-type, attr-defined]
            security.unblock_pin(t, psam, session, new)  # type: ignore[arg-type]

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
            info = pboc.read_card(t, amount=amount)  # type: ignore[arg-type]
    except pboc.BankError as exc:
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
@click.option("--psam", "psam_reader", default=None, help="Reader holding the PSAM.")
@click.option("--keys", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Issuer key directory for an in-process simulated PSAM (development).")
@_json
def card_update(field: str, value: str, reader: str | None, psam_reader: str | None, keys: Path | None,
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
        with open_card(reader) as t, open_psam(psam_reader, keys) as psam:
            session = security.authenticate(t, psam, t.atr)  # type: ignore[arg-type, attr-defined]
            for name, raw in updates:
                security.update_record(t, psam, session, name, raw)  # type: ignore[arg-type]
    except (security.CardSecurityError, PsamError) as exc:
        _fail(as_json, str(exc), exc.code)
    except TransportError as exc:
        _fail(as_json, str(exc), READER_ERROR)
    _out(as_json, {"ok": True, "field": field}, f"{spec.label} updated under secure messaging")
