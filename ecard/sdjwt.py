"""SD-JWT e-card credentials (RFC 9901): the issuer signs digests of salted disclosures, the holder reveals only the
disclosures a verifier needs and proves possession of the bound device key with a Key Binding JWT.

    issued:       <issuer JWT>~<disclosure>~...~<disclosure>~
    presentation: <issuer JWT>~<chosen disclosures>~...~<KB-JWT>

A merchant presentation carries no disclosure (it proves only a valid, unrevoked, key-bound e-card); a hospital
one discloses name and insurance. Digests are SHA-256 (_sd_alg "sha-256"), decoys pad _sd to a fixed count so the
number of claims does not show.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Iterable

from ecard import jws
from ecard.errors import LEEWAY, EcardError
from ecard.keys import BadKeyError, Jwks, SigningKey, b64u, b64u_decode, verify_key_from_jwk
from ecard.status_list import StatusList, StatusListError

TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
VCT = "urn:sscard:ecard:1"
DISCLOSABLE = ("name", "id_number", "birth_date", "gender", "insurance", "card_status")
SD_SLOTS = 8
MAX_PRESENTATION = 16_384
KB_MAX_AGE = 300


class SdJwtError(EcardError):
    """A refusal of this part of the protocol (ecard.errors.EcardError)."""


def _digest(disclosure: str) -> str:
    return b64u(hashlib.sha256(disclosure.encode("ascii")).digest())


def disclosure(name: str, value: Any) -> str:
    return b64u(json.dumps([b64u(secrets.token_bytes(16)), name, value], ensure_ascii=False,
                           separators=(",", ":")).encode("utf-8"))


def issue(
    claims: dict[str, Any], key: SigningKey, holder_jwk: dict[str, Any], status_idx: int, status_uri: str,
    now: int, lifetime: int, issuer: str = "sscard",
) -> str:
    """Sign a credential whose DISCLOSABLE claims are all selectively disclosable."""
    unknown = set(claims) - set(DISCLOSABLE)
    if unknown:
        raise ValueError(f"claims {sorted(unknown)} are not e-card claims")
    discs = [disclosure(name, value) for name, value in claims.items()]
    digests = [_digest(d) for d in discs]
    digests += [b64u(secrets.token_bytes(32)) for _ in range(max(0, SD_SLOTS - len(digests)))]
    payload = {
        "iss": issuer, "iat": now, "exp": now + lifetime, "vct": VCT, "_sd_alg": "sha-256",
        "_sd": sorted(digests),
        "cnf": {"jwk": {k: v for k, v in holder_jwk.items() if k in ("kty", "crv", "x", "y")}},
        "status": {"status_list": {"idx": status_idx, "uri": status_uri}},
    }
    return jws.sign(payload, key, TYP) + "~" + "".join(d + "~" for d in discs)


def _decode_disclosure(d: str) -> tuple[str, Any]:
    try:
        arr = json.loads(b64u_decode(d).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SdJwtError("malformed", "a disclosure is not base64url JSON") from None
    if not (isinstance(arr, list) and len(arr) == 3 and isinstance(arr[0], str) and isinstance(arr[1], str)):
        raise SdJwtError("malformed", "a disclosure is not [salt, name, value]")
    return arr[1], arr[2]


def _has_sd(value: Any) -> bool:
    """Whether a disclosed value hides further disclosures (`_sd` or `...`), which this verifier does not unpack."""
    if isinstance(value, dict):
        return "_sd" in value or "..." in value or any(_has_sd(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_sd(v) for v in value)
    return False


def _status_ref(payload: dict[str, Any]) -> tuple[int | None, str | None]:
    """The credential's status_list {idx, uri} (draft-ietf-oauth-status-list), (None, None) when it names none."""
    if "status" not in payload:
        return None, None
    ref = payload["status"].get("status_list") if isinstance(payload["status"], dict) else None
    if not (isinstance(ref, dict) and isinstance(ref.get("idx"), int) and not isinstance(ref.get("idx"), bool)
            and ref["idx"] >= 0 and isinstance(ref.get("uri"), str)):
        raise SdJwtError("malformed", "credential status must be {status_list: {idx, uri}}")
    return ref["idx"], ref["uri"]


