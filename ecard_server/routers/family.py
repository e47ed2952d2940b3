"""Certification and family proxy with the e-card (device-signed requests, like every /v1/me route):

    POST /v1/me/certify                       the holder certifies themself for a year (待遇资格认证)
    GET  /v1/me/certification/{year}          the holder's own record for a year
    GET  /v1/family                           who acts for me (proxies), for whom I act (principals), the acts
    POST /v1/family/requests                  ask to act for the holder with an ID number (they consent at a counter)
    POST /v1/family/bindings/{id}/consent     the proxy accepts a binding the holder made at a counter
    POST /v1/family/bindings/{id}/revoke      either side ends a binding
    POST /v1/family/bindings/{id}/certify     the proxy certifies their principal (scope certification)
    GET  /v1/family/bindings/{id}/benefits    the principal's entitlements (scope view_benefits)

The rules are holder_db's (holder_db.certification, holder_db.proxy); a refusal is a 4xx with its reason. A binding
the caller is not party to is a 404 like one that does not exist, and a request naming an ID number is answered
202 alike whether or not such a holder exists, so no route tells who is on record.
"""
from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from typing import Annotated, Any, Iterator, Literal

from fastapi import APIRouter, Path
from pydantic import Field

from ecard import tokens
from ecard_server.deps import DeviceDep, StateDep, usable
from ecard_server.schemas import SSN, Empty, QrToken, Strict, TokenRequest
from ecard_server.state import Refused, State
from holder_db import certification, proxy
from holder_db import store as db
from holder_db.certification import CertError

router = APIRouter()
YEAR = Annotated[int, Field(ge=certification.FIRST_YEAR, le=2100)]
BindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ScopeName = Literal["certification", "view_benefits", "show_code"]


class CertifyRequest(Strict):
    year: YEAR


class ProxyRequest(Strict):
    principal_ssn: SSN
    scopes: Annotated[list[ScopeName], Field(min_length=1, max_length=3)]
    ends_on: dt.date


class Requested(Strict):
    status: Literal["requested"] = "requested"
    next: str = "the holder consents at a counter with their card and PIN"


class Person(Strict):
    holder: str
    name: str


class Binding(Strict):
    binding_id: int
    state: str
    scopes: list[str]
    ends_on: str
    principal: Person
    proxy: Person
    principal_consent: str | None = None
    principal_consent_by: str | None = None


class Act(Strict):
    binding_id: int
    act: str
    actor: str
    detail: str
    for_me: bool
    at: str


class Family(Strict):
    proxies: list[Binding]
    principals: list[Binding]
    acts: list[Act]


class Record(Strict):
    year: int
    state: str
    source: str | None = None
    rule: str | None = None
    explain: str | None = None
    evidence_ref: str | None = None
    evidence_date: str | None = None
    proxy: Person | None = None
    actor: str | None = None
    certified_at: str | None = None
    created: bool | None = None


class Entitlement(Strict):
    benefit: str
    period: str
    amount: int
    status: str


class Benefits(Strict):
    principal: str
    entitlements: list[Entitlement]


@contextmanager
def _write(state: State) -> Iterator[Any]:
    """A write transaction on holder_db; a certification or proxy refusal becomes its HTTP status."""
    try:
        with db.write_connection(state.store.engine) as conn:
            yield conn
    except CertError as exc:
        raise Refused(exc.status, str(exc)) from None


def _actor(caller: Any) -> str:
    return f"device:{caller.device_id}"


@router.post("/v1/me/certify", tags=["certification"], response_model=Record,
             summary="Device: the holder certifies themself for a year (a device-signed request)")
def certify_me(req: CertifyRequest, state: StateDep, caller: DeviceDep) -> Record:
    with _write(state) as conn:
        record, made = certification.certify(conn, caller.holder_id, req.year, "ecard_device", actor=_actor(caller),
                                             evidence_ref=_actor(caller))
    return Record(**record, created=made)


@router.get("/v1/me/certification/{year}", tags=["certification"], response_model=Record,
            summary="Device: the holder's certification for a year (certified how, or due, or overdue)")
