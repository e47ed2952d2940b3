"""Issuer and device signing keys: Ed25519 (EdDSA), P-256 (ES256) and SM2 (SM3withSM2); JWKs; issuer key sets.

Every signature sscard makes or checks goes through `SigningKey.sign` / `VerifyKey.verify`, so the three algorithms
look alike to the token, credential and status-list code: a signature is always 64 raw bytes (Ed25519 as is, ECDSA
and SM2 as r||s, the JWS form), a public key has a compact form (32 bytes for Ed25519, a 33-byte compressed point
for the curves) for the QR and a JWK for everything else. SM2 comes from tongsuopy (measured fastest of the
installable libraries, see docs/ecard.md); it signs with the default distinguishing ID 1234567812345678 (GM/T 0009).

A key set directory holds the current issuer key, retired keys whose tokens may still be alive, and jwks.json.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes as c_hashes
from cryptography.hazmat.primitives import serialization as c_ser
from cryptography.hazmat.primitives.asymmetric import ec as c_ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import _serialization as t_ser
from tongsuopy.crypto.exceptions import InvalidSignature as TongsuoInvalidSignature
from tongsuopy.crypto import hashes as t_hashes
from tongsuopy.crypto import serialization as t_serialization
from tongsuopy.crypto.asymciphers import ec as t_ec

from ecard.errors import BadKeyError

ALGS = ("EdDSA", "ES256", "SM2")
ALG_IDS = {"EdDSA": 1, "ES256": 2, "SM2": 3}
ALG_BY_ID = {v: k for k, v in ALG_IDS.items()}
# sscard's key type -> the JOSE alg it signs with (RFC 9864's fully specified "Ed25519"), and those it accepts
JOSE_ALG = {"EdDSA": "Ed25519", "ES256": "ES256", "SM2": "SM2"}
JOSE_ACCEPTS = {"EdDSA": ("Ed25519", "EdDSA"), "ES256": ("ES256",), "SM2": ("SM2",)}
KID_BYTES = 6
SIG_BYTES = 64
# The longest any issuer-signed object lives (SD-JWT credential); a retired key stays published this long.
MAX_TOKEN_LIFETIME = 30 * 86400



def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict unpadded base64url: rejects padding, whitespace and non-alphabet characters."""
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not unpadded base64url") from None
    out = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    if b64u(out) != text:
        raise ValueError("not canonical base64url")
    return out


