"""CLI edges of cardlib: `sscard readers` and `sscard card read`.

Thin: a transport, one service call, text or JSON out. A card or reader failure prints the reader-interface error
code and message to stderr and exits 1, never a traceback.
"""
from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from .fields import FieldError
from .reader_interface import AtrError, basic_info, basic_info_line, error_code
from .ssapp import CardDataError, SocialSecurityApp
from .sw import CardError, CodedError
from .tlv import TlvError
from .transport import TransportError

EXPECTED = (CardError, TransportError, CardDataError, FieldError, TlvError, AtrError)


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
@click.option("--verify", is_flag=True, help="Verified reading: internal (and for 3.00 cards external) "
              "authentication through a PSAM first (docs/services.md).")
@click.option("--psam", "psam_reader", default=None, help="With --verify: the reader holding the PSAM.")
@click.option("--keys", "keys_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="With --verify: issuer key directory for an in-process simulated PSAM.")
def card_read(reader: str | None, terminal_no: str, device_no: str, as_json: bool, verify: bool = False,
              psam_reader: str | None = None, keys_dir: str | None = None) -> None:
    """Read the card's basic information and print it as the reader interface's iReadCardBas line."""
    from .pcsc import PcscTransport

    try:
        with PcscTransport(reader) as transport:
            if verify:  # card services (issue 3): fails with the interface's code, e.g. -21 for a counterfeit
                from terminal.services_cli import verify_card

                verify_card(transport, psam_reader, keys_dir)
            info = SocialSecurityApp(transport).read_card_info()
    except EXPECTED as exc:
        _fail(exc, as_json)
    except CodedError as exc:  # verified reading: CardSecurityError / PsamError
        _fail(exc, as_json)
    if as_json:
        out = basic_info(info, terminal_no=terminal_no, device_no=device_no)
        out.update(card_type=info.card_type, gender=info.gender, nation=info.nation, birthplace=info.birthplace,
                   birth_date=info.birth_date, init_org=info.init_org, atr=info.atr, algorithm_id=info.algorithm_id)
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(basic_info_line(info, terminal_no=terminal_no, device_no=device_no))
