"""Offline verification of e-card QR codes: a pure function over cached keys and status list, plus a replay cache.

A gate keeps a `Jwks` and a `StatusList` (fetched whenever it has a network) and one `ReplayCache`, and calls
`verify(token, jwks, status_list, now, replay_cache)` per scan. It never raises: every outcome is a `Result` whose
`reason` is one code from REASONS.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ecard.errors import LEEWAY
from ecard.keys import BadKeyError, Jwks, verify_key_from_compact
from ecard.replay import Replay, ReplayCache, code_key
from ecard.status_list import StatusList, StatusListError
from ecard.tokens import DOMAIN, ParsedToken, TokenError, parse

__all__ = ["LEEWAY", "REASONS", "Replay", "ReplayCache", "Result", "verify"]
REASONS = (
    "ok", "malformed", "oversized", "unsupported_alg", "unknown_key", "alg_mismatch", "bad_signature",
    "not_yet_valid", "expired", "revoked", "status_unknown", "status_list_expired", "replayed",
)


@dataclass(frozen=True)
class Result:
    valid: bool
    reason: str
    detail: str
    kind: str = ""
    kid: str = ""
    alg: str = ""
    sub: str = ""  # pseudonymous holder handle, hex
    status_idx: int = -1
    iat: int = 0
    exp: int = 0
    status_checked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _holder(tok: ParsedToken) -> bytes:
    """Who a code's replay entry belongs to: the device key that signed an offline code, else the code's handle.
    With unlinkable codes both are per credential (a batch member's key, an online code's own handle), so the
    share is bounded per credential, and how many credentials a device holds the server bounds (docs/ecard.md)."""
    if tok.kind == "offline":
        return b"offline:" + tok.device_alg.encode("ascii") + b":" + tok.device_key
    return b"online:" + tok.sub


def _fail(reason: str, detail: str, **fields: Any) -> Result:
    return Result(False, reason, detail, **fields)


def verify(
    token: object,
    jwks: Jwks,
    status_list: StatusList | None,
    now: float,
    replay_cache: Replay | None,
    leeway: int = LEEWAY,
) -> Result:
    """Decide whether a scanned code is valid: format, issuer signature, device signature (offline codes), time,
    revocation and replay, in that order. A code is recorded in the replay cache only once it passed all else.
    The token may be the bytes a scanner sent: anything but ASCII is malformed."""
    if isinstance(token, (bytes, bytearray)):
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError:
            return _fail("malformed", "token is not ASCII text")
    try:
        tok = parse(token)
    except TokenError as exc:
        return _fail(exc.reason, exc.detail)
    fields = {"kind": tok.kind, "kid": tok.kid, "alg": tok.alg, "sub": tok.sub.hex(), "status_idx": tok.status_idx,
              "iat": tok.iat, "exp": tok.exp}
    key = jwks.get(tok.kid)
    if key is None:
        return _fail("unknown_key", f"issuer key {tok.kid} is not in the JWKS", **fields)
    if key.alg != tok.alg:
        return _fail("alg_mismatch", f"code says {tok.alg} but key {tok.kid} is {key.alg}", **fields)
    if not key.verify(tok.issuer_sig, DOMAIN + tok.issuer_signed):
        return _fail("bad_signature", "issuer signature does not verify", **fields)
    if tok.kind == "offline":
        try:
            device = verify_key_from_compact(tok.device_alg, tok.device_key)
        except BadKeyError:
            return _fail("malformed", "bound device key is not a valid public key", **fields)
        if not device.verify(tok.device_sig, DOMAIN + tok.device_signed):
            return _fail("bad_signature", "device signature does not verify", **fields)
        if tok.cred_iat > now + leeway:
            return _fail("not_yet_valid", "credential is not valid yet", **fields)
        if tok.cred_exp <= now:
            return _fail("expired", "credential has expired; the phone must go online to renew it", **fields)
    if tok.iat > now + leeway:
        return _fail("not_yet_valid", f"code is dated {tok.iat - int(now)} s in the future", **fields)
    if tok.exp <= now - leeway:
        return _fail("expired", f"code expired {int(now) - tok.exp} s ago", **fields)
    checked = False
    if status_list is not None:
        try:
            bit = status_list.check(tok.status_idx, now)
        except StatusListError as exc:
            return _fail(exc.reason, exc.detail, **fields)
        if bit:
            return _fail("revoked", "card is revoked (reported lost or deactivated)", **fields)
        checked = True
    if replay_cache is not None and replay_cache.seen(code_key(_holder(tok), tok.jti), tok.exp + leeway, now):
        return _fail("replayed", "code was already used", **fields)
    return Result(True, "ok", f"valid {tok.kind} code", status_checked=checked, **fields)
