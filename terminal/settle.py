"""A real medical settlement: holder_db and the card's medical DF change together or not at all.

Order of work with a card (the bank-style 冲正 protocol):
  1. read the card, prove it genuine through the PSAM, verify the PIN;
  2. settle what an earlier, interrupted visit left half done (recover: see below);
  3. holder_db, one transaction: compute the split from the holder's annual counters and personal account,
     apply it, record the settlement as *pending*;
  4. append the settlement record to the card (cyclic DF04/EF05, MAC by the PSAM);
  5. holder_db: mark the settlement *settled*.
If step 4 fails (card pulled, write refused) the database side is reversed at once (status *reversed*, counters
and balance restored). If the process dies between 3 and 5 the settlement stays *pending*; the next visit of that
card decides it from the card itself: record on the card -> settled, none -> reversed. A card record whose
settlement the database reversed gets a refund record appended, so card and database always tell one story.

Without a card (`--ssn`), steps 3 and 5 are one transaction. Refunds reverse a settled settlement by its id.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from cardlib import medical
from cardlib.security import CardSecurityError
from cardlib.sw import CardError
from cardlib.transport import TransportError
from terminal import receipts
from terminal.settlement import Bill, BillError, Policy, Split, Usage, split


class SettleError(RuntimeError):
    """The settlement could not be made; the message says why and what state it was left in."""


@dataclass(frozen=True)
class Settled:
    settlement_id: str
    ssn: str
    split: dict[str, int]
    status: str
    level: str = ""
    created: dt.datetime | None = None


class SettleStore(Protocol):
    def prepare(self, ssn: str, year: int, compute: Callable[[Usage], Split], settlement_id: str, level: str,
                *, status: str) -> Split:
        """One transaction: lock the holder's account, compute from its counters, apply, record with status."""
        ...

    def finish(self, settlement_id: str) -> None:
        """pending -> settled."""
        ...

    def reverse(self, settlement_id: str, status: str) -> Settled:
        """Give fund, counters and account back; status becomes `reversed` (冲正) or `refunded`."""
        ...

    def get(self, settlement_id: str) -> Settled | None: ...

    def of_holder(self, ssn: str) -> list[Settled]: ...


def new_id() -> str:
    """A settlement id that fits the card record (16 ASCII characters)."""
    return "S" + dt.datetime.now(dt.timezone.utc).strftime("%y%m%d") + secrets.token_hex(5).upper()[:9]


def settle_db(store: SettleStore, ssn: str, policy: Policy, bill: Bill, *, year: int | None = None,
              receipts_dir: Path | None = None) -> Settled:
    """Settle against holder_db only: counters, account and the settlement record in one transaction."""
    year = year or dt.date.today().year
    sid = new_id()
    try:
        result = store.prepare(ssn, year, lambda usage: split(policy, bill, usage), sid, bill.level, status="settled")
    except BillError as exc:
        raise SettleError(str(exc)) from None
    done = Settled(sid, ssn, result.as_dict(), "settled", bill.level)
    if receipts_dir is not None:
        receipts.write(receipts.settlement(sid, ssn, done.split), receipts_dir)
    return done


def _card_record(s: Settled, kind: str, when: dt.datetime) -> medical.SettlementRecord:
    return medical.SettlementRecord(s.settlement_id, when.replace(microsecond=0, tzinfo=None), kind,
                                    s.split["total"], s.split["fund"], s.split["account"], s.split["cash"], s.level)


CARD_FAILURES = (TransportError, CardError, CardSecurityError)


def recover(store: SettleStore, ssn: str, card: Any, psam: Any, session: Any) -> list[dict[str, str]]:
    """Bring holder_db and this card to one story after an interrupted visit; returns what was done."""
    on_card = medical.read_all(card)
    settled_ids = {r.settlement_id for r in on_card if r.kind == "settlement"}
    refunded_ids = {r.settlement_id for r in on_card if r.kind == "refund"}
    actions = []
    for s in store.of_holder(ssn):
        if s.status == "pending":
            if s.settlement_id in settled_ids:
                store.finish(s.settlement_id)
                actions.append({"settlement_id": s.settlement_id, "action": "settled (found on card)"})
            else:
                store.reverse(s.settlement_id, "reversed")
                actions.append({"settlement_id": s.settlement_id, "action": "reversed (not on card)"})
        elif s.status in ("reversed", "refunded") and s.settlement_id in settled_ids - refunded_ids:
            medical.append(card, psam, session, _card_record(s, "refund", dt.datetime.now()))
            actions.append({"settlement_id": s.settlement_id, "action": "refund record written to card"})
    return actions


def settle_card(store: SettleStore, card: Any, psam: Any, session: Any, ssn: str, policy: Policy, bill: Bill, *,
                year: int | None = None, receipts_dir: Path | None = None,
                before_card_write: Callable[[], None] | None = None) -> Settled:
    """Steps 2-5 above, for a card that is open, genuine (session) and PIN-verified."""
    if session is None or psam is None:
        raise SettleError("settling on a card needs a PSAM (--keys DIR or --psam READER) to write the card")
    year = year or dt.date.today().year
    try:
        recover(store, ssn, card, psam, session)
    except CARD_FAILURES as exc:
        raise SettleError(f"card could not be read before settling: {exc}; nothing was settled") from None
    sid = new_id()
    now = dt.datetime.now()
    try:
        result = store.prepare(ssn, year, lambda usage: split(policy, bill, usage), sid, bill.level, status="pending")
    except BillError as exc:
        raise SettleError(str(exc)) from None
    pending = Settled(sid, ssn, result.as_dict(), "pending", bill.level)
    try:
        if before_card_write is not None:
            before_card_write()
        medical.append(card, psam, session, _card_record(pending, "settlement", now))
    except CARD_FAILURES as exc:
        store.reverse(sid, "reversed")
        raise SettleError(f"card write failed ({exc}); settlement {sid} reversed in the database (冲正)") from None
    store.finish(sid)
    done = Settled(sid, ssn, result.as_dict(), "settled", bill.level)
    if receipts_dir is not None:
        receipts.write(receipts.settlement(sid, ssn, done.split), receipts_dir)
    return done


def refund(store: SettleStore, settlement_id: str, *, receipts_dir: Path | None = None,
           card: Any = None, psam: Any = None, session: Any = None) -> Settled:
    """Reverse a settled settlement by id; with a card at hand, also append a refund record to it."""
    s = store.get(settlement_id)
    if s is None:
        raise SettleError(f"no settlement {settlement_id!r}")
    if s.status != "settled":
        raise SettleError(f"settlement {settlement_id!r} is {s.status}, only a settled one can be refunded")
    done = store.reverse(settlement_id, "refunded")
    if card is not None:
        try:
            medical.append(card, psam, session, _card_record(done, "refund", dt.datetime.now()))
        except CARD_FAILURES:
            pass  # the next visit of the card writes the refund record (recover)
    if receipts_dir is not None:
        receipts.write(receipts.refund(settlement_id, s.ssn, done.split), receipts_dir)
    return done
