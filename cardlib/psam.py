"""The host's way to a PSAM: every key operation a terminal needs, by key usage and card factors, never key bytes.

Commands are the ones in apdu_specs/psam.toml (sscard's own encodings of the usual 801A / 80FA pair). The PSAM may
be a card in a reader (a PC/SC transport) or the simulated one in process (a loopback transport); this module only
sees something that transmits APDUs.
"""
from __future__ import annotations


import apdu_specs
from cardlib.sw import CodedError
from cardlib.transport import Transmitter
from cardlib.crypto import Alg, alg_id, block_size
from cardlib.issuer_keys import card_factor, city_factor

# Reader-interface error codes for PSAM trouble (CARD-FACTS: -2201..-2204).
PSAM_NOT_FOUND = -2201
PSAM_KEY_MISSING = -2202
PSAM_REFUSED = -2203


class PsamError(CodedError):
    """The PSAM refused or is missing; `code` is the reader-interface code."""


class Psam:
    """A selected PSAM application. `set_key` chooses a master key and its diversification; the other calls use it."""

    def __init__(self, transport: Transmitter) -> None:
        self._t = transport
        spec = apdu_specs.psam()
        self._refs = {usage: int(ref, 16) for usage, ref in spec["key_refs"].items()}
        aid = bytes.fromhex(spec["psam"]["aid"])
        sw = self._send(b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid + b"\x00")[1]
        if sw != 0x9000:
            raise PsamError(f"no PSAM application (SELECT answered {sw:04X})", PSAM_NOT_FOUND)
        self.alg: Alg | None = None

    def _send(self, apdu: bytes) -> tuple[bytes, int]:
        resp = self._t.transmit(apdu)
        if len(resp) >= 2 and resp[-2] == 0x61:
            resp = resp[:-2] + self._t.transmit(b"\x00\xc0\x00\x00" + resp[-1:])
        if len(resp) < 2:
            raise PsamError("PSAM answered with no status word", PSAM_REFUSED)
        return resp[:-2], int.from_bytes(resp[-2:], "big")

    def _ok(self, apdu: bytes, what: str) -> bytes:
        data, sw = self._send(apdu)
        if sw != 0x9000:
            code = PSAM_KEY_MISSING if sw == 0x6A88 else PSAM_REFUSED
            raise PsamError(f"PSAM refused {what}: SW {sw:04X}", code)
        return data

    def set_key(self, alg: Alg, usage: str, *factors: bytes) -> None:
        if usage not in self._refs:
            raise PsamError(f"the PSAM has no key reference for {usage!r}", PSAM_KEY_MISSING)
        data = b"".join(factors)
        self._ok(bytes([0x80, 0x1A, alg_id(alg), self._refs[usage], len(data)]) + data, f"SET KEY {usage}")
        self.alg = alg

    def set_card_key(self, alg: Alg, usage: str, card_id: bytes, atr: bytes, *more: bytes) -> None:
        """The card's own key for `usage` (two-level diversification by city and card factor), then `more`."""
        self.set_key(alg, usage, city_factor(card_id), card_factor(atr), *more)

    def wrap_key(self, alg: Alg, usage: str, *factors: bytes) -> bytes:
        """Personalization: the diversified key for `usage`, enciphered under the current (perso) key."""
        if usage not in self._refs:
            raise PsamError(f"the PSAM has no key reference for {usage!r}", PSAM_KEY_MISSING)
        data = b"".join(factors)
        return self._ok(bytes([0x80, 0x1C, alg_id(alg), self._refs[usage], len(data)]) + data + b"\x10",
                        f"WRAP KEY {usage}")

    def encipher(self, data: bytes) -> bytes:
        return self._ok(bytes([0x80, 0xFA, 0x00, 0x00, len(data)]) + data + b"\x00", "ENCIPHER")

    def mac(self, message: bytes, iv: bytes = b"", length: int = 4) -> bytes:
        if self.alg is None:
            raise PsamError("no PSAM key set for a MAC", PSAM_REFUSED)
        size = block_size(self.alg)
        data = iv.ljust(size, b"\x00")[:size] + message
        if len(data) > 255:
            raise ValueError("message too long for one PSAM MAC command")
        return self._ok(bytes([0x80, 0xFA, 0x05, 0x00, len(data)]) + data + bytes([length]), "MAC")

    def check(self, challenge: bytes, answer: bytes) -> bool:
        """Whether `answer` is the challenge enciphered under the current key (the comparison stays in the PSAM)."""
        _, sw = self._send(bytes([0x80, 0xFA, 0x08, 0x00, len(challenge) + len(answer)]) + challenge + answer)
        if sw in (0x9000, 0x6988):
            return sw == 0x9000
        raise PsamError(f"PSAM refused CHECK: SW {sw:04X}", PSAM_REFUSED)
