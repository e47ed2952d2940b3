"""An APDU trace that is safe to keep: PINs, keys and ID numbers never reach it.

Command data of commands marked `sensitive` in apdu_specs/commands.toml (VERIFY, CHANGE PIN, PIN UNBLOCK,
EXTERNAL AUTHENTICATE, ...) is replaced by a length marker, matched by INS so the secure-messaging classes are
covered too. Any other data, either way, has each ID number (any run of 15+ ASCII digits, maybe ending in X) masked
by cardlib.idnumber.mask, so a READ RECORD of EF06 shows 110105********002X and never the full number.
"""
from __future__ import annotations

import logging
import re
from functools import cache

from apdu_specs import commands

from .apdu import CommandAPDU, ResponseAPDU
from .idnumber import mask

LOGGER = logging.getLogger("cardlib.apdu")
_ID_NUMBER = re.compile(rb"\d{14,}[\dXx]")  # any run of 15+ digits: ID numbers (old 15, new 18) and the digits around


@cache
def sensitive_ins() -> frozenset[int]:
    return frozenset(int(c["ins"], 16) for c in commands() if c.get("sensitive") == "data")


@cache
def command_names() -> dict[int, str]:
    return {int(c["ins"], 16): c["name"] for c in commands()}


def safe_hex(data: bytes) -> str:
    """Hex of data with every run of 15 or more ASCII digits (an ID number) masked (same length, '*' as 2A)."""
    masked = _ID_NUMBER.sub(lambda m: mask(m.group().decode()).encode(), bytes(data))
    return masked.hex().upper()


def format_command(cmd: CommandAPDU) -> str:
    name = command_names().get(cmd.ins, "")
    parts = [f"> {cmd.header.hex().upper()}"]
    if cmd.data:
        shown = f"<{len(cmd.data)} bytes redacted>" if cmd.ins in sensitive_ins() else safe_hex(cmd.data)
        parts.append(f"Lc={len(cmd.data)} {shown}")
    if cmd.le is not None:
        parts.append(f"Le={cmd.le}")
    if name:
        parts.append(f"({name})")
    return " ".join(parts)


def format_response(resp: ResponseAPDU, elapsed_ms: float | None = None) -> str:
    text = f"< {safe_hex(resp.data) + ' ' if resp.data else ''}{resp.sw:04X}"
    return text if elapsed_ms is None else f"{text} [{elapsed_ms:.2f} ms]"


class Trace:
    """Collects redacted trace lines (`lines`) and logs them to the "cardlib.apdu" logger at DEBUG."""

    def __init__(self, *, keep: bool = True, logger: logging.Logger | None = LOGGER, limit: int = 10_000) -> None:
        self.keep = keep
        self.logger = logger
        self.limit = limit
        self.lines: list[str] = []

    def _add(self, line: str) -> None:
        if self.keep:
            self.lines.append(line)
            del self.lines[:-self.limit]
        if self.logger is not None:
            self.logger.debug("%s", line)

    def command(self, cmd: CommandAPDU) -> None:
        self._add(format_command(cmd))

    def response(self, resp: ResponseAPDU, elapsed_ms: float | None = None) -> None:
        self._add(format_response(resp, elapsed_ms))

    def text(self) -> str:
        return "\n".join(self.lines)