def _disclosed(payload: dict[str, Any], discs: list[str]) -> dict[str, Any]:
    """The claims the disclosures reveal, checked as RFC 9901 section 7.1 says: each digest listed once in _sd,
    each disclosure's digest listed there, no claim disclosed twice or also present in plain."""
    sd = payload["_sd"]
    if not all(isinstance(dg, str) for dg in sd):
        raise SdJwtError("malformed", "_sd must hold digest strings only")
    allowed = set(sd)
    if len(allowed) != len(sd):
        raise SdJwtError("malformed", "a digest is listed more than once in _sd")
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for d in discs:
        dg = _digest(d) if d.isascii() else ""
        if dg not in allowed or dg in seen:
            raise SdJwtError("bad_signature", "a disclosure is not signed by the issuer (or repeated)")
        seen.add(dg)
        name, value = _decode_disclosure(d)
        if name not in DISCLOSABLE or name in out:
            raise SdJwtError("malformed", "a disclosure names a claim that cannot be disclosed")
        if name in payload:
            raise SdJwtError("malformed", f"claim {name} is both disclosed and in plain")
        if _has_sd(value):
            raise SdJwtError("malformed", f"claim {name} hides nested disclosures, which are not supported")
        out[name] = value
    return out


def present(sd_jwt: str, disclose: Iterable[str], holder_key: SigningKey, aud: str, nonce: str, now: int) -> str:
    """Keep only the disclosures named in `disclose` and append a KB-JWT for this verifier (aud) and nonce."""
    wanted = set(disclose)
    parts = sd_jwt.split("~")
    kept = [d for d in parts[1:] if d and _decode_disclosure(d)[0] in wanted]
    prefix = parts[0] + "~" + "".join(d + "~" for d in kept)
    kb = jws.sign({"iat": now, "aud": aud, "nonce": nonce, "sd_hash": _digest(prefix)}, holder_key, KB_TYP)
    return prefix + kb


def verify(
    presentation: str, jwks: Jwks, aud: str, nonce: str, now: float, status_list: StatusList | None = None,
) -> dict[str, Any]:
    """Check a presentation and return the disclosed claims plus iss/iat/exp/status_idx; SdJwtError otherwise."""
    if not isinstance(presentation, str) or len(presentation) > MAX_PRESENTATION:
        raise SdJwtError("oversized" if isinstance(presentation, str) else "malformed", "presentation too long")
    parts = presentation.split("~")
    if len(parts) < 2 or not parts[-1]:
        raise SdJwtError("malformed", "presentation must end with a Key Binding JWT")
    issuer_jwt, discs, kb = parts[0], parts[1:-1], parts[-1]
    try:
        payload, _ = jws.verify_with_jwks(issuer_jwt, jwks, TYP)
    except jws.JwsError as exc:
        raise SdJwtError(exc.reason, f"issuer JWT: {exc.detail}") from None
    if payload.get("_sd_alg") != "sha-256" or not isinstance(payload.get("_sd"), list):
        raise SdJwtError("malformed", "issuer JWT lacks _sd / _sd_alg sha-256")
    exp, iat = payload.get("exp"), payload.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise SdJwtError("malformed", "issuer JWT lacks iat/exp")
    if iat > now + LEEWAY:
        raise SdJwtError("not_yet_valid", "credential is not valid yet")
    if exp <= now:
        raise SdJwtError("expired", "credential has expired")
    out = _disclosed(payload, discs)
    idx, uri = _status_ref(payload)
    try:
        holder = verify_key_from_jwk(payload.get("cnf", {}).get("jwk"))
    except (BadKeyError, AttributeError):
        raise SdJwtError("malformed", "credential has no usable cnf.jwk") from None
    try:
        kbp = jws.verify(kb, holder, KB_TYP)
    except jws.JwsError as exc:
        raise SdJwtError(exc.reason, f"key binding JWT: {exc.detail}") from None
    if kbp.get("sd_hash") != _digest(presentation[: len(presentation) - len(kb)]):
        raise SdJwtError("bad_signature", "key binding JWT does not cover these disclosures")
    if kbp.get("aud") != aud or kbp.get("nonce") != nonce:
        raise SdJwtError("replayed", "key binding JWT is for another verifier or nonce")
    kb_iat = kbp.get("iat")
    if not isinstance(kb_iat, int) or kb_iat > now + LEEWAY:
        raise SdJwtError("not_yet_valid", "key binding JWT is dated in the future")
    if kb_iat < now - KB_MAX_AGE:
        raise SdJwtError("expired", "key binding JWT is too old")
    if status_list is not None:
        try:
            bit = status_list.check(idx, now, uri)
        except StatusListError as exc:
            raise SdJwtError(exc.reason, exc.detail) from None
        if bit:
            raise SdJwtError("revoked", "card is revoked")
    return {**out, "iss": payload.get("iss"), "iat": iat, "exp": exp, "status_idx": idx, "vct": payload.get("vct")}
