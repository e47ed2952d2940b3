"""Status words, decoded from apdu_specs, and the CardError a host raises when the card says no.

A CardError carries the status word, its name and meaning and the reader-interface error code (-51 wrong PIN,
-52 PIN blocked, otherwise -(SW as an integer)); it names the command but never carries command data.
"""
from __future__ import annotations

from dataclasses import dataclass

from apdu_specs import status_word

from .apdu import ResponseAPDU


@dataclass(frozen=True)
class StatusWord:
    sw: int
    name: str
    meaning: str
    interface_code: int

    @property
    def tries_left(self) -> int | None:
        """For 63Cx: the PIN tries left (x); otherwise None."""
        return self.sw & 0x0F if self.sw & 0xFFF0 == 0x63C0 else None

    def __str__(self) -> str:
        return f"{self.sw:04X} {self.name}: {self.meaning}"


def describe(sw: int) -> StatusWord:
    """What a status word means, by the table in apdu_specs (unknown ones get name "unknown")."""
    spec = status_word(sw)
    if spec is None:
        return StatusWord(sw, "unknown", "status word not in the profile's table", -sw)
    meaning = spec.meaning
    if spec.pattern.upper().endswith("X"):
        low = sw & (0xFF if spec.pattern.upper().endswith("XX") else 0x0F)
        meaning = meaning.replace(" x ", f" {low} ").replace("xx", str(low))
    return StatusWord(sw, spec.name, meaning, spec.code if spec.code is not None else -sw)


class CodedError(RuntimeError):
    """A failure a terminal reports with a reader-interface error code (CARD-FACTS: -20..-25, -2201.., ...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def interface_code(self) -> int:
        return self.code


class CardError(Exception):
    """The card answered a command with a status word other than 9000."""

    def __init__(self, sw: int, command: str = "") -> None:
        info = describe(sw)
        self.sw = sw
        self.name = info.name
        self.meaning = info.meaning
        self.interface_code = info.interface_code
        self.tries_left = info.tries_left
        self.command = command
        where = f"{command}: " if command else ""
        super().__init__(f"{where}card answered {sw:04X} ({info.name}: {info.meaning})")


def check(response: ResponseAPDU, command: str = "") -> bytes:
    """The response data if the card said 9000; CardError otherwise."""
    if response.sw != 0x9000:
        raise CardError(response.sw, command)
    return response.data
