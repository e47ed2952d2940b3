"""The e-card QR token ("SSC1"): sscard's own compact format, because no public e-card QR format exists and a JWS
with a bound device key does not fit the 500-character budget of a quickly scannable code.

    token = "SSC1:" + base64url(body)            (no padding)

Online body (type 0x11, 100 bytes -> 139 characters), signed by the issuer:
    0  type 0x11 | 1 alg id | 2..7 kid (6 bytes) | 8..11 iat u32 | 12..13 ttl u16 | 14..21 jti |
    22..31 sub (pseudonymous holder handle) | 32..35 status index u32 | 36..99 issuer signature

Offline body (type 0x12, 205 bytes with an Ed25519 device key -> 279 characters): an issuer-signed credential that
binds the device key, then a presentation the device signs with no network:
    0 type 0x12 | 1 alg id | 2..7 kid | 8..11 credential iat | 12..15 credential exp | 16..25 sub |
    26..29 status index | 30 device alg id | 31.. device public key (32 or 33 bytes) | issuer signature (64) |
    presentation time u32 | ttl u16 | nonce (8) | device signature (64)

Each signature covers b"SSC1" followed by every body byte before it (the device's covers the whole credential,
the issuer's signature included). All integers are big-endian. Algorithm ids: 1 EdDSA, 2 ES256, 3 SM2. The
verifier takes the algorithm from the JWKS entry for kid and only checks that the id agrees.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass

from ecard.errors import EcardError
from ecard.keys import (
    ALG_BY_ID,
    ALG_IDS,
    KID_BYTES,
    SIG_BYTES,
    SigningKey,
    VerifyKey,
    b64u,
    b64u_decode,
    compact_key_length,
)

PREFIX = "SSC1:"
DOMAIN = b"SSC1"
MAX_CHARS = 500
TYPE_ONLINE = 0x11
TYPE_OFFLINE = 0x12
SUB_BYTES = 10
JTI_BYTES = 8
DEFAULT_TTL = 60
MAX_TTL = 300  # a verifier refuses codes that claim to live longer than this
HEAD = struct.Struct(">BB6s")
ONLINE = struct.Struct(">BB6sIH8s10sI")
CRED = struct.Struct(">BB6sII10sIB")
PRES = struct.Struct(">IH8s")


class TokenError(EcardError):
    """A token that cannot be read; `reason` is a verifier reason code (malformed, oversized, unsupported_alg)."""


@dataclass(frozen=True)
class ParsedToken:
    kind: str  # "online" | "offline"
    alg: str
    kid: str
    iat: int  # when the code was made (issuer for online, device for offline)
    exp: int
    jti: bytes  # replay key: online jti or offline nonce
    sub: bytes
    status_idx: int
    issuer_signed: bytes
    issuer_sig: bytes
    device_alg: str = ""
    device_key: bytes = b""
    cred_iat: int = 0
    cred_exp: int = 0
    device_signed: bytes = b""
    device_sig: bytes = b""


ISSUE_GRANULE = 3600


def coarse_time(now: float, lifetime: int) -> int:
    """A credential's issue time as verifiers see it: rounded down to the hour (a quarter of `lifetime` when that
    is shorter), so the members of one batch, and everyone's credentials of that hour, carry the same iat and exp
    and a timestamp links nothing."""
    granule = max(1, min(ISSUE_GRANULE, lifetime // 4))
    return int(now) // granule * granule


def pseudonym(secret: bytes, holder_ref: str) -> bytes:
    """The holder handle in a QR: HMAC-SHA256 under the deployment's secret, so it names nobody to a verifier."""
    return hmac.new(secret, holder_ref.encode("utf-8"), hashlib.sha256).digest()[:SUB_BYTES]


def _kid_bytes(kid: str) -> bytes:
    raw = b64u_decode(kid)
    if len(raw) != KID_BYTES:
        raise ValueError(f"kid must encode {KID_BYTES} bytes")
    return raw


def _check_common(sub: bytes, status_idx: int, ttl: int) -> None:
    if len(sub) != SUB_BYTES:
        raise ValueError(f"sub must be {SUB_BYTES} bytes")
    if not 0 <= status_idx < 2**32:
        raise ValueError("status index out of range")
    if not 1 <= ttl <= MAX_TTL:
        raise ValueError(f"ttl must be 1..{MAX_TTL} seconds")


