"""The card side's command parsing and status words, as vicc has them: one parser for every applet, handlers that
raise `SwError`, and status words by their names in apdu_specs/status_words.toml (never as literals)."""
from __future__ import annotations

import functools
from functools import cache
from typing import Any, Callable, NamedTuple

import apdu_specs
from cardlib.apdu import ApduError, CommandAPDU


@cache
def _base(name: str) -> int:
    return apdu_specs.status_word_by_name(name)


def sw(name: str, low: int = 0) -> bytes:
    """The two status bytes for `name`; `low` fills a pattern's parameter (61xx, 6Cxx, 63Cx)."""
    return (_base(name) | low).to_bytes(2, "big")


OK = sw("ok")


class SwError(Exception):
    """A handler's refusal: the card answers with this status word (by name in apdu_specs)."""

    def __init__(self, name: str, low: int = 0) -> None:
        super().__init__(name)
        self.sw = sw(name, low)


class Command(NamedTuple):
    """A command APDU as the handlers read it (the fields of cardlib.apdu.CommandAPDU they use)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None
    extended: bool

    @property
    def header(self) -> bytes:
        return bytes(self[:4])


_tuple_new = tuple.__new__  # a Command made without the NamedTuple's Python-level __new__ (every APDU)


def parse(apdu: bytes) -> Command:
    """The one command parser of the card side. Short APDUs (every command of these cards) are split here
    directly, since this runs for every APDU and the round trip through vpcd is measured against an echo card
    (bench/); anything else goes through cardlib's strict parser, so both sides agree on what is well formed.
    SwError(wrong_length) when the bytes are not an APDU."""
    n = len(apdu)
    if 4 <= n <= 5:
        le = (apdu[4] or 256) if n == 5 else None
        return _tuple_new(Command, (apdu[0], apdu[1], apdu[2], apdu[3], b"", le, False))
    if n > 5 and apdu[4]:
        lc = apdu[4]
        if n == 5 + lc:
            return _tuple_new(Command, (apdu[0], apdu[1], apdu[2], apdu[3], apdu[5:], None, False))
        if n == 6 + lc:
            return _tuple_new(Command, (apdu[0], apdu[1], apdu[2], apdu[3], apdu[5:-1], apdu[-1] or 256, False))
    try:
        full = CommandAPDU.from_bytes(apdu)
    except ApduError:
        raise SwError("wrong_length") from None
    return Command(full.cla, full.ins, full.p1, full.p2, full.data, full.le, full.extended)


def answers(process: Callable[..., bytes]) -> Callable[..., bytes]:
    """For a card object's or applet's `process`: an SwError becomes its status word; anything else a handler
    throws becomes 6F00 (the card answers every APDU; nothing it holds goes into the answer)."""

    @functools.wraps(process)
    def wrapper(self: Any, apdu: bytes) -> bytes:
        try:
            return process(self, bytes(apdu))
        except SwError as exc:
            return exc.sw

    return wrapper