def _int_b(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _sm2_sig_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return _int_b(r) + _int_b(s)


def _raw_to_der(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


@dataclass(frozen=True)
class VerifyKey:
    """A public key bound to one algorithm; `verify` returns False for any bad signature, never raises."""

    alg: str
    key: Any
    kid: str = ""

    def verify(self, sig: bytes, data: bytes) -> bool:
        if len(sig) != SIG_BYTES:
            return False
        try:
            if self.alg == "EdDSA":
                self.key.verify(sig, data)
            elif self.alg == "ES256":
                self.key.verify(_raw_to_der(sig), data, c_ec.ECDSA(c_hashes.SHA256()))
            else:
                self.key.verify(_raw_to_der(sig), data, t_ec.ECDSA(t_hashes.SM3()))
        except (InvalidSignature, TongsuoInvalidSignature, ValueError):
            return False
        return True

    def compact(self) -> bytes:
        """The public key as it travels in a QR: 32 bytes (Ed25519) or a 33-byte compressed point."""
        if self.alg == "EdDSA":
            return self.key.public_bytes(c_ser.Encoding.Raw, c_ser.PublicFormat.Raw)
        if self.alg == "ES256":
            return self.key.public_bytes(c_ser.Encoding.X962, c_ser.PublicFormat.CompressedPoint)
        return self.key.public_bytes(t_ser.Encoding.X962, t_ser.PublicFormat.CompressedPoint)

    def jwk(self) -> dict[str, str]:
        if self.alg == "EdDSA":
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(self.compact())}
        else:
            nums = self.key.public_numbers()
            crv = "P-256" if self.alg == "ES256" else "SM2"
            jwk = {"kty": "EC", "crv": crv, "x": b64u(_int_b(nums.x)), "y": b64u(_int_b(nums.y))}
        jwk.update(alg=JOSE_ALG[self.alg], use="sig", kid=self.kid or thumbprint_kid(jwk))
        return jwk


def compact_key_length(alg: str) -> int:
    return 32 if alg == "EdDSA" else 33


def verify_key_from_compact(alg: str, data: bytes, kid: str = "") -> VerifyKey:
    """Rebuild a public key from its QR form; BadKeyError if the bytes are not a point/key for that algorithm."""
    try:
        if alg == "EdDSA":
            if len(data) != 32:
                raise ValueError("length")
            return VerifyKey(alg, ed25519.Ed25519PublicKey.from_public_bytes(data), kid)
        if len(data) != 33 or data[0] not in (2, 3):
            raise ValueError("length")
        if alg == "ES256":
            return VerifyKey(alg, c_ec.EllipticCurvePublicKey.from_encoded_point(c_ec.SECP256R1(), data), kid)
        if alg == "SM2":
            return VerifyKey(alg, t_ec.EllipticCurvePublicKey.from_encoded_point(t_ec.SM2(), data), kid)
    except Exception:
        raise BadKeyError(f"not a valid {alg} public key") from None
    raise BadKeyError(f"unsupported algorithm {alg!r}")


def thumbprint_kid(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256 over the required members), cut to KID_BYTES so it fits a QR cheaply."""
    required = ("crv", "kty", "x") if jwk.get("kty") == "OKP" else ("crv", "kty", "x", "y")
    canon = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canon.encode()).digest()[:KID_BYTES])


def verify_key_from_jwk(jwk: dict[str, Any]) -> VerifyKey:
    """A public key from a JWK; the algorithm is fixed by the JWK (kty/crv), never by a token header."""
    if not isinstance(jwk, dict):
        raise BadKeyError("JWK must be an object")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    try:
        x = b64u_decode(jwk.get("x", ""))
        if kty == "OKP" and crv == "Ed25519":
            alg, key = "EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(x)
        elif kty == "EC" and crv in ("P-256", "SM2"):
            y = b64u_decode(jwk.get("y", ""))
            if len(x) != 32 or len(y) != 32:
                raise ValueError("coordinate length")
            point = b"\x04" + x + y
            if crv == "P-256":
                alg, key = "ES256", c_ec.EllipticCurvePublicKey.from_encoded_point(c_ec.SECP256R1(), point)
            else:
                alg, key = "SM2", t_ec.EllipticCurvePublicKey.from_encoded_point(t_ec.SM2(), point)
        else:
            raise BadKeyError(f"unsupported JWK kty/crv {kty!r}/{crv!r}")
    except BadKeyError:
        raise
    except Exception:
        raise BadKeyError("JWK does not hold a valid public key") from None
    if jwk.get("alg", alg) not in JOSE_ACCEPTS[alg]:
        raise BadKeyError(f"JWK alg {jwk.get('alg')!r} does not match its key type")
    kid = jwk.get("kid") or thumbprint_kid(jwk)
    if not isinstance(kid, str):
        raise BadKeyError("JWK kid must be a string")
    return VerifyKey(alg, key, kid)


@dataclass(frozen=True)
class SigningKey:
    alg: str
    key: Any
    kid: str = ""

    def sign(self, data: bytes) -> bytes:
        if self.alg == "EdDSA":
            return self.key.sign(data)
        if self.alg == "ES256":
            return b"".join(map(_int_b, decode_dss_signature(self.key.sign(data, c_ec.ECDSA(c_hashes.SHA256())))))
        return _sm2_sig_to_raw(self.key.sign(data, t_ec.ECDSA(t_hashes.SM3())))

    def public(self) -> VerifyKey:
        pub = VerifyKey(self.alg, self.key.public_key())
        return VerifyKey(self.alg, pub.key, self.kid or thumbprint_kid(pub.jwk()))

    def pem(self) -> bytes:
        ser = t_ser if self.alg == "SM2" else c_ser
        return self.key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())


def generate(alg: str = "EdDSA") -> SigningKey:
    if alg == "EdDSA":
        key: Any = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        key = c_ec.generate_private_key(c_ec.SECP256R1())
    elif alg == "SM2":
        key = t_ec.generate_private_key(t_ec.SM2())
    else:
        raise BadKeyError(f"unsupported algorithm {alg!r}; use one of {', '.join(ALGS)}")
    unnamed = SigningKey(alg, key)
    return SigningKey(alg, key, unnamed.public().kid)


def signing_key_from_pem(pem: bytes, alg: str) -> SigningKey:
    try:
        if alg == "SM2":
            key = t_serialization.load_pem_private_key(pem, None)
        else:
            key = c_ser.load_pem_private_key(pem, None)
    except Exception:
        raise BadKeyError(f"not a readable {alg} private key") from None
    unnamed = SigningKey(alg, key)
    return SigningKey(alg, key, unnamed.public().kid)


@dataclass
class Jwks:
    """Verification keys by kid, parsed once (a verifier keeps this object, not the JSON)."""

    keys: dict[str, VerifyKey] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes) -> "Jwks":
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except (ValueError, RecursionError):  # RecursionError: nested too deep to be a key set
                raise BadKeyError("JWKS is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise BadKeyError("JWKS must be an object with a 'keys' list")
        out = cls()
        for jwk in data["keys"]:
            if isinstance(jwk, dict) and jwk.get("use", "sig") != "sig":
                continue
            key = verify_key_from_jwk(jwk)
            out.keys[key.kid] = key
        return out

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "Jwks":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadKeyError(f"cannot read JWKS file {path}: {exc.__class__.__name__}") from None
        return cls.from_json(text)

    def get(self, kid: str) -> VerifyKey | None:
        return self.keys.get(kid)


# ---- key set directories -------------------------------------------------------------------------------------

KEYSET_FILE = "keyset.json"
SECRET_FILE = "pseudonym.key"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


@dataclass
class KeySet:
    """An issuer key set on disk: the current signing key, retired keys still published, a pseudonym secret."""

    directory: Path
    current: SigningKey
    retired: list[tuple[SigningKey, int]]  # (key, publish until epoch)
    pseudonym_secret: bytes

    def published(self, now: float | None = None) -> list[VerifyKey]:
        now = time.time() if now is None else now
        return [self.current.public()] + [k.public() for k, until in self.retired if until > now]

    def jwks(self, now: float | None = None) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.published(now)]}

    def verifier(self, now: float | None = None) -> Jwks:
        return Jwks({k.kid: k for k in self.published(now)})


def load_keyset(directory: str | os.PathLike[str]) -> KeySet:
    d = Path(directory)
    try:
        meta = json.loads((d / KEYSET_FILE).read_text(encoding="utf-8"))
        keys = {}
        for entry in meta["keys"]:
            if entry.get("withdrawn"):
                continue  # its private key is gone; it signs and verifies nothing
            keys[entry["kid"]] = (signing_key_from_pem((d / entry["file"]).read_bytes(), entry["alg"]), entry)
        current = keys[meta["current"]][0]
        secret = (d / SECRET_FILE).read_bytes()
    except BadKeyError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadKeyError(f"{d} is not a readable key set ({exc.__class__.__name__}); make one with `sscard keys new`") from None
    retired = [(k, int(e.get("publish_until") or 0)) for kid, (k, e) in keys.items() if kid != current.kid]
    return KeySet(d, current, retired, secret)


def new_key(directory: str | os.PathLike[str], alg: str = "EdDSA", now: float | None = None) -> KeySet:
    """Add a new current key to a key set (making the set if needed); the old current key is retired and stays
    published for MAX_TOKEN_LIFETIME, the longest any token it signed can live. Writes jwks.json."""
    now = int(time.time() if now is None else now)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / KEYSET_FILE
    meta: dict[str, Any] = {"current": None, "keys": []}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            raise BadKeyError(f"{meta_path} is not JSON") from None
    key = generate(alg)
    _write_private(d / f"{key.kid}.pem", key.pem())
    for entry in meta["keys"]:
        if entry["kid"] == meta["current"]:
            entry["retired"] = now
            entry["publish_until"] = now + MAX_TOKEN_LIFETIME
    expired = [e for e in meta["keys"] if e.get("publish_until") and e["publish_until"] <= now
               and not e.get("withdrawn")]
    for entry in expired:  # nothing it signed is alive any more: drop it from the set and from disk
        (d / entry["file"]).unlink(missing_ok=True)
    meta["keys"] = [e for e in meta["keys"] if e not in expired]
    meta["keys"].append({"kid": key.kid, "alg": alg, "file": f"{key.kid}.pem", "created": now})
    meta["current"] = key.kid
    _write_meta(d, meta)
    if not (d / SECRET_FILE).exists():
        _write_private(d / SECRET_FILE, secrets.token_bytes(32))
    return _publish(d, now)


def _write_meta(d: Path, meta: dict[str, Any]) -> None:
    """keyset.json replaced in one rename, so a server re-reading it never sees half a file."""
    tmp = d / (KEYSET_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, d / KEYSET_FILE)


def _publish(d: Path, now: int) -> KeySet:
    keyset = load_keyset(d)
    tmp = d / "jwks.json.tmp"
    tmp.write_text(json.dumps(keyset.jwks(now), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, d / "jwks.json")
    return keyset


def withdraw_key(directory: str | os.PathLike[str], kid: str, now: float | None = None) -> tuple[KeySet, bool]:
    """Withdraw a compromised key at once, instead of letting it age out: it leaves the JWKS (so verifiers that
    refresh it refuse its tokens), its private key file is deleted, and keyset.json remembers it as withdrawn.
    Withdrawing the current key first rotates to a new key of the same algorithm. Returns the key set and
    whether a rotation was needed; BadKeyError if the kid is not in the set."""
    now = int(time.time() if now is None else now)
    d = Path(directory)
    try:
        meta = json.loads((d / KEYSET_FILE).read_text(encoding="utf-8"))
        entries = {e["kid"]: e for e in meta["keys"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadKeyError(f"{d} is not a readable key set ({exc.__class__.__name__})") from None
    if kid not in entries:
        raise BadKeyError(f"key {kid[:20]!r} is not in the key set {d}")
    rotated = meta["current"] == kid
    if rotated:
        new_key(d, entries[kid]["alg"], now)
        meta = json.loads((d / KEYSET_FILE).read_text(encoding="utf-8"))
        entries = {e["kid"]: e for e in meta["keys"]}
    entries[kid]["withdrawn"] = now
    entries[kid]["publish_until"] = 0
    _write_meta(d, meta)
    (d / entries[kid]["file"]).unlink(missing_ok=True)
    return _publish(d, now), rotated
