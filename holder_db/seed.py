"""Synthetic holders for demos, tests and benchmarks: valid ID numbers (real GB/T 2260 county codes, real birth
dates, correct check digits), plausible names, deterministic for a given seed."""
from __future__ import annotations

import datetime as dt
import functools
import random
from importlib import resources
from typing import Any, Callable, Iterator

from sqlalchemy import select
from sqlalchemy.engine import Engine

from cardlib.idnumber import check_char
from holder_db import bulk, models
from holder_db.validate import regions

FIRST_BIRTH = dt.date(1940, 1, 1)
LAST_BIRTH = dt.date(2010, 12, 31)


@functools.cache
def name_tables() -> dict[str, tuple[str, ...]]:
    text = resources.files("holder_db").joinpath("data/names.txt").read_text(encoding="utf-8")
    tables: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            kind, *items = line.split()
            tables[kind] = tuple(items)
    return tables


@functools.cache
def county_codes() -> tuple[str, ...]:
    """Current county-level codes (not provinces, prefectures, or the '市辖区' placeholders)."""
    return tuple(sorted(code for code, r in regions().items()
                        if r.current and not code.endswith("00") and r.name != "市辖区"))


def name(rng: random.Random, gender: str) -> str:
    t = name_tables()
    chars = t["M" if gender == "1" else "F"] + t["N"]
    given = "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 2, 2))))
    return rng.choice(t["S"]) + given


def holders(n: int, seed: int = 0) -> Iterator[dict[str, str]]:
    """n distinct synthetic holders as import-file rows (all strings, columns of `bulk.HOLDER_IMPORT`)."""
    rng = random.Random(seed)
    codes = county_codes()
    span = (LAST_BIRTH - FIRST_BIRTH).days
    seen: set[str] = set()
    while len(seen) < n:
        region = rng.choice(codes)
        birth = (FIRST_BIRTH + dt.timedelta(days=rng.randrange(span + 1))).strftime("%Y%m%d")
        gender = rng.choice("12")
        seq = rng.randrange(500) * 2 + (1 if gender == "1" else 0)
        body = f"{region}{birth}{seq:03d}"
        ssn = body + check_char(body)
        if ssn in seen:
            continue
        seen.add(ssn)
        yield {"ssn": ssn, "name": name(rng, gender), "gender": gender, "nation": rng.choice(("01",) * 9 + ("03",
               "04", "05", "06", "08", "11", "12")), "birth_date": birth, "birthplace": region,
               "region": rng.choice((region,) * 3 + (rng.choice(codes),))}


def seed(engine: Engine, n: int, seed: int = 0, *, progress: Callable[[int], None] | None = None,
         validate: bool = True) -> bulk.ImportResult:
    """Insert n synthetic holders (through the import machinery, so they are checked like any import unless
    `validate` is False, the fast path for large benchmarks)."""
    spec = bulk.HOLDER_IMPORT
    if not validate:
        spec = bulk.ImportSpec(table=spec.table, header=spec.header, validate=_typed, key=spec.key,
                               conflict=spec.conflict, defaults=spec.defaults)
    rows = ((i + 2, 1, row) for i, row in enumerate(holders(n, seed)))
    return bulk.import_rows(engine, rows, spec, progress=progress)


def _typed(row: Any) -> dict[str, Any]:
    b = row["birth_date"]
    return {**row, "birth_date": dt.date(int(b[:4]), int(b[4:6]), int(b[6:]))}




def cards_and_enrolments(engine: Engine, ssns: list[str], seed: int = 0, *,
                         progress: Callable[[int], None] | None = None) -> int:
    """Give each of these holders that has no card yet an active card (卡号, 卡识别码, dates) and medical and pension
    enrolments in their region; returns how many holders got them. Deterministic for a seed."""
    rng = random.Random(seed + 1)
    done = 0
    for start in range(0, len(ssns), 5000):
        chunk = ssns[start:start + 5000]
        with engine.begin() as conn:
            has_card = select(models.Card.id).where(models.Card.holder_id == models.Holder.id).exists()
            holders = conn.execute(select(models.Holder.id, models.Holder.region)
                                   .where(models.Holder.ssn.in_(chunk), ~has_card)  # type: ignore[attr-defined]
                                   .order_by(models.Holder.id)).all()
            now = models.utcnow()
            cards, enrolments = [], []
            for holder_id, region in holders:
                issued = dt.date(rng.randrange(2015, 2025), rng.randrange(1, 13), rng.randrange(1, 29))
                cards.append({"holder_id": holder_id, "card_no": f"{chr(65 + rng.randrange(26))}{holder_id:08d}"[-9:],
                              "card_id": f"{region}D156000005{rng.getrandbits(64):016X}", "region": region,
                              "status": "active", "issued_on": issued,
                              "expires_on": issued.replace(year=issued.year + 10), "created_at": now,
                              "status_at": now})
                start_date = dt.date(issued.year - rng.randrange(0, 10), 1, 1)
                for insurance in ("medical", "pension"):
                    enrolments.append({"holder_id": holder_id, "insurance": insurance, "region": region,
                                       "status": "active", "start_date": start_date})
            bulk.insert_batch(conn, models.Card.__table__, cards, ("card_no",))  # type: ignore[attr-defined]
            bulk.insert_batch(conn, models.Enrolment.__table__, enrolments,  # type: ignore[attr-defined]
                              ("holder_id", "insurance", "start_date"))
            done += len(holders)
        if progress:
            progress(len(chunk))
    return done
