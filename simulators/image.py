"""The card image: everything a software card keeps between power-ups, as one JSON file written atomically.

Format `sscard-card-image/1` (see docs/simulator.md): profile name, ATR historical bytes, algorithm, file contents
(records or binary, hex), the card's own diversified keys (hex), the PIN as a salted SHA-256 hash, the PIN
tries left, and per-applet state (e.g. the debit applet's ATC). Every change that must persist is written with
`write_atomic`: temp file in the same directory, fsync, rename over the old file, fsync the directory; a kill
at any moment leaves the old or the new file, never a torn one.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apdu_specs
from cardlib.crypto import Alg

FORMAT = "sscard-card-image/1"
ALGS = ("3des", "sm4")


class ImageError(ValueError):
    """A card image that cannot be used; the message names the file and the part that is wrong (never a secret)."""


def make_atr(historical: bytes) -> bytes:
    """TS 3B, T0 with TB1 and TC1 present (both 00) and the count of historical bytes, then those bytes."""
    if not 1 <= len(historical) <= 15:
        raise ImageError(f"ATR historical bytes must be 1 to 15 bytes, got {len(historical)}")
    return bytes([0x3B, 0x60 | len(historical), 0x00, 0x00]) + historical


def default_historical(profile: str = apdu_specs.DEFAULT_PROFILE) -> bytes:
    return apdu_specs.profile(profile).atr[4:]


def pin_hash(salt: bytes, digits: str) -> bytes:
    return hashlib.sha256(salt + digits.encode("ascii")).digest()


@dataclass(repr=False)
class CardImage:
    profile: str
    historical: bytes
    alg: Alg
    files: dict[str, Any]  # file name -> list[bytes] (records) or bytearray (binary)
    keys: dict[str, bytes]
    pin_salt: bytes = b""
    pin_digest: bytes = b""
    pin_tries_left: int = 0
    applets: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __repr__(self) -> str:  # keys and PIN stay out of reprs, logs and tracebacks
        return f"CardImage(profile={self.profile!r}, alg={self.alg!r}, path={str(self.path) if self.path else None!r})"

    @property
    def atr(self) -> bytes:
        return make_atr(self.historical)

    @property
    def pin_tries_max(self) -> int:
        return int(apdu_specs.profile(self.profile).card["pin_tries"])

    def set_pin(self, digits: str) -> None:
        self.pin_salt = secrets.token_bytes(16)
        self.pin_digest = pin_hash(self.pin_salt, digits)
        self.pin_tries_left = self.pin_tries_max

    def pin_matches(self, digits: str) -> bool:
        return bool(self.pin_digest) and hmac.compare_digest(pin_hash(self.pin_salt, digits), self.pin_digest)

    def to_json(self) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for name, content in self.files.items():
            if isinstance(content, list):
                files[name] = {"records": [r.hex().upper() for r in content]}
            else:
                files[name] = {"binary": bytes(content).hex().upper()}
        return {
            "format": FORMAT,
            "profile": self.profile,
            "atr_historical": self.historical.hex().upper(),
            "algorithm": self.alg,
            "files": files,
            "keys": {usage: key.hex().upper() for usage, key in self.keys.items()},
            "pin": {"salt": self.pin_salt.hex().upper(), "sha256": self.pin_digest.hex().upper()},
            "counters": {"pin_tries_left": self.pin_tries_left},
            "applets": self.applets,
        }

    def save(self) -> None:
        """Persist the image to its file (atomically); an image without a file lives in memory only."""
        if self.path is not None:
            write_atomic(self.path, json.dumps(self.to_json(), indent=1, ensure_ascii=False).encode("utf-8"))


def write_atomic(path: Path, body: bytes) -> None:
    """Replace `path` with `body` so that a crash at any moment leaves either the old or the new contents."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ImageError(f"{what} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ImageError(f"{what} is not hex") from None


def from_json(data: Any, path: Path | None = None) -> CardImage:
    """Check and build an image from its JSON form; errors name the part that is wrong."""
    where = str(path) if path else "card image"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImageError(f"{where}: not an sscard card image (format {FORMAT!r} expected)")
    try:
        prof = apdu_specs.profile(str(data.get("profile")))
    except (OSError, KeyError):
        raise ImageError(f"{where}: unknown profile {data.get('profile')!r}") from None
    alg = data.get("algorithm")
    if alg not in ALGS:
        raise ImageError(f"{where}: algorithm must be one of {', '.join(ALGS)}")
    historical = _hex(data.get("atr_historical"), f"{where}: atr_historical")
    make_atr(historical)
    for part in ("files", "keys", "pin", "counters", "applets"):
        if not isinstance(data.get(part) or {}, dict):
            raise ImageError(f"{where}: {part} must be an object")
    files: dict[str, Any] = {}
    for name, content in (data.get("files") or {}).items():
        try:
            spec = prof.file(name)
        except KeyError:
            raise ImageError(f"{where}: file {name!r} is not in profile {prof.name}") from None
        if not isinstance(content, dict):
            raise ImageError(f"{where}: file {name} must be an object")
        if spec.type in ("record", "cyclic"):
            records = content.get("records")
            if not isinstance(records, list):
                raise ImageError(f"{where}: file {name} needs a list of records")
            files[name] = [_hex(r, f"{where}: {name} record {i + 1}") for i, r in enumerate(records)]
            limit = len(spec.records) if spec.type == "record" else spec.record_count
            if limit is not None and len(files[name]) > limit:
                raise ImageError(f"{where}: file {name} has {len(files[name])} records, the profile allows {limit}")
        elif spec.type == "binary":
            body = _hex(content.get("binary"), f"{where}: {name} binary")
            if spec.size is not None and len(body) > spec.size:
                raise ImageError(f"{where}: file {name} holds {len(body)} bytes, the profile allows {spec.size}")
            files[name] = bytearray(body.ljust(spec.size or len(body), b"\x00"))
        else:
            raise ImageError(f"{where}: {name} is a {spec.type}, it has no contents")
    keys = {}
    for usage, value in (data.get("keys") or {}).items():
        key = _hex(value, f"{where}: key {usage}")
        if len(key) != 16:
            raise ImageError(f"{where}: key {usage} must be 16 bytes")
        keys[usage] = key
    pin = data.get("pin") or {}
    counters = data.get("counters") or {}
    tries = counters.get("pin_tries_left", 0)
    if not isinstance(tries, int) or not 0 <= tries <= int(prof.card["pin_tries"]):
        raise ImageError(f"{where}: counters.pin_tries_left must be 0..{prof.card['pin_tries']}")
    applets = data.get("applets") or {}
    return CardImage(
        profile=prof.name, historical=historical, alg=alg, files=files, keys=keys,
        pin_salt=_hex(pin.get("salt", ""), f"{where}: pin.salt"),
        pin_digest=_hex(pin.get("sha256", ""), f"{where}: pin.sha256"),
        pin_tries_left=tries, applets=applets, path=path,
    )


def load(path: Path) -> CardImage:
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ImageError(f"cannot read card image {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ImageError(f"{path}: not JSON") from None
    return from_json(data, path)
