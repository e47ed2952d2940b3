"""Bulk import: validate rows with their line numbers, insert the good ones in batches, report the bad ones.

Generic over the table: `sscard db import` (holders) uses it, and so can any other importer (entitlements,
shared records). Inserts are batched `INSERT ... ON CONFLICT DO NOTHING` (an executemany on SQLite, one statement
over column arrays on PostgreSQL), so a row already in the database with the same data is `skipped`, importing the
same file twice adds nothing, and concurrent importers do not collide. A row whose key (ID number, entitlement id)
is already there with *different* data is a conflict, rejected with the fields that differ, unless the import is
told to `update`: then the differing fields are corrected, each one audited.

Every data line is accounted for: imported + updated + skipped + rejected lines = the file's non-blank data lines
(`ImportResult.rows`). A quote left open swallows the lines after it into one record: that record is rejected
naming the line range it swallowed, and `broken_at` names the line where the structure broke.

    result = import_csv(engine, path, HOLDER_IMPORT)
    result.as_dict()  # {"rows": N, "imported": N, "skipped": N, "rejected": [{"line": L, "reason": "field: why"}]}
"""
from __future__ import annotations

import gc
import io
import itertools
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import models
from holder_db.importfile import (ENCODINGS, HOLDER_COMPARE, HOLDER_HEADER, ImportFileError, ImportResult,  # noqa: F401
                                  Rejection, Warning_, classify, conflict_reason, correction_detail, decode,
                                  read_csv)
from holder_db.validate import holder_row, name_problem

BATCH = 50_000
_LOOKUP = 500  # keys per IN (...) when comparing rows with what the store holds


@dataclass(frozen=True)
class ImportSpec:
    """What one kind of import needs: the table, the file header, how to check a row, and what makes a row unique.

    `validate` takes the row as a dict of stripped-or-not strings (header -> value) and returns the column values
    to insert, raising `FieldError` (or any ValueError whose message names the field) for a bad row; it must not
    put a full ID number in the message. `key` gives the identity used to spot duplicates inside the file;
    `conflict` names the unique columns for ON CONFLICT DO NOTHING (None: any unique constraint). `compare` names
    the columns that must agree for a repeated key to be the same row (else: a conflict); `frozen` is a (column,
    values) pair: stored rows in those states are never corrected (a paid entitlement). `warn` gives a warning
    for a valid row (a name no card can carry). `defaults` gives constant columns (e.g. created_at), computed once
    per import; `subject` says what a correction is audited as.
    """

    table: Table
    header: tuple[str, ...]
    validate: Callable[[Mapping[str, str]], dict[str, Any]]
    key: Callable[[dict[str, Any]], Hashable]
    conflict: tuple[str, ...] | None = None
    defaults: Callable[[], dict[str, Any]] = dict
    compare: tuple[str, ...] = ()
    frozen: tuple[str, tuple[str, ...]] | None = None
    warn: Callable[[dict[str, Any]], str | None] | None = None
    subject: str = "row"


HOLDER_IMPORT = ImportSpec(
    table=models.Holder.__table__,  # type: ignore[attr-defined]
    header=HOLDER_HEADER,
    validate=holder_row,
    key=lambda values: values["ssn"],
    conflict=("ssn",),
    defaults=lambda: {"created_at": models.utcnow()},
    compare=HOLDER_COMPARE,
    warn=lambda values: name_problem(values["name"]),
    subject="holder",
)


