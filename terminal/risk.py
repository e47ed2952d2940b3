"""Risk rules for benefit payment (待遇发放): why an entitlement must be held back instead of paid.

Pure: the caller gathers the facts (shared records, card status, who else is paid into the same bank account)
and gets back a list of reason codes; an empty list means the payment may go out.

    deceased        a death record dated on or before the period's end
    imprisoned      an imprisonment record dated on or before the period's end
    shared_account  the entitlement's bank account also receives entitlements of another holder
    abnormal_age    a pension for a holder younger than 50 at the period's end
    card_not_active the holder has no card in the active state
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from cardlib import idnumber

REASONS = ("deceased", "imprisoned", "shared_account", "abnormal_age", "card_not_active")
RECORD_KINDS = ("death", "imprisonment", "activity")
PENSION_AGE_FLOOR = 50
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    """A period that is not YYYY-MM."""


@dataclass(frozen=True)
class Entitlement:
    entitlement_id: str
    ssn: str
    benefit: str
    period: str
    amount: int
    bank_account: str


@dataclass(frozen=True)
class SharedRecord:
    ssn: str
    kind: str
    date: dt.date


def period_end(period: str) -> dt.date:
    """The last day of a YYYY-MM period."""
    m = _PERIOD.match(period) if isinstance(period, str) else None
    if not m:
        raise PeriodError(f"period must be YYYY-MM, got {period!r}")
    year, month = int(m.group(1)), int(m.group(2))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def is_pension(benefit: str) -> bool:
    b = benefit.lower()
    return "pension" in b or "养老" in b


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


def check(entitlement: Entitlement, *, records: Iterable[SharedRecord] = (), card_status: str | None,
          holders_of_account: Mapping[str, set[str]] | None = None, born: dt.date | None = None) -> list[str]:
    """The reason codes that hold this entitlement back, in REASONS order; [] when it may be paid.

    `records` are the holder's shared records, `card_status` the state of the holder's current card (None when
    the holder has none), `holders_of_account` the map from account_holders, `born` the birth date when known
    otherwise (else it is read from the ID number).
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
    if is_pension(entitlement.benefit):
        birth = born or birth_date(entitlement.ssn)
        if birth is None or age_on(birth, end) < PENSION_AGE_FLOOR:
            reasons.append("abnormal_age")
    if card_status != "active":
        reasons.append("card_not_active")
    return reasons
