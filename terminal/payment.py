"""Benefit payment (待遇发放): pay every due entitlement of a period once, hold back what a risk rule catches.

Each payment is a ledger entry (the benefits fund debited, the holder's account credited) whose idempotency key is
the entitlement id, so a second run (or a run racing another) pays nothing twice: what the ledger already holds is
`skipped` with `already_paid`; an entitlement that repeats another of the same holder, benefit and period is held
(`duplicate_entitlement`), and a zero amount is `skipped` (`zero_amount`), neither posted nor receipted. The decision per
entitlement is pure (`plan`); the store behind it (holder_db) is reached through the small `PaymentStore`
protocol, which terminal/paystore.py implements over holder_db.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol

from terminal import receipts, risk
from terminal.risk import Entitlement, SharedRecord


@dataclass
class Outcome:
    period: str
    paid: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_paid(self) -> int:
        return sum(p["amount"] for p in self.paid)

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "paid": self.paid, "held": self.held, "skipped": self.skipped,
                "total_paid": self.total_paid}


@dataclass(frozen=True)
class Decision:
    entitlement: Entitlement
    action: str  # pay | hold | skip
    reasons: tuple[str, ...] = ()


class PaymentStore(Protocol):
    def due(self, period: str) -> list[Entitlement]: ...

    def all_entitlements(self) -> list[Entitlement]: ...

    def paid_ids(self, ids: Iterable[str]) -> set[str]: ...

    def records(self, ssns: Iterable[str]) -> list[SharedRecord]: ...

    def card_status(self, ssns: Iterable[str]) -> dict[str, str | None]: ...

    def post(self, entitlement: Entitlement, bank_account: str) -> bool:
        """Pay into the account under idempotency key = entitlement id; False if that key was already posted."""
        ...


def plan(entitlements: Iterable[Entitlement], *, already_paid: set[str], records: Iterable[SharedRecord],
         card_status: Mapping[str, str | None], holders_of_account: Mapping[str, set[str]],
         today: dt.date | None = None, max_age: int = risk.MAX_AGE) -> list[Decision]:
    """Decide each entitlement: skip what was paid or moves no money (a zero amount is neither posted nor
    receipted), hold what a rule catches (with every reason), pay the rest."""
    entitlements = list(entitlements)
    by_ssn: dict[str, list[SharedRecord]] = {}
    for r in records:
        by_ssn.setdefault(r.ssn, []).append(r)
    repeated = risk.duplicates(entitlements, already_paid)
    out = []
    for e in entitlements:
        if e.entitlement_id in already_paid:
            out.append(Decision(e, "skip", ("already_paid",)))
            continue
        if e.amount == 0:
            out.append(Decision(e, "skip", ("zero_amount",)))
            continue
        reasons = risk.check(e, records=by_ssn.get(e.ssn, ()), card_status=card_status.get(e.ssn),
                             holders_of_account=holders_of_account, duplicate=e.entitlement_id in repeated,
                             today=today, max_age=max_age)
        out.append(Decision(e, "hold", tuple(reasons)) if reasons else Decision(e, "pay"))
    return out


def pay_period(store: PaymentStore, period: str, *, receipts_dir: Any = None,
               progress: Callable[[Iterable[Decision]], Iterable[Decision]] | None = None,
               today: dt.date | None = None, max_age: int = risk.MAX_AGE) -> Outcome:
    """Run the batch for one period; every payment made leaves a receipt when receipts_dir is given."""
    risk.period_end(period)
    due = store.due(period)
    ssns = {e.ssn for e in due}
    decisions = plan(due, already_paid=store.paid_ids(e.entitlement_id for e in due), records=store.records(ssns),
                     card_status=store.card_status(ssns),
                     holders_of_account=risk.account_holders(store.all_entitlements()), today=today,
                     max_age=max_age)
    return execute(store, period, decisions, receipts_dir=receipts_dir, progress=progress)


def execute(store: PaymentStore, period: str, decisions: list[Decision], *, receipts_dir: Any = None,
            progress: Callable[[Iterable[Decision]], Iterable[Decision]] | None = None,
            account_for: Callable[[Entitlement], str] | None = None) -> Outcome:
    outcome = Outcome(period)
    for d in (progress(decisions) if progress else decisions):
        e = d.entitlement
        if d.action == "pay" and e.amount == 0:  # a decision made elsewhere: still nothing to post or receipt
            d = Decision(e, "skip", ("zero_amount",))
        if d.action == "skip":
            outcome.skipped.append({"entitlement_id": e.entitlement_id, "reason": d.reasons[0]})
        elif d.action == "hold":
            outcome.held.append({"entitlement_id": e.entitlement_id, "reasons": list(d.reasons)})
        else:
            account = account_for(e) if account_for else e.bank_account
            receipt = receipts.payment(e.entitlement_id, e.ssn, e.benefit, e.period, e.amount, account)
            if receipts.with_receipt(receipt, receipts_dir, lambda: store.post(e, account)):
                outcome.paid.append({"entitlement_id": e.entitlement_id, "amount": e.amount})
            else:  # another run posted it between our look and our posting
                outcome.skipped.append({"entitlement_id": e.entitlement_id, "reason": "already_paid"})
    return outcome
