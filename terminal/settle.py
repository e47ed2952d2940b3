"""A real medical settlement: holder_db and the card's medical DF change together or not at all.

With a card, in this order:
  1. read the card, prove it genuine through the PSAM, verify the PIN (terminal.cardsession);
  2. recover: a settlement record on the card that holder_db does not hold as settled (an earlier visit whose
     database side was reversed) gets a refund record appended, so card and database tell one story;
  3. holder_db transaction *prepared*: the holder's counters locked, the split computed from them, counters,
     personal account (a ledger posting) and the settlement row written, not yet committed;
  4. the settlement record appended to the card (cyclic DF04/EF05, MAC by the PSAM);
  5. commit.
If step 4 fails (card pulled, write refused) the transaction is rolled back: the database side is reversed (冲正)
and an audit entry says so. If the card took the record but its answer was lost, or the commit itself fails, the
card holds a record the database does not: step 2 of the next visit neutralises it (and we try at once).
Without a card (`--ssn`), steps 3 and 5 only. Refunds reverse a settled settlement by its id.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cardlib import medical
from cardlib.security import CardSecurityError
from cardlib.sw import CardError
from cardlib.transport import TransportError
from terminal import receipts
from terminal.dbstore import DbStore, StoreRefused
from terminal.settlement import Bill, BillError, Policy, split

CARD_FAILURES = (TransportError, CardError, CardSecurityError)


class SettleError(RuntimeError):
    """The settlement could not be made; the message says why and what state it was left in."""


@dataclass(frozen=True)
class Settled:
    settlement_id: str
    ssn: str
    split: dict[str, int]
    status: str
    level: str = ""


def new_id() -> str:
    """A settlement id that fits the card record (16 ASCII characters)."""
    return "S" + dt.datetime.now(dt.timezone.utc).strftime("%y%m%d") + secrets.token_hex(5).upper()[:9]


def _record(settlement_id: str, parts: dict[str, int], level: str, kind: str) -> medical.SettlementRecord:
    return medical.SettlementRecord(settlement_id, dt.datetime.now().replace(microsecond=0), kind, parts["total"],
                                    parts["fund"], parts["account"], parts["cash"], level)


def settle_db(db: DbStore, ssn: str, policy: Policy, bill: Bill, *, year: int | None = None,
              receipts_dir: Path | None = None) -> Settled:
    """Settle against holder_db only: counters, account and the settlement record in one transaction."""
    sid = new_id()
    if receipts_dir is not None:
        receipts.ready(receipts_dir)
    pending = None
    try:
        with db.settlement(ssn, year or dt.date.today().year, lambda u: split(policy, bill, u), sid,
                           bill.level) as result:
            pending = _receipt(sid, ssn, result.as_dict(), receipts_dir)  # ReceiptError: rolled back
    except (BillError, StoreRefused) as exc:
        _drop(pending)
        raise SettleError(str(exc)) from None
    except BaseException:
        _drop(pending)
        raise
    done = Settled(sid, ssn, result.as_dict(), "settled", bill.level)
    if pending is not None:
        pending.keep()
    return done


def _receipt(sid: str, ssn: str, parts: dict[str, int], receipts_dir: Path | None) -> receipts.Pending | None:
    """The settlement's receipt, written before its transaction commits; kept once it did."""
    return None if receipts_dir is None else receipts.prepare(receipts.settlement(sid, ssn, parts), receipts_dir)


def _drop(pending: receipts.Pending | None) -> None:
    if pending is not None:
        pending.drop()


def recover(db: DbStore, ssn: str, card: Any, psam: Any, session: Any) -> list[str]:
    """Append a refund record for every settlement on the card that holder_db does not hold as settled;
    returns their ids."""
    on_card = medical.read_all(card)
    refunded = {r.settlement_id for r in on_card if r.kind == "refund"}
    statuses = db.settlements_of(ssn)
    fixed = []
    for r in on_card:
        if r.kind == "settlement" and r.settlement_id not in refunded and statuses.get(r.settlement_id) != "settled":
            parts = {"total": r.total, "fund": r.fund, "account": r.account, "cash": r.cash}
            medical.append(card, psam, session, _record(r.settlement_id, parts, r.level, "refund"))
            db.audit("card_record_reversed", ssn, r.settlement_id)
            fixed.append(r.settlement_id)
    return fixed


def settle_card(db: DbStore, card: Any, psam: Any, session: Any, ssn: str, policy: Policy, bill: Bill, *,
                year: int | None = None, receipts_dir: Path | None = None,
                before_card_write: Callable[[], None] | None = None) -> Settled:
    """Steps 2-5 above, for a card that is open, genuine (`session`) and PIN-verified."""
    if session is None or psam is None:
        raise SettleError("settling on a card needs a PSAM (--keys DIR or --psam READER) to write the card")
    try:
        recover(db, ssn, card, psam, session)
    except CARD_FAILURES as exc:
        raise SettleError(f"card could not be read before settling ({exc}); nothing was settled") from None
    sid = new_id()
    written = False
    pending = None
    try:
        with db.settlement(ssn, year or dt.date.today().year, lambda u: split(policy, bill, u), sid,
                           bill.level) as result:
            pending = _receipt(sid, ssn, result.as_dict(), receipts_dir)  # before the card is touched
            if before_card_write is not None:
                before_card_write()
            medical.append(card, psam, session, _record(sid, result.as_dict(), bill.level, "settlement"))
            written = True
    except (BillError, StoreRefused) as exc:
        _drop(pending)
        raise SettleError(str(exc)) from None
    except CARD_FAILURES as exc:
        _drop(pending)
        db.audit("settlement_reversed", ssn, f"{sid}: card write failed")
        raise SettleError(f"card write failed ({exc}); settlement {sid} reversed in the database (冲正), "
                          "nothing was settled") from None
    except BaseException:
        _drop(pending)
        if written:  # the card holds the record but the database did not commit: neutralise it now if we can
            try:
                recover(db, ssn, card, psam, session)
            except CARD_FAILURES:
                pass  # the card's next visit does it
        raise
    done = Settled(sid, ssn, result.as_dict(), "settled", bill.level)
    if pending is not None:
        pending.keep()
    return done


def refund(db: DbStore, settlement_id: str, *, receipts_dir: Path | None = None, card: Any = None,
           psam: Any = None, session: Any = None) -> Settled:
    """Reverse a settled settlement by id; with the card at hand, also append a refund record to it (otherwise
    the card's next settlement visit does, through recover)."""
    if receipts_dir is not None:
        receipts.ready(receipts_dir)
    kept: list[receipts.Pending] = []

    def before_commit(ssn: str, parts: dict[str, int], level: str) -> None:
        if receipts_dir is not None:
            kept.append(receipts.prepare(receipts.refund(settlement_id, ssn, parts), receipts_dir))

    try:
        ssn, parts, level = db.refund(settlement_id, before_commit=before_commit)
    except BaseException as exc:
        for p in kept:
            p.drop()
        if isinstance(exc, StoreRefused):
            raise SettleError(str(exc)) from None
        raise
    for p in kept:
        p.keep()
    if card is not None:
        try:
            medical.append(card, psam, session, _record(settlement_id, parts, level, "refund"))
        except CARD_FAILURES:
            pass
    return Settled(settlement_id, ssn, parts, "refunded", level)
