"""Command APDUs by their names in apdu_specs/commands.toml: the class and instruction come from the catalogue,
the caller gives parameters and data. The card services build every command here, so the command set lives in
one place (the trace names and redacts commands from the same catalogue)."""
from __future__ import annotations

from functools import cache, lru_cache

from apdu_specs import commands

from .apdu import CommandAPDU


@cache
def _catalogue() -> dict[str, tuple[int, int]]:
    return {c["name"]: (int(c["cla"], 16), int(c["ins"], 16)) for c in commands()}


def command(name: str, p1: int = 0, p2: int = 0, data: bytes = b"", le: int | None = None) -> CommandAPDU:
    """The catalogue's command `name` with these parameters; KeyError for a name the catalogue lacks."""
    if not data:
        return _plain(name, p1, p2, le)
    cla, ins = _catalogue()[name]
    return CommandAPDU(cla, ins, p1, p2, data, le)


@lru_cache(maxsize=1024)
def _plain(name: str, p1: int, p2: int, le: int | None) -> CommandAPDU:
    """Commands without data (READ RECORD, GET CHALLENGE, GET RESPONSE...) repeat in every session: built once.
    Commands with data are never kept, so no PIN or cryptogram outlives its use."""
    cla, ins = _catalogue()[name]
    return CommandAPDU(cla, ins, p1, p2, b"", le)
