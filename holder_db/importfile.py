"""Reading an import file and judging its rows, without a database: the part of `holder_db.bulk` that
`holder_db.fastimport` (SQLite at the newest schema, standard library only) shares with it, so the rules are
written once. Nothing here loads SQLAlchemy.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

ENCODINGS = ("utf-8", "gb18030")  # what `--encoding` may force; detection picks one of them
HOLDER_HEADER = ("ssn", "name", "gender", "nation", "birth_date", "birthplace", "region")
HOLDER_COMPARE = ("name", "nation", "birthplace", "region")  # gender and birth date follow from the ID number


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


def classify(chunk: list[tuple[int, int, Mapping[str, str]]], validate: Callable[[Mapping[str, str]], dict[str, Any]],
             key: Callable[[dict[str, Any]], Hashable], compare: Sequence[str],
             warn: Callable[[dict[str, Any]], str | None] | None, subject: str,
             seen: dict[Hashable, tuple[int, dict[str, Any]]], result: ImportResult
             ) -> tuple[list[dict[str, Any]], dict[Hashable, int]]:
    """Judge a chunk of (line, lines spanned, row): unreadable and invalid rows and repeats of an earlier line
    with other data are rejected, exact repeats skipped, warnings noted; returns the rows to insert and the line
    of each key. `result.rows` counts the chunk's lines."""
    rejected = result.rejected
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
            differ = [c for c in compare if first[1][c] != values[c]]
            if differ:
                rejected.append(Rejection(line, f"conflict: the same {subject} is on line {first[0]} with "
                                                f"a different {', '.join(differ)}; nothing of this line was "
                                                "stored"))
            else:
                result.skipped += 1
            continue
        seen[k] = (line, values)
        if warn is not None:
            problem = warn(values)
            if problem:
                result.warnings.append(Warning_(line, masked(values), problem))
        lines[k] = line
        good.append(values)
    result.rows += lines_seen
    return good, lines


def masked(values: Mapping[str, Any]) -> str:
    from cardlib.idnumber import mask

    ssn = values.get("ssn")
    return mask(ssn) if isinstance(ssn, str) else ""


def conflict_reason(subject: str, differ: Sequence[str], frozen_state: str | None = None) -> str:
    """Why a row whose key is stored with other data was not stored (the same words on every road)."""
    if frozen_state is not None:
        return (f"conflict: the stored {subject} differs in {', '.join(differ)} but is {frozen_state} and "
                "cannot be corrected")
    return (f"conflict: the stored {subject} has a different {', '.join(differ)} (import with --update to "
            "correct it); nothing of this line was stored")


def shown(column: str, value: Any) -> str:
    from cardlib.idnumber import mask

    return mask(value) if column == "ssn" and isinstance(value, str) else str(value)


def correction_detail(column: str, old: Any, new: Any, line: int) -> str:
    return f"{column}: {shown(column, old)} -> {shown(column, new)} (import line {line})"
