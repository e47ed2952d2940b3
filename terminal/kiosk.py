"""The benefit kiosk (自助待遇领取): one holder, their card and PIN; pending benefits shown, confirmed, paid.

The money goes to the bank account read from the card's financial application (PBOC debit, cardlib.pboc), not
to whatever account a file once named; the same risk rules as the batch apply, with that account. Payments are
ledger postings keyed by entitlement id, so a kiosk and a batch run can never pay one entitlement twice.
The kiosk loop (`serve`) runs the flow on each inserted card with terminal.monitor.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from cardlib import pboc
from cardlib.idnumber import mask
from cardlib.psam import Psam
from terminal import payment, risk
from terminal.cardsession import visit


@dataclass
class KioskResult:
    holder: str  # masked
    bank_account: str  # masked
    pending: list[dict[str, Any]] = field(default_factory=list)
    confirmed: bool = False
    outcome: payment.Outcome | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"holder": self.holder, "bank_account": self.bank_account, "pending": self.pending,
                "confirmed": self.confirmed, "outcome": self.outcome.as_dict() if self.outcome else None}


def pending_view(decisions: list[payment.Decision]) -> list[dict[str, Any]]:
    return [{"entitlement_id": d.entitlement.entitlement_id, "benefit": d.entitlement.benefit,
             "period": d.entitlement.period, "amount": d.entitlement.amount,
             "payable": d.action == "pay", "reasons": list(d.reasons)} for d in decisions]


KIOSK_PURPOSE = "kiosk visit: pending benefits paid to the card"
KIOSK_FIELDS = ("entitlements", "shared_records", "card_status", "bank_account")


def run_once(store: Any, reader: str | None, pin: str, confirm: Callable[[list[dict[str, Any]]], bool], *,
             psam: Psam | None = None, receipts_dir: Any = None, today: dt.date | None = None,
             grace_days: int = risk.GRACE_DAYS, actor: str = "kiosk") -> KioskResult:
    """One holder's visit: card + PIN, pending benefits up to this month, confirm, pay to the card's account.

    `store` is a payment.PaymentStore that also answers `pending_for(ssn, up_to_period)`, `standing` and
    `note_read` (holder_db.counter.CounterStore): the read goes to the holder's access log under `actor`."""
    today = today or dt.date.today()
    with visit(reader, pin=pin, psam=psam) as card:
        ssn = card.info.ssn
        st = store.standing(ssn=ssn)
        if st is not None:
            store.note_read(st.holder_id, actor, KIOSK_PURPOSE, KIOSK_FIELDS, "kiosk.visit")
        if card.session is not None:  # card proved genuine and PIN checked: evidence for silent certification
            store.audit("kiosk.card_pin", ssn, "benefit kiosk visit")
        bank = pboc.read_card(card.channel)
        period = f"{today.year:04d}-{today.month:02d}"
        mine = [dataclasses.replace(e, bank_account=bank.pan) for e in store.pending_for(ssn, period)]
        others = [e for e in store.all_entitlements() if e.ssn != ssn]
        decisions = payment.plan(
            mine, already_paid=store.paid_ids(e.entitlement_id for e in mine), records=store.records({ssn}),
            card_status=store.card_status({ssn}), holders_of_account=risk.account_holders(others + mine),
            certified=store.certified_years({ssn}, range(today.year - 2, today.year + 1)), grace_days=grace_days)
        result = KioskResult(mask(ssn), bank.masked_pan, pending_view(decisions))
        payable = [p for p in result.pending if p["payable"]]
        if payable and confirm(result.pending):
            result.confirmed = True
            result.outcome = payment.execute(store, period, decisions, receipts_dir=receipts_dir,
                                             account_for=lambda e: bank.pan)
        return result


def entitlements_text(pending: list[dict[str, Any]]) -> str:
    from terminal.receipts import yuan

    lines = []
    for p in pending:
        state = "payable" if p["payable"] else "held: " + ", ".join(p["reasons"])
        lines.append(f"  {p['entitlement_id']}  {p['benefit']}  {p['period']}  {yuan(p['amount'])} 元  ({state})")
    return "\n".join(lines) if lines else "  (nothing pending)"

