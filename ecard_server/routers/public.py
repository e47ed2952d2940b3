"""Anyone: the issuer's JWKS and the signed status list (what gates cache to decide offline)."""
from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from ecard import status_list
from ecard_server.deps import StateDep
from ecard_server.state import STATUS_HEADROOM

router = APIRouter()


@router.get("/.well-known/jwks.json", tags=["keys"], summary="Issuer public keys (current and retired)")
def jwks_endpoint(state: StateDep) -> Any:
    state.files.refresh(force=True)  # a withdrawn key leaves the JWKS at once
    return state.keyset.jwks()


@router.get("/status-list", tags=["revocation"], response_class=PlainTextResponse,
            summary="Signed, compressed status list (IETF Token Status List JWT)")
def status_list_endpoint(state: StateDep) -> Response:
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
    return Response(jwt_text, media_type="application/statuslist+jwt", headers={"Cache-Control": "max-age=60"})
