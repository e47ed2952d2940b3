"""The e-card HTTP service (FastAPI): JWKS, status list, activation, dynamic QR tokens, offline and SD-JWT
credentials, card loss, scan-to-login. Holder data comes from holder_db through holder_db.ecard; the protocol
itself (tokens, credentials, status lists) is the `ecard` package.

Who may call what:
- terminals (an API key from `sscard keys terminal`, header X-Terminal-Key) ask for activation codes after reading
  the card and checking its PIN, and may report a card lost;
- a holder's device signs every request with its bound key (header `Authorization: Device <JWS>`, see
  ecard.device.sign_request) and reaches only its own holder's data;
- anyone may read the JWKS and the status list; a relying party registered with `sscard keys rp` signs its
  login-session requests with its own key (`Authorization: RP <JWS>`).
Every bad request is answered with a 4xx and a message; activation and login are rate-limited (429, Retry-After)
per client address (the TCP peer, or X-Forwarded-For only from Settings.trusted_proxies); a body over
Settings.max_body is refused (413) before it is read; failed authentications go to the trail (ecard_server.trail).
Workers keep nothing of their own but caches: nonces, rate limits and login sessions are in the shared state
(holder_db, or Valkey/Redis when SSCARD_REDIS names one), so `sscard serve --workers N` behaves as one server.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecard_server import offline_docs
from ecard_server.bodylimit import BodyLimit
from ecard_server.routers import activation, codes, holder, login, public
from ecard_server.schemas import TokenRequest  # noqa: F401  (re-exported for the benchmark and tests)
from ecard_server.state import ConfigError, Refused, State
from holder_db.ecard import StoreError
from sscard_settings import Settings

__all__ = ["ConfigError", "create_app"]


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings, extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    """The app for these settings: holder_db at settings.db_url, the key set in settings.ecard_keys_dir, shared
    state in the database or settings.redis. Raises ConfigError when the key set cannot be used.

    `extra_routers` are the program's other parts, included before the pages' catch-all: `sscard serve`
    (sscard_app) gives the terminal's page routes (terminal.pages_api) here, so this package never imports them."""
    state = State.open(settings)
    app = FastAPI(title="sscard e-card service", version="1", description=__doc__,
                  responses={400: {"description": "Bad request"}, 422: {"description": "Invalid input"}},
                  docs_url=None, redoc_url=None)
    offline_docs.mount(app)
    app.state.ecard = state
    for area in (public, activation, codes, holder, login):
        app.include_router(area.router)
    from ecard_server.routers import family  # certification and family proxy: docs/certification.md
    app.include_router(family.router)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
        return _json(422, "invalid request: " + "; ".join(msgs))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        return _json(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return _json(exc.status, str(exc))

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return _json(503, f"the holder database is unavailable ({exc.__class__.__name__}); retry later",
                     {"Retry-After": "5"})

    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover (redis is a dependency)
        RedisError = None  # type: ignore[assignment,misc]
    if RedisError is not None:
        @app.exception_handler(RedisError)
        async def _redis(request: Request, exc: Exception) -> JSONResponse:
            return _json(503, f"the shared state is unavailable ({exc.__class__.__name__}); retry later",
                         {"Retry-After": "5"})

    if os.environ.get("SSCARD_WORKER_HEADER"):  # tests of several workers tell them apart by it
        pid = str(os.getpid())

        @app.middleware("http")
        async def _worker(request: Request, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers["X-Sscard-Worker"] = pid
            return response

    for extra in extra_routers:
        app.include_router(extra)
    from ecard_server.pages.router import router as pages_router  # the pages and their assets: docs/pages.md
    app.include_router(pages_router)
    app.add_middleware(BodyLimit, max_body=settings.max_body)  # outermost of ours: nothing reads a body first
    return app

