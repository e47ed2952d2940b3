"""Payment data without a database: the benefit-kinds table (holder_db/data/benefit_kinds.tsv: code -> kind and
age bounds, read once) and the largest amount of money anything takes.

Kept apart from the import machinery so the pure rules (terminal.risk, terminal.settlement) read them without
loading SQLAlchemy."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Mapping


MAX_FEN = 10**15  # ten trillion yuan: one amount (a bill item, a posting, an entitlement) beyond this is refused


@dataclass(frozen=True)
class BenefitKind:
    code: str
    name: str
    kind: str
    min_age: int
    max_age: int | None  # None: the payment run's general maximum


@functools.cache
def benefit_kinds() -> Mapping[str, BenefitKind]:
    text = resources.files("holder_db").joinpath("data/benefit_kinds.tsv").read_text(encoding="utf-8")
    table: dict[str, BenefitKind] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("code\t"):
            continue
        code, name, kind, low, high = line.split("\t")
        table[code] = BenefitKind(code, name, kind, int(low), int(high) if high else None)
    return table
