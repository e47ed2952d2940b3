"""The card lifecycle: which status may follow which, as a table, and the one function that moves a card."""
from __future__ import annotations

from sqlmodel import Session

from holder_db.models import CARD_STATES, Card, CardEvent, utcnow

# status -> the statuses it may go to. A lost card can be found again (解挂) or replaced (补卡); a working card
# can be replaced (换卡); replaced and cancelled are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "applied": frozenset({"produced", "cancelled"}),
    "produced": frozenset({"issued", "cancelled"}),
    "issued": frozenset({"active", "lost", "cancelled"}),
    "active": frozenset({"lost", "replaced", "cancelled"}),
    "lost": frozenset({"active", "replaced", "cancelled"}),
    "replaced": frozenset(),
    "cancelled": frozenset(),
}
assert set(TRANSITIONS) == set(CARD_STATES)

USABLE = frozenset({"active"})  # a card a terminal may transact with


class TransitionError(ValueError):
    """A card status change the lifecycle does not allow."""


def check_transition(current: str, new: str) -> None:
    """Raise TransitionError unless a card in `current` may go to `new`."""
    if current not in TRANSITIONS:
        raise TransitionError(f"unknown card status {current!r}")
    if new not in TRANSITIONS:
        raise TransitionError(f"unknown card status {new!r}")
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final)"
        raise TransitionError(f"a card that is {current} cannot become {new} (allowed: {allowed})")


def transition(session: Session, card: Card, new: str, *, actor: str = "", reason: str = "") -> Card:
    """Move `card` to `new` (checked against TRANSITIONS) and record the event; the caller commits."""
    check_transition(card.status, new)
    session.add(CardEvent(card_pk=card.id, from_status=card.status, to_status=new, actor=actor, reason=reason))
    card.status = new
    card.status_at = utcnow()
    session.add(card)
    session.flush()
    return card
