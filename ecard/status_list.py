"""Revocation as an IETF Token Status List: one bit per card (1 = revoked), index i at bit i % 8 of byte i // 8
(least significant bit first), zlib-compressed, base64url, inside a JWT of typ "statuslist+jwt" that the issuer
signs. Verifiers fetch it once, check its signature once (`load`) and then look bits up with no network.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

from ecard import jws
from ecard.errors import EcardError
from ecard.keys import Jwks, SigningKey, b64u, b64u_decode

TYP = "statuslist+jwt"
DEFAULT_TTL = 86400
MAX_COMPRESSED = 1 << 20
MAX_BITS = 1 << 26  # a list larger than this is refused rather than inflated


class StatusListError(EcardError):
    """A refusal of this part of the protocol (ecard.errors.EcardError)."""


def encode_bits(revoked: set[int] | list[int], size: int) -> str:
    size = max(size, max(revoked, default=-1) + 1)
    buf = bytearray((size + 7) // 8)
    for idx in revoked:
        buf[idx // 8] |= 1 << (idx % 8)
    return b64u(zlib.compress(bytes(buf), 9))


def decode_bits(lst: str) -> bytes:
    raw = b64u_decode(lst)
    if len(raw) > MAX_COMPRESSED:
        raise ValueError("status list too large")
    d = zlib.decompressobj()
    out = d.decompress(raw, MAX_BITS // 8)
    if d.unconsumed_tail or not d.eof:
        raise ValueError("status list is truncated or too large")
    return out


@dataclass(frozen=True)
class StatusList:
    """A verified status list held by a verifier."""

    bits: bytes
    uri: str
    iat: int
    exp: int

    def size(self) -> int:
        return len(self.bits) * 8

    def status(self, idx: int) -> int | None:
        """1 revoked, 0 valid, None when the index is outside the list."""
        if not 0 <= idx < len(self.bits) * 8:
            return None
        return (self.bits[idx // 8] >> (idx % 8)) & 1

    def check(self, idx: object, now: float, uri: str | None = None) -> int:
        """The bit for `idx` (1 revoked), once this list may answer for it: not past its exp, the list the token
        names (its `sub` equals the token's status `uri`, when the token names one) and `idx` inside it; a
        StatusListError (status_list_expired, status_unknown) otherwise."""
        if self.exp <= now:
            raise StatusListError("status_list_expired", "cached status list has expired; refresh it")
        if uri is not None and uri != self.uri:
            raise StatusListError("status_unknown", "the status list is not the one the token names (sub != uri)")
        bit = self.status(idx) if isinstance(idx, int) and not isinstance(idx, bool) else None
        if bit is None:
            raise StatusListError("status_unknown", "status index is outside the status list")
        return bit


def sign(revoked: set[int] | list[int], size: int, key: SigningKey, uri: str, now: int | None = None,
         ttl: int = DEFAULT_TTL) -> str:
    now = int(time.time() if now is None else now)
    payload = {
        "sub": uri, "iat": now, "exp": now + ttl, "ttl": ttl,
        "status_list": {"bits": 1, "lst": encode_bits(revoked, size)},
    }
    return jws.sign(payload, key, TYP)


def load(token: str, jwks: Jwks, now: float | None = None) -> StatusList:
    """Verify a status list JWT against the JWKS (signature, typ, expiry) and decode its bits."""
    now = time.time() if now is None else now
    try:
        payload, _ = jws.verify_with_jwks(token.strip() if isinstance(token, str) else token, jwks, TYP)
    except jws.JwsError as exc:
        raise StatusListError(exc.reason, f"status list: {exc.detail}") from None
    sl: Any = payload.get("status_list")
    exp, iat, sub = payload.get("exp"), payload.get("iat"), payload.get("sub")
    if not (isinstance(sl, dict) and sl.get("bits") == 1 and isinstance(sl.get("lst"), str)
            and isinstance(exp, int) and isinstance(iat, int) and isinstance(sub, str)):
        raise StatusListError("malformed", "status list JWT lacks status_list/bits=1/lst, sub, iat or exp")
    if exp <= now:
        raise StatusListError("status_list_expired", "status list has expired; fetch a fresh one")
    try:
        bits = decode_bits(sl["lst"])
    except (ValueError, zlib.error):
        raise StatusListError("malformed", "status list bits are not base64url zlib data") from None
    return StatusList(bits, sub, iat, exp)
