"""FastAPI dependencies, as Annotated types: the worker's state, the calling terminal, the calling device."""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from ecard import jws
from ecard.device import REQUEST_TYP, RP_TYP, body_hash
from ecard.keys import BadKeyError, VerifyKey, verify_key_from_jwk
from ecard_server import trail
from ecard_server.state import Caller, Refused, State
from holder_db.ecard import EcardStore


async def get_state(request: Request) -> State:
    """Async on purpose: a trivial dependency declared sync costs a thread-pool hop per request."""
    return request.app.state.ecard


StateDep = Annotated[State, Depends(get_state)]


async def get_store(state: StateDep) -> EcardStore:
    return state.store


StoreDep = Annotated[EcardStore, Depends(get_store)]


def client_address(request: Request) -> str:
    """The caller's address for rate limits and the trail: the TCP peer, unless the peer is one of
    Settings.trusted_proxies; then the nearest address in X-Forwarded-For that is not a trusted proxy. A header
    from anyone else is ignored (a rotating X-Forwarded-For must not make a client many)."""
    host = request.client.host if request.client else "unknown"
    state: State = request.app.state.ecard
    if not state.trusted(host):
        return host
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops[-20:]):
        if not state.trusted(hop):
            return hop[:64]
    return host


async def peer(request: Request) -> str:
    return client_address(request)


PeerDep = Annotated[str, Depends(peer)]


def terminal_auth(request: Request, state: StateDep,
                  x_terminal_key: Annotated[str | None, Header(max_length=200)] = None) -> str:
    terminal_id = state.terminal(x_terminal_key)
    if terminal_id is None:
        claimed = x_terminal_key.split(".", 1)[0] if x_terminal_key else None  # the terminal's name, never the secret
        trail.auth_failed("terminal", "no terminal key" if not x_terminal_key else "terminal key does not match",
                          client_address(request), request.url.path, claimed)
        raise Refused(401, "a terminal API key (X-Terminal-Key) is required")
    state.limit("terminal_limit", terminal_id)
    return terminal_id


TerminalDep = Annotated[str, Depends(terminal_auth)]


def check_proof(state: State, proof: str, key: VerifyKey, typ: str, replay: str, method: str, path: str,
                body: bytes) -> None:
    """A request proof (ecard.device.sign_request) by `key`: verifies, fresh, for this method, path and body,
    its jti never seen before by any worker (kept in the shared state under `replay`)."""
    try:
        claims = jws.verify_compact(proof, key, typ)
    except jws.JwsError:
        raise Refused(401, "request proof does not verify") from None
    now = time.time()
    max_age = state.settings.request_max_age
    iat, jti = claims.get("iat"), claims.get("jti")
    if not isinstance(iat, int) or abs(now - iat) > max_age:
        raise Refused(401, "request proof is stale or dated in the future; check the clock")
    if claims.get("htm") != method or claims.get("htu") != path:
        raise Refused(401, "request proof was made for another request")
    if claims.get("bh") != body_hash(body):
        raise Refused(401, "request proof does not cover this request body")
    if not isinstance(jti, str) or len(jti) > 64 or state.shared.seen(f"{replay}:{jti}".encode(),
                                                                      int(iat) + max_age, now):
        raise Refused(401, "request proof was already used")


DEVICE_KEYS_KEPT = 10_000  # parsed device keys a worker keeps (a parse costs more than the signature check)


def _check_proof(state: State, proof: str, kid: str, method: str, path: str, body: bytes) -> Caller:
    """Everything device_auth asks of the store and the shared state, in one trip to the thread pool."""
    binding, why = state.store.binding_and_refusal(kid)
    if binding is None or not binding.active:
        raise Refused(401, "device is not activated (or was deactivated)")
    known = state.device_keys.get(kid)
    if known is not None and known[0] == binding.jwk:
        device_key = known[1]
    else:
        try:
            device_key = verify_key_from_jwk(binding.jwk)
        except BadKeyError:
            raise Refused(401, "device proof does not verify") from None
        if len(state.device_keys) >= DEVICE_KEYS_KEPT:
            state.device_keys.clear()
        state.device_keys[kid] = (binding.jwk, device_key)
    check_proof(state, proof, device_key, REQUEST_TYP, f"proof:{kid}", method, path, body)
    return Caller(kid, binding.holder_id, binding.status_idx, device_key, binding.jwk, why, standing_read=True)


def _proof_of(authorization: str | None, scheme: str) -> tuple[str, str]:
    """The JWS after `scheme` and the kid in its header; Refused(401) when there is none."""
    if not authorization or not authorization.startswith(scheme + " "):
        raise Refused(401, f"a signed request is required (Authorization: {scheme} <JWS>)")
    proof = authorization[len(scheme) + 1:].strip()
    try:
        kid = jws.compact_header(proof).get("kid")
    except jws.JwsError:
        raise Refused(401, "request proof is not a JWS") from None
    if not isinstance(kid, str) or not 0 < len(kid) <= 64:
        raise Refused(401, "request proof names no known signer (kid)")
    return proof, kid


async def device_auth(request: Request, state: StateDep,
                      authorization: Annotated[str | None, Header(max_length=2000)] = None) -> Caller:
    """A request signed by a bound device key, fresh, for this method, path and body, and never seen before by
    any worker (the proof's jti goes to the shared state)."""
    kid = None
    try:
        proof, kid = _proof_of(authorization, "Device")
        body = await request.body()
        return await run_in_threadpool(_check_proof, state, proof, kid, request.method, request.url.path, body)
    except Refused as exc:
        trail.auth_failed("device", exc.detail, client_address(request), request.url.path, kid)
        raise


DeviceDep = Annotated[Caller, Depends(device_auth)]


def usable(state: State, caller: Caller) -> None:
    """403 unless the caller's holder may be served (holder_db.standing; read with the binding when it was)."""
    why = caller.refusal if caller.standing_read else state.store.refusal(caller.holder_id)
    if why is not None:
        raise Refused(403, f"{why}; no e-card codes are issued")


def _check_rp(state: State, client: str, proof: str, name: str, method: str, path: str, body: bytes) -> str:
    state.limit("login_create", client)  # before the signature is checked
    registered = state.store.relying_party(name)
    if registered is None:
        raise Refused(401, "relying party is not registered (sscard keys rp)")
    try:
        key = verify_key_from_jwk(registered[0])
    except BadKeyError:
        raise Refused(401, "relying party proof does not verify") from None
    check_proof(state, proof, key, RP_TYP, f"rp:{name}", method, path, body)
    return name


async def relying_party_auth(request: Request, state: StateDep,
                             authorization: Annotated[str | None, Header(max_length=2000)] = None) -> str:
    """The registered relying party that signed this request (kid: its registered name) with its own key."""
    name, client = None, client_address(request)
    try:
        proof, name = _proof_of(authorization, "RP")
        body = await request.body()
        return await run_in_threadpool(_check_rp, state, client, proof, name, request.method, request.url.path,
                                       body)
    except Refused as exc:
        if exc.status == 401:
            trail.auth_failed("relying_party", exc.detail, client, request.url.path, name)
        raise


RelyingPartyDep = Annotated[str, Depends(relying_party_auth)]
