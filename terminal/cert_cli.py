"""`sscard cert run|show|self|proxy` and `sscard proxy bind|list|revoke`: certification (待遇资格认证) and family
proxy (亲情服务) at the bureau, a kiosk or a counter. Thin: options in, one call into holder_db.certification,
holder_db.proxy or terminal.certify, text or JSON out; a refusal is one line and a non-zero exit."""
from __future__ import annotations

import datetime as dt
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from sscard_settings import db_option
from terminal.cli import _db_error, _fail, _out

TODAY_HELP = "Judge as of this day (YYYY-MM-DD; default today)."
_date = click.DateTime(formats=["%Y-%m-%d"])


def _card_options(f: Any) -> Any:
    f = click.option("--pin-stdin", is_flag=True, help="Read the PIN from one line of stdin (scripts, tests).")(f)
    f = click.option("--psam", "psam_reader", default=None, help="The PSAM's reader (verified read).")(f)
    f = click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Issuer key directory for the simulated PSAM (verified read).")(f)
    return click.option("--reader", default=None, help="The card reader (default: the first with a card).")(f)


@contextmanager
def _errors(as_json: bool, db_url: str | None) -> Iterator[None]:
    """Every expected refusal as one line: a certification or proxy rule, the card, the database."""
    from sqlalchemy.exc import SQLAlchemyError

    from cardlib.security import CardSecurityError
    from cardlib.ssapp import CardDataError
    from cardlib.sw import CardError
    from cardlib.transport import TransportError
    from holder_db.certification import CertError, RuleError

    try:
        yield
    except (CertError, RuleError) as exc:
        _fail(as_json, str(exc))
    except (TransportError, CardError, CardDataError, CardSecurityError) as exc:
        _fail(as_json, f"card: {exc}")
    except (SQLAlchemyError, OSError) as exc:
        _fail(as_json, _db_error(exc, db_url))


@contextmanager
def _card(reader: str | None, keys_dir: Path | None, psam_reader: str | None, pin_stdin: bool) -> Iterator[str]:
    from cardlib.cli import psam_from_context
    from terminal.cardsession import read_pin
    from terminal.certify import card_holder

    pin = read_pin(pin_stdin)
    with psam_from_context(keys_dir or psam_reader) as psam, card_holder(reader, pin, psam) as ssn:
        yield ssn


def _engine(db_url: str | None) -> Any:
    from holder_db import store

    return store.get_engine(db_url)


def _today(day: dt.datetime | None) -> dt.date:
    return day.date() if day else dt.date.today()


# ---- cert -------------------------------------------------------------------------------------------------------

@click.command("run")
@click.option("--year", type=int, required=True, help="The year to certify.")
@click.option("--today", "day", type=_date, default=None, help=TODAY_HELP)
@click.option("--chunk", type=click.IntRange(1000, 10_000_000), default=100_000, show_default=True,
              help="Holders per step (each rule over each chunk is one INSERT ... SELECT and one transaction).")
@db_option
@click.option("--json", "as_json", is_flag=True)
def cert_run(year: int, day: dt.datetime | None, chunk: int, db_url: str | None, as_json: bool) -> None:
    """The silent pass (静默认证) over the whole store: every pensioner not yet certified for the year whose
    evidence a rule of holder_db/data/cert_rules.toml finds is certified, with the rule and the evidence; then the
    report: certified by which rule, who is due, who is overdue."""
    from holder_db import certification as cert

    today = _today(day)
    with _errors(as_json, db_url):
        cert.check_year(year, today)
        cert.rules()
        engine = _engine(db_url)
        steps = cert.steps(engine, chunk)
        this_run: dict[str, int] = {r.id: 0 for r in cert.rules()}
        with click.progressbar(steps, label=f"certifying {year}", file=sys.stderr,
                               item_show_func=lambda s: s.rule.id if s else None) as bar:
            for step in bar:
                this_run[step.rule.id] += cert.run_step(engine, step, year, today)
        report = cert.report(engine, year, today, this_run=this_run)
    _out(as_json, report.as_dict(), report.as_text())