def issue_online(
    key: SigningKey, sub: bytes, status_idx: int, now: int, ttl: int = DEFAULT_TTL, jti: bytes | None = None
) -> str:
    """A fresh server-signed QR token."""
    _check_common(sub, status_idx, ttl)
    jti = secrets.token_bytes(JTI_BYTES) if jti is None else jti
    body = ONLINE.pack(TYPE_ONLINE, ALG_IDS[key.alg], _kid_bytes(key.kid), int(now), ttl, jti, sub, status_idx)
    return PREFIX + b64u(body + key.sign(DOMAIN + body))


def issue_credential(
    key: SigningKey, sub: bytes, status_idx: int, device: VerifyKey, now: int, lifetime: int
) -> bytes:
    """The issuer-signed half of an offline code: binds the device's public key to the holder handle."""
    _check_common(sub, status_idx, 1)
    head = CRED.pack(
        TYPE_OFFLINE, ALG_IDS[key.alg], _kid_bytes(key.kid), int(now), int(now) + lifetime, sub, status_idx,
        ALG_IDS[device.alg],
    )
    body = head + device.compact()
    return body + key.sign(DOMAIN + body)


def present(
    credential: bytes, device_key: SigningKey, now: int, ttl: int = DEFAULT_TTL, nonce: bytes | None = None
) -> str:
    """What the phone does offline: sign a short-lived presentation under its credential."""
    if not 1 <= ttl <= MAX_TTL:
        raise ValueError(f"ttl must be 1..{MAX_TTL} seconds")
    nonce = secrets.token_bytes(JTI_BYTES) if nonce is None else nonce
    body = credential + PRES.pack(int(now), ttl, nonce)
    return PREFIX + b64u(body + device_key.sign(DOMAIN + body))


def _alg(alg_id: int) -> str:
    alg = ALG_BY_ID.get(alg_id)
    if alg is None:
        raise TokenError("unsupported_alg", f"algorithm id {alg_id} is not supported")
    return alg


def parse(token: object) -> ParsedToken:
    """Split a token into its fields (no signature or time checks); TokenError names what is wrong."""
    if not isinstance(token, str):
        raise TokenError("malformed", "token must be text")
    if len(token) > MAX_CHARS:
        raise TokenError("oversized", f"token is {len(token)} characters, at most {MAX_CHARS} allowed")
    if not token.startswith(PREFIX):
        raise TokenError("malformed", f"token does not start with {PREFIX}")
    try:
        body = b64u_decode(token[len(PREFIX):])
    except ValueError:
        raise TokenError("malformed", "token body is not base64url") from None
    if len(body) < HEAD.size:
        raise TokenError("malformed", "token is too short")
    kind, alg_id, kid = HEAD.unpack_from(body)
    if kind == TYPE_ONLINE:
        alg = _alg(alg_id)
        if len(body) != ONLINE.size + SIG_BYTES:
            raise TokenError("malformed", f"online token must be {ONLINE.size + SIG_BYTES} bytes")
        _, _, _, iat, ttl, jti, sub, idx = ONLINE.unpack_from(body)
        if not 1 <= ttl <= MAX_TTL:
            raise TokenError("malformed", f"ttl {ttl} outside 1..{MAX_TTL}")
        return ParsedToken(
            "online", alg, b64u(kid), iat, iat + ttl, jti, sub, idx, body[: ONLINE.size], body[ONLINE.size :]
        )
    if kind == TYPE_OFFLINE:
        alg = _alg(alg_id)
        if len(body) < CRED.size:
            raise TokenError("malformed", "offline token is too short")
        _, _, _, c_iat, c_exp, sub, idx, dev_id = CRED.unpack_from(body)
        dev_alg = _alg(dev_id)
        n = compact_key_length(dev_alg)
        isig_at = CRED.size + n
        pres_at = isig_at + SIG_BYTES
        dsig_at = pres_at + PRES.size
        if len(body) != dsig_at + SIG_BYTES:
            raise TokenError("malformed", f"offline token must be {dsig_at + SIG_BYTES} bytes")
        p_iat, ttl, nonce = PRES.unpack_from(body, pres_at)
        if not 1 <= ttl <= MAX_TTL:
            raise TokenError("malformed", f"ttl {ttl} outside 1..{MAX_TTL}")
        return ParsedToken(
            "offline", alg, b64u(kid), p_iat, p_iat + ttl, nonce, sub, idx,
            body[:isig_at], body[isig_at:pres_at], dev_alg, body[CRED.size:isig_at], c_iat, c_exp,
            body[:dsig_at], body[dsig_at:],
        )
    raise TokenError("malformed", f"unknown token type 0x{kind:02x}")
