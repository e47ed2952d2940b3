"""CLI edges of the terminal flows: `sscard terminal identify|pay|settle|refund|gate|kiosk` (the imports they
feed on, `sscard db import-entitlements|import-records`, are holder_db's: holder_db/cli.py).

Thin: options in, one flow call, text or JSON out. Expected failures (bad input, no card, a refused rule) print
one line and exit non-zero, never a traceback; ID numbers only ever appear masked.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from sqlalchemy.exc import SQLAlchemyError

from sscard_settings import db_option, load, receipts_option
from terminal import settlement


def _out(as_json: bool, payload: Any, text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


def _fail(as_json: bool, message: str, code: int = 1) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _db_error(exc: BaseException, db_url: str | None) -> str:
    from holder_db.dberrors import describe
    from holder_db.store import resolve_url

    return describe(exc, resolve_url(db_url))


def _store(db_url: str | None, as_json: bool) -> Any:
    """The terminal's holder_db, or one line saying why it cannot be opened (a folder that cannot be made...)."""
    from terminal.dbstore import DbStore

    try:
        return DbStore(db_url)
    except (OSError, SQLAlchemyError) as exc:
        _fail(as_json, _db_error(exc, db_url))


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
@db_option
@receipts_option
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
    from cardlib.cli import psam_from_context
    from cardlib.security import CardSecurityError
    from cardlib.sw import CardError
    from cardlib.transport import TransportError
    from terminal import receipts
    from terminal import settle as flow
    from terminal.cardsession import read_pin, visit
    from terminal.dbstore import DbStore

    db = _store(db_url, as_json)
    try:
        if ssn is not None:
            done = flow.settle_db(db, ssn, policy, bill, year=year, receipts_dir=receipts_dir)
        else:
            if keys_dir is None and psam_reader is None:
                _fail(as_json, "settling on a card needs a PSAM: --keys DIR (simulated) or --psam READER")
            pin = read_pin(pin_stdin)
            with psam_from_context(keys_dir or psam_reader) as psam, visit(reader, pin=pin, psam=psam) as card:
                done = flow.settle_card(db, card.channel, card.psam, card.session, card.info.ssn, policy, bill,
                                        year=year, receipts_dir=receipts_dir)
    except flow.SettleError as exc:
        _fail(as_json, str(exc))
    except receipts.ReceiptError as exc:
        _fail(as_json, str(exc) if exc.moved else f"{exc}; nothing was settled")
    except (TransportError, CardError, CardSecurityError) as exc:
        _fail(as_json, f"card: {exc}; nothing was settled")
    except SQLAlchemyError as exc:
        _fail(as_json, _db_error(exc, db_url))
    payload = {**done.split, "settlement_id": done.settlement_id}
    _out(as_json, payload, _split_text(done.split) + f"\nsettlement     {done.settlement_id}")


