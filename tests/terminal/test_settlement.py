"""Medical settlement arithmetic: a table of hand-worked cases, refusals, and invariants under hypothesis."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal import settlement
from terminal.settlement import BillError, PolicyError, Usage

POLICY_TOML = """
[medical]
deductible = 80000
fund_cap = 30000000
self_pay_first_rate = 0.10
account_covers_out_of_catalog = false
[medical.ratio]
"1" = 0.90
"2" = 0.85
"3" = 0.80
"""
POLICY = settlement.parse_policy(POLICY_TOML)
COVERS = settlement.parse_policy(POLICY_TOML.replace("= false", "= true"))


def bill(level: str, *items: tuple[str, int]) -> settlement.Bill:
    return settlement.parse_bill(
        {"level": level, "items": [{"code": f"X{n}", "category": c, "amount": a} for n, (c, a) in enumerate(items)]},
        POLICY)


CASES = [
    # name, policy, bill, usage, (total, out_of_catalog, self_pay_first, deductible, fund, account, cash)
    ("first visit of the year", POLICY, bill("3", ("A", 100000), ("B", 50000), ("C", 20000)), Usage(balance=10000),
     (170000, 20000, 5000, 80000, 52000, 10000, 108000)),
    ("deductible already used", POLICY, bill("3", ("A", 100000), ("B", 50000), ("C", 20000)),
     Usage(balance=1000000, deductible_used=80000), (170000, 20000, 5000, 0, 116000, 34000, 20000)),
    ("account covers out of catalog", COVERS, bill("3", ("A", 100000), ("B", 50000), ("C", 20000)),
     Usage(balance=1000000, deductible_used=80000), (170000, 20000, 5000, 0, 116000, 54000, 0)),
    ("deductible partly used", POLICY, bill("1", ("A", 100000)), Usage(deductible_used=30000),
     (100000, 0, 0, 50000, 45000, 0, 55000)),
    ("bill below the deductible", POLICY, bill("2", ("A", 50000)), Usage(balance=20000),
     (50000, 0, 0, 50000, 0, 20000, 30000)),
    ("half up, not half even", POLICY, bill("2", ("B", 25)), Usage(deductible_used=80000),
     (25, 0, 3, 0, 19, 0, 6)),
    ("fund share exactly half a fen", POLICY, bill("2", ("A", 10)), Usage(deductible_used=80000),
     (10, 0, 0, 0, 9, 0, 1)),
    ("fund cap nearly reached", POLICY, bill("1", ("A", 1000000)), Usage(deductible_used=80000, fund_used=29990000),
     (1000000, 0, 0, 0, 10000, 0, 990000)),
    ("fund cap exceeded already", POLICY, bill("1", ("A", 1000000)), Usage(deductible_used=80000, fund_used=31000000),
     (1000000, 0, 0, 0, 0, 0, 1000000)),
    ("only out of catalog", POLICY, bill("3", ("C", 12345)), Usage(balance=99999),
     (12345, 12345, 0, 0, 0, 0, 12345)),
    ("empty bill", POLICY, bill("1"), Usage(balance=5), (0, 0, 0, 0, 0, 0, 0)),
]


@pytest.mark.parametrize("name,policy,the_bill,usage,expected", CASES, ids=[c[0] for c in CASES])
def test_split_cases(name, policy, the_bill, usage, expected):
    got = settlement.split(policy, the_bill, usage).as_dict()
    assert tuple(got[k] for k in settlement.SPLIT_KEYS) == expected


def test_rates_are_exact_decimals_not_floats():
    # 100 x 0.145 is 14.5 exactly and rounds up to 15; in binary floating point it is 14.4999... and would give 14.
    policy = settlement.parse_policy(POLICY_TOML.replace("0.10", "0.145"))
    assert policy.self_pay_first_rate == Decimal("0.145")
    assert settlement.split(policy, bill("1", ("B", 100)), Usage(deductible_used=80000)).self_pay_first == 15


@pytest.mark.parametrize("data,needle", [
    ({"level": "3", "items": [{"code": "K1", "category": "D", "amount": 1}]}, "item 1 ('K1'): unknown category"),
    ({"level": "3", "items": [{"code": "A", "category": "A", "amount": 5},
                              {"code": "NEG", "category": "A", "amount": -1}]}, "item 2 ('NEG') amount must not be"),
    ({"level": "3", "items": [{"code": "F", "category": "A", "amount": 12.5}]}, "item 1 ('F') amount must be a whole"),
    ({"level": "3", "items": [{"code": "T", "category": "A", "amount": True}]}, "item 1 ('T') amount must be a whole"),
    ({"level": "9", "items": []}, "level '9' is unknown"),
    ({"items": []}, "level"),
    ({"level": "3", "items": "none"}, "items must be a list"),
    ([1, 2], "JSON object"),
])
def test_bad_bills_are_refused_naming_the_item(data, needle):
    with pytest.raises(BillError, match=None) as info:
        settlement.parse_bill(data, POLICY)
    assert needle in str(info.value)


@pytest.mark.parametrize("text,needle", [
    ("[medical]\ndeductible = 1\n", "no 'fund_cap'"),
    (POLICY_TOML.replace('"1" = 0.90', '"1" = 1.5'), "ratio for level '1'"),
    (POLICY_TOML.replace("deductible = 80000", "deductible = -1"), "deductible must not be negative"),
    (POLICY_TOML.replace("0.10", "\"ten\""), "self_pay_first_rate"),
    ("[medical\n", "not valid TOML"),
    ("x = 1", "no [medical]"),
])
def test_bad_policies_are_refused(text, needle):
    with pytest.raises(PolicyError) as info:
        settlement.parse_policy(text)
    assert needle in str(info.value)


BOUNDS = [
    # (amounts of the bill's items, refused with)
    ([10**15], None),
    ([10**15 + 1], "item 1 ('X1') amount must be at most 1000000000000000 fen"),
    ([10**29], "item 1 ('X1') amount must be at most 1000000000000000 fen"),
    ([2**63 + 1], "at most 1000000000000000 fen"),
    ([10**4000], "a 4001-digit number"),
    ([10**15, 1], "bill total must be at most 1000000000000000 fen"),
]


@pytest.mark.parametrize("amounts,refused", BOUNDS, ids=[str(i) for i in range(len(BOUNDS))])
def test_amounts_past_the_stated_maximum_are_refused_in_one_line(amounts, refused):
    data = {"level": "3", "items": [{"code": f"X{n}", "category": "A", "amount": a} for n, a in enumerate(amounts, 1)]}
    try:
        s = settlement.split(POLICY, settlement.parse_bill(data, POLICY))
    except BillError as exc:
        assert refused is not None and refused in str(exc) and "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert refused is None and s.fund + s.account + s.cash == s.total == sum(amounts)


@pytest.mark.parametrize("usage", [Usage(balance=10**15 + 1), Usage(deductible_used=10**29), Usage(fund_used=2**64)])
def test_usage_past_the_maximum_refused(usage):
    with pytest.raises(BillError, match="at most"):
        settlement.split(POLICY, bill("1", ("A", 1)), usage)


def test_negative_usage_refused():
    with pytest.raises(BillError, match="balance must not be negative"):
        settlement.split(POLICY, bill("1", ("A", 1)), Usage(balance=-1))


rates = st.integers(0, 1000).map(lambda n: Decimal(n) / 1000)
amounts = st.integers(0, 5_000_000)


@settings(max_examples=200, deadline=None)
@given(deductible=amounts, cap=amounts, rate=rates, ratio=rates, covers=st.booleans(),
       items=st.lists(st.tuples(st.sampled_from("ABC"), amounts), max_size=8),
       balance=amounts, ded_used=amounts, fund_used=amounts)
def test_invariants(deductible, cap, rate, ratio, covers, items, balance, ded_used, fund_used):
    policy = settlement.Policy(deductible=deductible, fund_cap=cap, self_pay_first_rate=rate, ratio={"1": ratio},
                               account_covers_out_of_catalog=covers)
    b = settlement.Bill(level="1", items=tuple(settlement.Item("x", c, a) for c, a in items))
    s = settlement.split(policy, b, Usage(balance=balance, deductible_used=ded_used, fund_used=fund_used))
    assert s.fund + s.account + s.cash == s.total
    assert all(v >= 0 for v in s.as_dict().values())
    assert s.fund <= max(0, cap - fund_used)
    assert s.deductible <= max(0, deductible - ded_used)
    assert s.account <= balance
    assert s.out_of_catalog + s.self_pay_first + s.deductible + s.fund <= s.total
    if not covers:
        assert s.cash >= s.out_of_catalog
