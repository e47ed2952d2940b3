"""An APDU trace that is safe to keep: PINs, keys and ID numbers never reach it.

Command data of commands marked `sensitive` in apdu_specs/commands.toml (VERIFY, CHANGE PIN, PIN UNBLOCK,
EXTERNAL AUTHENTICATE, STORE DATA, the PSAM's ENCIPHER, ...) is replaced by a length marker, matched by the
proprietary class bit and INS (then INS alone), so the secure-messaging classes are covered too. Any other data, either way, has each ID number (any run of 15+ ASCII digits, maybe ending in X) masked
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


def _key(cla: int, ins: int) -> tuple[int, int]:
    return cla & 0x80, ins  # the proprietary class bit tells 80E2 STORE DATA from 00E2 APPEND RECORD


@cache
def _catalogue() -> tuple[dict[tuple[int, int], dict[str, str]], dict[int, dict[str, str]]]:
    by_class: dict[tuple[int, int], dict[str, str]] = {}
    by_ins: dict[int, dict[str, str]] = {}
    for c in commands():
        by_class.setdefault(_key(int(c["cla"], 16), int(c["ins"], 16)), c)
        by_ins.setdefault(int(c["ins"], 16), c)
    return by_class, by_ins


def command_spec(cla: int, ins: int) -> dict[str, str] | None:
    by_class, by_ins = _catalogue()
    return by_class.get(_key(cla, ins)) or by_ins.get(ins)


@cache
def sensitive_ins() -> frozenset[int]:
    """INS of the commands whose data is redacted in some class (for checks; the trace uses is_sensitive)."""
    return frozenset(int(c["ins"], 16) for c in commands() if c.get("sensitive") == "data")


@cache
def command_names() -> dict[int, str]:
    """Command names by INS (the first catalogue entry for an INS); command_spec tells classes apart."""
    return {ins: c["name"] for ins, c in _catalogue()[1].items()}


def command_name(cmd: CommandAPDU) -> str:
    spec = command_spec(cmd.cla, cmd.ins)
    return spec["name"] if spec else ""


def is_sensitive(cmd: CommandAPDU) -> bool:
    """Data a trace must never show: the command's catalogue entry says `sensitive = "data"`."""
    spec = command_spec(cmd.cla, cmd.ins)
    return bool(spec and spec.get("sensitive") == "data")


def safe_hex(data: bytes) -> str:
    """Hex of data with every run of 15 or more ASCII digits (an ID number) masked (same length, '*' as 2A)."""
    masked = _ID_NUMBER.sub(lambda m: mask(m.group().decode()).encode(), bytes(data))
    return masked.hex().upper()


def format_command(cmd: CommandAPDU) -> str:
    name = command_name(cmd)
    parts = [f"> {cmd.header.hex().upper()}"]
    if cmd.data:
        shown = f"<{len(cmd.data)} bytes redacted>" if is_sensitive(cmd) else safe_hex(cmd.data)
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

    def active(self) -> bool:
        """Whether a line would go anywhere (kept, or the logger is on for DEBUG): otherwise skip the formatting."""
        return self.keep or (self.logger is not None and self.logger.isEnabledFor(logging.DEBUG))

    def raw(self, line: str) -> None:
        self._add(line)

    def command(self, cmd: CommandAPDU) -> None:
        self._add(format_command(cmd))

    def response(self, resp: ResponseAPDU, elapsed_ms: float | None = None) -> None:
        self._add(format_response(resp, elapsed_ms))

    def text(self) -> str:
        return "\n".join(self.lines)
