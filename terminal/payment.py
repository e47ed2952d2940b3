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
    """What a run did. With `keep` (the default) every entitlement is listed; without, paid and skipped ones are
    only counted (a run over a whole store keeps its memory flat), held ones still listed up to `keep_held`."""

    period: str
    paid: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    keep: bool = True
    keep_held: int = 1000
    counts: dict[str, int] = field(default_factory=lambda: {"paid": 0, "held": 0, "skipped": 0})
    total: int = 0

    @property
    def total_paid(self) -> int:
        return self.total

    def add(self, what: str, item: dict[str, Any], amount: int = 0) -> None:
        self.counts[what] += 1
        self.total += amount
        if self.keep or (what == "held" and len(self.held) < self.keep_held):
            getattr(self, what).append(item)

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "paid": self.paid, "held": self.held, "skipped": self.skipped,
                "total_paid": self.total_paid, "counts": dict(self.counts)}


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

    def due_batches(self, period: str, size: int) -> Iterable[list[Entitlement]]:
        """The period's entitlements (due, held or paid) in entitlement-id order, `size` at a time."""
        ...

    def due_of(self, period: str, ssns: Iterable[str]) -> list[Entitlement]:
        """Every entitlement of the period of these holders (for duplicates across batches)."""
        ...

    def shared_accounts(self) -> dict[str, set[str]]:
        """Bank account -> holders, for the accounts that receive entitlements of more than one holder."""
        ...

    def certified_years(self, ssns: Iterable[str], years: Iterable[int]) -> dict[str, set[int]]: ...

    def mark_held(self, ids: Iterable[str]) -> None: ...

    def post(self, entitlement: Entitlement, bank_account: str) -> bool:
        """Pay into the account under idempotency key = entitlement id; False if that key was already posted."""
        ...


def plan(entitlements: Iterable[Entitlement], *, already_paid: set[str], records: Iterable[SharedRecord],
         card_status: Mapping[str, str | None], holders_of_account: Mapping[str, set[str]],
         today: dt.date | None = None, max_age: int = risk.MAX_AGE,
         certified: Mapping[str, set[int]] | None = None, grace_days: int = risk.GRACE_DAYS,
         repeated: set[str] | None = None) -> list[Decision]:
    """Decide each entitlement: skip what was paid or moves no money (a zero amount is neither posted nor
    receipted), hold what a rule catches (with every reason), pay the rest. `certified` maps a holder to the years
    they are certified for (None: the certification rule is not applied); `repeated` the duplicates when the
    caller found them over more than `entitlements`."""
    entitlements = list(entitlements)
    by_ssn: dict[str, list[SharedRecord]] = {}
    for r in records:
        by_ssn.setdefault(r.ssn, []).append(r)
    if repeated is None:
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
                             today=today, max_age=max_age,
                             certified_years=None if certified is None else certified.get(e.ssn, set()),
                             grace_days=grace_days)
        out.append(Decision(e, "hold", tuple(reasons)) if reasons else Decision(e, "pay"))
    return out


def pay_period(store: PaymentStore, period: str, *, receipts_dir: Any = None,
               progress: Callable[[Iterable[Decision]], Iterable[Decision]] | None = None,
               today: dt.date | None = None, max_age: int = risk.MAX_AGE, grace_days: int = risk.GRACE_DAYS,
               batch: int = 5000, keep: bool = True, mark_held: bool = False) -> Outcome:
    """Run the batch for one period, streaming: `batch` entitlements at a time are decided and executed, so the
    store is never loaded whole; every payment made leaves a receipt when receipts_dir is given. `progress` wraps
    each batch's decisions; `mark_held` marks each batch's held entitlements in the store as it goes."""
    end = risk.period_end(period)
    shared = store.shared_accounts()
    years = range(end.year - 1, max(end.year, (today or dt.date.today()).year) + 1)  # a later one counts too
    outcome = Outcome(period, keep=keep)
    for chunk in store.due_batches(period, batch):
        ssns = {e.ssn for e in chunk}
        group = store.due_of(period, ssns)  # a holder's other entitlements may sit in another batch
        paid = store.paid_ids(e.entitlement_id for e in group)
        decisions = plan(chunk, already_paid=paid, records=store.records(ssns), card_status=store.card_status(ssns),
                         holders_of_account=shared, today=today, max_age=max_age,
                         certified=store.certified_years(ssns, years), grace_days=grace_days,
                         repeated=risk.duplicates(group, paid))
        execute(store, period, decisions, receipts_dir=receipts_dir, progress=progress, outcome=outcome)
        if mark_held:
            store.mark_held(d.entitlement.entitlement_id for d in decisions if d.action == "hold")
    return outcome


