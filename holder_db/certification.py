"""Benefit eligibility certification (待遇资格认证): every pensioner is certified alive and entitled once a year.

Three sources, each recorded with its evidence in the `certifications` table (one row per holder and year, the
first of the year stands):
- silent (静默认证): data the bureau already holds, matched by the rules in holder_db/data/cert_rules.toml (a medical
  settlement, the card used with its PIN at a kiosk or counter, a transit ride, a record another department shares);
  `run_step` is one rule over one range of holders as a single INSERT ... SELECT, never a loop over holders;
- self: the holder at a kiosk or counter (card read and verified through the PSAM, PIN checked) or with the
  e-card (a request signed by the bound device key);
- proxy: a relative bound as proxy with the certification scope (holder_db.proxy) certifies for the holder.

Who must be certified: holders with a pension-kind entitlement (holder_db.kinds), not deceased. A year's state is
`certified`, `due` (not yet, the year not over) or `overdue` (the year is over); payment holds a pension once the
holder is overdue past a grace period (`overdue_past_grace`, used by terminal.risk).
"""
from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable, Mapping

from sqlalchemy import Date, String, and_, cast, exists, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from cardlib.idnumber import mask
from holder_db import models, store
from holder_db.kinds import benefit_kinds

H = models.Holder.__table__  # type: ignore[attr-defined]
E = models.Entitlement.__table__  # type: ignore[attr-defined]
S = models.Settlement.__table__  # type: ignore[attr-defined]
A = models.AuditEntry.__table__  # type: ignore[attr-defined]
SR = models.SharedRecord.__table__  # type: ignore[attr-defined]
CT = models.Certification.__table__  # type: ignore[attr-defined]

FIRST_YEAR = 2000
EVIDENCE_KINDS = ("settlement", "audit", "shared_record")
# The channels of a certification that is not silent, with the sentence a record is explained by.
CHANNELS = {
    "card_pin": "the holder at a kiosk or counter: card read and verified through the PSAM, PIN checked",
    "ecard_device": "the holder with the e-card: a request signed by the bound device key",
    "proxy_ecard": "a bound proxy with their own e-card (a request signed by their device key)",
    "proxy_card_pin": "a bound proxy at a counter with their own card and PIN",
}
SOURCE_OF = {"card_pin": "self", "ecard_device": "self", "proxy_ecard": "proxy", "proxy_card_pin": "proxy"}
DEFAULT_CHUNK = 100_000


class CertError(ValueError):
    """A certification request refused; `status` is the HTTP status a server answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RuleError(ValueError):
    """A silent rule that cannot be used, named by its position and id."""


@dataclass(frozen=True)
class Rule:
    id: str
    evidence: str
    window_days: int
    explain: str
    actions: tuple[str, ...] = ()
    record_kind: str = ""
    record_source: str = ""


def parse_rules(text: str) -> tuple[Rule, ...]:
    """The rules of a cert_rules.toml text, checked: RuleError names the rule and what is wrong with it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"silent rules: not TOML ({exc})") from None
    out: list[Rule] = []
    for n, raw in enumerate(data.get("rule", []), 1):
        rid = str(raw.get("id", "")) if isinstance(raw, dict) else ""
        where = f"silent rule {n} ({rid or 'no id'})"
        if not rid or len(rid) > 40 or not rid.replace("_", "").isalnum():
            raise RuleError(f"{where}: id must be 1-40 letters, digits or _")
        if rid in {r.id for r in out} or rid in CHANNELS:
            raise RuleError(f"{where}: id is used twice")
        evidence = raw.get("evidence")
        if evidence not in EVIDENCE_KINDS:
            raise RuleError(f"{where}: evidence must be one of {', '.join(EVIDENCE_KINDS)}")
        window = raw.get("window_days")
        if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 3660:
            raise RuleError(f"{where}: window_days must be a whole number of days, 1-3660")
        actions = tuple(raw.get("actions", ()))
        if evidence == "audit" and (not actions or not all(isinstance(a, str) and a for a in actions)):
            raise RuleError(f"{where}: an audit rule needs `actions`, the audit actions that count")
        kind = raw.get("record_kind", "")
        if evidence == "shared_record" and kind not in models.RECORD_KINDS:
            raise RuleError(f"{where}: record_kind must be one of {', '.join(models.RECORD_KINDS)}")
        if kind == "death":
            raise RuleError(f"{where}: a death record is never evidence of being alive")
        out.append(Rule(rid, evidence, window, str(raw.get("explain", "")), actions, kind,
                        str(raw.get("record_source", ""))))
    if not out:
        raise RuleError("silent rules: no [[rule]] given")
    return tuple(out)


@functools.cache
def rules() -> tuple[Rule, ...]:
    """The silent rules of holder_db/data/cert_rules.toml, in the order they are tried."""
    return parse_rules(resources.files("holder_db").joinpath("data/cert_rules.toml").read_text(encoding="utf-8"))


