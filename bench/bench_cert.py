"""Certification at scale (issue 15): the silent pass (`sscard cert run`) and the payment batch (`sscard terminal
pay`) over a store of --holders pensioners, on SQLite and on PostgreSQL, each phase in a process of its own so its
peak memory (ru_maxrss) is its own. Both must stream: peak memory must not grow with the store.

The store: every holder has an active card and a pension for 2026-06; 30% have a medical settlement in 2026, 20% a
kiosk visit with card and PIN in the audit trail, 10% a transit ride, 10% another department's activity record, 30%
nothing (1% of those a death). The silent pass (year 2026, as of 2026-06-30) certifies 70%; the payment (as of
2026-07-01, grace 90 days) pays those and holds the rest as not_certified.

Baselines in the same run: the silent pass against the per-holder loop it replaces (the same evidence looked up
one holder at a time, read-only, on a sample of --sample holders); the payment against its own first batch (rows/s
over the whole run against the first --batch rows: a run that slows down as it goes does not stream).

    .venv/bin/python bench/bench_cert.py [--holders 1000000] [--postgres URL|auto] [--no-sqlite] [--json]

--postgres auto starts a throwaway PostgreSQL server (tests/plugins/postgres.py; run it under the isolation
wrapper), URL uses an empty database.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

YEAR, AS_OF, PAY_DAY, PERIOD = 2026, dt.date(2026, 6, 30), dt.date(2026, 7, 1), "2026-06"
CHUNK = 50_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the store ------------------------------------------------------------------------------------------------

def _ssn(i: int) -> tuple[str, dt.date]:
    from cardlib.idnumber import check_char

    born = dt.date(1940, 1, 1) + dt.timedelta(days=(i // 1000) % 7000)
    body = f"110101{born:%Y%m%d}{i % 1000:03d}"
    return body + check_char(body), born


def rows(n: int) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """(table, row) for n holders, ids 1..n, generated as they are written."""
    stamp = "2026-01-01 00:00:00"
    for i in range(n):
        hid = i + 1
        ssn, born = _ssn(i)
        yield "holders", (hid, ssn, "测试", "1" if int(ssn[16]) % 2 else "2", "01", born.isoformat(), "", "110101", stamp)
        yield "cards", (hid, hid, f"B{i:08d}", "110101", "active", stamp, stamp)
        yield "entitlements", (hid, f"P{i:08d}", ssn, "pension", PERIOD, 300000, f"6222{i:012d}", "due", stamp)
        kind, day = i % 10, dt.date(2026, 1 + i % 6, 1 + i % 28)
        when = f"{day.isoformat()} 10:00:00"
        if kind < 3:
            yield "settlements", (hid, f"S{i:08d}", hid, YEAR, when)
        elif kind < 5:
            yield "audit", (hid, when, "terminal:k1", "pages.kiosk_visit", hid, False)
        elif kind < 7:
            yield "shared_records", (hid, ssn, "activity", day.isoformat(), "transit" if kind == 5 else "import", stamp)
        elif i % 100 == 99:
            yield "shared_records", (hid, ssn, "death", "2026-02-01", "import", stamp)


COLUMNS = {
    "holders": "id, ssn, name, gender, nation, birth_date, birthplace, region, created_at",
    "cards": "id, holder_id, card_no, region, status, created_at, status_at",
    "entitlements": "id, entitlement_id, ssn, benefit, period, amount, bank_account, status, created_at",
    "settlements": "id, settlement_id, holder_id, year, created_at",
    "audit": "id, at, actor, action, holder_id, sensitive",
    "shared_records": "id, ssn, kind, date, source, created_at",
}


def seed(url: str, n: int) -> float:
    from holder_db import store

    store.init(url)
    t = time.perf_counter()
    batches: dict[str, list[tuple[Any, ...]]] = {k: [] for k in COLUMNS}
    if store.is_sqlite(url):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")

        def flush(table: str) -> None:
            cols = COLUMNS[table]
            marks = ", ".join("?" * len(cols.split(",")))
            conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batches[table])
            batches[table].clear()

        conn.execute("BEGIN")
        for table, row in rows(n):
            batches[table].append(row)
            if len(batches[table]) >= 20_000:
                flush(table)
        for table in COLUMNS:
            flush(table)
        conn.execute("COMMIT")
        conn.close()
    else:
        import psycopg

        from holder_db.store import get_engine

        tmp = Path(tempfile.mkdtemp(prefix="bench-cert-copy-"))
        files = {k: (tmp / f"{k}.tsv").open("w", encoding="utf-8") for k in COLUMNS}
        for table, row in rows(n):  # one pass, a tab-separated file per table, then one COPY per table
            files[table].write("\t".join(str(v) for v in row) + "\n")
        for f in files.values():
            f.close()
        raw = get_engine(url).raw_connection()
        try:
            pg: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
            for table in COLUMNS:
                with pg.cursor() as cur, cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy, \
                        (tmp / f"{table}.tsv").open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
            with pg.cursor() as cur:
                for table in COLUMNS:
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))")
            pg.commit()
            pg.autocommit = True
            with pg.cursor() as cur:
                cur.execute("ANALYZE")
        finally:
            raw.close()
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
    return time.perf_counter() - t


# ---- the phases, each in its own process -----------------------------------------------------------------------

def phase_silent(url: str, sample: int) -> dict[str, Any]:
    from sqlalchemy import bindparam, select

    from holder_db import certification as cert
    from holder_db import store

    engine = store.get_engine(url)
    base = peak_mb()
    # the baseline: the same evidence, one holder at a time (what a Python loop over holders would do), read-only,
    # each rule's statement built once and run with the holder's id bound
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(cert.H.c.id).order_by(cert.H.c.id).limit(sample))]
        lookups = []
        for rule in cert.rules():
            first, last = cert.window(rule, YEAR, AS_OF)
            table, newest, ref, day = cert._evidence(conn, rule, first, last)
            lookups.append(select(ref, day).select_from(cert.H.join(table, table.c.id == newest))
                           .where(cert.H.c.id == bindparam("hid"), cert._candidates(YEAR, last)))
    t = time.perf_counter()
    found = 0
    with engine.connect() as conn:
        for hid in ids:
            for stmt in lookups:
                if conn.execute(stmt, {"hid": hid}).first() is not None:
                    found += 1
                    break
    loop_s = time.perf_counter() - t
    t = time.perf_counter()
    certified = 0
    steps = cert.steps(engine, CHUNK)
    for step in steps:
        certified += cert.run_step(engine, step, YEAR, AS_OF)
    seconds = time.perf_counter() - t
    report = cert.report(engine, YEAR, AS_OF).as_dict()
    holders = report["pensioners"]
    return {"seconds": round(seconds, 2), "rows_per_s": round(holders / seconds), "certified": certified,
            "steps": len(steps), "due": report["due"], "deceased": report["deceased"],
            "loop_rows_per_s": round(len(ids) / loop_s), "loop_sample": len(ids), "loop_found": found,
            "ratio": round((holders / seconds) / (len(ids) / loop_s), 1), "base_rss_mb": round(base, 1),
            "peak_rss_mb": round(peak_mb(), 1)}


class TimeUp(Exception):
    pass


def phase_pay(url: str, batch: int, seconds_cap: float) -> dict[str, Any]:
    """The payment batch, to the end or for `seconds_cap` seconds (then rows/s and memory so far, and the time the
    whole run would take at that rate)."""
    from holder_db import store
    from terminal import payment
    from terminal.dbstore import DbStore

    db = DbStore(store.get_engine(url))
    total = db.count_due(PERIOD)
    base = peak_mb()
    marks: list[tuple[float, int]] = []
    done = [0]
    started: list[float] = []
    t = time.perf_counter()

    def progress(decisions: Any) -> Any:
        for d in decisions:
            if not started:
                started.append(time.perf_counter() - t)  # shared accounts and the first page read
            if seconds_cap and time.perf_counter() - t > seconds_cap:
                raise TimeUp
            yield d
            done[0] += 1
        marks.append((time.perf_counter() - t, done[0]))

    counts: dict[str, int] = {}
    try:
        outcome = payment.pay_period(db, PERIOD, today=PAY_DAY, batch=batch, keep=False, mark_held=True,
                                     progress=progress)
        counts = dict(outcome.counts)
        finished = True
    except TimeUp:
        finished = False
    seconds = time.perf_counter() - t
    from holder_db import ledger

    balanced = ledger.check(url).ok  # double entry: every page's legs sum to zero, balances match postings
    n = done[0]
    first = marks[0][1] / marks[0][0] if marks else None
    rate = n / seconds
    return {"seconds": round(seconds, 2), "finished": finished, "entitlements": total, "processed": n,
            "setup_seconds": round(started[0], 2) if started else None,
            "rows_per_s": round(rate), "first_batch_rows_per_s": round(first) if first else None,
            "ratio_to_first_batch": round(rate / first, 2) if first else None, **counts,
            "whole_run_hours_at_this_rate": round(total / rate / 3600, 2), "batches_done": len(marks),
            "ledger_balanced": balanced, "base_rss_mb": round(base, 1), "peak_rss_mb": round(peak_mb(), 1)}


def run_phase(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", name, "--url", url, "--sample", str(args.sample), "--batch",
           str(args.batch), "--pay-seconds", str(args.pay_seconds)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)


def engine_run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"seed_seconds": round(seed(url, args.holders), 1)}
    from holder_db import store

    store.dispose(url)
    log(f"  seeded {args.holders} holders in {out['seed_seconds']} s")
    out["silent"] = run_phase("silent", url, args)
    log(f"  silent pass: {out['silent']}")
    out["pay"] = run_phase("pay", url, args)
    log(f"  payment: {out['pay']}")
    return out


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holders", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=2000, help="holders in the per-holder loop baseline")
    ap.add_argument("--batch", type=int, default=5000, help="payment batch size")
    ap.add_argument("--pay-seconds", type=float, default=0, help="stop the payment after this long (0: run it out)")
    ap.add_argument("--postgres", metavar="URL|auto", help="also on PostgreSQL: an empty database, or auto")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--phase", choices=["silent", "pay"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        result = (phase_silent(args.url, args.sample) if args.phase == "silent"
                  else phase_pay(args.url, args.batch, args.pay_seconds))
        print(json.dumps(result))
        return
    out: dict[str, Any] = {"holders": args.holders}
    with tempfile.TemporaryDirectory(prefix="bench-cert-") as tmp:
        if not args.no_sqlite:
            log("SQLite")
            out["sqlite"] = engine_run(f"sqlite:///{Path(tmp) / 'cert.db'}", args)
        if args.postgres:
            log("PostgreSQL")
            server = None
            url = args.postgres
            if url == "auto":
                from tests.plugins.postgres import PostgresServer

                server = PostgresServer()
                server.start()
                url = server.create_database("bench_cert")
            try:
                out["postgres"] = engine_run(url, args)
            finally:
                if server is not None:
                    server.stop()
    if args.json:
        print(json.dumps(out))
        return
    for name in ("sqlite", "postgres"):
        if name in out:
            s, p = out[name]["silent"], out[name]["pay"]
            print(f"{name:9s} silent pass {s['rows_per_s']:>9,d} holders/s ({s['ratio']}x the per-holder loop's "
                  f"{s['loop_rows_per_s']:,d}), peak {s['peak_rss_mb']} MB; payment {p['rows_per_s']:>7,d} rows/s "
                  f"({p['ratio_to_first_batch']}x its first batch, {p['processed']:,d} of {p['entitlements']:,d}), "
                  f"peak {p['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
