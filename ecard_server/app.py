"""The e-card HTTP service (FastAPI): JWKS, status list, activation, dynamic QR tokens, offline and SD-JWT
credentials, card loss, scan-to-login. Holder data comes from holder_db through ecard_server.store.

Who may call what:
- terminals (an API key from `sscard keys terminal`, header X-Terminal-Key) ask for activation codes after reading
  the card and checking its PIN, and may report a card lost;
- a holder's device signs every request with its bound key (header `Authorization: Device <JWS>`, see
  ecard_server.device.sign_request) and reaches only its own holder's data;
- anyone may read the JWKS and the status list, and a relying party may open a login session.
Every bad request is answered with a 4xx and a message; activation and login are rate-limited (429, Retry-After).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from cardlib.idnumber import mask
from ecard_server import jws, sdjwt, status_list, tokens
from ecard_server.device import REQUEST_TYP, body_hash
from ecard_server.keys import KEYSET_FILE, BadKeyError, KeySet, VerifyKey, b64u, load_keyset, verify_key_from_jwk
from ecard_server.ratelimit import RateLimiter, retry_after
from ecard_server.store import EcardStore, StoreError
from ecard_server.terminals import FILE as TERMINALS_FILE
from ecard_server.terminals import check_api_key, load_terminals
from terminal.qr_verify import ReplayCache

ACTIVATION_TTL = 300
OFFLINE_CREDENTIAL_LIFETIME = 7 * 86400
SD_JWT_LIFETIME = 30 * 86400
REQUEST_MAX_AGE = 60
LOGIN_TTL = 120
STATUS_LIST_TTL = 3600
STATUS_HEADROOM = 16_384
LOGIN_PREFIX = "SSCL1:"

SSN = Annotated[str, Field(min_length=18, max_length=18, pattern=r"^[0-9]{17}[0-9X]$")]
CARD_NO = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
CODE = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^[A-Z2-7]{10}$")]
B64 = Annotated[str, Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
Scope = Literal["name", "masked_id"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivationCodeRequest(Strict):
    ssn: SSN | None = Field(None, description="Social security number read from the card (EF06 tag 08).")
    card_no: CARD_NO | None = Field(None, description="Card number read from the card (EF05 tag 07).")


class ActivationCode(Strict):
    code: str
    expires_at: int


class DeviceJwk(Strict):
    kty: Literal["OKP", "EC"]
    crv: Literal["Ed25519", "P-256", "SM2"]
    x: B64
    y: B64 | None = None
    alg: Literal["EdDSA", "ES256", "SM2"] | None = None
    use: Literal["sig"] | None = None
    kid: Annotated[str, Field(max_length=64)] | None = None


class ActivateRequest(Strict):
    code: CODE
    device_jwk: DeviceJwk
    device_name: Annotated[str, Field(max_length=64)] = ""


class Activated(Strict):
    device_id: str
    holder: str = Field(description="Pseudonymous holder handle (hex), as it appears in QR codes.")
    status_idx: int


class TokenRequest(Strict):
    ttl: Annotated[int, Field(ge=10, le=tokens.MAX_TTL)] = tokens.DEFAULT_TTL


class QrToken(Strict):
    token: str
    expires_at: int
    chars: int


class OfflineCredential(Strict):
    credential: str = Field(description="base64url issuer-signed credential binding the device key.")
    expires_at: int


class SdJwtCredential(Strict):
    sd_jwt: str
    expires_at: int


class Empty(Strict):
    pass


class LossRequest(Strict):
    ssn: SSN | None = None
    card_no: CARD_NO | None = None


class LossReport(Strict):
    card_no_masked: str
    card_status: str
    revoked_indices: list[int]


class Deactivated(Strict):
    device_id: str
    revoked_index: int


class Me(Strict):
    name: str
    id_number_masked: str
    card_no_masked: str
    card_status: str
    insurance: dict[str, str]


class LoginCreate(Strict):
    relying_party: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w .:/-]+$")]
    scope: Annotated[list[Scope], Field(max_length=2)] = []


class LoginSession(Strict):
    session_id: str
    qr: str
    poll_secret: str
    expires_at: int


class LoginApprove(Strict):
    consent: Annotated[list[Scope], Field(max_length=2)] = []


class LoginStatus(Strict):
    status: Literal["pending", "approved", "expired"]
    subject: str | None = None
    name: str | None = None
    masked_id: str | None = None


@dataclass
class _Login:
    relying_party: str
    scope: list[str]
    poll_hash: str
    expires_at: float
    result: dict[str, Any] | None = None


@dataclass
class _Caller:
    device_id: str
    holder_id: Any
    status_idx: int
    device_key: VerifyKey
    jwk: dict[str, Any]


class KeyFiles:
    """The key set and terminal table, re-read when `sscard keys new|terminal` changes them (checked once a second),
    so a rotation or a new terminal needs no restart."""

    def __init__(self, keys_dir: str) -> None:
        self.dir = Path(keys_dir)
        self._stamp: tuple[float, ...] = ()
        self._checked = 0.0
        self._lock = threading.Lock()
        self.keyset = load_keyset(keys_dir)
        self.terminals = load_terminals(keys_dir)
        self._stamp = self._stamps()

    def _stamps(self) -> tuple[float, ...]:
        return tuple((self.dir / f).stat().st_mtime if (self.dir / f).exists() else 0.0
                     for f in (KEYSET_FILE, TERMINALS_FILE))

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            stamp = self._stamps()
            if stamp != self._stamp:
                try:
                    self.keyset, self.terminals = load_keyset(self.dir), load_terminals(self.dir)
                    self._stamp = stamp
                except (BadKeyError, ValueError):
                    pass  # a half-written key set: keep serving with the one loaded


@dataclass
class State:
    store: EcardStore
    files: KeyFiles
    status_uri: str
    activation: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=10, burst=5))
    terminal_limit: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=120, burst=30))
    holder_codes: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=2, burst=5))
    login_create: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=30, burst=10))
    login_device: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=20, burst=5))
    login_poll: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=120, burst=20))
    logins: dict[str, _Login] = field(default_factory=dict)
    seen_requests: ReplayCache = field(default_factory=ReplayCache)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status_cache: tuple[Any, str, float] = (None, "", 0.0)

    @property
    def keyset(self) -> KeySet:
        self.files.refresh()
        return self.files.keyset

    @property
    def terminals(self) -> dict[str, str]:
        self.files.refresh()
        return self.files.terminals

    def handle(self, holder_id: Any) -> bytes:
        return tokens.pseudonym(self.keyset.pseudonym_secret, f"holder:{holder_id}")


def _limit(limiter: RateLimiter, client: str) -> None:
    wait = limiter.check(client)
    if wait:
        raise HTTPException(429, "too many requests; slow down", headers={"Retry-After": retry_after(wait)})


def _mask_card(card_no: str) -> str:
    """Card numbers are shown like receipts show them: the first and last two characters."""
    return card_no[:2] + "*" * max(0, len(card_no) - 4) + card_no[-2:] if len(card_no) > 4 else "*" * len(card_no)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(db_url: str | None, keys_dir: str, status_uri: str | None = None,
               limits: dict[str, tuple[float, int]] | None = None) -> FastAPI:
    """The app over holder_db at `db_url` signing with the key set in `keys_dir`. `limits` overrides rate limits:
    {"activation"|"terminal_limit"|"holder_codes"|"login_create"|"login_device"|"login_poll": (per_minute, burst)}."""
    try:
        files = KeyFiles(keys_dir)
    except ValueError as exc:  # BadKeyError, TerminalError
        raise SystemExit(str(exc)) from None
    state = State(EcardStore(db_url), files, status_uri or "/status-list")
    for name, (per_minute, burst) in (limits or {}).items():
        setattr(state, name, RateLimiter(per_minute, burst))
    app = FastAPI(
        title="sscard e-card service",
        version="1",
        description=__doc__,
        responses={400: {"description": "Bad request"}, 422: {"description": "Invalid input"}},
    )
    app.state.ecard = state

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
        return JSONResponse({"detail": "invalid request: " + "; ".join(msgs)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": f"the holder database is unavailable ({exc.__class__.__name__}); retry later"},
                            status_code=503, headers={"Retry-After": "5"})

    def terminal_auth(x_terminal_key: Annotated[str | None, Header(max_length=200)] = None) -> str:
        terminal_id = check_api_key(state.terminals, x_terminal_key)
        if terminal_id is None:
            raise HTTPException(401, "a terminal API key (X-Terminal-Key) is required")
        _limit(state.terminal_limit, terminal_id)
        return terminal_id

    async def device_auth(request: Request,
                          authorization: Annotated[str | None, Header(max_length=2000)] = None) -> _Caller:
        if not authorization or not authorization.startswith("Device "):
            raise HTTPException(401, "a device-signed request is required (Authorization: Device <JWS>)")
        proof = authorization[len("Device "):].strip()
        try:
            kid = jws.header(proof).get("kid")
        except jws.JwsError:
            raise HTTPException(401, "device proof is not a JWS") from None
        binding = await run_in_threadpool(state.store.binding, kid) if isinstance(kid, str) and len(kid) <= 64 \
            else None
        if binding is None or not binding.active:
            raise HTTPException(401, "device is not activated (or was deactivated)")
        try:
            device_key = verify_key_from_jwk(binding.jwk)
            claims = jws.verify(proof, device_key, REQUEST_TYP)
        except (jws.JwsError, BadKeyError):
            raise HTTPException(401, "device proof does not verify") from None
        now = time.time()
        iat, jti = claims.get("iat"), claims.get("jti")
        if not isinstance(iat, int) or abs(now - iat) > REQUEST_MAX_AGE:
            raise HTTPException(401, "device proof is stale or dated in the future; check the device clock")
        if claims.get("htm") != request.method or claims.get("htu") != request.url.path:
            raise HTTPException(401, "device proof was made for another request")
        if claims.get("bh") != body_hash(await request.body()):
            raise HTTPException(401, "device proof does not cover this request body")
        if not isinstance(jti, str) or len(jti) > 64 or state.seen_requests.seen(
                f"{kid}:{jti}".encode(), int(iat) + REQUEST_MAX_AGE, now):
            raise HTTPException(401, "device proof was already used")
        return _Caller(kid, binding.holder_id, binding.status_idx, device_key, binding.jwk)

    @app.get("/.well-known/jwks.json", tags=["keys"], summary="Issuer public keys (current and retired)")
    def jwks_endpoint() -> dict[str, Any]:
        return state.keyset.jwks()

    @app.get("/status-list", tags=["revocation"], response_class=PlainTextResponse,
             summary="Signed, compressed status list (IETF Token Status List JWT)")
    def status_list_endpoint() -> PlainTextResponse:
        version = state.store.revocation_version()
        cached_version, jwt_text, made = state.status_cache
        if cached_version != version or time.time() - made > STATUS_LIST_TTL / 2:
            revoked, size = state.store.revoked_indices()
            # headroom past the last index handed out, so a gate's cached list still covers bindings made since,
            # and a list large enough that one card's bit hides among many (herd privacy)
            jwt_text = status_list.sign(revoked, size + STATUS_HEADROOM, state.keyset.current, state.status_uri,
                                        ttl=STATUS_LIST_TTL)
            state.status_cache = (version, jwt_text, time.time())
        return PlainTextResponse(jwt_text, media_type="application/statuslist+jwt",
                                 headers={"Cache-Control": "max-age=60"})

    @app.post("/v1/activation-codes", tags=["activation"], response_model=ActivationCode, status_code=201,
              summary="Terminal: one-time activation code for the holder whose card was read and PIN checked")
    def activation_code(req: ActivationCodeRequest, terminal_id: str = Depends(terminal_auth)) -> ActivationCode:
        if not (req.ssn or req.card_no):
            raise HTTPException(400, "give the ssn or the card_no read from the card")
        holder = state.store.holder_for_activation(ssn=req.ssn, card_no=req.card_no)
        _limit(state.holder_codes, f"holder:{holder.holder_id}")
        code = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(10))
        expires = time.time() + ACTIVATION_TTL
        state.store.add_activation_code(holder.holder_id, code,
                                        dt.datetime.fromtimestamp(expires, dt.timezone.utc))
        state.store.audit(f"terminal:{terminal_id}", "ecard.activation_code", holder.holder_id)
        return ActivationCode(code=code, expires_at=int(expires))

    @app.post("/v1/activate", tags=["activation"], response_model=Activated, status_code=201,
              summary="Device: bind this device's public key with a one-time activation code")
    def activate(req: ActivateRequest, request: Request) -> Activated:
        _limit(state.activation, _client(request))
        try:
            device = verify_key_from_jwk(req.device_jwk.model_dump(exclude_none=True))
        except BadKeyError as exc:
            raise HTTPException(400, f"device_jwk: {exc}") from None
        holder_id = state.store.redeem_activation_code(req.code)
        if holder_id is None:
            raise HTTPException(400, "activation code is unknown, used or expired")
        jwk = device.jwk()
        binding = state.store.bind_device(holder_id, jwk["kid"], jwk, device.alg, req.device_name)
        state.store.audit(f"device:{jwk['kid']}", "ecard.activate", holder_id)
        return Activated(device_id=jwk["kid"], holder=state.handle(holder_id).hex(), status_idx=binding.status_idx)

    @app.get("/v1/me", tags=["holder"], response_model=Me, summary="Device: the holder's own record, masked")
    def me(caller: _Caller = Depends(device_auth)) -> Me:
        h = state.store.holder(caller.holder_id)
        state.store.audit(f"device:{caller.device_id}", "ecard.me", caller.holder_id, sensitive=True)
        return Me(name=h.name, id_number_masked=mask(h.ssn), card_no_masked=_mask_card(h.card_no),
                  card_status=h.card_status, insurance=h.insurance)

    def _usable(caller: _Caller) -> Any:
        h = state.store.holder(caller.holder_id)
        if h.deceased:
            raise HTTPException(403, "a death is on record for this holder")
        if h.card_status != "active":
            raise HTTPException(403, f"the card is {h.card_status}; no e-card codes are issued for it")
        return h

    def _card_active(caller: _Caller) -> None:
        status = state.store.card_status(caller.holder_id)
        if status != "active":
            raise HTTPException(403, f"the card is {status}; no e-card codes are issued for it")

    @app.post("/v1/token", tags=["qr"], response_model=QrToken,
              summary="Device: a fresh server-signed dynamic QR token (about a minute)")
    def token(req: TokenRequest, caller: _Caller = Depends(device_auth)) -> QrToken:
        _card_active(caller)
        now = int(time.time())
        tok = tokens.issue_online(state.keyset.current, state.handle(caller.holder_id), caller.status_idx, now,
                                  req.ttl)
        return QrToken(token=tok, expires_at=now + req.ttl, chars=len(tok))

    @app.post("/v1/credentials/offline", tags=["qr"], response_model=OfflineCredential,
              summary="Device: issuer credential binding the device key, for QR codes made offline")
    def offline_credential(req: Empty, caller: _Caller = Depends(device_auth)) -> OfflineCredential:
        _card_active(caller)
        now = int(time.time())
        cred = tokens.issue_credential(state.keyset.current, state.handle(caller.holder_id), caller.status_idx,
                                       caller.device_key, now, OFFLINE_CREDENTIAL_LIFETIME)
        return OfflineCredential(credential=b64u(cred), expires_at=now + OFFLINE_CREDENTIAL_LIFETIME)

    @app.post("/v1/credentials/sd-jwt", tags=["credentials"], response_model=SdJwtCredential,
              summary="Device: SD-JWT credential with selectively disclosable holder claims")
    def sd_jwt_credential(req: Empty, caller: _Caller = Depends(device_auth)) -> SdJwtCredential:
        h = _usable(caller)
        now = int(time.time())
        claims = {"name": h.name, "id_number": h.ssn, "birth_date": h.birth_date, "gender": h.gender,
                  "insurance": h.insurance, "card_status": h.card_status}
        cred = sdjwt.issue(claims, state.keyset.current, caller.jwk, caller.status_idx, state.status_uri, now,
                           SD_JWT_LIFETIME)
        state.store.audit(f"device:{caller.device_id}", "ecard.sd_jwt", caller.holder_id, sensitive=True)
        return SdJwtCredential(sd_jwt=cred, expires_at=now + SD_JWT_LIFETIME)

    def _loss(holder_id: Any, actor: str) -> LossReport:
        result = state.store.report_loss(holder_id, actor)
        state.status_cache = (None, "", 0.0)
        return LossReport(card_no_masked=_mask_card(result.card_no), card_status=result.card_status,
                          revoked_indices=result.revoked)

    @app.post("/v1/cards/loss", tags=["revocation"], response_model=LossReport,
              summary="Terminal: report a holder's card lost; its e-card codes stop verifying at once")
    def card_loss_terminal(req: LossRequest, terminal_id: str = Depends(terminal_auth)) -> LossReport:
        if not (req.ssn or req.card_no):
            raise HTTPException(400, "give the ssn or the card_no")
        holder = state.store.find_holder(ssn=req.ssn, card_no=req.card_no)
        return _loss(holder.holder_id, f"terminal:{terminal_id}")

    @app.post("/v1/me/loss", tags=["revocation"], response_model=LossReport,
              summary="Device: the holder reports their own card lost")
    def card_loss_device(req: Empty, caller: _Caller = Depends(device_auth)) -> LossReport:
        return _loss(caller.holder_id, f"device:{caller.device_id}")

    @app.post("/v1/me/deactivate", tags=["revocation"], response_model=Deactivated,
              summary="Device: deactivate this e-card (phone lost or replaced); the card stays active")
    def deactivate(req: Empty, caller: _Caller = Depends(device_auth)) -> Deactivated:
        idx = state.store.revoke_binding(caller.device_id, "e-card deactivated by holder", f"device:{caller.device_id}")
        state.status_cache = (None, "", 0.0)
        return Deactivated(device_id=caller.device_id, revoked_index=idx if idx is not None else caller.status_idx)

    @app.post("/v1/login-sessions", tags=["login"], response_model=LoginSession, status_code=201,
              summary="Relying party: open a scan-to-login session and get the QR text to show")
    def login_create(req: LoginCreate, request: Request) -> LoginSession:
        _limit(state.login_create, _client(request))
        sid, poll = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        expires = time.time() + LOGIN_TTL
        with state.lock:
            now = time.time()
            for k in [k for k, s in state.logins.items() if s.expires_at + LOGIN_TTL <= now]:
                del state.logins[k]
            if len(state.logins) >= 100_000:
                raise HTTPException(429, "too many open login sessions", headers={"Retry-After": "30"})
            state.logins[sid] = _Login(req.relying_party, list(dict.fromkeys(req.scope)),
                                       hashlib.sha256(poll.encode()).hexdigest(), expires)
        return LoginSession(session_id=sid, qr=LOGIN_PREFIX + sid, poll_secret=poll, expires_at=int(expires))

    def _session(session_id: str) -> _Login:
        s = state.logins.get(session_id) if len(session_id) <= 64 else None
        if s is None:
            raise HTTPException(404, "no such login session")
        return s

    @app.post("/v1/login-sessions/{session_id}/approve", tags=["login"], response_model=LoginStatus,
              summary="Device: approve a login session shown as a QR, consenting to the listed claims")
    def login_approve(session_id: Annotated[str, Field(max_length=64)], req: LoginApprove,
                      caller: _Caller = Depends(device_auth)) -> LoginStatus:
        _limit(state.login_device, caller.device_id)
        s = _session(session_id)
        if s.expires_at <= time.time():
            raise HTTPException(410, "login session has expired")
        h = _usable(caller)
        consent = [c for c in req.consent if c in s.scope]
        subject = hmac.new(state.keyset.pseudonym_secret, f"rp:{s.relying_party}:{caller.holder_id}".encode(),
                           hashlib.sha256).hexdigest()[:32]
        result = {"subject": subject, "name": h.name if "name" in consent else None,
                  "masked_id": mask(h.ssn) if "masked_id" in consent else None}
        with state.lock:
            if s.result is not None:
                raise HTTPException(409, "login session was already approved")
            s.result = result
        state.store.audit(f"device:{caller.device_id}", "ecard.login", caller.holder_id, s.relying_party)
        return LoginStatus(status="approved", **s.result)

    @app.get("/v1/login-sessions/{session_id}", tags=["login"], response_model=LoginStatus,
             summary="Relying party: poll a login session (X-Poll-Secret from its creation)")
    def login_poll(session_id: Annotated[str, Field(max_length=64)], request: Request,
                   x_poll_secret: Annotated[str | None, Header(max_length=100)] = None) -> LoginStatus:
        _limit(state.login_poll, f"{_client(request)}:{session_id[:64]}")
        s = _session(session_id)
        if not x_poll_secret or not hmac.compare_digest(hashlib.sha256(x_poll_secret.encode()).hexdigest(),
                                                        s.poll_hash):
            raise HTTPException(403, "wrong or missing X-Poll-Secret")
        if s.result is not None:
            return LoginStatus(status="approved", **s.result)
        if s.expires_at <= time.time():
            return LoginStatus(status="expired")
        return LoginStatus(status="pending")

    from ecard_server.pages.router import router as pages_router  # the pages and their assets: docs/pages.md
    app.include_router(pages_router)
    return app