def explain(rule: str) -> str:
    """The sentence a certification's rule or channel stands for."""
    for r in rules():
        if r.id == rule:
            return r.explain
    return CHANNELS.get(rule, rule)


def pension_codes() -> tuple[str, ...]:
    """The benefit codes whose kind is pension: their holders must be certified."""
    return tuple(code for code, k in benefit_kinds().items() if k.kind == "pension")


# ---- pure rules ----------------------------------------------------------------------------------------------

def check_year(year: Any, today: dt.date) -> int:
    """A year that can be certified: from FIRST_YEAR to this year."""
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= today.year:
        raise CertError(f"year must be {FIRST_YEAR}-{today.year}, got {year!r}", 400)
    return year


def deadline(year: int) -> dt.date:
    """The last day a year's certification is on time."""
    return dt.date(year, 12, 31)


def state_of(certified: bool, year: int, today: dt.date) -> str:
    if certified:
        return "certified"
    return "due" if today <= deadline(year) else "overdue"


def overdue_past_grace(certified_years: Iterable[int], on: dt.date, grace_days: int) -> bool:
    """Whether a pensioner is overdue past the grace period on `on`: certified for no year from the one before
    `on` onwards, and that year's deadline more than `grace_days` before `on`. A later certification counts: who was
    certified this year was alive for last year's payments too, so arrears are paid."""
    if any(y >= on.year - 1 for y in certified_years):
        return False
    return on > deadline(on.year - 1) + dt.timedelta(days=grace_days)


