"""Compact JWS through pyjwt, with SM2 (SM3withSM2, JOSE alg "SM2") registered beside pyjwt's EdDSA and ES256.

Ed25519 signatures carry the fully specified alg name of RFC 9864 ("Ed25519"); "EdDSA", the older polymorphic
name, is still accepted on verification for tokens made before.

The verification algorithm always comes from the key (the JWKS entry), never from the token header, so `alg: none`
and HS256-signed-with-the-public-key tokens fail here however they are dressed.
"""
from __future__ import annotations

import json
from typing import Any

import jwt
from jwt.algorithms import Algorithm

from ecard.errors import EcardError
from ecard.keys import JOSE_ACCEPTS, JOSE_ALG, Jwks, SigningKey, VerifyKey, b64u_decode, verify_key_from_jwk


class JwsError(EcardError):
    """A JWS that does not verify or cannot be read; `reason` is a verifier reason code."""


class SM2Algorithm(Algorithm):
    """SM3withSM2 over tongsuopy keys wrapped in sscard's SigningKey/VerifyKey (64-byte r||s signatures)."""

    def prepare_key(self, key: Any) -> Any:
        if isinstance(key, (SigningKey, VerifyKey)) and key.alg == "SM2":
            return key
        raise jwt.InvalidKeyError("SM2 needs an sscard SM2 key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        if not isinstance(key, SigningKey):
            raise jwt.InvalidKeyError("SM2 signing needs a private key")
        return key.sign(msg)

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        pub = key.public() if isinstance(key, SigningKey) else key
        return pub.verify(sig, msg)

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        jwk = key_obj.public().jwk() if isinstance(key_obj, SigningKey) else key_obj.jwk()
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: Any) -> Any:
        return verify_key_from_jwk(json.loads(jwk) if isinstance(jwk, str) else jwk)


_jws = jwt.PyJWS()
_jws.register_algorithm("SM2", SM2Algorithm())
_jws.register_algorithm("Ed25519", jwt.algorithms.OKPAlgorithm())
_KNOWN = tuple(name for names in JOSE_ACCEPTS.values() for name in names)


def _lib_key(key: SigningKey | VerifyKey) -> Any:
    return key if key.alg == "SM2" else key.key


def sign(payload: dict[str, Any], key: SigningKey, typ: str, extra_headers: dict[str, Any] | None = None) -> str:
    headers = {"typ": typ, "kid": key.kid, **(extra_headers or {})}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _jws.encode(body, _lib_key(key), algorithm=JOSE_ALG[key.alg], headers=headers)


def header(token: str) -> dict[str, Any]:
    try:
        return _jws.get_unverified_header(token)
    except RecursionError:
        raise JwsError("malformed", "JWS header is nested too deeply") from None
    except jwt.PyJWTError as exc:
        raise JwsError("malformed", f"JWS header unreadable: {exc}") from None


def _checked_alg(hdr: dict[str, Any], key: VerifyKey, typ: str | None) -> str:
    """The header's alg, once it is one the key accepts and the typ is the one expected."""
    alg = hdr.get("alg")
    if alg not in JOSE_ACCEPTS[key.alg]:
        raise JwsError("unsupported_alg" if alg not in _KNOWN else "alg_mismatch",
                       f"JWS alg {str(alg)[:20]!r} is not the key's {JOSE_ALG[key.alg]}")
    if typ is not None and hdr.get("typ") != typ:
        raise JwsError("malformed", f"JWS typ must be {typ}")
    return alg


def verify(token: str, key: VerifyKey, typ: str | None = None) -> dict[str, Any]:
    """Verify a compact JWS with one known key and return its JSON payload (no time checks here)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise JwsError("malformed", "not a compact JWS")
    hdr = header(token)
    alg = _checked_alg(hdr, key, typ)
    try:
        raw = _jws.decode(token, _lib_key(key), algorithms=[alg])
    except jwt.InvalidSignatureError:
        raise JwsError("bad_signature", "JWS signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise JwsError("malformed", f"JWS unreadable: {exc}") from None
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise JwsError("malformed", "JWS payload is not JSON") from None
    if not isinstance(payload, dict):
        raise JwsError("malformed", "JWS payload is not an object")
    return payload


def verify_with_jwks(token: str, jwks: Jwks, typ: str | None = None) -> tuple[dict[str, Any], VerifyKey]:
    hdr = header(token)
    kid = hdr.get("kid")
    key = jwks.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise JwsError("unknown_key", "JWS kid is not in the JWKS")
    return verify(token, key, typ), key



# ---- the server's strict reader for request proofs ----------------------------------------------------------------

MAX_COMPACT = 4096


def _split(token: object) -> tuple[str, str, str, dict[str, Any]]:
    """Three unpadded, canonical base64url segments, the first a JSON object without `crit` or `b64` (no
    extension a request proof needs); JwsError otherwise."""
    if not isinstance(token, str) or len(token) > MAX_COMPACT or token.count(".") != 2:
        raise JwsError("malformed", "not a compact JWS")
    head, body, sig = token.split(".")
    try:
        hdr = json.loads(b64u_decode(head).decode("utf-8"))
    except (ValueError, RecursionError):
        raise JwsError("malformed", "JWS header unreadable") from None
    if not isinstance(hdr, dict):
        raise JwsError("malformed", "JWS header is not an object")
    if "crit" in hdr or "b64" in hdr:
        raise JwsError("malformed", "JWS header asks for an extension")
    return head, body, sig, hdr


def compact_header(token: str) -> dict[str, Any]:
    """The header of a compact JWS read strictly (`_split`): how the server reads the kid of a request proof."""
    return _split(token)[3]


def verify_compact(token: str, key: VerifyKey, typ: str | None = None) -> dict[str, Any]:
    """`verify` with the strict reader, for what the server checks on every request (device and relying-party
    proofs): pyjwt's general reader costs more than the signature check itself. The signature is checked by the
    key (VerifyKey.verify, the `cryptography` and tongsuopy libraries), the algorithm taken from the key."""
    head, body, sig, hdr = _split(token)
    alg = _checked_alg(hdr, key, typ)
    try:
        signature, raw = b64u_decode(sig), b64u_decode(body)
    except ValueError:
        raise JwsError("malformed", "JWS segment is not base64url") from None
    if not key.verify(signature, f"{head}.{body}".encode("ascii")):
        raise JwsError("bad_signature", "JWS signature does not verify")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise JwsError("malformed", "JWS payload is not JSON") from None
    if not isinstance(payload, dict):
        raise JwsError("malformed", "JWS payload is not an object")
    return payload
