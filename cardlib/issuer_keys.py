"""Issuer master key sets: made once per issuer and algorithm, kept in 0600 files, loaded only by the PSAM.

A key set directory holds one file per algorithm (`issuer-3des.json`, `issuer-sm4.json`). Terminal code never reads
these files: it asks a PSAM (simulators/psam.py, loaded with the set) to diversify, encrypt and MAC. The card
factory (`sscard sim new --keys`, the personalization station's PSAM) uses `card_keys` to put each card's own
diversified keys on the chip.

Diversification follows the profile's [diversification] table: master -> city key (factor = ASCII of the first six
digits of 卡识别码 || 7378) -> card key (factor = the last 8 bytes of the ATR).
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import apdu_specs
from cardlib.crypto import Alg, diversify

FORMAT = "sscard-issuer-keys/1"
# Financial-application master keys (PBOC 3.0): application cryptogram, secure-messaging MAC and encryption.
FINANCIAL_USAGES = ("ac", "smi", "smc")
# The transport (personalization) master key: a blank card holds it diversified by its card factor, and the
# personalization station's PSAM wraps each card key under it.
PERSO_USAGES = ("perso",)


def usages() -> tuple[str, ...]:
    """Every master key of a set: the SSSE keys the profile names, the financial application's, the transport key."""
    return tuple(k.usage for k in apdu_specs.profile().keys) + FINANCIAL_USAGES + PERSO_USAGES


class KeySetError(ValueError):
    """A key set file that is missing, unreadable or malformed (the message never holds key bytes)."""


@dataclass(frozen=True)
class IssuerKeySet:
    alg: Alg
    issuer: str
    masters: dict[str, bytes]

    def __repr__(self) -> str:  # keys must never reach a log or a traceback
        return f"IssuerKeySet(alg={self.alg!r}, issuer={self.issuer!r}, usages={sorted(self.masters)})"

    def master(self, usage: str) -> bytes:
        try:
            return self.masters[usage]
        except KeyError:
            raise KeySetError(f"key set {self.issuer}/{self.alg} has no {usage!r} master key") from None


def new_key_set(alg: Alg, issuer: str | None = None) -> IssuerKeySet:
    if alg not in ("3des", "sm4"):
        raise KeySetError(f"unknown algorithm {alg!r} (3des or sm4)")
    return IssuerKeySet(
        alg=alg, issuer=issuer or secrets.token_hex(4).upper(), masters={u: secrets.token_bytes(16) for u in usages()}
    )


def path_for(directory: Path, alg: Alg) -> Path:
    return Path(directory) / f"issuer-{alg}.json"


def save(key_set: IssuerKeySet, directory: Path, *, overwrite: bool = False) -> Path:
    """Write the set to DIR/issuer-<alg>.json with mode 0600 (created so, never widened), atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = path_for(directory, key_set.alg)
    if target.exists() and not overwrite:
        raise KeySetError(f"{target} exists; refusing to replace an issuer's keys")
    body = json.dumps(
        {"format": FORMAT, "alg": key_set.alg, "issuer": key_set.issuer,
         "keys": {u: k.hex().upper() for u, k in key_set.masters.items()}},
        indent=2,
    ).encode()
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    return target


def load_file(path: Path) -> IssuerKeySet:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KeySetError(f"cannot read key set {path}: {exc.__class__.__name__}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("alg") not in ("3des", "sm4"):
        raise KeySetError(f"{path} is not an sscard issuer key set")
    masters: dict[str, bytes] = {}
    for usage, value in (data.get("keys") or {}).items():
        try:
            key = bytes.fromhex(value)
        except (TypeError, ValueError):
            raise KeySetError(f"{path}: key {usage!r} is not hex") from None
        if len(key) != 16:
            raise KeySetError(f"{path}: key {usage!r} must be 16 bytes")
        masters[usage] = key
    missing = set(usages()) - set(masters)
    if missing:
        raise KeySetError(f"{path}: missing master keys {sorted(missing)}")
    return IssuerKeySet(alg=data["alg"], issuer=str(data.get("issuer", "")), masters=masters)


def load(directory: Path) -> dict[Alg, IssuerKeySet]:
    """Every key set in a directory, by algorithm."""
    directory = Path(directory)
    sets = {alg: load_file(path_for(directory, alg)) for alg in ("3des", "sm4") if path_for(directory, alg).exists()}
    if not sets:
        raise KeySetError(f"no issuer key set in {directory} (make one with `sscard keys new-issuer --out DIR`)")
    return sets  # type: ignore[return-value]


def city_factor(card_id: bytes) -> bytes:
    """ASCII of the first six digits of 卡识别码 (its region code) followed by the profile's suffix (7378)."""
    region = card_id[:3].hex().upper()
    if not region.isdigit():
        raise ValueError("卡识别码 must start with a 6-digit BCD region code")
    return region.encode("ascii") + bytes.fromhex(apdu_specs.profile().diversification["city_factor_suffix"])


def card_factor(atr: bytes) -> bytes:
    if len(atr) < 8:
        raise ValueError("ATR shorter than 8 bytes: no card factor")
    return atr[-8:]


def diversify_card_key(alg: Alg, master: bytes, card_id: bytes, atr: bytes) -> bytes:
    return diversify(alg, diversify(alg, master, city_factor(card_id)), card_factor(atr))


def card_keys(key_set: IssuerKeySet, card_id: bytes, atr: bytes) -> dict[str, bytes]:
    """The SSSE keys a card holds: each master diversified by the card's city and card factors."""
    return {
        k.usage: diversify_card_key(key_set.alg, key_set.master(k.usage), card_id, atr)
        for k in apdu_specs.profile().keys
    }