def window(rule: Rule, year: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """The dates [first, last] a rule's evidence may have for `year`'s certification run on `today`: in that year,
    and no older than the rule's window."""
    last = min(today, deadline(year))
    first = max(dt.date(year, 1, 1), last - dt.timedelta(days=rule.window_days - 1))
    return first, last


# ---- the silent pass -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    rule: Rule
    low: int  # holder ids in [low, high)
    high: int


def _day(conn: Connection, column: Any) -> Any:
    return func.date(column) if store.is_sqlite(conn) else cast(column, Date)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def _candidates(year: int, as_of: dt.date, ids: tuple[int, int] | None = None) -> Any:
    """Holders who must be certified for `year` and are not yet: a pension-kind entitlement, no death on record.
    `ids`: a step's [low, high) of holder ids, repeated on the certifications side, since PostgreSQL carries an
    equality across a join but not a range: without it each step's anti-join reads (and sorts) the whole year's
    certifications, a step slower with every step before it."""
    done = exists().where(CT.c.holder_id == H.c.id, CT.c.year == year).correlate(H)
    if ids is not None:
        done = done.where(CT.c.holder_id >= ids[0], CT.c.holder_id < ids[1])
    return and_(_pensioner(year), ~_dead(as_of), ~done)


def _pensioner(year: int) -> Any:
    e = E.alias("pension_e")
    return exists().where(e.c.ssn == H.c.ssn, e.c.benefit.in_(pension_codes()), e.c.status != "cancelled",
                          e.c.period <= f"{year:04d}-12").correlate(H)


def _dead(as_of: dt.date) -> Any:
    r = SR.alias("death_r")  # aliased: the shared-record rules read shared_records too
    return exists().where(r.c.ssn == H.c.ssn, r.c.kind == "death", r.c.date <= as_of).correlate(H)


def _evidence(conn: Connection, rule: Rule, first: dt.date, last: dt.date) -> tuple[Any, Any, Any, Any]:
    """(table, the newest matching row's id as a correlated subquery, its reference, its date) for one rule."""
    if rule.evidence == "settlement":
        lo, hi = _midnight(first), _midnight(last + dt.timedelta(days=1))
        newest = (select(S.c.id).where(S.c.holder_id == H.c.id, S.c.created_at >= lo, S.c.created_at < hi)
                  .order_by(S.c.created_at.desc(), S.c.id.desc()).limit(1).correlate(H).scalar_subquery())
        return S, newest, S.c.settlement_id, _day(conn, S.c.created_at)
    if rule.evidence == "audit":
        lo, hi = _midnight(first), _midnight(last + dt.timedelta(days=1))
        newest = (select(A.c.id).where(A.c.holder_id == H.c.id, A.c.action.in_(rule.actions), A.c.at >= lo,
                                       A.c.at < hi)
                  .order_by(A.c.at.desc(), A.c.id.desc()).limit(1).correlate(H).scalar_subquery())
        return A, newest, literal("audit:") + cast(A.c.id, String), _day(conn, A.c.at)
    conds = [SR.c.ssn == H.c.ssn, SR.c.kind == rule.record_kind, SR.c.date >= first, SR.c.date <= last]
    if rule.record_source:
        conds.append(SR.c.source == rule.record_source)
    newest = (select(SR.c.id).where(*conds).order_by(SR.c.date.desc(), SR.c.id.desc()).limit(1)
              .correlate(H).scalar_subquery())
    return SR, newest, literal("record:") + cast(SR.c.id, String), SR.c.date


def steps(engine: Engine, chunk: int = DEFAULT_CHUNK) -> list[Step]:
    """The silent pass as steps: each rule over each range of `chunk` holder ids, rules in order within a range."""
    with engine.connect() as conn:
        low, high = conn.execute(select(func.min(H.c.id), func.max(H.c.id))).one()
    if low is None:
        return []
    return [Step(rule, start, min(start + chunk, high + 1))
            for start in range(low, high + 1, chunk) for rule in rules()]


def run_step(engine: Engine, step: Step, year: int, today: dt.date, actor: str = "cert run") -> int:
    """Certify, in one INSERT ... SELECT and one transaction, every candidate of the step's range whose evidence
    the step's rule finds; returns how many. A rerun adds nothing (the candidates exclude the certified)."""
    first, last = window(step.rule, year, today)
    now = models.utcnow()
    with store.write_connection(engine) as conn:
        table, newest, ref, day = _evidence(conn, step.rule, first, last)
        # each candidate with the id of their newest evidence row (an index lookup per holder), then that row by
        # its key: joining on the correlated subquery itself lets PostgreSQL plan holders x evidence
        found = (select(H.c.id.label("holder_id"), newest.label("evidence_id"))
                 .where(H.c.id >= step.low, H.c.id < step.high,
                        _candidates(year, last, (step.low, step.high))).subquery("found"))
        chosen = (select(found.c.holder_id, literal(year), literal("silent"), literal(step.rule.id),
                         func.substr(ref, 1, 64), day, literal(actor),
                         literal(now, models.Certification.__table__.c.certified_at.type))  # type: ignore[attr-defined]
                  .select_from(found.join(table, table.c.id == found.c.evidence_id)))
        stmt = insert(CT).from_select(["holder_id", "year", "source", "rule", "evidence_ref", "evidence_date",
                                       "actor", "certified_at"], chosen)
        made = max(conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount, 0)
    if made and not store.is_sqlite(engine):
        # fresh statistics: planned on a table its statistics call empty, the next step's NOT EXISTS would scan
        # the certifications table once per candidate
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE certifications")
    return made


@dataclass
class Report:
    year: int
    today: dt.date
    state: str  # what an uncertified pensioner is this year: due or overdue
    pensioners: int = 0
    deceased: int = 0
    certified: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> rule -> count (whole year)
    this_run: dict[str, int] = field(default_factory=dict)  # rule -> certified by this run
    uncertified: int = 0
    sample: list[dict[str, str]] = field(default_factory=list)  # some uncertified holders, masked

    def as_dict(self) -> dict[str, Any]:
        total = sum(sum(v.values()) for v in self.certified.values())
        return {"year": self.year, "today": self.today.isoformat(), "pensioners": self.pensioners,
                "deceased": self.deceased, "certified_total": total, "certified": self.certified,
                "this_run": self.this_run, "due": self.uncertified if self.state == "due" else 0,
                "overdue": self.uncertified if self.state == "overdue" else 0, "uncertified_sample": self.sample}

    def as_text(self) -> str:
        d = self.as_dict()
        lines = [f"certification {self.year} (as of {d['today']}): {d['pensioners']} pensioners, "
                 f"{d['certified_total']} certified, {d['due']} due, {d['overdue']} overdue, "
                 f"{d['deceased']} deceased (not certified)"]
        for source, by_rule in sorted(self.certified.items()):
            for rule, n in sorted(by_rule.items()):
                new = f" ({self.this_run[rule]} by this run)" if self.this_run.get(rule) else ""
                lines.append(f"  {source:6s} {rule:20s} {n:>9d}{new}  {explain(rule)}")
        for s in self.sample:
            lines.append(f"  {self.state:7s} {s['holder']} {s['name']}")
        return "\n".join(lines)


def report(engine: Engine, year: int, today: dt.date, sample: int = 10,
           this_run: Mapping[str, int] | None = None) -> Report:
    """Counts for one year: pensioners, certified by source and rule, uncertified (due or overdue), deceased."""
    as_of = min(today, deadline(year))
    pensioner, dead = _pensioner(year), _dead(as_of)
    out = Report(year, today, state_of(False, year, today), this_run=dict(this_run or {}))
    with engine.connect() as conn:
        out.pensioners = conn.execute(select(func.count()).select_from(H).where(pensioner)).scalar_one()
        out.deceased = conn.execute(select(func.count()).select_from(H).where(pensioner, dead)).scalar_one()
        for source, rule, n in conn.execute(select(CT.c.source, CT.c.rule, func.count()).where(CT.c.year == year)
                                            .group_by(CT.c.source, CT.c.rule)):
            out.certified.setdefault(source, {})[rule] = n
        out.uncertified = conn.execute(select(func.count()).select_from(H)
                                       .where(_candidates(year, as_of))).scalar_one()
        rows = conn.execute(select(H.c.ssn, H.c.name).where(_candidates(year, as_of)).order_by(H.c.id).limit(sample))
        out.sample = [{"holder": mask(r.ssn), "name": r.name} for r in rows]
    return out


# ---- one holder ----------------------------------------------------------------------------------------------

def _holder_facts(conn: Connection, holder_id: int, year: int, as_of: dt.date) -> tuple[bool, bool]:
    """(is a pensioner for `year`, deceased by `as_of`)."""
    ssn = conn.execute(select(H.c.ssn).where(H.c.id == holder_id)).scalar()
    if ssn is None:
        raise CertError("no such holder", 404)
    pensioner = conn.execute(select(exists().where(E.c.ssn == ssn, E.c.benefit.in_(pension_codes()),
                                                   E.c.status != "cancelled", E.c.period <= f"{year:04d}-12"))
                             ).scalar()
    dead = conn.execute(select(exists().where(SR.c.ssn == ssn, SR.c.kind == "death", SR.c.date <= as_of))).scalar()
    return bool(pensioner), bool(dead)


def certify(conn: Connection, holder_id: int, year: int, channel: str, *, actor: str, evidence_ref: str = "",
            proxy_holder_id: int | None = None, today: dt.date | None = None) -> tuple[dict[str, Any], bool]:
    """Record a self or proxy certification in the caller's write transaction; returns (the year's record, whether
    this call made it). A year already certified keeps its first record. Refused: an unknown year, a holder who is
    not a pensioner or is deceased."""
    today = today or dt.date.today()
    check_year(year, today)
    if channel not in CHANNELS:
        raise CertError(f"channel must be one of {', '.join(CHANNELS)}", 400)
    if (SOURCE_OF[channel] == "proxy") != (proxy_holder_id is not None):
        raise CertError("a proxy certification names the proxy, and only it does", 400)
    pensioner, dead = _holder_facts(conn, holder_id, year, min(today, deadline(year)))
    if dead:
        raise CertError("a death is on record for this holder: they cannot be certified", 409)
    if not pensioner:
        raise CertError(f"the holder draws no pension in {year}: there is nothing to certify", 409)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    made = conn.execute(dialect.insert(CT).values(
        holder_id=holder_id, year=year, source=SOURCE_OF[channel], rule=channel, evidence_ref=evidence_ref[:64],
        evidence_date=today, proxy_holder_id=proxy_holder_id, actor=actor[:120], certified_at=models.utcnow())
        .on_conflict_do_nothing(index_elements=["holder_id", "year"]),
        execution_options={"preserve_rowcount": True}).rowcount
    record = record_of(conn, holder_id, year, today)
    return record, made > 0


def record_of(conn: Connection, holder_id: int, year: int, today: dt.date | None = None) -> dict[str, Any]:
    """One holder's certification for a year, as shown to them, an officer or a proxy (ID numbers masked)."""
    today = today or dt.date.today()
    row = conn.execute(select(CT).where(CT.c.holder_id == holder_id, CT.c.year == year)).first()
    if row is None:
        pensioner, dead = _holder_facts(conn, holder_id, year, min(today, deadline(year)))
        state = "deceased" if dead else state_of(False, year, today) if pensioner else "not_required"
        return {"year": year, "state": state}
    by = None
    if row.proxy_holder_id is not None:
        p = conn.execute(select(H.c.ssn, H.c.name).where(H.c.id == row.proxy_holder_id)).one()
        by = {"holder": mask(p.ssn), "name": p.name}
    return {"year": year, "state": "certified", "source": row.source, "rule": row.rule, "explain": explain(row.rule),
            "evidence_ref": row.evidence_ref,
            "evidence_date": row.evidence_date.isoformat() if row.evidence_date else None,
            "proxy": by, "actor": row.actor, "certified_at": row.certified_at.isoformat()}


def certified_years(conn: Connection, ssns: Iterable[str], years: Iterable[int]) -> dict[str, set[int]]:
    """For each ID number, the years among `years` it is certified for (payment asks about a batch at a time)."""
    wanted, ys = list(dict.fromkeys(ssns)), list(years)
    out: dict[str, set[int]] = {s: set() for s in wanted}
    for i in range(0, len(wanted), 500):
        rows = conn.execute(select(H.c.ssn, CT.c.year).join(CT, CT.c.holder_id == H.c.id)
                            .where(H.c.ssn.in_(wanted[i:i + 500]), CT.c.year.in_(ys)))
        for ssn, year in rows:
            out[ssn].add(year)
    return out
