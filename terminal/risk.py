"""Risk rules for benefit payment (待遇发放): why an entitlement must be held back instead of paid.

Pure: the caller gathers the facts (shared records, card status, who else is paid into the same bank account,
which entitlements repeat one another) and gets back a list of reason codes; an empty list means the payment may
go out. What a benefit is comes from the benefit-kinds table (holder_db/data/benefit_kinds.tsv: code, kind, age
bounds), never from words in its name.

    deceased              a death record dated on or before the period's end
    imprisoned            an imprisonment record dated on or before the period's end
    shared_account        the entitlement's bank account also receives entitlements of another holder
    abnormal_age          at the period's end the holder is younger than the kind's minimum age, or older than
                          its maximum (by default the run's `max_age`, 105): held for review
    card_not_active       the holder has no card in the active state
    duplicate_entitlement another entitlement of the same holder, benefit and period comes first
    future_period         the period has not begun yet
    unknown_benefit       the benefit code is not in the benefit-kinds table
    not_certified         a pension whose holder is overdue for certification (待遇资格认证) past the grace period
                          at the period's end: certified neither that year nor the year before, and the year
                          before's deadline more than `grace_days` ago (holder_db.certification)
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Collection, Hashable, Iterable, Mapping

from cardlib import idnumber
from holder_db.counter import EntitlementRow as Entitlement  # the store's rows are what the rules judge
from holder_db.counter import RecordRow as SharedRecord
from holder_db.certification import overdue_past_grace
from holder_db.kinds import BenefitKind, benefit_kinds

REASONS = ("deceased", "imprisoned", "shared_account", "abnormal_age", "card_not_active", "duplicate_entitlement",
           "future_period", "unknown_benefit", "not_certified")
RECORD_KINDS = ("death", "imprisonment", "activity")
MAX_AGE = 105
GRACE_DAYS = 90
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    """A period that is not YYYY-MM."""


def period_end(period: str) -> dt.date:
    """The last day of a YYYY-MM period."""
    m = _PERIOD.match(period) if isinstance(period, str) else None
    if not m:
        raise PeriodError(f"period must be YYYY-MM, got {period!r}")
    year, month = int(m.group(1)), int(m.group(2))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def kind_of(benefit: str) -> BenefitKind | None:
    return benefit_kinds().get(benefit)


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_date(ssn: str) -> dt.date | None:
    try:
        return idnumber.parse(ssn).birth_date
    except idnumber.IdNumberError:
        return None


def account_holders(entitlements: Iterable[Entitlement]) -> dict[str, set[str]]:
    """Bank account -> the holders (ssn) whose entitlements are paid into it."""
    holders: dict[str, set[str]] = {}
    for e in entitlements:
        holders.setdefault(e.bank_account, set()).add(e.ssn)
    return holders


def duplicate_key(e: Entitlement) -> Hashable:
    """What makes two entitlements the same payment: holder, benefit and period."""
    return (e.ssn, e.benefit, e.period)


def duplicates(entitlements: Iterable[Entitlement], paid: Iterable[str] = ()) -> set[str]:
    """The entitlement ids that repeat an earlier one of the same holder, benefit and period: one already paid
    comes first, else the smallest id; all the others are duplicates."""
    paid_ids = set(paid)
    groups: dict[Hashable, list[Entitlement]] = {}
    for e in entitlements:
        groups.setdefault(duplicate_key(e), []).append(e)
    out: set[str] = set()
    for group in groups.values():
        if len(group) > 1:
            first = min(group, key=lambda e: (e.entitlement_id not in paid_ids, e.entitlement_id))
            out |= {e.entitlement_id for e in group if e is not first}
    return out


def check(entitlement: Entitlement, *, records: Iterable[SharedRecord] = (), card_status: str | None,
          holders_of_account: Mapping[str, set[str]] | None = None, born: dt.date | None = None,
          duplicate: bool = False, today: dt.date | None = None, max_age: int = MAX_AGE,
          certified_years: Collection[int] | None = None, grace_days: int = GRACE_DAYS) -> list[str]:
    """The reason codes that hold this entitlement back, in REASONS order; [] when it may be paid.

    `records` are the holder's shared records, `card_status` the state of the holder's current card (None when
    the holder has none), `holders_of_account` the map from account_holders, `born` the birth date when known
    otherwise (else it is read from the ID number), `duplicate` whether `duplicates` named it, `today` the day of
    the run, `max_age` the oldest age paid without review, `certified_years` the years the holder is certified
    for (None: not known to the caller, the certification rule is not applied), `grace_days` how long after a
    year's deadline a pension is still paid uncertified.
    """
    end = period_end(entitlement.period)
    own = [r for r in records if r.ssn == entitlement.ssn]
    reasons: list[str] = []
    if any(r.kind == "death" and r.date <= end for r in own):
        reasons.append("deceased")
    if any(r.kind == "imprisonment" and r.date <= end for r in own):
        reasons.append("imprisoned")
    if holders_of_account and len(holders_of_account.get(entitlement.bank_account, set()) | {entitlement.ssn}) > 1:
        reasons.append("shared_account")
    kind = kind_of(entitlement.benefit)
    birth = born or birth_date(entitlement.ssn)
    if birth is None:
        reasons.append("abnormal_age")
    else:
        age = age_on(birth, end)
        top = min(max_age, kind.max_age) if kind is not None and kind.max_age is not None else max_age
        if (kind is not None and age < kind.min_age) or age > top:
            reasons.append("abnormal_age")
    if card_status != "active":
        reasons.append("card_not_active")
    if duplicate:
        reasons.append("duplicate_entitlement")
    if end.replace(day=1) > (today or dt.date.today()):
        reasons.append("future_period")
    if kind is None:
        reasons.append("unknown_benefit")
    if (certified_years is not None and kind is not None and kind.kind == "pension"
            and overdue_past_grace(certified_years, end, grace_days)):
        reasons.append("not_certified")
    return reasons
