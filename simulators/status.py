"""Status words the card answers with, by their names in apdu_specs/status_words.toml (never as literals)."""
from __future__ import annotations

from functools import cache

import apdu_specs


@cache
def _base(name: str) -> int:
    return apdu_specs.status_word_by_name(name)


def sw(name: str, low: int = 0) -> bytes:
    """The two status bytes for `name`; `low` fills a pattern's parameter (61xx, 6Cxx, 63Cx)."""
    return (_base(name) | low).to_bytes(2, "big")


OK = sw("ok")
