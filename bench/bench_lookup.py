"""Holder lookup by ID number at 1M holders: p50/p99 in microseconds for holder_db's queries (the ORM lookup the
terminals use, and a Core row lookup) against a raw sqlite3 SELECT on the same file and index, in the same run.

    .venv/bin/python bench/bench_lookup.py [--holders 1000000] [--lookups 20000] [--db FILE] [--postgres URL] [--json]

The database is seeded with bulk Core inserts (validation skipped for speed: the generator makes valid holders);
with --db FILE an existing seeded file is reused. With --postgres URL the same is measured on PostgreSQL against
a raw psycopg SELECT.
"""
from __future__ import annotations

import argparse
import gc
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


def seeded(url: str, holders: int, lookups: int) -> tuple[int, float, list[str]]:
    """Make sure the database holds `holders` holders; return the count, the seeding time and keys to look up."""
    engine = store.get_engine(url)
    with engine.connect() as conn:
        have = conn.execute(select(models.Holder.id).order_by(models.Holder.id.desc()).limit(1)).scalar() or 0
    seed_s = 0.0
    if have < holders:
        t = time.perf_counter()
        seed.seed(engine, holders, seed=7, validate=False)
        seed_s = time.perf_counter() - t
    rng = random.Random(1)
    with engine.connect() as conn:
        count = conn.execute(select(models.Holder.id).order_by(models.Holder.id.desc()).limit(1)).scalar()
        wanted = {rng.randrange(1, count + 1) for _ in range(lookups)}
        found = [s for i, s in conn.execute(select(models.Holder.id, models.Holder.ssn)) if i in wanted]
    return count, seed_s, [found[rng.randrange(len(found))] for _ in range(lookups)]


def measure(url: str, raw_fn: Callable[[str], object], keys: list[str]) -> dict[str, list[float]]:
    """The raw lookup, holder_row_by_ssn and the ORM lookup, warmed alike and interleaved (the machine is shared).
    What the set-up left in memory is collected and frozen first, so collector passes over it are not timed."""
    gc.collect()
    gc.freeze()
    engine = store.get_engine(url)
    with store.session(url) as session, engine.connect() as core_conn:
        def orm_fn(k: str) -> object:
            h = queries.holder_by_ssn(session, k)
            session.expunge_all()
            return h

        core_fn = lambda k: queries.holder_row_by_ssn(core_conn, k)  # noqa: E731
        assert orm_fn(keys[0]).ssn == keys[0] and core_fn(keys[0])["ssn"] == keys[0]
        for fn in (raw_fn, orm_fn, core_fn):
            timed(fn, keys[:2000])
        results: dict[str, list[float]] = {"raw": [], "orm": [], "core": []}
        for _ in range(2):
            results["raw"] += timed(raw_fn, keys)
            results["orm"] += timed(orm_fn, keys)
            results["core"] += timed(core_fn, keys)
    return results


def summarise(count: int, seed_s: float, results: dict[str, list[float]]) -> dict[str, object]:
    figures: dict[str, object] = {"holders": count, "lookups": len(results["raw"]), "seed_s": round(seed_s, 1),
                                  **{name: percentiles(samples) for name, samples in results.items()}}
    for name in ("orm", "core"):
        figures[f"{name}_p50_ratio"] = round(figures[name]["p50_us"] / figures["raw"]["p50_us"], 2)  # type: ignore[index]
        figures[f"{name}_p99_ratio"] = round(figures[name]["p99_us"] / figures["raw"]["p99_us"], 2)  # type: ignore[index]
    return figures


def show(title: str, baseline: str, figures: dict) -> None:  # type: ignore[type-arg]
    print(f"{title}: holders {figures['holders']}, lookups {figures['lookups']}"
          + (f", seeded in {figures['seed_s']} s" if figures["seed_s"] else ""))
    print(f"  {'':24}{'p50 us':>10}{'p99 us':>10}{'x raw p50':>11}{'x raw p99':>11}")
    print(f"  {baseline:<24}{figures['raw']['p50_us']:>10}{figures['raw']['p99_us']:>10}")
    for name, label in (("core", "holder_row_by_ssn"), ("orm", "holder_by_ssn (ORM)")):
        f = figures[name]
        print(f"  {label:<24}{f['p50_us']:>10}{f['p99_us']:>10}{figures[name + '_p50_ratio']:>11}"
              f"{figures[name + '_p99_ratio']:>11}")


SQL = "SELECT id, ssn, name, gender, nation, birth_date, birthplace, region, created_at FROM holders WHERE ssn = "


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holders", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--db", type=Path, default=None, help="reuse (or create) this SQLite file")
    ap.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL database (seeded if short)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "lookup.db"
        url = f"sqlite:///{path}"
        store.create_all(url)
        count, seed_s, keys = seeded(url, args.holders, args.lookups)
        raw = sqlite3.connect(path)
        try:
            out["sqlite"] = summarise(count, seed_s, measure(url, lambda k: raw.execute(SQL + "?", (k,)).fetchone(),
                                                             keys))
        finally:
            raw.close()
            store.dispose(url)
    if args.postgres:
        import psycopg

        url = store.resolve_url(args.postgres)
        store.init(url)
        count, seed_s, keys = seeded(url, args.holders, args.lookups)
        u = store.get_engine(url).url
        with psycopg.connect(host=u.query.get("host") or u.host, port=u.query.get("port") or u.port,
                             user=u.username, password=u.password, dbname=u.database, autocommit=True) as pg:
            out["postgres"] = summarise(count, seed_s, measure(
                url, lambda k: pg.execute(SQL + "%s", (k,)).fetchone(), keys))
        store.dispose(url)
    if args.json:
        print(json.dumps(out))
        return
    show("SQLite", "raw sqlite3", out["sqlite"])  # type: ignore[arg-type]
    if "postgres" in out:
        show("PostgreSQL", "raw psycopg", out["postgres"])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