def insert_batch(conn: Connection, table: Table, rows: list[dict[str, Any]],
                 conflict: tuple[str, ...] | None = None, constants: Mapping[str, Any] | None = None) -> int:
    """Insert rows (dicts with the same keys; converted in place to what the driver takes), each with the
    `constants` columns added, ignoring rows that collide with a unique constraint; returns how many went in.

    The statement is compiled once and column types are applied with a per-value memo (constants once); SQLite
    gets an executemany of tuples, PostgreSQL one `INSERT ... SELECT FROM unnest(...)` with an array per column.
    SQLAlchemy's per-row parameter handling would cost more than the validation."""
    if not rows:
        return 0
    constants = dict(constants or {})
    columns = tuple(rows[0]) + tuple(c for c in constants if c not in rows[0])
    sql, order, converters = _compiled(conn.dialect, table, conflict, columns)
    for column, convert in converters:
        if column in constants:
            constants[column] = convert(constants[column])
        else:
            for r in rows:
                r[column] = convert(r[column])
    params: Any
    if order is None:  # PostgreSQL: one INSERT ... SELECT FROM unnest(column arrays) per batch
        params = tuple([r[c] for r in rows] if c not in constants else [constants[c]] * len(rows) for c in columns)
    else:
        own = tuple(c for c in order if c not in constants)
        if len(own) > 1 and order[:len(own)] == own:  # the usual case: constants (created_at...) come last
            tail = tuple(constants[c] for c in order[len(own):])
            get = itemgetter(*own)
            params = [get(r) + tail for r in rows]
        else:
            for r in rows:
                r.update(constants)
            get = itemgetter(*order)
            params = [get(r) if len(order) > 1 else (get(r),) for r in rows]
    result = conn.exec_driver_sql(sql, params)
    return max(result.rowcount, 0)


_compiled_cache: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None, list[tuple[str, Callable[[Any], Any]]]]] = {}


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            out = cache[value] = process(value)
            if len(cache) > 100_000:
                cache.clear()
            return out
        except TypeError:  # unhashable
            return process(value)

    return convert


def _compiled(dialect: Any, table: Table, conflict: tuple[str, ...] | None, columns: tuple[str, ...]
              ) -> tuple[str, tuple[str, ...] | None, list[tuple[str, Callable[[Any], Any]]]]:
    """The statement for the driver, the column order of its positional parameters (None: PostgreSQL, which
    takes one array per column), and the type conversions to apply."""
    key = (dialect.name, dialect.paramstyle, table.name, conflict, columns)
    hit = _compiled_cache.get(key)
    if hit is None:
        if dialect.name not in ("postgresql", "sqlite"):
            raise ImportFileError(f"bulk import does not support the {dialect.name} dialect")
        stmt = (postgresql if dialect.name == "postgresql" else sqlite).insert(table)
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict) if conflict else None)
        stmt = stmt.values({c: bindparam(c) for c in columns})
        converters = [(c, _memo(proc)) for c in columns
                      if (proc := table.c[c].type._cached_bind_processor(dialect)) is not None]
        if dialect.name == "sqlite":  # qmark: sqlite3 binds a tuple faster than a dict
            compiled = stmt.compile(dialect=type(dialect)(paramstyle="qmark"))
            hit = (compiled.string, tuple(compiled.positiontup or columns), converters)
        else:  # one statement per batch, the rows passed as one array per column
            preparer = dialect.identifier_preparer
            arrays = ", ".join(f"%s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
            target = f" ({', '.join(preparer.quote(c) for c in conflict)})" if conflict else ""
            sql = (f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.quote(c) for c in columns)}) "
                   f"SELECT * FROM unnest({arrays}) ON CONFLICT{target} DO NOTHING")
            hit = (sql, None, converters)
        _compiled_cache[key] = hit
    return hit


