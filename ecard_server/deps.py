"""FastAPI dependencies, as Annotated types: the worker's state, the calling terminal, the calling device."""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from ecard import jws
from ecard.device import REQUEST_TYP, body_hash
from ecard.keys import BadKeyError, verify_key_from_jwk
from ecard_server.state import Caller, Refused, State
from ecard_server.terminals import check_api_key
from holder_db.ecard import EcardStore


async def get_state(request: Request) -> State:
    """Async on purpose: a trivial dependency declared sync costs a thread-pool hop per request."""
    return request.app.state.ecard


StateDep = Annotated[State, Depends(get_state)]


async def get_store(state: StateDep) -> EcardStore:
    return state.store


StoreDep = Annotated[EcardStore, Depends(get_store)]


async def peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


PeerDep = Annotated[str, Depends(peer)]


def terminal_auth(state: StateDep, x_terminal_key: Annotated[str | None, Header(max_length=200)] = None) -> str:
    terminal_id = check_api_key(state.terminals, x_terminal_key)
    if terminal_id is None:
        raise Refused(401, "a terminal API key (X-Terminal-Key) is required")
    state.limit("terminal_limit", terminal_id)
    return terminal_id


TerminalDep = Annotated[str, Depends(terminal_auth)]


def _check_proof(state: State, proof: str, kid: str, method: str, path: str, body: bytes) -> Caller:
    """Everything device_auth asks of the store and the shared state, in one trip to the thread pool."""
    binding = state.store.binding(kid)
    if binding is None or not binding.active:
        raise Refused(401, "device is not activated (or was deactivated)")
    try:
        device_key = verify_key_from_jwk(binding.jwk)
        claims = jws.verify(proof, device_key, REQUEST_TYP)
    except (jws.JwsError, BadKeyError):
        raise Refused(401, "device proof does not verify") from None
    now = time.time()
    max_age = state.settings.request_max_age
    iat, jti = claims.get("iat"), claims.get("jti")
    if not isinstance(iat, int) or abs(now - iat) > max_age:
        raise Refused(401, "device proof is stale or dated in the future; check the device clock")
    if claims.get("htm") != method or claims.get("htu") != path:
        raise Refused(401, "device proof was made for another request")
    if claims.get("bh") != body_hash(body):
        raise Refused(401, "device proof does not cover this request body")
    if not isinstance(jti, str) or len(jti) > 64 or state.shared.seen(f"proof:{kid}:{jti}".encode(),
                                                                      int(iat) + max_age, now):
        raise Refused(401, "device proof was already used")
    return Caller(kid, binding.holder_id, binding.status_idx, device_key, binding.jwk)


async def device_auth(request: Request, state: StateDep,
                      authorization: Annotated[str | None, Header(max_length=2000)] = None) -> Caller:
    """A request signed by a bound device key, fresh, for this method, path and body, and never seen before by
    any worker (the proof's jti goes to the shared state)."""
    if not authorization or not authorization.startswith("Device "):
        raise Refused(401, "a device-signed request is required (Authorization: Device <JWS>)")
    proof = authorization[len("Device "):].strip()
    try:
        kid = jws.header(proof).get("kid")
    except jws.JwsError:
        raise Refused(401, "device proof is not a JWS") from None
    if not isinstance(kid, str) or len(kid) > 64:
        raise Refused(401, "device is not activated (or was deactivated)")
    body = await request.body()
    return await run_in_threadpool(_check_proof, state, proof, kid, request.method, request.url.path, body)


DeviceDep = Annotated[Caller, Depends(device_auth)]


def usable(state: State, caller: Caller) -> None:
    """403 unless the caller's holder may be served (holder_db.standing)."""
    why = state.store.refusal(caller.holder_id)
    if why is not None:
        raise Refused(403, f"{why}; no e-card codes are issued")
