"""`sscard db import` on a SQLite store at the newest migration with the standard library's sqlite3 only.

Loading SQLAlchemy, SQLModel and Alembic costs a 100k-row import about as much as the import itself (issue 13's
goal: the whole process at least 0.8x a raw sqlite3 executemany). The file is read and every row judged by the
same code as `holder_db.bulk` (`holder_db.importfile.classify` with `validate.holder_row` and `name_problem`);
only the writing differs: one transaction, an executemany of `INSERT ... ON CONFLICT (ssn) DO NOTHING`, and
only when some rows did not go in, the stored rows for the batch's ID numbers are read back to tell a skip from
a conflict (or, with `update`, a correction audited field by field, as `bulk._reconcile` does). An interrupted
import stores nothing. A test holds both roads' rows, reports and audit rows equal.
"""
from __future__ import annotations

import gc
import itertools
import sqlite3
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable

from holder_db.fastread import NotFast, _timestamp, head
from holder_db.importfile import (HOLDER_COMPARE, HOLDER_HEADER, ImportResult, Rejection, classify,
                                  conflict_reason, correction_detail, read_csv)
from holder_db.validate import holder_row, name_problem

BATCH = 50_000
_LOOKUP = 500
_COLUMNS = HOLDER_HEADER + ("created_at",)
_INSERT = (f"INSERT INTO holders ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
           "ON CONFLICT (ssn) DO NOTHING")
_ROW = itemgetter(*HOLDER_HEADER)


def _key(values: dict[str, Any]) -> str:
    return values["ssn"]


def _warn(values: dict[str, Any]) -> str | None:
    return name_problem(values["name"])


def import_holders(path: str, source: str | Path, *, progress: Callable[[int], None] | None = None,
                   encoding: str | None = None, update: bool = False, actor: str = "import",
                   batch_size: int = BATCH) -> ImportResult:
    """What `bulk.import_csv(engine, source, bulk.HOLDER_IMPORT, ...)` does, on the SQLite file at `path`.
    NotFast (nothing stored) when the short road does not apply or the database answers with an error; the
    full road then runs and names it. `ImportFileError` as on the full road."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise NotFast(str(exc)) from None
    enabled = gc.isenabled()
    gc.disable()  # as in bulk.import_rows: plain dicts and strings, no cycles to collect
    try:
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if version is None or version[0] != head():
                raise NotFast("the schema is not at the newest migration")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise NotFast(str(exc)) from None
        result = ImportResult()
        rows = read_csv(source, HOLDER_HEADER, encoding=encoding, result=result)
        try:
            conn.execute("BEGIN IMMEDIATE")
            _import(conn, rows, result, progress, update, actor, batch_size)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise NotFast(str(exc)) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
        if enabled:
            gc.enable()
    result.rejected.sort(key=lambda r: r.line)
    return result


def _import(conn: sqlite3.Connection, rows: Any, result: ImportResult, progress: Callable[[int], None] | None,
            update: bool, actor: str, batch_size: int) -> None:
    seen: dict[Any, tuple[int, dict[str, Any]]] = {}
    now = _timestamp()
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            break
        good, lines = classify(chunk, holder_row, _key, HOLDER_COMPARE, _warn, "holder", seen, result)
        if good:
            good.sort(key=_key)
            for r in good:
                r["birth_date"] = r["birth_date"].isoformat()  # as SQLAlchemy's Date writes it into SQLite
            before = conn.total_changes
            conn.executemany(_INSERT, [(*_ROW(r), now) for r in good])
            inserted = conn.total_changes - before
            others = len(good) - inserted
            if others:
                others -= _reconcile(conn, good, lines, update, actor, result)
            result.imported += inserted
            result.skipped += others
        if progress:
            progress(len(chunk))


def _reconcile(conn: sqlite3.Connection, good: list[dict[str, Any]], lines: dict[Any, int], update: bool,
               actor: str, result: ImportResult) -> int:
    """`bulk._reconcile` for holders: the stored rows of the batch's ID numbers, compared field by field."""
    by_key = {r["ssn"]: r for r in good}
    keys = list(by_key)
    handled = 0
    columns = ", ".join(HOLDER_COMPARE)
    for i in range(0, len(keys), _LOOKUP):
        part = keys[i:i + _LOOKUP]
        stored = conn.execute(f"SELECT id, ssn, {columns} FROM holders WHERE ssn IN ({', '.join('?' * len(part))})",
                              part).fetchall()
        for holder_id, ssn, *values in stored:
            mine = by_key[ssn]
            old = dict(zip(HOLDER_COMPARE, values))
            differ = [c for c in HOLDER_COMPARE if old[c] != mine[c]]
            if not differ:
                continue
            handled += 1
            line = lines.get(ssn, 0)
            if not update:
                result.rejected.append(Rejection(line, conflict_reason("holder", differ)))
                continue
            conn.execute(f"UPDATE holders SET {', '.join(f'{c} = ?' for c in differ)} WHERE id = ?",
                         (*(mine[c] for c in differ), holder_id))
            from cardlib.idnumber import mask

            at = _timestamp()
            conn.executemany("INSERT INTO audit (at, actor, action, subject, holder_id, sensitive, detail, purpose, "
                             "fields) VALUES (?, ?, 'holder.corrected', ?, ?, 0, ?, '', '')",
                             [(at, actor, mask(ssn), holder_id, correction_detail(c, old[c], mine[c], line))
                              for c in differ])
            result.updated += 1
    return handled
