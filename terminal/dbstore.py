"""holder_db's counter store (holder_db.counter) in the terminal flows' own types where they differ from the
store's (its entitlement and record rows are risk.Entitlement and risk.SharedRecord as they are): settlement.Usage
for the split, and the record an identity check judges. All reads
and writes, and the rules for "the current card" and "may this holder be served", are holder_db's."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from holder_db.counter import CounterStore, StoreRefused
from terminal.settlement import Split, Usage

__all__ = ["DbStore", "StoreRefused"]


class DbStore(CounterStore):
    """Implements payment.PaymentStore and what settle, identify and kiosk ask of holder_db."""

    def usage(self, ssn: str, year: int) -> Usage:  # type: ignore[override]
        c = super().usage(ssn, year)
        return Usage(c.balance, c.deductible_used, c.fund_used)

    @contextmanager
    def settlement(self, ssn: str, year: int, compute: Callable[[Usage], Split], settlement_id: str,  # type: ignore[override]
                   level: str) -> Iterator[Split]:
        with super().settlement(ssn, year, lambda c: compute(Usage(c.balance, c.deductible_used, c.fund_used)),
                                settlement_id, level) as result:
            yield result

    def on_record(self, *, ssn: str | None = None, card_no: str | None = None, holder_id: int | None = None,
                  read_by: tuple[str, str] | None = None) -> dict[str, Any] | None:
        """The holder with the current card (holder_db.standing) and the earliest death record; `read_by`
        (actor, purpose) records the read in the holder's access log."""
        st = self.standing(ssn=ssn, card_no=card_no, holder_id=holder_id)
        if st is None:
            return None
        if read_by is not None:
            self.note_read(st.holder_id, *read_by)
        return {"ssn": st.ssn, "card_no": st.card_no, "card_id": st.card_id, "card_status": st.card_status,
                "death_date": st.death_date, "enrolments": st.enrolments}
