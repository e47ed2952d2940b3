"""Bulk holder import: `holder_db.bulk` (CSV read, every row validated, batched INSERT ... ON CONFLICT DO NOTHING)
against the floor of a raw sqlite3 `executemany` of the same rows from the same file into an identical table, in
the same run (alternating, best of --repeat each, as the machine is shared): the library call against the raw
loop in process, and end to end, `sscard db import FILE` as a process against a process running the raw loop.
Goal (issue 13): end to end >= 0.8x raw.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--postgres URL] [--json]

With --postgres URL (an empty database) the same import is also timed on PostgreSQL, for information (no raw
baseline there).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from holder_db import bulk, seed, store  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=bulk.HOLDER_IMPORT.header)
        w.writeheader()
        w.writerows(seed.holders(rows, seed=42))


def ours(path: Path, csv_path: Path) -> tuple[float, int]:
    engine = store.create_all(f"sqlite:///{path}")
    t = time.perf_counter()
    result = bulk.import_csv(engine, csv_path, bulk.HOLDER_IMPORT)
    elapsed = time.perf_counter() - t
    store.dispose(f"sqlite:///{path}")
    assert not result.rejected, result.rejected[:3]
    return elapsed, result.imported


def ours_postgres(url: str, csv_path: Path) -> tuple[float, int]:
    store.init(url)
    engine = store.get_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE holders CASCADE")
    t = time.perf_counter()
    result = bulk.import_csv(engine, csv_path, bulk.HOLDER_IMPORT)
    elapsed = time.perf_counter() - t
    assert not result.rejected, result.rejected[:3]
    return elapsed, result.imported


def raw(path: Path, csv_path: Path) -> tuple[float, int]:
    """The same table (created from the same metadata), the same pragmas, a plain executemany of the file's rows."""
    store.create_all(f"sqlite:///{path}")
    store.dispose(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = ("INSERT INTO holders (ssn, name, gender, nation, birth_date, birthplace, region, created_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    t = time.perf_counter()
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        conn.execute("BEGIN")
        cur = conn.executemany(sql, ((*row, now) for row in reader))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    count = conn.execute("SELECT count(*) FROM holders").fetchone()[0]
    conn.close()
    return elapsed, count


RAW_SCRIPT = """
import csv, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
with open(sys.argv[2], encoding="utf-8-sig", newline="") as f:
    reader = csv.reader(f)
    next(reader)
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO holders (ssn, name, gender, nation, birth_date, birthplace, region, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ((*row, now) for row in reader))
    conn.execute("COMMIT")
"""


def end_to_end(d: Path, csv_path: Path, i: int) -> tuple[float, float]:
    """(sscard db import as a process, the raw loop as a process), each into a freshly migrated database."""
    import subprocess

    times = []
    for name in ("cli", "rawp"):
        db = d / f"{name}{i}.db"
        store.init(f"sqlite:///{db}")
        store.dispose(f"sqlite:///{db}")
        script = Path(sys.executable).with_name("sscard")
        argv = ([str(script), "db", "import", str(csv_path), "--db", str(db), "--json"] if name == "cli"
                else [sys.executable, "-c", RAW_SCRIPT, str(db), str(csv_path)])
        # as installed: bytecode cached (with PYTHONDONTWRITEBYTECODE every module would be compiled each run)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return times[0], times[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="alternate the two this many times, keep each one's best")
    ap.add_argument("--postgres", metavar="URL", help="also time the import into this (empty) PostgreSQL database")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pg_s = None
    raw_s = ours_s = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        csv_path = d / "holders.csv"
        write_csv(csv_path, args.rows)
        cli_s = rawp_s = float("inf")
        end_to_end(d, csv_path, -1)  # once, not counted: writes the bytecode caches
        for i in range(args.repeat):
            s, raw_n = raw(d / f"raw{i}.db", csv_path)
            raw_s = min(raw_s, s)
            s, ours_n = ours(d / f"ours{i}.db", csv_path)
            ours_s = min(ours_s, s)
            a, b = end_to_end(d, csv_path, i)
            cli_s, rawp_s = min(cli_s, a), min(rawp_s, b)
        if args.postgres:
            pg_s, pg_n = ours_postgres(args.postgres, csv_path)
            assert pg_n == args.rows
    assert raw_n == ours_n == args.rows, (raw_n, ours_n)
    figures = {"rows": args.rows, "ours_rows_per_s": round(ours_n / ours_s), "raw_rows_per_s": round(raw_n / raw_s),
               "ratio": round((ours_n / ours_s) / (raw_n / raw_s), 3),
               "end_to_end_s": round(cli_s, 3), "raw_process_s": round(rawp_s, 3),
               "end_to_end_ratio": round(rawp_s / cli_s, 3), "goal": 0.8}
    if pg_s is not None:
        figures["postgres_rows_per_s"] = round(args.rows / pg_s)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"rows                {args.rows}")
        print(f"holder_db import    {figures['ours_rows_per_s']:>10} rows/s  (CSV read, validated, ON CONFLICT)")
        print(f"raw executemany     {figures['raw_rows_per_s']:>10} rows/s  (CSV read, no checks)")
        print(f"ratio               {figures['ratio']:>10}  (library call against the raw loop)")
        print(f"end to end          {figures['end_to_end_s']:>10} s  sscard db import, against "
              f"{figures['raw_process_s']} s for the raw loop as a process")
        print(f"end-to-end ratio    {figures['end_to_end_ratio']:>10}  (goal >= 0.8)")
        if pg_s is not None:
            print(f"on PostgreSQL       {figures['postgres_rows_per_s']:>10} rows/s  (same import, for information)")


if __name__ == "__main__":
    main()
