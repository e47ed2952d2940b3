"""Anyone: the issuer's JWKS and the signed status list (what gates cache to decide offline). Both answers are
made once and kept until what they say changes (a key, a revocation); each carries an ETag, and a client that
sends it back with If-None-Match gets 304 and no body."""
from __future__ import annotations

import hashlib
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from ecard import status_list
from ecard_server.deps import StateDep
from ecard_server.state import STATUS_HEADROOM

router = APIRouter()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _answer(request: Request, body: bytes, etag: str, media_type: str, cache_control: str | None) -> Response:
    headers = {"ETag": etag} | ({"Cache-Control": cache_control} if cache_control else {})
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/.well-known/jwks.json", tags=["keys"], summary="Issuer public keys (current and retired)")
async def jwks_endpoint(request: Request, state: StateDep) -> Response:
    """Async: no database, two stat calls and a body made once per key set and set of published keys."""
    state.files.refresh(force=True)  # a withdrawn key leaves the JWKS at once
    keyset, now = state.files.keyset, time.time()
    published = tuple(until > now for _, until in keyset.retired)
    cached = state.jwks_cache
    if cached[0] is not keyset or cached[1] != published:  # the cache holds the key set: `is` cannot be fooled
        body = json.dumps(keyset.jwks(now), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        cached = state.jwks_cache = (keyset, published, body, _etag(body))
    return _answer(request, cached[2], cached[3], "application/json", None)


@router.get("/status-list", tags=["revocation"], response_class=PlainTextResponse,
            summary="Signed, compressed status list (IETF Token Status List JWT)")
def status_list_endpoint(request: Request, state: StateDep) -> Response:
    signer = state.signer
    # signed by the current key: a rotation or a withdrawal re-signs it on the next fetch
    version = (state.store.revocation_version(), signer.kid)
    cached_version, jwt_text, made = state.status_cache
    ttl = state.settings.status_list_ttl
    if cached_version != version or time.time() - made > ttl / 2:
        revoked, size = state.store.revoked_indices()
        # headroom past the last index handed out, so a gate's cached list still covers bindings made since,
        # and a list large enough that one card's bit hides among many (herd privacy)
        jwt_text = status_list.sign(revoked, size + STATUS_HEADROOM, signer, state.status_uri, ttl=ttl)
        state.status_cache = (version, jwt_text, time.time())
    if state.status_body[0] != jwt_text:
        body = jwt_text.encode("ascii")
        state.status_body = (jwt_text, body, _etag(body))
    return _answer(request, state.status_body[1], state.status_body[2], "application/statuslist+jwt", "max-age=60")
