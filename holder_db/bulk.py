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

import codecs
import csv
import gc
import io
import itertools
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import models
from holder_db.validate import holder_row, name_problem

BATCH = 50_000
ENCODINGS = ("utf-8", "gb18030")  # what `--encoding` may force; detection picks one of them
_LOOKUP = 500  # keys per IN (...) when comparing rows with what the store holds


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, in neither UTF-8 nor GB18030, wrong header): raised before
    anything is inserted."""


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    lines: int = 1  # how many of the file's lines this rejection accounts for (a quote left open swallows some)


@dataclass(frozen=True)
class Warning_:
    line: int
    holder: str  # masked
    reason: str


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    rows: int = 0  # the data lines seen (blank lines aside)
    encoding: str = ""
    broken_at: int | None = None  # the line where a quote was left open, if one was

    @property
    def rejected_lines(self) -> int:
        return sum(r.lines for r in self.rejected)

    @property
    def accounted(self) -> bool:
        return self.imported + self.updated + self.skipped + self.rejected_lines == self.rows

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows, "imported": self.imported, "updated": self.updated, "skipped": self.skipped,
            "rejected": [{"line": r.line, "lines": r.lines, "reason": r.reason} for r in self.rejected],
            "warnings": [{"line": w.line, "holder": w.holder, "reason": w.reason} for w in self.warnings],
            "accounted": self.accounted}
        if self.encoding:
            out["encoding"] = self.encoding
        if self.broken_at is not None:
            out["broken_at"] = self.broken_at
        return out


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
    header=("ssn", "name", "gender", "nation", "birth_date", "birthplace", "region"),
    validate=holder_row,
    key=lambda values: values["ssn"],
    conflict=("ssn",),
    defaults=lambda: {"created_at": models.utcnow()},
    compare=("name", "nation", "birthplace", "region"),  # gender and birth date follow from the ID number
    warn=lambda values: name_problem(values["name"]),
    subject="holder",
)


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding) of a whole file's bytes: UTF-8 (with or without BOM) when every byte sequence is UTF-8,
    else GB18030 (which covers GBK, what Excel on Chinese Windows saves) when every one is that; `encoding`
    forces one. A file in neither, or one whose lines mix the two, is refused (ImportFileError) naming a line."""
    if encoding is not None:
        codec = codecs.lookup(encoding).name
        if codec not in ("utf-8", "gb18030", "gbk"):
            raise ImportFileError(f"encoding must be one of {', '.join(ENCODINGS)}")
        codec = "gb18030" if codec == "gbk" else codec  # GB18030 is a superset: a GBK file reads the same
        bom = len(codecs.BOM_UTF8) if codec == "utf-8" and data.startswith(codecs.BOM_UTF8) else 0
        try:
            return data[bom:].decode(codec), codec
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"line {_line_of(data, bom + exc.start)} is not {codec.upper()} text "
                                  "(as --encoding says the file is); nothing was imported") from None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8") if bom else data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = _line_of(data, bom + exc.start)
    if bom:
        raise ImportFileError(f"the file starts as UTF-8 (BOM) but line {first_bad} is not UTF-8 text; "
                              "nothing was imported")
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is neither UTF-8 (line {first_bad} is not) nor GB18030/GBK (line "
                              f"{_line_of(data, exc.start)} is not); save it as UTF-8 or GB18030; "
                              "nothing was imported") from None
    # A GBK line is UTF-8 by accident now and then (a name or two in a hundred); a UTF-8 file with a GBK line
    # pasted in has most of its non-ASCII lines in UTF-8. Those are refused, not read half garbled.
    utf8 = other = 0
    first_utf8 = 0
    for n, line in enumerate(data.split(b"\n"), 1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other += 1
            continue
        utf8 += 1
        first_utf8 = first_utf8 or n
    if utf8 * 2 >= other:
        raise ImportFileError(f"the file mixes encodings: line {first_utf8} is UTF-8, line {first_bad} is not; "
                              "save it in one encoding (or force one with --encoding); nothing was imported")
    return text, "gb18030"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_csv(source: str | Path | io.TextIOBase, header: Sequence[str], *, encoding: str | None = None,
             result: ImportResult | None = None) -> Iterator[tuple[int, int, dict[str, str]]]:
    """(line number, lines spanned, row) for each data row of a CSV whose header is exactly `header` (in any
    order). A file's encoding is detected (`decode`) unless `encoding` forces it; `result`, when given, gets the
    encoding and `broken_at`. Line numbers count the header as line 1, as an editor
    shows them."""
    if isinstance(source, (str, Path)):
        text, used = decode(Path(source).read_bytes(), encoding)
        if result is not None:
            result.encoding = used
        yield from _read(io.StringIO(text), header, result)
    else:
        yield from _read(source, header, result)


def _read(handle: Any, header: Sequence[str], result: ImportResult | None
          ) -> Iterator[tuple[int, int, dict[str, str]]]:
    reader = csv.reader(handle)
    first = next(reader, None)
    if first is None:
        raise ImportFileError("the file is empty: expected the header " + ",".join(header))
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
                if last == line and len(cells) == width:  # the usual row, without a call
                    yield line, 1, dict(zip(names, cells))
                elif cells:
                    yield _record(handle, cells, line, last, width, result)
            return
        except csv.Error as exc:
            if reader.line_num == last:  # the reader cannot get past it
                raise ImportFileError(f"line {last + 1}: {exc}") from None
            line = last + 1
            last = reader.line_num
            yield line, last - line + 1, {"__error__": f"row: not readable as CSV ({exc})"}


def _record(handle: Any, cells: list[str], line: int, last: int, width: int, result: ImportResult | None
            ) -> tuple[int, int, dict[str, str]]:
    """A row that spans lines or has the wrong number of fields, as a rejection."""
    span = last - line + 1
    if span > 1:  # no value of ours holds a line break: a quote was opened and closed lines later, or never
        end = cells[-1].endswith(("\n", "\r")) and _at_end(handle)  # the rest of the file, swallowed
        if (end or len(cells) != width) and result is not None and result.broken_at is None:
            result.broken_at = line  # not a value with a line break in it: the quote broke the structure
        return line, span, {"__error__": f"row: the quote opened on line {line} runs to line {last}: "
                                         f"these {span} lines were read as one row and not imported"
                                         + ("; the quote is never closed, so this is the end of the file"
                                            if end else "; reading went on after it")}
    return line, 1, {"__error__": f"row: has {len(cells)} fields, the header has {width}"}


def _at_end(handle: Any) -> bool:
    try:
        here = handle.tell()
        handle.seek(0, io.SEEK_END)
        end = handle.tell()
        handle.seek(here)
        return here == end
    except (OSError, ValueError, AttributeError):
        return False


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


def _differing(spec: ImportSpec, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [c for c in spec.compare if a[c] != b[c]]


def _import_rows(engine: Engine, rows: Iterable[tuple[int, int, Mapping[str, str]]], spec: ImportSpec,
                 batch_size: int, progress: Callable[[int], None] | None, update_: bool, actor: str,
                 result: ImportResult) -> ImportResult:
    rejected = result.rejected
    seen: dict[Hashable, tuple[int, dict[str, Any]]] = {}
    defaults = spec.defaults()
    validate, key, compare, warn = spec.validate, spec.key, spec.compare, spec.warn
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            break
        good: list[dict[str, Any]] = []
        lines: dict[Hashable, int] = {}
        lines_seen = 0
        for line, span, row in chunk:
            lines_seen += span
            if "__error__" in row:
                rejected.append(Rejection(line, row["__error__"], span))
                continue
            try:
                values = validate(row)
            except ValueError as exc:  # FieldError included: its message starts with the field
                rejected.append(Rejection(line, str(exc) or type(exc).__name__))
                continue
            k = key(values)
            first = seen.get(k)
            if first is not None:
                differ = _differing(spec, first[1], values) if compare else []
                if differ:
                    rejected.append(Rejection(line, f"conflict: the same {spec.subject} is on line {first[0]} with "
                                                    f"a different {', '.join(differ)}; nothing of this line was "
                                                    "stored"))
                else:
                    result.skipped += 1
                continue
            seen[k] = (line, values)
            if warn is not None:
                problem = warn(values)
                if problem:
                    result.warnings.append(Warning_(line, _masked(values), problem))
            lines[k] = line
            good.append(values)
        result.rows += lines_seen
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
    rejected.sort(key=lambda r: r.line)  # conflicts with the store are found in key order
    return result


def _masked(values: Mapping[str, Any]) -> str:
    from cardlib.idnumber import mask

    ssn = values.get("ssn")
    return mask(ssn) if isinstance(ssn, str) else ""


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
                result.rejected.append(Rejection(line, f"conflict: the stored {spec.subject} differs in "
                                                       f"{', '.join(differ)} but is {row[spec.frozen[0]]} and "
                                                       "cannot be corrected"))
                continue
            if not update_:
                result.rejected.append(Rejection(line, f"conflict: the stored {spec.subject} has a different "
                                                       f"{', '.join(differ)} (import with --update to correct "
                                                       "it); nothing of this line was stored"))
                continue
            conn.execute(update(table).where(table.c.id == row["id"]).values({c: mine[c] for c in differ}))
            ssn = mine.get("ssn") if isinstance(mine.get("ssn"), str) else None
            holder_id = row["id"] if spec.subject == "holder" else None
            for c in differ:
                audit.record(conn, actor, f"{spec.subject}.corrected", ssn=ssn, holder_id=holder_id,
                             detail=f"{c}: {_shown(c, row[c])} -> {_shown(c, mine[c])} (import line {line})")
            result.updated += 1
    return handled


def _shown(column: str, value: Any) -> str:
    from cardlib.idnumber import mask

    return mask(value) if column == "ssn" and isinstance(value, str) else str(value)


def import_csv(engine: Engine, source: str | Path | io.TextIOBase, spec: ImportSpec, *, batch_size: int = BATCH,
               progress: Callable[[int], None] | None = None, encoding: str | None = None, update: bool = False,
               actor: str = "import") -> ImportResult:
    """Import a CSV file under `spec` (see `read_csv` for the format and `import_rows` for the semantics)."""
    result = ImportResult()
    rows = read_csv(source, spec.header, encoding=encoding, result=result)
    return import_rows(engine, rows, spec, batch_size=batch_size, progress=progress, update=update, actor=actor,
                       result=result)
