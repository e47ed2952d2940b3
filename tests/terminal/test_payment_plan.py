"""The payment decision per entitlement (pure): paid once, held with every reason, skipped when already paid."""
from __future__ import annotations

import datetime as dt

from terminal import payment, risk
from terminal.risk import Entitlement, SharedRecord

from .ids import ssn

A, B, C, DEAD = (ssn("19500101", "111"), ssn("19520202", "222"), ssn("19540303", "333"), ssn("19400404", "444"))


def ent(eid, who, account, benefit="pension", period="2026-01", amount=100000):
    return Entitlement(eid, who, benefit, period, amount, account)


def test_plan():
    es = [ent("E1", A, "ACC-A"), ent("E2", B, "ACC-SHARED"), ent("E3", C, "ACC-SHARED"), ent("E4", DEAD, "ACC-D"),
          ent("E5", A, "ACC-A", benefit="subsidy")]
    decisions = payment.plan(
        es, already_paid={"E5"}, records=[SharedRecord(DEAD, "death", dt.date(2025, 11, 2))],
        card_status={A: "active", B: "active", C: "active", DEAD: "active"},
        holders_of_account=risk.account_holders(es))
    got = {d.entitlement.entitlement_id: (d.action, d.reasons) for d in decisions}
    assert got == {"E1": ("pay", ()), "E2": ("hold", ("shared_account",)), "E3": ("hold", ("shared_account",)),
                   "E4": ("hold", ("deceased",)), "E5": ("skip", ("already_paid",))}


def test_plan_holds_duplicates_and_skips_zero_amounts():
    es = [ent("E1", A, "ACC-A"), ent("E2", A, "ACC-A"), ent("E3", A, "ACC-B"), ent("E4", B, "ACC-B2", amount=0),
          ent("E5", C, "ACC-C", period="2030-01")]
    decisions = payment.plan(es, already_paid=set(), records=[], card_status={A: "active", B: "active", C: "active"},
                             holders_of_account={}, today=dt.date(2026, 12, 2))
    got = {d.entitlement.entitlement_id: (d.action, d.reasons) for d in decisions}
    assert got == {"E1": ("pay", ()), "E2": ("hold", ("duplicate_entitlement",)),
                   "E3": ("hold", ("duplicate_entitlement",)), "E4": ("skip", ("zero_amount",)),
                   "E5": ("hold", ("future_period",))}


class _Store:
    """A PaymentStore in memory that counts what it is asked to post."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    def post(self, entitlement, bank_account):  # type: ignore[no-untyped-def]
        self.posted.append(entitlement.entitlement_id)
        return True


def test_a_zero_amount_is_neither_posted_nor_receipted(tmp_path):
    store = _Store()
    e = ent("Z1", A, "6222000000000001", amount=0)
    outcome = payment.execute(store, "2026-01", [payment.Decision(e, "pay")], receipts_dir=tmp_path / "rc")
    assert store.posted == [] and outcome.paid == []
    assert outcome.skipped == [{"entitlement_id": "Z1", "reason": "zero_amount"}]
    assert not (tmp_path / "rc").exists()
