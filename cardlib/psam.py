"""The host's way to a PSAM: every key operation a terminal needs, by key usage and card factors, never key bytes.

Commands are the ones in apdu_specs/psam.toml (sscard's own encodings of the usual 801A / 80FA pair). The PSAM may
be a card in a reader or a software PSAM in process; this module only sees a Channel (or a transport, stacked into
one), so its APDUs go through the same wrappers and trace as the card's. Which PSAM is chosen where the program is
put together (the CLI).
"""
from __future__ import annotations

import apdu_specs
from cardlib.apdu import CommandAPDU
from cardlib.channel import Channel, as_channel, select_aid
from cardlib.commands import command
from cardlib.crypto import Alg, alg_id, block_size
from cardlib.issuer_keys import card_factor, city_factor
from cardlib.sw import PsamError, interface_code
from cardlib.transport import Transmitter

PSAM_NOT_FOUND = interface_code("psam_not_found")
PSAM_KEY_MISSING = interface_code("psam_key_missing")
PSAM_REFUSED = interface_code("psam_refused")

__all__ = ["Psam", "PsamError", "PSAM_NOT_FOUND", "PSAM_KEY_MISSING", "PSAM_REFUSED"]


class Psam:
    """A selected PSAM application. `set_key` chooses a master key and its diversification; the other calls use it."""

    def __init__(self, link: Channel | Transmitter, name: str = "PSAM") -> None:
        self.channel = as_channel(link)
        self.name = name  # what `card read --verify` reports as the keys' holder (a reader, a folder)
        spec = apdu_specs.psam()
        self._refs = {usage: int(ref, 16) for usage, ref in spec["key_refs"].items()}
        resp = self.channel.send(select_aid(bytes.fromhex(spec["psam"]["aid"])))
        if resp.sw != 0x9000:
            raise PsamError(f"no PSAM application (SELECT answered {resp.sw:04X})", PSAM_NOT_FOUND, sw=resp.sw)
        self.alg: Alg | None = None

    def _ok(self, cmd: CommandAPDU, what: str) -> bytes:
        resp = self.channel.send(cmd)
        if resp.sw != 0x9000:
            code = PSAM_KEY_MISSING if resp.sw == 0x6A88 else PSAM_REFUSED
            raise PsamError(f"PSAM refused {what}", code, sw=resp.sw)
        return resp.data

    def _ref(self, usage: str) -> int:
        if usage not in self._refs:
            raise PsamError(f"the PSAM has no key reference for {usage!r}", PSAM_KEY_MISSING)
        return self._refs[usage]

    def set_key(self, alg: Alg, usage: str, *factors: bytes) -> None:
        self._ok(command("PSAM SET KEY", alg_id(alg), self._ref(usage), b"".join(factors)), f"SET KEY {usage}")
        self.alg = alg

    def set_card_key(self, alg: Alg, usage: str, card_id: bytes, atr: bytes, *more: bytes) -> None:
        """The card's own key for `usage` (two-level diversification by city and card factor), then `more`."""
        self.set_key(alg, usage, city_factor(card_id), card_factor(atr), *more)

    def wrap_key(self, alg: Alg, usage: str, *factors: bytes) -> bytes:
        """Personalization: the diversified key for `usage`, enciphered under the current (perso) key."""
        return self._ok(command("PSAM WRAP KEY", alg_id(alg), self._ref(usage), b"".join(factors), 0x10),
                        f"WRAP KEY {usage}")

    def encipher(self, data: bytes) -> bytes:
        return self._ok(command("PSAM CIPHER", 0x00, 0x00, data, 256), "ENCIPHER")

    def mac(self, message: bytes, iv: bytes = b"", length: int = 4) -> bytes:
        if self.alg is None:
            raise PsamError("no PSAM key set for a MAC", PSAM_REFUSED)
        size = block_size(self.alg)
        data = iv.ljust(size, b"\x00")[:size] + message
        if len(data) > 255:
            raise ValueError("message too long for one PSAM MAC command")
        return self._ok(command("PSAM CIPHER", 0x05, 0x00, data, length), "MAC")

    def check(self, challenge: bytes, answer: bytes) -> bool:
        """Whether `answer` is the challenge enciphered under the current key (the comparison stays in the PSAM)."""
        resp = self.channel.send(command("PSAM CIPHER", 0x08, 0x00, challenge + answer))
        if resp.sw in (0x9000, 0x6988):
            return resp.sw == 0x9000
        raise PsamError("PSAM refused CHECK", PSAM_REFUSED, sw=resp.sw)
