"""Devices: dynamic QR tokens signed by the server, the offline credential that lets a phone make its own, and the
SD-JWT credential with selectively disclosable holder claims; terminals: resolving a scanned code to its holder.

Codes are unlinkable by default: each online code and each credential of a batch gets its own random handle and
status index (holder_db.ecard.issue_codes), and each credential of a batch binds its own device key, so two
verifiers comparing what they scanned find nothing in common (docs/ecard.md, "Unlinkable codes")."""
from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from cardlib.idnumber import mask
from ecard import sdjwt, tokens
from ecard import verify as qr_verify
from ecard.keys import BadKeyError, VerifyKey, b64u, verify_key_from_jwk
from ecard_server.deps import DeviceDep, StateDep, TerminalDep, usable
from ecard_server.schemas import (BatchRequest, OfflineCredential, QrToken, ResolveRequest, Resolved,
                                  SdJwtCredential, TokenRequest)
from ecard_server.state import Caller, Refused, State
from holder_db import proxy
from holder_db.certification import CertError

router = APIRouter()
SD_CLAIMS = ("name", "id_number", "birth_date", "gender", "insurance", "card_status")


@router.post("/v1/token", tags=["qr"], response_model=QrToken,
             summary="Device: a fresh server-signed dynamic QR token (about a minute), with a handle and status "
                     "index of its own")
def token(req: TokenRequest, state: StateDep, caller: DeviceDep) -> JSONResponse:
    """Its answer built here rather than through the response model; a sync route, since the code's row is
    written to the store (one thread-pool trip with the rate limit)."""
    state.limit("token", caller.device_id)
    usable(state, caller)
    now = int(time.time())
    code = state.store.issue_codes(caller.device_id, "online", now + req.ttl, handle_bytes=tokens.SUB_BYTES)[0]
    tok = tokens.issue_online(state.signer, code.handle, code.status_idx, now, req.ttl)
    return JSONResponse({"token": tok, "expires_at": now + req.ttl, "chars": len(tok)})


def _batch_keys(state: State, caller: Caller, req: BatchRequest) -> list[VerifyKey]:
    """The public keys to bind, one per credential: the batch the device made, or its own key alone."""
    if not req.device_keys:
        return [caller.device_key]
    if len(req.device_keys) > state.settings.ecard_batch:
        raise Refused(400, f"at most {state.settings.ecard_batch} device keys a batch")
    out = []
    for i, jwk in enumerate(req.device_keys):
        try:
            key = verify_key_from_jwk(jwk.model_dump(exclude_none=True))
        except BadKeyError as exc:
            raise Refused(400, f"device_keys.{i}: {exc}") from None
        out.append(VerifyKey(key.alg, key.key))
    if len({k.compact() for k in out}) != len(out):
        raise Refused(400, "device_keys must be distinct: each credential binds a key of its own")
    return out


@router.post("/v1/credentials/offline", tags=["qr"], response_model=OfflineCredential,
             summary="Device: issuer credentials binding device keys, for QR codes made offline (a batch: one per "
                     "key in device_keys, each with its own handle and status index)")
def offline_credential(req: BatchRequest, state: StateDep, caller: DeviceDep) -> OfflineCredential:
    state.limit("token", caller.device_id)
    usable(state, caller)
    members = _batch_keys(state, caller, req)
    life = state.settings.offline_credential_ttl
    iat = tokens.coarse_time(time.time(), life)
    codes = state.store.issue_codes(caller.device_id, "offline", iat + life, len(members), tokens.SUB_BYTES)
    signer = state.signer
    creds = [b64u(tokens.issue_credential(signer, c.handle, c.status_idx, k, iat, life))
             for c, k in zip(codes, members)]
    state.store.audit(f"device:{caller.device_id}", "ecard.offline_credential", caller.holder_id,
                      f"{len(creds)} credential(s)", purpose="offline e-card codes (valid cardholder only)")
    return OfflineCredential(credential=creds[0], expires_at=iat + life, credentials=creds if req.device_keys else [])


@router.post("/v1/credentials/sd-jwt", tags=["credentials"], response_model=SdJwtCredential,
             summary="Device: SD-JWT credentials with selectively disclosable holder claims (a batch: one per key "
                     "in device_keys, each with its own status index and salts)")
def sd_jwt_credential(req: BatchRequest, state: StateDep, caller: DeviceDep) -> SdJwtCredential:
    state.limit("token", caller.device_id)
    usable(state, caller)
    members = _batch_keys(state, caller, req)
    h = state.store.holder(caller.holder_id)
    life = state.settings.sd_jwt_ttl
    iat = tokens.coarse_time(time.time(), life)
    claims = {"name": h.name, "id_number": h.ssn, "birth_date": h.birth_date, "gender": h.gender,
              "insurance": h.insurance, "card_status": h.card_status}
    codes = state.store.issue_codes(caller.device_id, "sd-jwt", iat + life, len(members), tokens.SUB_BYTES)
    signer = state.signer
    creds = [sdjwt.issue(claims, signer, k.jwk(), c.status_idx, state.status_uri, iat, life)
             for c, k in zip(codes, members)]
    state.store.audit(f"device:{caller.device_id}", "ecard.sd_jwt", caller.holder_id, f"{len(creds)} credential(s)",
                      sensitive=True, purpose="SD-JWT credentials issued to the holder's device", fields=SD_CLAIMS)
    return SdJwtCredential(sd_jwt=creds[0], expires_at=iat + life, sd_jwts=creds if req.device_keys else [])


@router.post("/v1/codes/resolve", tags=["qr"], response_model=Resolved,
             summary="Terminal: whose is this scanned code (verified by the server, the read in the holder's "
                     "access log with the purpose given)")
def resolve(req: ResolveRequest, state: StateDep, terminal_id: TerminalDep) -> Resolved:
    result = qr_verify.verify(req.token, state.keyset.verifier(), None, time.time(), None)
    if not result.valid:
        raise Refused(400, f"code does not verify: {result.reason}: {result.detail}")
    found = state.store.resolve_code(bytes.fromhex(result.sub))
    if found is None:
        raise Refused(404, "no such code (unknown, or expired long ago)")
    shown_by = None
    if found.proxy_binding is not None:
        try:
            with state.store.engine.connect() as conn:
                who = proxy.shown_by(conn, found.proxy_binding)
        except CertError as exc:
            raise Refused(403, f"code shown by a family proxy: {exc}") from None
        shown_by = f"{who['name']} ({who['holder']})"
    h = state.store.holder(found.holder_id)
    state.store.audit(f"terminal:{terminal_id}", "ecard.code_resolve", found.holder_id, f"{result.kind} code"
                      + (", shown by a proxy" if shown_by else ""),
                      sensitive=True, purpose=req.purpose, fields=("name", "id_number_masked", "card_status"))
    return Resolved(kind=result.kind, name=h.name, id_number_masked=mask(h.ssn), card_status=h.card_status,
                    binding_active=found.binding_active, expires_at=int(result.exp), shown_by_proxy=shown_by)