@click.command("show")
@click.option("--year", type=int, required=True)
@click.option("--ssn", default=None, help="One holder's record (default: the year's report, nothing certified).")
@click.option("--today", "day", type=_date, default=None, help=TODAY_HELP)
@click.option("--sample", type=click.IntRange(0, 1000), default=20, show_default=True,
              help="With no --ssn: how many uncertified holders to list (masked).")
@db_option
@click.option("--json", "as_json", is_flag=True)
def cert_show(year: int, ssn: str | None, day: dt.datetime | None, sample: int, db_url: str | None,
              as_json: bool) -> None:
    """One holder's certification for a year (state, source, rule, evidence, proxy), or the year's report."""
    from cardlib.idnumber import mask
    from holder_db import certification as cert
    from terminal.certify import show

    today = _today(day)
    with _errors(as_json, db_url):
        if ssn is None:
            cert.check_year(year, today)
            report = cert.report(_engine(db_url), year, today, sample=sample)
            _out(as_json, report.as_dict(), report.as_text())
            return
        record = show(_engine(db_url), ssn, year, today)
    _out(as_json, record, _record_text(mask(ssn), record))


def _record_text(who: str, r: dict[str, Any]) -> str:
    if r["state"] != "certified":
        return f"{who} {r['year']}: {r['state']}"
    by = f" by proxy {r['proxy']['name']} {r['proxy']['holder']}" if r.get("proxy") else ""
    when = f" ({r['evidence_ref']}, {r['evidence_date']})" if r.get("evidence_ref") else ""
    return f"{who} {r['year']}: certified {r['source']}{by}, {r['rule']}{when}: {r['explain']}"


@click.command("self")
@_card_options
@click.option("--year", type=int, default=None, help="The year (default this year).")
@click.option("--terminal", "terminal_name", default="counter", show_default=True,
              help="This kiosk's or counter's name, recorded with the certification.")
@db_option
@click.option("--json", "as_json", is_flag=True)
def cert_self(reader: str | None, keys_dir: Path | None, psam_reader: str | None, pin_stdin: bool, year: int | None,
              terminal_name: str, db_url: str | None, as_json: bool) -> None:
    """Self-certification at a kiosk or counter: the card read and verified through the PSAM, plus the PIN."""
    from cardlib.idnumber import mask
    from terminal.certify import self_certify

    with _errors(as_json, db_url), _card(reader, keys_dir, psam_reader, pin_stdin) as ssn:
        record = self_certify(_engine(db_url), ssn, year or dt.date.today().year, f"kiosk:{terminal_name}"[:120])
    _out(as_json, record, _record_text(mask(ssn), record))


@click.command("proxy")
@_card_options
@click.option("--binding", "binding_id", type=click.IntRange(1, 2**31 - 1), required=True,
              help="The proxy binding to act under (sscard proxy list).")
@click.option("--year", type=int, default=None, help="The year (default this year).")
@click.option("--terminal", "terminal_name", default="counter", show_default=True)
@db_option
@click.option("--json", "as_json", is_flag=True)
def cert_proxy(reader: str | None, keys_dir: Path | None, psam_reader: str | None, pin_stdin: bool, binding_id: int,
               year: int | None, terminal_name: str, db_url: str | None, as_json: bool) -> None:
    """A bound proxy certifies their principal at a counter, with the proxy's own card and PIN; the record names
    the proxy."""
    from terminal.certify import proxy_certify

    with _errors(as_json, db_url), _card(reader, keys_dir, psam_reader, pin_stdin) as ssn:
        record = proxy_certify(_engine(db_url), ssn, binding_id, year or dt.date.today().year,
                               f"counter:{terminal_name}"[:120])
    _out(as_json, record, _record_text(f"binding {binding_id}", record))


# ---- proxy ------------------------------------------------------------------------------------------------------

@click.command("bind")
@_card_options
@click.option("--officer", default=None, help="An officer consents for a holder who cannot (name or staff id); "
              "with --holder instead of the holder's card.")