@click.command("refund")
@click.argument("settlement_id")
@click.option("--reader", default=None, help="Also append a refund record to the card in this reader.")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --reader: issuer key directory for the simulated PSAM in process.")
@click.option("--psam", "psam_reader", default=None, help="With --reader: the PSAM's reader.")
@click.option("--pin-stdin", is_flag=True, help="With --reader: read the PIN from one line of stdin.")
@db_option
@receipts_option
@click.option("--json", "as_json", is_flag=True)
def refund(settlement_id: str, reader: str | None, keys_dir: Path | None, psam_reader: str | None,
           pin_stdin: bool, db_url: str | None, receipts_dir: Path, as_json: bool) -> None:
    """Reverse a settlement by its id: fund, counters and personal account get their amounts back."""
    from cardlib.cli import psam_from_context
    from cardlib.security import CardSecurityError
    from cardlib.sw import CardError
    from cardlib.transport import TransportError
    from terminal import receipts
    from terminal import settle as flow
    from terminal.cardsession import read_pin, visit
    from terminal.dbstore import DbStore

    db = _store(db_url, as_json)
    try:
        if reader is None:
            done = flow.refund(db, settlement_id, receipts_dir=receipts_dir)
        else:
            with psam_from_context(keys_dir or psam_reader) as psam, \
                    visit(reader, pin=read_pin(pin_stdin), psam=psam) as card:
                done = flow.refund(db, settlement_id, receipts_dir=receipts_dir, card=card.channel,
                                   psam=card.psam, session=card.session)
    except flow.SettleError as exc:
        _fail(as_json, str(exc))
    except receipts.ReceiptError as exc:
        _fail(as_json, str(exc) if exc.moved else f"{exc}; nothing was refunded")
    except (TransportError, CardError, CardSecurityError) as exc:
        _fail(as_json, f"card: {exc}")
    except SQLAlchemyError as exc:
        _fail(as_json, _db_error(exc, db_url))
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
    from terminal.gate import Gate, GateError, byte_lines, run

    try:
        g = Gate(cache_dir, jwks_url=jwks_url, jwks_file=jwks_file, status_url=status_url, status_file=status_file)
        first = g.start()
    except GateError as exc:
        _fail(as_json, str(exc))
    problems = first.errors + g.replay.warnings
    click.echo(f"gate: keys {first.jwks}, status list {first.status}, {len(g.replay)} codes remembered"
               + (f" ({'; '.join(problems)})" if problems else ""), err=True)
    g.refresh_in_background(refresh_every)
    try:
        for line in run(g, byte_lines(sys.stdin.buffer) if sys.stdin else (), as_json):
            click.echo(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        g.stop()


# ---- pay --------------------------------------------------------------------------------------------------------

@click.command("pay")
@click.option("--period", required=True, help="The period to pay, YYYY-MM.")
@db_option
@receipts_option
@click.option("--max-age", type=click.IntRange(1, 150), default=105, show_default=True,
              help="Hold for review the entitlements of holders older than this at the period's end.")
@click.option("--summary", is_flag=True, help="Count the paid and skipped entitlements instead of listing each "
              "(a run over a whole store); held ones are still listed, up to 1000.")
@click.option("--json", "as_json", is_flag=True)
def pay(period: str, db_url: str | None, receipts_dir: Path, max_age: int, summary: bool, as_json: bool) -> None:
    """Benefit payment (待遇发放): pay every due entitlement of the period once; hold back what a risk rule catches
    (a pension whose holder is overdue for certification past SSCARD_CERT_GRACE_DAYS: `not_certified`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from terminal import payment, receipts, risk
    from terminal.dbstore import DbStore

    try:
        risk.period_end(period)
    except risk.PeriodError as exc:
        _fail(as_json, str(exc))
    try:
        receipts.ready(receipts_dir)
    except receipts.ReceiptError as exc:
        _fail(as_json, f"{exc}; nothing was paid")
    db = _store(db_url, as_json)
    try:
        with click.progressbar(length=db.count_due(period), label=f"paying {period}", file=sys.stderr) as bar:
            def progress(decisions: Any) -> Any:
                for d in decisions:
                    yield d
                    bar.update(1)

            outcome = payment.pay_period(db, period, receipts_dir=receipts_dir, progress=progress,
                                         max_age=max_age, grace_days=load().cert_grace_days, keep=not summary,
                                         mark_held=True)
    except receipts.ReceiptError as exc:
        _fail(as_json, str(exc) if exc.moved else f"{exc}; that payment was not made, every payment made before it "
              "has its receipt; run again to pay the rest")
    except SQLAlchemyError as exc:
        _fail(as_json, _db_error(exc, db_url))
    data = outcome.as_dict()
    from terminal.receipts import yuan

    n = data["counts"]
    text = [f"period {period}: paid {n['paid']} ({yuan(data['total_paid'])} 元), held {n['held']}, "
            f"skipped {n['skipped']}"]
    text += [f"  held {h['entitlement_id']}: {', '.join(h['reasons'])}" for h in data["held"]]
    _out(as_json, data, "\n".join(text))


# ---- identify ---------------------------------------------------------------------------------------------------

@click.command("identify")
@click.option("--reader", default=None, help="Identify by the card in this reader.")
@click.option("--pin-stdin", is_flag=True, help="With --reader: also check the PIN, read from one line of stdin.")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --reader: issuer key directory for the simulated PSAM (verified read).")
@click.option("--psam", "psam_reader", default=None, help="With --reader: the PSAM's reader (verified read).")
@click.option("--qr", "token", default=None, help="Identify by an e-card QR token.")
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --qr: the issuer's JWKS file.")
@click.option("--status-list", "status_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --qr: the signed status list file.")
@click.option("--terminal-id", default="counter", show_default=True,
              help="Who reads the record: the holder's access log names this terminal.")
@db_option
@click.option("--json", "as_json", is_flag=True)
def identify(reader: str | None, pin_stdin: bool, keys_dir: Path | None, psam_reader: str | None,
             token: str | None, jwks_file: Path | None, status_file: Path | None, terminal_id: str,
             db_url: str | None, as_json: bool) -> None:
    """Identity check by card or e-card QR against holder_db; every check is listed with its reason."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from cardlib.security import CardSecurityError
    from cardlib.ssapp import CardDataError
    from cardlib.sw import CardError
    from cardlib.transport import TransportError
    from terminal import identify as ident
    from terminal.dbstore import DbStore

    if (reader is None) == (token is None):
        _fail(as_json, "give exactly one of --reader NAME or --qr TOKEN")
    db = _store(db_url, as_json)
    try:
        if token is not None:
            from ecard import status_list as sl
            from ecard.keys import BadKeyError, Jwks

            if jwks_file is None:
                _fail(as_json, "--qr needs --jwks FILE")
            try:
                jwks = Jwks.from_file(jwks_file)
                status = (sl.load(status_file.read_text(encoding="utf-8"), jwks, now=0)
                          if status_file is not None else None)
            except (BadKeyError, sl.StatusListError, OSError, UnicodeDecodeError) as exc:
                _fail(as_json, f"cannot use the keys or status list: {exc}")
            answer = ident.by_qr(db, token, jwks, status, now=time.time(), actor=f"terminal:{terminal_id}")
        else:
            from cardlib.cli import psam_from_context
            from terminal.cardsession import read_pin

            pin = read_pin(pin_stdin) if pin_stdin else None
            with psam_from_context(keys_dir or psam_reader) as psam:
                answer = ident.by_card(db, reader, pin=pin, psam=psam, actor=f"terminal:{terminal_id}")
    except (TransportError, CardError, CardDataError, CardSecurityError) as exc:
        _fail(as_json, f"card: {exc}")
    except SQLAlchemyError as exc:
        _fail(as_json, _db_error(exc, db_url))
    _out(as_json, answer.as_dict(), answer.as_text())
    sys.exit(0 if answer.ok else 2)


# ---- kiosk ------------------------------------------------------------------------------------------------------

@click.command("kiosk")
@click.option("--reader", default=None, help="The kiosk's card reader (default: the first with a card).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Issuer key directory for the simulated PSAM (verified read).")
@click.option("--psam", "psam_reader", default=None, help="The PSAM's reader (verified read).")
@click.option("--once", is_flag=True, help="Serve the card in the reader now and exit, instead of waiting for cards.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from one line of stdin (scripts, tests).")
@click.option("--yes", is_flag=True, help="Confirm the payment without asking (scripts, tests).")
@db_option
@receipts_option
@click.option("--json", "as_json", is_flag=True)
def kiosk(reader: str | None, keys_dir: Path | None, psam_reader: str | None, once: bool, pin_stdin: bool,
          yes: bool, db_url: str | None, receipts_dir: Path, as_json: bool) -> None:
    """Benefit kiosk: card and PIN, pending benefits shown, confirmed, paid to the card's bank account."""
    from cardlib.cli import psam_from_context
    from cardlib.ssapp import CardDataError
    from cardlib.sw import CardError
    from cardlib.transport import TransportError
    from terminal import kiosk as flow
    from terminal import receipts
    from terminal.cardsession import read_pin
    from terminal.dbstore import DbStore

    db = _store(db_url, as_json)

    def confirm(pending: list[dict[str, Any]]) -> bool:
        if not as_json:
            click.echo("pending benefits:\n" + flow.entitlements_text(pending))
        return yes or click.confirm("pay the payable ones to the card's bank account?", err=True)

    def serve(name: str | None, _atr: bytes = b"") -> flow.KioskResult:
        with psam_from_context(keys_dir or psam_reader) as psam:  # opened per visit: a PSAM reader may come back
            return flow.run_once(db, name, read_pin(pin_stdin), confirm, psam=psam, receipts_dir=receipts_dir,
                                 grace_days=load().cert_grace_days)

    def show(result: flow.KioskResult) -> None:
        data = result.as_dict()
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False))
            return
        paid = data["outcome"]["paid"] if data["outcome"] else []
        if not any(p["payable"] for p in data["pending"]):
            click.echo("pending benefits:\n" + flow.entitlements_text(data["pending"]))
        click.echo(f"holder {data['holder']}, account {data['bank_account']}: paid {len(paid)}"
                   + ("" if data["confirmed"] else " (nothing confirmed)"))

    failures = (TransportError, CardError, CardDataError)  # CardError: the root of every card/PSAM refusal
    try:
        receipts.ready(receipts_dir)  # before the first card: a folder that cannot be made is one line, now
    except receipts.ReceiptError as exc:
        _fail(as_json, f"{exc}; nothing was paid")
    if once:
        try:
            show(serve(reader))
        except failures as exc:
            _fail(as_json, f"card: {exc}; nothing was paid")
        except receipts.ReceiptError as exc:
            _fail(as_json, str(exc) if exc.moved else f"{exc}; that payment was not made")
        return
    from terminal.monitor import Event, Monitor

    def on_event(event: Event) -> None:
        if event.kind == "flow_done":
            show(event.result)  # type: ignore[arg-type]
        elif event.kind == "flow_error":
            click.echo(f"error: {event.error}; please take the card and try again", err=True)
        elif event.kind in ("inserted", "removed", "service_lost", "service_back"):
            click.echo(f"[{event.kind}] {event.reader}", err=True)

    monitor = Monitor(serve, reader=reader, on_event=on_event)
    click.echo("kiosk ready: insert a card (Ctrl-C to stop)", err=True)
    try:
        monitor.run()
    except KeyboardInterrupt:
        monitor.stop()
