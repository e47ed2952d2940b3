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
    ("养老金 is not a code: unknown, never guessed from the words", ent(YOUNG, benefit="养老金"), [], "active", None,
     ["unknown_benefit"]),
    ("退休金 code for a 46-year-old", ent(YOUNG, benefit="retirement"), [], "active", None, ["abnormal_age"]),
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
    assert risk.check(e, records=records, card_status=status, holders_of_account=holders,
                      today=D(2026, 12, 2)) == expected


BORN_1920 = ssn("19200615", "513")   # 105 on 2025-06-15, 106 on 2026-06-15
BORN_2010 = ssn("20100301", "611")   # 15 until 2025-03-01
AGES = [
    # (case, entitlement, max_age, expected)
    ("105 at the period's end is paid", ent(BORN_1920, period="2026-05"), 105, []),
    ("106 is held for review", ent(BORN_1920, period="2026-06"), 105, ["abnormal_age"]),
    ("a lower maximum holds earlier", ent(BORN_1920, period="2026-05"), 100, ["abnormal_age"]),
    ("a higher maximum lets 106 through", ent(BORN_1920, period="2026-06"), 110, []),
    ("the maximum applies to every kind", ent(BORN_1920, benefit="subsidy", period="2026-06"), 105, ["abnormal_age"]),
    ("unemployment at 15", ent(BORN_2010, benefit="unemployment", period="2025-02"), 105, ["abnormal_age"]),
    ("unemployment at 16", ent(BORN_2010, benefit="unemployment", period="2026-03"), 105, []),
    ("unemployment past the kind's 65", ent(OLD, benefit="unemployment", period="2026-01"), 105, ["abnormal_age"]),
    ("a subsidy at 15", ent(BORN_2010, benefit="subsidy", period="2025-02"), 105, []),
    ("residents' pension at 59", ent(ssn("19660310", "715"), benefit="resident_pension", period="2026-02"), 105,
     ["abnormal_age"]),
    ("residents' pension at 60", ent(ssn("19660310", "715"), benefit="resident_pension", period="2026-03"), 105, []),
]


@pytest.mark.parametrize("name,e,max_age,expected", AGES, ids=[c[0] for c in AGES])
def test_ages_at_both_ends(name, e, max_age, expected):
    assert risk.check(e, card_status="active", max_age=max_age, today=D(2026, 12, 2)) == expected


PERIODS = [
    # (case, period, today, expected)
    ("last month", "2026-11", D(2026, 12, 2), []),
    ("this month", "2026-12", D(2026, 12, 2), []),
    ("next month", "2027-01", D(2026, 12, 2), ["future_period"]),
    ("2030-01", "2030-01", D(2026, 12, 2), ["future_period"]),
    ("this month on its first day", "2026-12", D(2026, 12, 1), []),
    ("this month on the last day before it", "2026-12", D(2026, 11, 30), ["future_period"]),
]


@pytest.mark.parametrize("name,period,today,expected", PERIODS, ids=[c[0] for c in PERIODS])
def test_future_periods(name, period, today, expected):
    assert risk.check(ent(period=period), card_status="active", today=today) == expected


DUPLICATES = [
    # (case, entitlements, paid, expected duplicates)
    ("one of each", [ent(eid="E1"), ent(eid="E2", period="2026-02"), ent(eid="E3", benefit="subsidy")], (), set()),
    ("the same holder, benefit and period twice", [ent(eid="E2"), ent(eid="E1")], (), {"E2"}),
    ("three times", [ent(eid="E1"), ent(eid="E3"), ent(eid="E2")], (), {"E2", "E3"}),
    ("another account does not make it another payment", [ent(eid="E1"), ent(eid="E2", account="6222000000000009")],
     (), {"E2"}),
    ("the one already paid comes first", [ent(eid="E1"), ent(eid="E2")], ("E2",), {"E1"}),
    ("another holder's is not a duplicate", [ent(eid="E1"), ent(OTHER, eid="E2")], (), set()),
]


@pytest.mark.parametrize("name,es,paid,expected", DUPLICATES, ids=[c[0] for c in DUPLICATES])
def test_duplicates(name, es, paid, expected):
    assert risk.duplicates(es, paid) == expected


def test_every_kind_in_the_table_has_sane_bounds():
    from holder_db.kinds import benefit_kinds

    kinds = benefit_kinds()
    assert {"pension", "unemployment", "subsidy", "retirement"} <= set(kinds)
    for k in kinds.values():
        assert 0 <= k.min_age < (k.max_age or risk.MAX_AGE) <= risk.MAX_AGE


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


# entitlement, years the holder is certified for (None: not known), grace days -> held as not_certified?
CERT_CASES = [
    ("certified this year", ent(period="2026-06"), {2026}, 90, False),
    ("certified last year, this year's still due", ent(period="2026-06"), {2025}, 90, False),
    ("never certified, within the grace period", ent(period="2026-03"), set(), 90, False),
    ("never certified, past the grace period", ent(period="2026-04"), set(), 90, True),
    ("never certified, a longer grace", ent(period="2026-04"), set(), 120, False),
    ("certified two years ago only", ent(period="2026-12"), {2024}, 0, True),
    ("certified after the period: arrears are paid", ent(period="2025-12"), {2026}, 0, False),
    ("not a pension: no certification asked", ent(benefit="unemployment", period="2026-06", who=YOUNG), set(), 0,
     False),
    ("the caller knows no certifications", ent(period="2026-06"), None, 0, False),
    ("residents' pension is a pension kind", ent(benefit="resident_pension", period="2026-06"), set(), 90, True),
]


@pytest.mark.parametrize("name, e, years, grace, held", CERT_CASES, ids=[c[0] for c in CERT_CASES])
def test_not_certified(name, e, years, grace, held):
    reasons = risk.check(e, card_status="active", certified_years=years, grace_days=grace, today=dt.date(2027, 1, 1))
    assert ("not_certified" in reasons) is held
    assert reasons == (["not_certified"] if held else [])
