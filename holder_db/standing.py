"""The two questions every flow asks about a holder, answered once: which card is theirs now ("the current
card"), and may they be served (card active, holder alive, enrolment present).

Payment, settlement, identity checks, the kiosk and the e-card server all ask here, so for one holder they all
give one answer. `pick_current` and `refusal` are pure; `standing_of` and `standings_by_ssn` read the store.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from holder_db.models import Card, Enrolment, Holder, SharedRecord

CLOSED = frozenset({"replaced", "cancelled"})  # final states: such a card never speaks for the holder again
USABLE = frozenset({"active"})  # the only state a terminal or the e-card server transacts with

# Why a holder is refused, with the words a counter clerk can act on.
REASONS = {
    "no_holder": "no holder on record",
    "no_card": "the holder has no card on record",
    "card_not_active": "the card is {status}, not active",
    "deceased": "the holder is deceased: a death is on record ({date})",
    "not_enrolled": "the holder has no active {insurance} enrolment",
}
_HINTS = {
    "lost": "; report it found (解挂) or replace it (补卡) first",
    "cancelled": "; the card is cancelled for good",
    "replaced": "; use the replacement card",
    "applied": "; it has not been produced yet",
    "produced": "; it has not been issued yet",
    "issued": "; it has been issued but not activated yet",
}


class _CardLike(Protocol):
    id: int | None
    status: str


C = TypeVar("C", bound=_CardLike)


def pick_current(cards: Sequence[C]) -> C | None:
    """The card that speaks for the holder: the newest active card; else the newest card that is neither replaced
    nor cancelled (lost, or still on its way); else the newest card. A replacement being produced therefore does
    not shadow the card still in use."""
    if not cards:
        return None
    ordered = sorted(cards, key=lambda c: c.id or 0)
    for pool in ([c for c in ordered if c.status in USABLE], [c for c in ordered if c.status not in CLOSED], ordered):
        if pool:
            return pool[-1]
    return None  # pragma: no cover (ordered is not empty)


@dataclass(frozen=True)
class Refusal:
    """Why a holder may not be served: a reason code (REASONS) and a sentence that says what to do."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Standing:
    """What the store holds that decides whether a holder may be served."""

    holder_id: int
    ssn: str
    card_no: str | None
    card_id: str | None
    card_status: str | None
    death_date: dt.date | None = None
    enrolments: dict[str, str] = field(default_factory=dict)  # insurance -> "active" if a span is, else the newest

    def refusal(self, today: dt.date | None = None, *, insurance: str | None = None) -> Refusal | None:
        return refusal(self, today, insurance=insurance)


def card_refusal(status: str | None) -> Refusal | None:
    """None when a card in `status` may be used; else why not."""
    if status is None:
        return Refusal("no_card", REASONS["no_card"])
    if status in USABLE:
        return None
    return Refusal("card_not_active", REASONS["card_not_active"].format(status=status) + _HINTS.get(status, ""))


def refusal(standing: Standing | None, today: dt.date | None = None, *,
            insurance: str | None = None) -> Refusal | None:
    """May this holder be served? None when yes. Checked in a fixed order: known, card active, alive, enrolled
    (in `insurance` when given, else in any insurance)."""
    if standing is None:
        return Refusal("no_holder", REASONS["no_holder"])
    why = card_refusal(standing.card_status)
    if why is not None:
        return why
    today = today or dt.date.today()
    if standing.death_date is not None and standing.death_date <= today:
        return Refusal("deceased", REASONS["deceased"].format(date=standing.death_date.isoformat()))
    active = {k for k, v in standing.enrolments.items() if v == "active"}
    if (insurance in active) if insurance else bool(active):
        return None
    return Refusal("not_enrolled", REASONS["not_enrolled"].format(insurance=insurance or "insurance"))


