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
