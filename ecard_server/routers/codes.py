"""Devices: dynamic QR tokens signed by the server, the offline credential that lets a phone make its own, and the
SD-JWT credential with selectively disclosable holder claims."""
from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ecard import sdjwt, tokens
from ecard.keys import b64u
from ecard_server.deps import DeviceDep, StateDep, usable
from ecard_server.schemas import Empty, OfflineCredential, QrToken, SdJwtCredential, TokenRequest

router = APIRouter()


@router.post("/v1/token", tags=["qr"], response_model=QrToken,
             summary="Device: a fresh server-signed dynamic QR token (about a minute)")
async def token(req: TokenRequest, state: StateDep, caller: DeviceDep) -> JSONResponse:
    """Async, its answer built here: device_auth read the binding and the holder's standing in its one trip to the
    thread pool, and what is left (an HMAC, one signature) costs less than a second trip or a response model."""
    usable(state, caller)
    now = int(time.time())
    tok = tokens.issue_online(state.keyset.current, state.handle(caller.holder_id), caller.status_idx, now, req.ttl)
    return JSONResponse({"token": tok, "expires_at": now + req.ttl, "chars": len(tok)})


@router.post("/v1/credentials/offline", tags=["qr"], response_model=OfflineCredential,
             summary="Device: issuer credential binding the device key, for QR codes made offline")
def offline_credential(req: Empty, state: StateDep, caller: DeviceDep) -> OfflineCredential:
    usable(state, caller)
    now = int(time.time())
    life = state.settings.offline_credential_ttl
    cred = tokens.issue_credential(state.keyset.current, state.handle(caller.holder_id), caller.status_idx,
                                   caller.device_key, now, life)
    return OfflineCredential(credential=b64u(cred), expires_at=now + life)


@router.post("/v1/credentials/sd-jwt", tags=["credentials"], response_model=SdJwtCredential,
             summary="Device: SD-JWT credential with selectively disclosable holder claims")
def sd_jwt_credential(req: Empty, state: StateDep, caller: DeviceDep) -> SdJwtCredential:
    usable(state, caller)
    h = state.store.holder(caller.holder_id)
    now = int(time.time())
    life = state.settings.sd_jwt_ttl
    claims = {"name": h.name, "id_number": h.ssn, "birth_date": h.birth_date, "gender": h.gender,
              "insurance": h.insurance, "card_status": h.card_status}
    cred = sdjwt.issue(claims, state.keyset.current, caller.jwk, caller.status_idx, state.status_uri, now, life)
    state.store.audit(f"device:{caller.device_id}", "ecard.sd_jwt", caller.holder_id, sensitive=True)
    return SdJwtCredential(sd_jwt=cred, expires_at=now + life)