def import_rows(engine: Engine, rows: Iterable[tuple[int, int, Mapping[str, str]]], spec: ImportSpec, *,
                batch_size: int = BATCH, progress: Callable[[int], None] | None = None, update: bool = False,
                actor: str = "import", result: ImportResult | None = None) -> ImportResult:
    """Validate each (line, lines spanned, row); insert valid rows in batches (each batch its own transaction, so
    a crash keeps what was committed and a rerun completes the rest); collect the rejected with line and reason.
    A key already stored with other data is a conflict, or with `update` a correction (audited as `actor`).
    `progress(n)` is called with the number of rows just handled. The cyclic garbage collector is paused for the
    duration: the rows are plain dicts and strings that hold no cycles, so its passes over them free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _import_rows(engine, rows, spec, batch_size, progress, update, actor, result or ImportResult())
    finally:
        if enabled:
            gc.enable()


def _import_rows(engine: Engine, rows: Iterable[tuple[int, int, Mapping[str, str]]], spec: ImportSpec,
                 batch_size: int, progress: Callable[[int], None] | None, update_: bool, actor: str,
                 result: ImportResult) -> ImportResult:
    seen: dict[Hashable, tuple[int, dict[str, Any]]] = {}
    defaults = spec.defaults()
    compare = spec.compare
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            break
        good, lines = classify(chunk, spec.validate, spec.key, compare, spec.warn, spec.subject, seen, result)
        if good and spec.conflict:
            # in key order the unique index fills page by page (about 15% faster on SQLite), and concurrent
            # importers take their locks in one order
            try:
                good.sort(key=itemgetter(*spec.conflict))
            except TypeError:
                pass
        if good:
            with engine.begin() as conn:
                inserted = insert_batch(conn, spec.table, good, spec.conflict, defaults)
                others = len(good) - inserted
                if others and compare and spec.conflict:
                    others -= _reconcile(conn, spec, good, lines, update_, actor, result)
            result.imported += inserted
            result.skipped += others
        if progress:
            progress(len(chunk))
    result.rejected.sort(key=lambda r: r.line)  # conflicts with the store are found in key order
    return result


def _reconcile(conn: Connection, spec: ImportSpec, good: list[dict[str, Any]], lines: Mapping[Hashable, int],
               update_: bool, actor: str, result: ImportResult) -> int:
    """Compare the batch's rows that did not go in with the stored rows of the same key: a difference is a
    conflict (rejected) or, with `update_`, a correction applied field by field and audited. Returns how many
    rows were counted that way (the rest were the same: skipped). The rows converted by insert_batch are
    compared in their converted form, like what the driver returns."""
    from holder_db import audit

    table = spec.table
    (key_col,) = spec.conflict or ("",)
    column = table.c[key_col]
    extra = [table.c[spec.frozen[0]]] if spec.frozen else []
    by_key = {r[key_col]: r for r in good}
    handled = 0
    keys = list(by_key)
    for i in range(0, len(keys), _LOOKUP):
        stored = conn.execute(select(table.c.id, column, *[table.c[c] for c in spec.compare], *extra)
                              .where(column.in_(keys[i:i + _LOOKUP]))).mappings().all()
        for row in stored:
            mine = by_key[row[key_col]]
            differ = [c for c in spec.compare if row[c] != mine[c]]
            if not differ:
                continue
            handled += 1
            line = lines.get(row[key_col], 0)
            if spec.frozen and row[spec.frozen[0]] in spec.frozen[1]:
                result.rejected.append(Rejection(line, conflict_reason(spec.subject, differ,
                                                                       row[spec.frozen[0]])))
                continue
            if not update_:
                result.rejected.append(Rejection(line, conflict_reason(spec.subject, differ)))
                continue
            conn.execute(update(table).where(table.c.id == row["id"]).values({c: mine[c] for c in differ}))
            ssn = mine.get("ssn") if isinstance(mine.get("ssn"), str) else None
            holder_id = row["id"] if spec.subject == "holder" else None
            for c in differ:
                audit.record(conn, actor, f"{spec.subject}.corrected", ssn=ssn, holder_id=holder_id,
                             detail=correction_detail(c, row[c], mine[c], line))
            result.updated += 1
    return handled


def import_csv(engine: Engine, source: str | Path | io.TextIOBase, spec: ImportSpec, *, batch_size: int = BATCH,
               progress: Callable[[int], None] | None = None, encoding: str | None = None, update: bool = False,
               actor: str = "import") -> ImportResult:
    """Import a CSV file under `spec` (see `read_csv` for the format and `import_rows` for the semantics)."""
    result = ImportResult()
    rows = read_csv(source, spec.header, encoding=encoding, result=result)
    return import_rows(engine, rows, spec, batch_size=batch_size, progress=progress, update=update, actor=actor,
                       result=result)