@click.option("--holder", "holder_ssn", default=None, help="With --officer: the holder's ID number.")
@click.option("--proxy", "proxy_ssn", required=True, help="The relative to bind as proxy (their ID number).")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["certification", "view_benefits", "show_code"]), help="Repeat for several.")
@click.option("--until", "until", type=_date, required=True, help="The binding's last day (YYYY-MM-DD).")
@click.option("--terminal", "terminal_name", default="counter", show_default=True)
@db_option
@click.option("--json", "as_json", is_flag=True)
def proxy_bind(reader: str | None, keys_dir: Path | None, psam_reader: str | None, pin_stdin: bool,
               officer: str | None, holder_ssn: str | None, proxy_ssn: str, scopes: tuple[str, ...],
               until: dt.datetime, terminal_name: str, db_url: str | None, as_json: bool) -> None:
    """The holder binds a relative as proxy at a counter, with their card and PIN (or an officer for a holder who
    cannot, recorded as such); the proxy then accepts with their e-card (POST /v1/family/bindings/{id}/consent)."""
    from terminal.certify import bind

    if (officer is None) != (holder_ssn is None):
        _fail(as_json, "--officer and --holder go together (the holder's card is not used then)")
    with _errors(as_json, db_url):
        if officer is not None:
            view = bind(_engine(db_url), holder_ssn or "", proxy_ssn, list(scopes), until.date(), "officer",
                        f"officer:{officer} at {terminal_name}"[:120])
        else:
            with _card(reader, keys_dir, psam_reader, pin_stdin) as ssn:
                view = bind(_engine(db_url), ssn, proxy_ssn, list(scopes), until.date(), "card_pin",
                            f"card+PIN at {terminal_name}"[:120])
    _out(as_json, view, f"binding {view['binding_id']}: {view['proxy']['name']} {view['proxy']['holder']} for "
         f"{view['principal']['name']} {view['principal']['holder']}, {','.join(view['scopes'])} until "
         f"{view['ends_on']}: {view['state']}")


@click.command("list")
@click.option("--ssn", required=True, help="The holder whose bindings (both ways) and proxy acts to list.")
@db_option
@click.option("--json", "as_json", is_flag=True)
def proxy_list(ssn: str, db_url: str | None, as_json: bool) -> None:
    """A holder's proxies, the holders they act for, and every proxy act either way."""
    from terminal.certify import listing

    with _errors(as_json, db_url):
        data = listing(_engine(db_url), ssn)
    lines = [f"{k}: {len(data[k])}" for k in ("proxies", "principals", "acts")]
    for b in data["proxies"] + data["principals"]:
        lines.append(f"  binding {b['binding_id']}: {b['proxy']['name']} for {b['principal']['name']}, "
                     f"{','.join(b['scopes'])} until {b['ends_on']}: {b['state']}")
    for a in data["acts"]:
        lines.append(f"  {a['at']} {a['act']} by {a['actor']} (binding {a['binding_id']}) {a['detail']}")
    _out(as_json, data, "\n".join(lines))


@click.command("revoke")
@_card_options
@click.option("--binding", "binding_id", type=click.IntRange(1, 2**31 - 1), required=True)
@click.option("--officer", default=None, help="An officer revokes for the holder named by --holder.")
@click.option("--holder", "holder_ssn", default=None, help="With --officer: either side's ID number.")
@db_option
@click.option("--json", "as_json", is_flag=True)
def proxy_revoke(reader: str | None, keys_dir: Path | None, psam_reader: str | None, pin_stdin: bool,
                 binding_id: int, officer: str | None, holder_ssn: str | None, db_url: str | None,
                 as_json: bool) -> None:
    """Either side ends a binding: with their card and PIN, or through an officer."""
    from terminal.certify import revoke

    if (officer is None) != (holder_ssn is None):
        _fail(as_json, "--officer and --holder go together")
    with _errors(as_json, db_url):
        if officer is not None:
            view = revoke(_engine(db_url), holder_ssn or "", binding_id, f"officer:{officer}"[:120])
        else:
            with _card(reader, keys_dir, psam_reader, pin_stdin) as ssn:
                view = revoke(_engine(db_url), ssn, binding_id, "card+PIN at counter")
    _out(as_json, view, f"binding {binding_id}: {view['state']}")
