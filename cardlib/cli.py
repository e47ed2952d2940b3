"""CLI edges of cardlib: `sscard readers` and `sscard card read`.

Thin: a transport, one service call, text or JSON out. A card or reader failure prints the reader-interface error
code and message to stderr and exits 1, never a traceback.
"""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from .fields import FieldError
from .psam_opener import PSAM_OPENER, install_psam_opener, psam_from_context  # noqa: F401  (their old home)
from .reader_interface import AtrError, basic_info, basic_info_line, error_code
from .ssapp import CardDataError, SocialSecurityApp
from .sw import CardError
from .tlv import TlvError
from .transport import TransportError

EXPECTED = (CardError, TransportError, CardDataError, FieldError, TlvError, AtrError)
PSAM_HELP = "The PSAM: the name of the reader holding it, or a software PSAM folder (an issuer key directory)."


def psam_options(f: Any) -> Any:
    """`--psam READER|DIR` and its older spelling for a folder, `--keys DIR`."""
    f = click.option("--keys", "keys_dir", default=None, type=click.Path(file_okay=False, exists=True),
                     help="A software PSAM folder (same as --psam DIR).")(f)
    return click.option("--psam", "psam_spec", default=None, help=PSAM_HELP)(f)


def _fail(exc: BaseException, as_json: bool) -> NoReturn:
    code = error_code(exc)
    if as_json:
        click.echo(json.dumps({"ok": False, "code": code, "error": str(exc)}, ensure_ascii=False), err=True)
    else:
        click.echo(f"error {code}: {exc}", err=True)
    sys.exit(1)


@click.command("readers")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def readers(as_json: bool) -> None:
    """List PC/SC readers and whether a card is in each."""
    from .pcsc import list_readers

    try:
        found = list_readers()
    except TransportError as exc:
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps([{"reader": name, "card_present": present} for name, present in found]))
        return
    if not found:
        click.echo("no readers")
    for name, present in found:
        click.echo(f"{name}\t{'card' if present else 'empty'}")


@click.command("read")
@click.option("--reader", default=None, help="Reader name (default: the first reader with a card).")
@click.option("--terminal-no", default="", help="终端机编号 for the output line.")
@click.option("--device-no", default="", help="终端设备号 for the output line.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the iReadCardBas line.")
@click.option("--verify", is_flag=True, help="Verified reading in the same session: internal (and for 3.00 cards "
              "external) authentication through a PSAM (docs/services.md).")
@psam_options
def card_read(reader: str | None, terminal_no: str, device_no: str, as_json: bool, verify: bool = False,
              psam_spec: str | None = None, keys_dir: str | None = None) -> None:
    """Read the card's basic information and print it as the reader interface's iReadCardBas line.

    With --verify a second line (a "verified" key in JSON) says the card proved genuine and by which keys."""
    from .pcsc import PcscTransport

    spec = psam_spec or keys_dir
    if verify and spec is None:
        raise click.UsageError("--verify needs a PSAM: --psam READER or --psam DIR (a software PSAM folder)")
    session = None
    try:
        with PcscTransport(reader) as transport:
            if verify:  # fails with the interface's code, e.g. -21 for a counterfeit
                from .security import verified_read

                with psam_from_context(spec) as psam:
                    info, session = verified_read(transport, psam)
            else:
                info = SocialSecurityApp(transport).read_card_info()
    except EXPECTED as exc:
        _fail(exc, as_json)
    if as_json:
        out: dict[str, Any] = dict(basic_info(info, terminal_no=terminal_no, device_no=device_no))
        out.update(card_type=info.card_type, gender=info.gender, nation=info.nation, birthplace=info.birthplace,
                   birth_date=info.birth_date, init_org=info.init_org, atr=info.atr, algorithm_id=info.algorithm_id)
        out["verified"] = session.as_dict() if session else False
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(basic_info_line(info, terminal_no=terminal_no, device_no=device_no))
        if session is not None:
            click.echo(f"verified: genuine card, {session.alg.upper()} keys {' + '.join(session.keys)} "
                       f"through {session.psam}")
