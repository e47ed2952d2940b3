"""Scan-to-login: a registered relying party opens a session with a request signed by its own key (so no one else
can ask in its name and get its pairwise subject for a holder) and shows the QR, the holder's device approves it,
the relying party polls for the result, which it is handed once. Sessions live in the shared state, so any worker
may answer any step."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import Field

from cardlib.idnumber import mask
from ecard_server import trail
from ecard_server.deps import DeviceDep, PeerDep, RelyingPartyDep, StateDep, usable
from ecard_server.schemas import LoginApprove, LoginCreate, LoginSession, LoginStatus
from ecard_server.state import LOGIN_PREFIX, MAX_OPEN_LOGINS, Refused, State
from holder_db.server_state import COLLECTED, Login

router = APIRouter(tags=["login"])
SessionId = Annotated[str, Field(max_length=64)]


@router.post("/v1/login-sessions", response_model=LoginSession, status_code=201,
             summary="Relying party: open a scan-to-login session (a request signed with the key registered by "
                     "`sscard keys rp`, Authorization: RP <JWS>) and get the QR text to show")
def login_create(req: LoginCreate, state: StateDep, relying_party: RelyingPartyDep) -> LoginSession:
    sid, poll = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    expires = time.time() + state.settings.login_ttl
    if not state.shared.login_open(sid, relying_party, list(dict.fromkeys(req.scope)),
                                   hashlib.sha256(poll.encode()).hexdigest(), expires, MAX_OPEN_LOGINS):
        raise Refused(429, "too many open login sessions", {"Retry-After": "30"})
    return LoginSession(session_id=sid, qr=LOGIN_PREFIX + sid, poll_secret=poll, expires_at=int(expires))


def _session(state: State, session_id: str) -> Login:
    s = state.shared.login(session_id) if len(session_id) <= 64 else None
    if s is None:
        raise Refused(404, "no such login session")
    return s


@router.post("/v1/login-sessions/{session_id}/approve", response_model=LoginStatus,
             summary="Device: approve a login session shown as a QR, consenting to the listed claims")
def login_approve(session_id: SessionId, req: LoginApprove, state: StateDep, caller: DeviceDep) -> LoginStatus:
    state.limit("login_device", caller.device_id)
    s = _session(state, session_id)
    if s.expires_at <= time.time():
        raise Refused(410, "login session has expired")
    usable(state, caller)
    h = state.store.holder(caller.holder_id)
    consent = [c for c in req.consent if c in s.scope]
    subject = hmac.new(state.keyset.pseudonym_secret, f"rp:{s.relying_party}:{caller.holder_id}".encode(),
                       hashlib.sha256).hexdigest()[:32]
    result = {"subject": subject, "name": h.name if "name" in consent else None,
              "masked_id": mask(h.ssn) if "masked_id" in consent else None}
    if s.result is not None or not state.shared.login_approve(session_id, result):
        raise Refused(409, "login session was already approved")
    state.store.audit(f"device:{caller.device_id}", "ecard.login", caller.holder_id, s.relying_party,
                      purpose=f"scan-to-login at {s.relying_party}"[:60], fields=["subject", *consent])
    return LoginStatus(status="approved", **result)


@router.get("/v1/login-sessions/{session_id}", response_model=LoginStatus,
            summary="Relying party: poll a login session (X-Poll-Secret from its creation); an approved result is "
                    "handed out once, a poll after that is a 410")
def login_poll(session_id: SessionId, request: Request, state: StateDep, client: PeerDep,
               x_poll_secret: Annotated[str | None, Header(max_length=100)] = None) -> LoginStatus:
    state.limit("login_poll", f"{client}:{session_id[:64]}")
    s = _session(state, session_id)
    if not x_poll_secret or not hmac.compare_digest(hashlib.sha256(x_poll_secret.encode()).hexdigest(), s.poll_hash):
        trail.auth_failed("login_poll", "wrong or missing X-Poll-Secret", client, request.url.path, session_id)
        raise Refused(403, "wrong or missing X-Poll-Secret")
    if s.result is not None:
        result = state.shared.login_collect(session_id)
        if result is None or result == COLLECTED:
            raise Refused(410, "the login result was handed out already")
        return LoginStatus(status="approved", **result)
    if s.expires_at <= time.time():
        return LoginStatus(status="expired")
    return LoginStatus(status="pending")