def standing_of(db: Session | Connection, *, holder_id: int | None = None, ssn: str | None = None,
                card_no: str | None = None) -> Standing | None:
    """The holder named by id, ID number or card number (any of the holder's cards), with the current card, the
    earliest death record and the enrolments; None when there is no such holder."""
    if holder_id is None and ssn:
        holder_id = db.execute(select(Holder.id).where(Holder.ssn == ssn.strip().upper())).scalar()
    if holder_id is None and card_no:
        holder_id = db.execute(select(Card.holder_id).where(Card.card_no == card_no)).scalar()
    if holder_id is None:
        return None
    holder_ssn = db.execute(select(Holder.ssn).where(Holder.id == holder_id)).scalar()
    if holder_ssn is None:
        return None
    cards = db.execute(select(Card.id, Card.card_no, Card.card_id, Card.status)
                       .where(Card.holder_id == holder_id)).all()
    death = db.execute(select(func.min(SharedRecord.date)).where(SharedRecord.ssn == holder_ssn,
                                                                 SharedRecord.kind == "death")).scalar()
    enrolments: dict[str, str] = {}
    for insurance, status in db.execute(select(Enrolment.insurance, Enrolment.status)
                                        .where(Enrolment.holder_id == holder_id)
                                        .order_by(Enrolment.start_date, Enrolment.id)):
        if enrolments.get(insurance) != "active":  # enrolled while any span is active, else its newest span
            enrolments[insurance] = status
    card = pick_current(cards)
    return Standing(holder_id, holder_ssn, card.card_no if card else None, card.card_id if card else None,
                    card.status if card else None, death, enrolments)


def _refusal_statement():  # type: ignore[no-untyped-def]
    h, c, r, e = Holder, Card, SharedRecord, Enrolment
    death = select(func.min(r.date)).where(r.ssn == h.ssn, r.kind == "death").correlate(h).scalar_subquery()
    enrolled = select(e.id).where(e.holder_id == h.id, e.status == "active").correlate(h).exists()
    return (select(h.ssn, c.id, c.card_no, c.card_id, c.status, death.label("death"), enrolled.label("enrolled"))
            .select_from(h).join(c, c.holder_id == h.id, isouter=True).where(h.id == bindparam("holder_id")))


_REFUSAL = REFUSAL_STATEMENT = _refusal_statement()  # built once: building it costs more than running it


def refusal_of(db: Session | Connection, holder_id: int, today: dt.date | None = None) -> Refusal | None:
    """`refusal(standing_of(db, holder_id=...))` in one round trip: the server's hot path (every token)."""
    return refusal_of_rows(db.execute(_REFUSAL, {"holder_id": holder_id}).all(), holder_id, today)


def refusal_of_rows(rows: Sequence[Any], holder_id: int, today: dt.date | None = None) -> Refusal | None:
    """`refusal_of` for the rows of REFUSAL_STATEMENT (by name: ssn, id, card_no, card_id, status, death,
    enrolled) read elsewhere, e.g. on the driver's cursor in the same trip as a device binding."""
    if not rows:
        return refusal(None, today)
    card = pick_current([row for row in rows if row.id is not None])
    st = Standing(holder_id, rows[0].ssn, card.card_no if card else None, card.card_id if card else None,
                  card.status if card else None, rows[0].death, {"any": "active"} if rows[0].enrolled else {})
    return refusal(st, today)


def card_status_by_ssn(db: Session | Connection, ssns: Iterable[str]) -> dict[str, str | None]:
    """For each ID number, the status of the holder's current card (pick_current); None: no holder or no card."""
    wanted = list(dict.fromkeys(ssns))
    out: dict[str, str | None] = {s: None for s in wanted}
    by_ssn: dict[str, list] = {}
    for i in range(0, len(wanted), 500):
        stmt = (select(Holder.ssn, Card.id, Card.status).join(Card, Card.holder_id == Holder.id)
                .where(Holder.ssn.in_(wanted[i:i + 500])))  # type: ignore[attr-defined]
        for row in db.execute(stmt):
            by_ssn.setdefault(row.ssn, []).append(row)
    for ssn, rows in by_ssn.items():
        card = pick_current(rows)
        out[ssn] = card.status if card else None
    return out


class Refused(RuntimeError):
    """holder_db refused an operation (unknown holder, card not usable, no such settlement, not enough
    balance...); `code` is a REASONS key when the refusal is about the holder's standing."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def of(cls, why: Refusal) -> "Refused":
        return cls(why.message, why.code)