def my_certification(year: Annotated[int, Path(ge=certification.FIRST_YEAR, le=2100)], state: StateDep,
                     caller: DeviceDep) -> Record:
    with _write(state) as conn:
        certification.check_year(year, dt.date.today())
        return Record(**certification.record_of(conn, caller.holder_id, year))


@router.get("/v1/family", tags=["family"], response_model=Family,
            summary="Device: my proxies, the holders I act for, and every proxy act either way")
def family(state: StateDep, caller: DeviceDep) -> Family:
    with _write(state) as conn:
        return Family(**proxy.bindings_of(conn, caller.holder_id), acts=proxy.acts_of(conn, caller.holder_id))


@router.post("/v1/family/requests", tags=["family"], response_model=Requested, status_code=202,
             summary="Device: ask to be a holder's proxy; answered alike whether or not the ID number is on record")
def request_binding(req: ProxyRequest, state: StateDep, caller: DeviceDep) -> Requested:
    with _write(state) as conn:
        proxy.request_by_proxy(conn, caller.holder_id, req.principal_ssn, req.scopes, req.ends_on, _actor(caller))
    return Requested()


@router.post("/v1/family/bindings/{binding_id}/consent", tags=["family"], response_model=Binding,
             summary="Device: the proxy accepts a binding the holder made at a counter")
def consent(binding_id: BindingId, req: Empty, state: StateDep, caller: DeviceDep) -> Binding:
    with _write(state) as conn:
        return Binding(**proxy.consent_by_proxy(conn, binding_id, caller.holder_id, _actor(caller)))


@router.post("/v1/family/bindings/{binding_id}/revoke", tags=["family"], response_model=Binding,
             summary="Device: either side ends a binding")
def revoke(binding_id: BindingId, req: Empty, state: StateDep, caller: DeviceDep) -> Binding:
    with _write(state) as conn:
        return Binding(**proxy.revoke(conn, binding_id, caller.holder_id, _actor(caller)))


@router.post("/v1/family/bindings/{binding_id}/certify", tags=["family", "certification"], response_model=Record,
             summary="Device: the proxy certifies their principal for a year; the record names the proxy")
def certify_principal(binding_id: BindingId, req: CertifyRequest, state: StateDep, caller: DeviceDep) -> Record:
    with _write(state) as conn:
        return Record(**proxy.certify_for(conn, binding_id, caller.holder_id, req.year, "proxy_ecard",
                                          _actor(caller)))


@router.get("/v1/family/bindings/{binding_id}/benefits", tags=["family"], response_model=Benefits,
            summary="Device: the principal's entitlements, for a proxy with the view_benefits scope")
def principal_benefits(binding_id: BindingId, state: StateDep, caller: DeviceDep) -> Benefits:
    with _write(state) as conn:
        return Benefits(**proxy.benefits_for(conn, binding_id, caller.holder_id, _actor(caller)))


@router.post("/v1/family/bindings/{binding_id}/token", tags=["family", "qr"], response_model=QrToken,
             summary="Device: a dynamic QR code of the principal's, shown by their proxy (scope show_code), e.g. at "
                     "a hospital; it resolves to the principal and names the proxy")
def principal_token(binding_id: BindingId, req: TokenRequest, state: StateDep, caller: DeviceDep) -> QrToken:
    """An online code with a handle and status index of its own, like /v1/token, for the principal; the proxy's
    device must be in good standing and the principal may be served. The act is recorded once the code exists."""
    state.limit("token", caller.device_id)
    usable(state, caller)
    with _write(state) as conn:
        row = proxy.authorize(conn, binding_id, caller.holder_id, "show_code")
    why = state.store.refusal(row.principal_id)
    if why is not None:
        raise Refused(403, f"{why}; no e-card code is issued for this holder")
    now = int(time.time())
    code = state.store.issue_codes(caller.device_id, "online", now + req.ttl, handle_bytes=tokens.SUB_BYTES,
                                   proxy_for=(row.principal_id, row.id))[0]
    tok = tokens.issue_online(state.signer, code.handle, code.status_idx, now, req.ttl)
    with _write(state) as conn:
        proxy.record_act(conn, row, "show_code", _actor(caller), f"online code, {req.ttl} s")
    return QrToken(token=tok, expires_at=now + req.ttl, chars=len(tok))
