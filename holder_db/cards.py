"""The card lifecycle: which status may follow which, as a table, and the one function that moves a card.

A card found again (lost -> active, 解挂) gets back what its loss took: the card's own revocation and the e-card
bindings the loss revoked (reason "card lost") are cleared, so their codes verify again once verifiers fetch the
new status list. What the loss did not do stays: an e-card the holder deactivated (phone lost, re-activated on a
new phone) stays revoked, a death on record still revokes everything, and a replaced or cancelled card is final."""
from __future__ import annotations

from sqlmodel import Session, select

from holder_db.models import CARD_STATES, Card, CardEvent, EcardBinding, Revocation, utcnow

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

def mask_card(card_no: str) -> str:
    """Card numbers are shown like receipts show them: the first and last two characters."""
    return card_no[:2] + "*" * max(0, len(card_no) - 4) + card_no[-2:] if len(card_no) > 4 else "*" * len(card_no)


LOSS_REASON = "card lost"  # the revocation reason report_loss gives the e-cards it revokes


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
    found_again = card.status == "lost" and new == "active"
    card.status = new
    card.status_at = utcnow()
    session.add(card)
    session.flush()
    if found_again:
        restore_after_loss(session, card)
    return card


def restore_after_loss(session: Session, card: Card) -> list[int]:
    """Clear what reporting `card` lost revoked: its card revocation and the e-card bindings revoked for the loss.
    Returns the status-list indices cleared. Bindings revoked for any other reason are left revoked."""
    for r in session.exec(select(Revocation).where(Revocation.subject == "card", Revocation.ref == card.card_no)):
        session.delete(r)
    cleared: list[int] = []
    for r in session.exec(select(Revocation).where(Revocation.subject == "ecard", Revocation.holder_id == card.holder_id,
                                                   Revocation.reason == LOSS_REASON)):
        binding = session.exec(select(EcardBinding).where(EcardBinding.kid == r.ref)).first()
        if binding is not None:
            binding.revoked_at = None
            session.add(binding)
            if binding.status_index is not None:
                cleared.append(binding.status_index)
        session.delete(r)
    session.flush()
    return sorted(cleared)