PAGE = 500  # payments per transaction: one commit per page, not per payment


def execute(store: PaymentStore, period: str, decisions: list[Decision], *, receipts_dir: Any = None,
            progress: Callable[[Iterable[Decision]], Iterable[Decision]] | None = None,
            account_for: Callable[[Entitlement], str] | None = None, outcome: Outcome | None = None,
            page: int = PAGE) -> Outcome:
    """Carry out the decisions in order, `page` payments per transaction when the store can (`post_many`), each
    payment's receipt kept only if its money moved."""
    outcome = outcome if outcome is not None else Outcome(period)
    todo: list[tuple[Decision, str | None]] = []

    def flush() -> None:
        pays = [(d.entitlement, account) for d, account in todo if account is not None]
        made = [receipts.payment(e.entitlement_id, e.ssn, e.benefit, e.period, e.amount, account)
                for e, account in pays]

        def one_by_one() -> set[int]:
            return {i for i, ((e, account), r) in enumerate(zip(pays, made))
                    if receipts.with_receipt(r, receipts_dir, lambda: store.post(e, account))}

        if not pays or getattr(store, "post_many", None) is None:
            moved = one_by_one()
        else:
            try:
                moved = receipts.with_receipts(made, receipts_dir, lambda n: _post_page(store, pays[:n]))
            except receipts.ReceiptError:
                raise
            except Exception:  # the page rolled back whole (e.g. a concurrent run's key first): pay it one by one
                moved = one_by_one()
        k = 0  # index of the next payment in `pays`
        for d, account in todo:
            e = d.entitlement
            if account is not None:
                k += 1
            if d.action == "skip":
                outcome.add("skipped", {"entitlement_id": e.entitlement_id, "reason": d.reasons[0]})
            elif d.action == "hold":
                outcome.add("held", {"entitlement_id": e.entitlement_id, "reasons": list(d.reasons)})
            elif k - 1 in moved:
                outcome.add("paid", {"entitlement_id": e.entitlement_id, "amount": e.amount}, e.amount)
            else:  # another run posted it between our look and our posting
                outcome.add("skipped", {"entitlement_id": e.entitlement_id, "reason": "already_paid"})
        todo.clear()

    pays = 0
    for d in (progress(decisions) if progress else decisions):
        e = d.entitlement
        if d.action == "pay" and e.amount == 0:  # a decision made elsewhere: still nothing to post or receipt
            d = Decision(e, "skip", ("zero_amount",))
        account = (account_for(e) if account_for else e.bank_account) if d.action == "pay" else None
        todo.append((d, account))
        pays += account is not None
        if pays >= page:
            flush()
            pays = 0
    flush()
    return outcome


def _post_page(store: Any, pays: list[tuple[Entitlement, str]]) -> set[int]:
    """Post a page in one transaction (`post_many`); the indexes (into `pays`) whose money moved. Raises, nothing
    of the page posted, if the transaction fails."""
    applied = set(store.post_many(pays)) if pays else set()
    moved = set()
    for i, (e, _account) in enumerate(pays):
        if e.entitlement_id in applied:  # an id twice in a page moved money once
            applied.discard(e.entitlement_id)
            moved.add(i)
    return moved
