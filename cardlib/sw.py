"""Status words, decoded from apdu_specs, and the one exception family for "the card (or the PSAM) said no".

`CardError` is the root (httpx style): every refusal a terminal reports carries the status word when there is one
(`sw`, None for a failed host-side check) and the reader-interface error code (`interface_code`, alias `code`),
both from the one table in apdu_specs/status_words.toml: -51 wrong PIN, -52 PIN blocked, -21 a card that fails
internal authentication, -2201.. PSAM trouble, otherwise -(SW as an integer). A CardError names the command but
never carries command data (no PIN, no key, no ID number).
"""
from __future__ import annotations

from dataclasses import dataclass

from apdu_specs import interface_codes, status_word

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
    code = spec.code if spec.code is not None else -sw
    if sw == 0x63C0:  # no tries left: the PIN is blocked
        code = interface_code("pin_blocked")
    return StatusWord(sw, spec.name, meaning, code)


def interface_code(name: str) -> int:
    """A reader-interface code by its name in apdu_specs (device, internal_auth_failed, psam_refused, ...)."""
    return interface_codes()[name]


class CardError(RuntimeError):
    """The root of every card or PSAM refusal: `sw` (None for a host-side check) and the reader-interface code."""

    def __init__(self, sw: int | None = None, command: str = "", *, message: str | None = None,
                 code: int | None = None) -> None:
        info = describe(sw) if sw is not None else None
        self.sw = sw
        self.name = info.name if info else "refused"
        self.meaning = info.meaning if info else (message or "")
        self.interface_code = code if code is not None else (info.interface_code if info else interface_code("device"))
        self.tries_left = info.tries_left if info else None
        self.command = command
        if message is None:
            message = f"card answered {sw:04X} ({info.name}: {info.meaning})" if info else "refused"
        elif sw is not None:
            message = f"{message} (SW {sw:04X})"
        super().__init__(f"{command}: {message}" if command else message)

    @property
    def code(self) -> int:
        return self.interface_code


class CardSecurityError(CardError):
    """A security step failed: the card is not genuine, the terminal was refused, a key is missing."""

    def __init__(self, message: str, code: int, *, sw: int | None = None, command: str = "") -> None:
        super().__init__(sw, command, message=message, code=code)


class PinError(CardSecurityError):
    """VERIFY / CHANGE PIN refused: -51 with the tries left, or -52 when the PIN is blocked. Never holds the PIN."""

    def __init__(self, code: int, tries_left: int | None = None, *, sw: int | None = None) -> None:
        blocked = code == interface_code("pin_blocked")
        msg = "PIN blocked" if blocked else f"wrong PIN, {tries_left} tries left"
        super().__init__(msg, code, command="")
        self.sw = sw
        self.tries_left = 0 if blocked else tries_left


class PsamError(CardError):
    """The PSAM refused or is missing (-2201 not found, -2202 key missing, -2203 refused)."""

    def __init__(self, message: str, code: int, *, sw: int | None = None) -> None:
        super().__init__(sw, "PSAM", message=message, code=code)


def check(response: ResponseAPDU, command: str = "") -> bytes:
    """The response data if the card said 9000; CardError otherwise."""
    if response.sw != 0x9000:
        raise CardError(response.sw, command)
    return response.data
