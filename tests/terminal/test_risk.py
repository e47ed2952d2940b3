"""Risk rules for benefit payment: a table of cases, one reason per rule and combinations."""
from __future__ import annotations

import datetime as dt

import pytest

from terminal import risk
from terminal.risk import Entitlement, SharedRecord

from .ids import ssn

OLD = ssn("19550101", "123")
OTHER = ssn("19560315", "245")
YOUNG = ssn("19800101", "311")
TURNS_50 = ssn("19760131", "411")  # turns 50 on 2026-01-31, the last day of 2026-01


def ent(who=OLD, benefit="pension", period="2026-01", account="6222000000000001", eid="E1"):
    return Entitlement(eid, who, benefit, period, 100000, account)


D = dt.date
CASES = [
    ("clean pension", ent(), [], "active", None, []),
    ("death before the period", ent(), [SharedRecord(OLD, "death", D(2025, 12, 3))], "active", None, ["deceased"]),
    ("death on the period's last day", ent(), [SharedRecord(OLD, "death", D(2026, 1, 31))], "active", None,
     ["deceased"]),
    ("death after the period", ent(), [SharedRecord(OLD, "death", D(2026, 2, 1))], "active", None, []),
    ("someone else's death", ent(), [SharedRecord(OTHER, "death", D(2020, 1, 1))], "active", None, []),
    ("activity evidence is no risk", ent(), [SharedRecord(OLD, "activity", D(2026, 1, 5))], "active", None, []),
    ("imprisoned", ent(), [SharedRecord(OLD, "imprisonment", D(2024, 6, 1))], "active", None, ["imprisoned"]),
    ("imprisoned after the period", ent(), [SharedRecord(OLD, "imprisonment", D(2026, 3, 1))], "active", None, []),
    ("shared account", ent(), [], "active", {"6222000000000001": {OLD, OTHER}}, ["shared_account"]),
    ("own account only", ent(), [], "active", {"6222000000000001": {OLD}}, []),
    ("account used only by another holder", ent(), [], "active", {"6222000000000001": {OTHER}},
     ["shared_account"]),
    ("pension for a 46-year-old", ent(YOUNG), [], "active", None, ["abnormal_age"]),
    ("allowance for a 46-year-old", ent(YOUNG, benefit="unemployment"), [], "active", None, []),
    ("养老金 for a 46-year-old", ent(YOUNG, benefit="养老金"), [], "active", None, ["abnormal_age"]),
    ("turns 50 on the period's last day", ent(TURNS_50), [], "active", None, []),
    ("49 in the period before", ent(TURNS_50, period="2025-12"), [], "active", None, ["abnormal_age"]),
    ("card lost", ent(), [], "lost", None, ["card_not_active"]),
    ("no card", ent(), [], None, None, ["card_not_active"]),
    ("everything at once", ent(YOUNG),
     [SharedRecord(YOUNG, "death", D(2025, 1, 1)), SharedRecord(YOUNG, "imprisonment", D(2024, 1, 1))],
     "cancelled", {"6222000000000001": {YOUNG, OTHER}},
     ["deceased", "imprisoned", "shared_account", "abnormal_age", "card_not_active"]),
]


@pytest.mark.parametrize("name,e,records,status,holders,expected", CASES, ids=[c[0] for c in CASES])
def test_rules(name, e, records, status, holders, expected):
    assert risk.check(e, records=records, card_status=status, holders_of_account=holders) == expected


def test_account_holders_groups_by_account():
    es = [ent(OLD, account="A"), ent(OTHER, account="A", eid="E2"), ent(OLD, account="B", eid="E3")]
    assert risk.account_holders(es) == {"A": {OLD, OTHER}, "B": {OLD}}


@pytest.mark.parametrize("period,end", [("2024-02", D(2024, 2, 29)), ("2025-02", D(2025, 2, 28)),
                                        ("2025-12", D(2025, 12, 31))])
def test_period_end(period, end):
    assert risk.period_end(period) == end


@pytest.mark.parametrize("bad", ["2025-13", "2025-1", "202501", "", "2025-00", None])
def test_bad_period(bad):
    with pytest.raises(risk.PeriodError):
        risk.period_end(bad)
