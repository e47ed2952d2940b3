"""CLI edges of the terminal flows: `sscard terminal identify|pay|settle|refund|gate|kiosk` and
`sscard db import-entitlements|import-records`.

Thin: options in, one flow call, text or JSON out. Expected failures (bad input, no card, a refused rule) print
one line and exit non-zero, never a traceback; ID numbers only ever appear masked.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from terminal import settlement

DEFAULT_RECEIPTS = "receipts"


def _out(as_json: bool, payload: Any, text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


def _fail(as_json: bool, message: str, code: int = 1) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _db_option(f: Any) -> Any:
    return click.option("--db", "db_url", default=None, envvar="SSCARD_DB",
                        help="Database URL (default: SSCARD_DB, else the default SQLite file).")(f)


def _receipts_option(f: Any) -> Any:
    return click.option("--receipts", "receipts_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get("SSCARD_RECEIPTS", DEFAULT_RECEIPTS), show_default=True,
                        help="Directory for the receipts (text and JSON); SSCARD_RECEIPTS.")(f)


def _split_text(split: dict[str, int]) -> str:
    from terminal.receipts import yuan

    return "\n".join(f"{k:15s} {yuan(split[k]):>14s}" for k in settlement.SPLIT_KEYS)


# ---- settle -----------------------------------------------------------------------------------------------------

@click.command("settle")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--bill", "bill_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--reader", default=None, help="Settle against the card in this reader (and holder_db).")
@click.option("--ssn", default=None, help="Settle against holder_db only, by social security number.")
@click.option("--quote", is_flag=True, help="预结算: compute only, touching neither card nor database.")
@click.option("--balance", type=click.IntRange(min=0), default=0, help="With --quote: personal account balance, fen.")
@click.option("--deductible-used", type=click.IntRange(min=0), default=0, help="With --quote: fen used this year.")
@click.option("--fund-used", type=click.IntRange(min=0), default=0, help="With --quote: fen the fund paid this year.")
@click.option("--year", type=int, default=None, help="Settlement year (default: this year).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --reader: issuer key directory for the simulated PSAM in process.")
@click.option("--psam", "psam_reader", default=None, help="With --reader: the PSAM's reader.")
@click.option("--pin-stdin", is_flag=True, help="With --reader: read the PIN from one line of stdin.")
@_db_option
@_receipts_option
@click.option("--json", "as_json", is_flag=True)
def settle(policy_path: Path, bill_path: Path, reader: str | None, ssn: str | None, quote: bool, balance: int,
           deductible_used: int, fund_used: int, year: int | None, keys_dir: Path | None, psam_reader: str | None,
           pin_stdin: bool, db_url: str | None, receipts_dir: Path, as_json: bool) -> None:
    """Medical settlement (就医结算) of a bill: fund, personal account and cash, in fen."""
    if reader is not None and ssn is not None or (not quote and reader is None and ssn is None):
        _fail(as_json, "give exactly one of --reader NAME or --ssn SSN")
    try:
        policy = settlement.load_policy(policy_path)
        bill = settlement.load_bill(bill_path, policy)
    except (settlement.PolicyError, settlement.BillError, OSError, UnicodeDecodeError) as exc:
        _fail(as_json, str(exc))
    if quote:
        try:
            split = settlement.split(policy, bill, settlement.Usage(balance, deductible_used, fund_used))
        except settlement.BillError as exc:
            _fail(as_json, str(exc))
        _out(as_json, split.as_dict(), _split_text(split.as_dict()))
        return
    from terminal import settle as flow

    try:
        if ssn is not None:
            done = flow.settle_db(db_url, ssn, policy, bill, year=year, receipts_dir=receipts_dir)
        else:
            from terminal.cardsession import read_pin

            pin = read_pin(pin_stdin)
            done = flow.settle_card(db_url, reader, pin, policy, bill, year=year, keys_dir=keys_dir,
                                    psam_reader=psam_reader, receipts_dir=receipts_dir)
    except flow.SettleError as exc:
        _fail(as_json, str(exc))
    payload = {**done.split, "settlement_id": done.settlement_id}
    _out(as_json, payload, _split_text(done.split) + f"\nsettlement     {done.settlement_id}")


@click.command("refund")
@click.argument("settlement_id")
@click.option("--reader", default=None, help="Also mark the record on the card in this reader as refunded.")
@_db_option
@_receipts_option
@click.option("--json", "as_json", is_flag=True)
def refund(settlement_id: str, reader: str | None, db_url: str | None, receipts_dir: Path, as_json: bool) -> None:
    """Reverse a settlement by its id: the fund, counters and personal account get their amounts back."""
    from terminal import settle as flow

    try:
        done = flow.refund(db_url, settlement_id, receipts_dir=receipts_dir)
    except flow.SettleError as exc:
        _fail(as_json, str(exc))
    _out(as_json, {**done.split, "settlement_id": settlement_id, "refunded": True},
         _split_text(done.split) + f"\nrefunded       {settlement_id}")


# ---- gate -------------------------------------------------------------------------------------------------------

@click.command("gate")
@click.option("--jwks-url", default=None, help="Where the issuer publishes its JWKS.")
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A JWKS file instead of a URL.")
@click.option("--status-url", default=None, help="Where the signed status list is published.")
@click.option("--status-list", "status_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A status list file instead of a URL.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory where keys and status list are cached for offline work.")
@click.option("--refresh", "refresh_every", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between background refreshes of the caches.")
@click.option("--json", "as_json", is_flag=True, help="Answer each code with a JSON line.")
def gate(jwks_url: str | None, jwks_file: Path | None, status_url: str | None, status_file: Path | None,
         cache_dir: Path, refresh_every: float, as_json: bool) -> None:
    """Verify e-card QR codes read from stdin, one per line, answering one line each; works offline from the cache."""
    from terminal.gate import Gate, GateError, run

    try:
        g = Gate(cache_dir, jwks_url=jwks_url, jwks_file=jwks_file, status_url=status_url, status_file=status_file)
        first = g.start()
    except GateError as exc:
        _fail(as_json, str(exc))
    click.echo(f"gate: keys {first.jwks}, status list {first.status}"
               + (f" ({'; '.join(first.errors)})" if first.errors else ""), err=True)
    g.refresh_in_background(refresh_every)
    try:
        for line in run(g, sys.stdin, as_json):
            click.echo(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        g.stop()
