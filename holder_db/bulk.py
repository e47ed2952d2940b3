"""Bulk import: validate rows with their line numbers, insert the good ones in batches, report the bad ones.

Generic over the table: `sscard db import` (holders) uses it, and so can any other importer (entitlements,
shared records). Inserts are batched `INSERT ... ON CONFLICT DO NOTHING` (an executemany on SQLite, one statement
over column arrays on PostgreSQL), so a row already in the database is `skipped`, importing the same file twice
adds nothing, and concurrent importers do not collide.

    result = import_csv(engine, path, HOLDER_IMPORT)
    result.as_dict()  # {"imported": N, "skipped": N, "rejected": [{"line": L, "reason": "field: why"}]}
"""
from __future__ import annotations

import codecs
import csv
import gc
import io
import itertools
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import models
from holder_db.validate import holder_row

BATCH = 50_000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, not UTF-8 at the header, wrong header): raised before anything
    is inserted. A CSV error the reader cannot get past later in the file also raises it; the batches committed
    before it stay, and a rerun after the fix adds only the rest."""


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped,
                "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected]}


@dataclass(frozen=True)
class ImportSpec:
    """What one kind of import needs: the table, the file header, how to check a row, and what makes a row unique.

    `validate` takes the row as a dict of stripped-or-not strings (header -> value) and returns the column values
    to insert, raising `FieldError` (or any ValueError whose message names the field) for a bad row; it must not
    put a full ID number in the message. `key` gives the identity used to spot duplicates inside the file (rows
    with a key seen before are skipped); `conflict` names the unique columns for ON CONFLICT DO NOTHING (None: any
    unique constraint). `defaults` gives constant columns (e.g. created_at), computed once per import.
    """

    table: Table
    header: tuple[str, ...]
    validate: Callable[[Mapping[str, str]], dict[str, Any]]
    key: Callable[[dict[str, Any]], Hashable]
    conflict: tuple[str, ...] | None = None
    defaults: Callable[[], dict[str, Any]] = dict


HOLDER_IMPORT = ImportSpec(
    table=models.Holder.__table__,  # type: ignore[attr-defined]
    header=("ssn", "name", "gender", "nation", "birth_date", "birthplace", "region"),
    validate=holder_row,
    key=lambda values: values["ssn"],
    conflict=("ssn",),
    defaults=lambda: {"created_at": models.utcnow()},
)


def read_csv(source: str | Path | io.TextIOBase, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a UTF-8 CSV (a BOM is accepted) whose header is exactly `header`
    (in any order). Line numbers count the header as line 1, as an editor shows them."""
    if isinstance(source, (str, Path)):
        clean = _is_utf8_file(Path(source))
        with open(source, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            yield from _read(handle, header, check_text=not clean)
    else:
        yield from _read(source, header, check_text=True)


def _is_utf8_file(path: Path) -> bool:
    """Whether the whole file is UTF-8 (checked in C, a megabyte at a time), so rows need no check of their own."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read(handle: Any, header: Sequence[str], check_text: bool) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(handle)
    try:
        first = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty: expected the header " + ",".join(header)) from None
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text") from None
    if not _is_text(first):
        raise ImportFileError("the header is not UTF-8 text")
    if first and first[0].startswith("\ufeff"):
        first[0] = first[0][1:]
    names = [h.strip() for h in first]
    if sorted(names) != sorted(header):
        missing = [h for h in header if h not in names]
        extra = len([n for n in names if n not in header])
        # the columns found are not echoed: a file without a header has a holder's data on its first line
        raise ImportFileError(f"the header must be {','.join(header)} (missing: {','.join(missing) or 'none'}; "
                              f"{extra} other column(s); {len(names) - len(set(names))} repeated)")
    width = len(names)
    last = reader.line_num
    while True:
        try:
            for cells in reader:
                line = last + 1
                last = reader.line_num
                if len(cells) != width:
                    if cells:
                        yield line, {"__error__": f"row: has {len(cells)} fields, the header has {width}"}
                    continue
                if check_text and not _is_text(cells):
                    yield line, {"__error__": "row: the line is not UTF-8 text"}
                    continue
                yield line, dict(zip(names, cells))
            return
        except csv.Error as exc:
            if reader.line_num == last:
                raise ImportFileError(f"line {last + 1}: {exc}") from None
            yield last + 1, {"__error__": f"row: not readable as CSV ({exc})"}
            last = reader.line_num


def _is_text(cells: list[str]) -> bool:
    """False when a cell holds bytes that were not UTF-8 (kept as lone surrogates by the reader)."""
    try:
        "".join(cells).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def import_rows(engine: Engine, rows: Iterable[tuple[int, Mapping[str, str]]], spec: ImportSpec, *,
                batch_size: int = BATCH, progress: Callable[[int], None] | None = None) -> ImportResult:
    """Validate each (line, row); insert valid rows in batches (each batch its own transaction, so a crash keeps
    what was committed and a rerun completes the rest); collect the rejected with line and reason.
    `progress(n)` is called with the number of rows just handled. The cyclic garbage collector is paused for the
    duration: the rows are plain dicts and strings that hold no cycles, so its passes over them free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _import_rows(engine, rows, spec, batch_size, progress)
    finally:
        if enabled:
            gc.enable()


def _import_rows(engine: Engine, rows: Iterable[tuple[int, Mapping[str, str]]], spec: ImportSpec, batch_size: int,
                 progress: Callable[[int], None] | None) -> ImportResult:
    result = ImportResult()
    rejected = result.rejected
    seen: set[Hashable] = set()
    defaults = spec.defaults()
    validate, key = spec.validate, spec.key
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            break
        good: list[dict[str, Any]] = []
        for line, row in chunk:
            error = row.get("__error__")
            if error is not None:
                rejected.append(Rejection(line, error))
                continue
            try:
                values = validate(row)
            except ValueError as exc:  # FieldError included: its message starts with the field
                rejected.append(Rejection(line, str(exc) or type(exc).__name__))
                continue
            k = key(values)
            if k in seen:
                result.skipped += 1
                continue
            seen.add(k)
            good.append(values)
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
            result.imported += inserted
            result.skipped += len(good) - inserted
        if progress:
            progress(len(chunk))
    return result


def import_csv(engine: Engine, source: str | Path | io.TextIOBase, spec: ImportSpec, *, batch_size: int = BATCH,
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Import a CSV file under `spec` (see `read_csv` for the format and `import_rows` for the semantics)."""
    return import_rows(engine, read_csv(source, spec.header), spec, batch_size=batch_size, progress=progress)
