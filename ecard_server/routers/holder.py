"""The holder's own record, and revocation: a card reported lost (by a terminal or the holder's device), one
e-card deactivated."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cardlib.idnumber import mask
from ecard_server.deps import DeviceDep, StateDep, TerminalDep
from ecard_server.schemas import AccessEntry, AccessLog, BenefitsPaid, Deactivated, Empty, LossReport, LossRequest, Me
from ecard_server.state import Refused, State, mask_card

router = APIRouter()


ME_FIELDS = ("name", "id_number_masked", "card_no_masked", "card_status", "insurance")


@router.get("/v1/me", tags=["holder"], response_model=Me, summary="Device: the holder's own record, masked")
def me(state: StateDep, caller: DeviceDep) -> Me:
    h = state.store.holder(caller.holder_id)
    state.store.audit(f"device:{caller.device_id}", "ecard.me", caller.holder_id, sensitive=True,
                      purpose="the holder viewed their own record", fields=ME_FIELDS)
    return Me(name=h.name, id_number_masked=mask(h.ssn), card_no_masked=mask_card(h.card_no),
              card_status=h.card_status, insurance=h.insurance)


BENEFIT_FIELDS = ("entitlements", "postings", "bank_account")


@router.get("/v1/me/benefits", tags=["holder"], response_model=BenefitsPaid,
            summary="Device: the benefits paid to the holder, newest first, bank account masked")
def me_benefits(state: StateDep, caller: DeviceDep) -> BenefitsPaid:
    paid = state.store.benefits_paid(caller.holder_id)
    state.store.audit(f"device:{caller.device_id}", "ecard.me_benefits", caller.holder_id, sensitive=True,
                      purpose="the holder viewed the benefits paid to them", fields=BENEFIT_FIELDS)
    return BenefitsPaid(benefits=paid, total=sum(p["amount"] for p in paid))


@router.get("/v1/me/access-log", tags=["holder"], response_model=AccessLog,
            summary="Device: who read the holder's record, when, why and which fields, and the e-card presentations "
                    "they approved; newest first, `limit` a page, the next page with `before`=next_before")
def access_log(state: StateDep, caller: DeviceDep,
               before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> AccessLog:
    """Not itself logged: reading one's own log reveals nothing of the record, and each look would add a line."""
    page, nxt = state.store.access_log(caller.holder_id, before, limit)
    return AccessLog(entries=[AccessEntry(id=e.id, at=e.at.isoformat(), who=e.who, why=e.why, fields=e.fields,
                                          kind=e.kind, action=e.action, detail=e.detail) for e in page],
                     next_before=nxt)


def loss_report(state: State, holder_id: Any, actor: str) -> LossReport:
    """Card lost and the holder's e-cards revoked (holder_db), the status list re-signed on the next fetch; the
    terminal and device routes here and the counter page's lifecycle route all report a loss through this."""
    result = state.store.report_loss(holder_id, actor)
    state.forget_status_list()
    return LossReport(card_no_masked=mask_card(result.card_no), card_status=result.card_status,
                      revoked_indices=result.revoked)


async def loss_reporter(state: StateDep) -> Callable[[Any, str], dict[str, Any]]:
    """loss_report as a dependency for routes built outside this package (terminal.pages_api's counter)."""
    return lambda holder_id, actor: loss_report(state, holder_id, actor).model_dump()


@router.post("/v1/cards/loss", tags=["revocation"], response_model=LossReport,
             summary="Terminal: report a holder's card lost; its e-card codes stop verifying at once")
def card_loss_terminal(req: LossRequest, state: StateDep, terminal_id: TerminalDep) -> LossReport:
    if not (req.ssn or req.card_no):
        raise Refused(400, "give the ssn or the card_no")
    holder = state.store.find_holder(ssn=req.ssn, card_no=req.card_no)
    return loss_report(state, holder.holder_id, f"terminal:{terminal_id}")


@router.post("/v1/me/loss", tags=["revocation"], response_model=LossReport,
             summary="Device: the holder reports their own card lost")
def card_loss_device(req: Empty, state: StateDep, caller: DeviceDep) -> LossReport:
    return loss_report(state, caller.holder_id, f"device:{caller.device_id}")


@router.post("/v1/me/deactivate", tags=["revocation"], response_model=Deactivated,
             summary="Device: deactivate this e-card (phone lost or replaced); the card stays active")
def deactivate(req: Empty, state: StateDep, caller: DeviceDep) -> Deactivated:
    idx = state.store.revoke_binding(caller.device_id, "e-card deactivated by holder", f"device:{caller.device_id}")
    state.forget_status_list()
    return Deactivated(device_id=caller.device_id, revoked_index=idx if idx is not None else caller.status_idx)
