"""Holder lookup by ID number at 1M holders: p50/p99 in microseconds for holder_db's queries (the ORM lookup the
terminals use, and a Core row lookup) against a raw sqlite3 SELECT on the same file and index, in the same run.

    .venv/bin/python bench/bench_lookup.py [--holders 1000000] [--lookups 20000] [--db FILE] [--json]

The database is seeded with bulk Core inserts (validation skipped for speed: the generator makes valid holders);
with --db FILE an existing seeded file is reused.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from holder_db import models, queries, seed, store  # noqa: E402


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_us": round(q[49], 1), "p99_us": round(q[98], 1), "mean_us": round(statistics.fmean(ordered), 1)}


def timed(fn: Callable[[str], object], keys: list[str]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for key in keys:
        t = clock()
        fn(key)
        out.append((clock() - t) / 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holders", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--db", type=Path, default=None, help="reuse (or create) this SQLite file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "lookup.db"
    url = f"sqlite:///{path}"
    engine = store.create_all(url)
    with engine.connect() as conn:
        have = conn.execute(select(models.Holder.id).order_by(models.Holder.id.desc()).limit(1)).scalar() or 0
    seed_s = 0.0
    if have < args.holders:
        t = time.perf_counter()
        seed.seed(engine, args.holders, seed=7, validate=False)
        seed_s = time.perf_counter() - t
    rng = random.Random(1)
    with engine.connect() as conn:
        count = conn.execute(select(models.Holder.id).order_by(models.Holder.id.desc()).limit(1)).scalar()
        ids = [rng.randrange(1, count + 1) for _ in range(args.lookups)]
        wanted = set(ids)
        keys = [s for i, s in conn.execute(select(models.Holder.id, models.Holder.ssn)) if i in wanted]
    keys = [keys[rng.randrange(len(keys))] for _ in range(args.lookups)]

    raw = sqlite3.connect(path)
    sql = ("SELECT id, ssn, name, gender, nation, birth_date, birthplace, region, created_at "
           "FROM holders WHERE ssn = ?")
    raw_fn = lambda k: raw.execute(sql, (k,)).fetchone()  # noqa: E731

    session_cm = store.session(url)
    session = session_cm.__enter__()

    def orm_fn(k: str) -> object:
        h = queries.holder_by_ssn(session, k)
        session.expunge_all()
        return h

    core_conn = engine.connect()
    core_fn = lambda k: queries.holder_row_by_ssn(core_conn, k)  # noqa: E731

    for fn in (raw_fn, orm_fn, core_fn):  # warm the caches alike
        timed(fn, keys[:2000])
    results = {"raw": [], "orm": [], "core": []}
    for _ in range(2):  # interleave, as the machine is shared
        results["raw"] += timed(raw_fn, keys)
        results["orm"] += timed(orm_fn, keys)
        results["core"] += timed(core_fn, keys)
    assert orm_fn(keys[0]).ssn == keys[0] and core_fn(keys[0])["ssn"] == keys[0] and raw_fn(keys[0])[1] == keys[0]
    core_conn.close()
    session_cm.__exit__(None, None, None)
    raw.close()
    store.dispose(url)
    tmp.cleanup()

    figures = {"holders": count, "lookups": len(keys) * 2, "seed_s": round(seed_s, 1),
               **{name: percentiles(samples) for name, samples in results.items()}}
    for name in ("orm", "core"):
        figures[f"{name}_p50_ratio"] = round(figures[name]["p50_us"] / figures["raw"]["p50_us"], 2)
        figures[f"{name}_p99_ratio"] = round(figures[name]["p99_us"] / figures["raw"]["p99_us"], 2)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"holders {count}, lookups {len(keys) * 2}" + (f", seeded in {seed_s:.1f} s" if seed_s else ""))
    print(f"{'':24}{'p50 us':>10}{'p99 us':>10}{'x raw p50':>11}{'x raw p99':>11}")
    print(f"{'raw sqlite3':<24}{figures['raw']['p50_us']:>10}{figures['raw']['p99_us']:>10}")
    for name, label in (("core", "holder_row_by_ssn"), ("orm", "holder_by_ssn (ORM)")):
        f = figures[name]
        print(f"{label:<24}{f['p50_us']:>10}{f['p99_us']:>10}{figures[name + '_p50_ratio']:>11}"
              f"{figures[name + '_p99_ratio']:>11}")


if __name__ == "__main__":
    main()
