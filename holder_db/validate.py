"""Checks on holder data before it is stored: the ID number, and a holder row against its own ID number.

`check_ssn` gives the same verdict as `cardlib.idnumber.parse` (a test holds them equal on random input) plus the
GB/T 2260 table check of the whole six-digit region; it is written for bulk import speed (no strptime, memoised
dates), because it runs once per row of a 100k-row file. Every error names the field and never holds an ID number
in full (`cardlib.idnumber.mask` is the one masking function).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import time
import unicodedata
from dataclasses import dataclass
from importlib import resources
from operator import mul
from typing import Mapping

from cardlib.idnumber import CHECK_CHARS, PROVINCES, WEIGHTS, mask

NATIONS = frozenset(f"{n:02d}" for n in range(1, 57)) | {"97", "98"}  # GB/T 3304 nationalities, 97 other, 98 foreign-born
_DIGIT_BIAS = 48 * sum(WEIGHTS)  # "0" is byte 48: sum(w * byte) - this = sum(w * digit)
_EARLIEST = dt.date(1880, 1, 1)


class FieldError(ValueError):
    """A value that is not acceptable; `field` names the column, the message says why (never a full ID number)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    current: bool


@functools.cache
def regions() -> Mapping[str, Region]:
    """The GB/T 2260 table shipped in holder_db/data/regions.tsv (see its header for source and coverage)."""
    text = resources.files("holder_db").joinpath("data/regions.tsv").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("code\t"):
            continue
        code, name, current = line.split("\t")
        table[code] = Region(code, name, current == "1")
    return table


_REGIONS = regions()


def is_known_region(code: str) -> bool:
    return code in regions()


@functools.lru_cache(maxsize=65536)
def _date(text: str) -> dt.date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_date(text: str, field: str) -> dt.date:
    """A YYYYMMDD date that exists."""
    value = _date(text)
    if value is None:
        raise FieldError(field, "must be a real date written YYYYMMDD")
    return value


_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")
_LAST = tuple(c + c.lower() if c == "X" else c for c in CHECK_CHARS)  # what may end a number, by weighted sum


@functools.lru_cache(maxsize=65536)
def _birth(text: str) -> dt.date | None:
    """The birth date in an ID number, or None when it does not exist or is before 1880."""
    date = _date(text)
    return date if date is not None and date >= _EARLIEST else None


def check_ssn(ssn: str, field: str = "ssn") -> tuple[str, dt.date, str]:
    """Region, birth date and gender ("1"/"2") of a valid ID number; FieldError naming what is wrong otherwise.

    The usual case (a valid number) takes the short road: one regex for the shape, and the check digit from
    int(body, 13), since 13 = 2 (mod 11) makes sum(d_i * 13^(16-i)) * 2 equal the GB 11643 weighted sum mod 11.
    Anything that fails it is re-checked step by step, in `parse`'s order, for the message."""
    if ssn.__class__ is str and _SHAPE.fullmatch(ssn):
        region = ssn[:6]
        birth = _birth(ssn[6:14])
        if region in _REGIONS and birth is not None and ssn[17] in _LAST[2 * int(ssn[:17], 13) % 11]:
            return region, birth, "1" if ord(ssn[16]) % 2 else "2"
    return _check_ssn_slowly(ssn, field)


def _check_ssn_slowly(ssn: str, field: str) -> tuple[str, dt.date, str]:
    if not isinstance(ssn, str) or len(ssn) != 18:
        raise FieldError(field, "ID number must be 18 characters")
    body, last = ssn[:17], ssn[17].upper()
    if not (body.isascii() and body.isdigit()) or not ((last.isascii() and last.isdigit()) or last == "X"):
        raise FieldError(field, "ID number must be 17 digits and a digit or X")
    if body[:2] not in PROVINCES:
        raise FieldError(field, "ID number has an unknown region code")
    birth = _date(body[6:14])
    if birth is None or birth < _EARLIEST:
        raise FieldError(field, "ID number has an impossible birth date")
    if CHECK_CHARS[(sum(map(mul, body.encode(), WEIGHTS)) - _DIGIT_BIAS) % 11] != last:
        raise FieldError(field, "ID number check digit is wrong")
    region = body[:6]
    if region not in regions():
        raise FieldError(field, f"ID number {mask(ssn)} has a region code not in GB/T 2260")
    return region, birth, "1" if (ord(body[16]) - 48) % 2 else "2"


def check_identity(ssn: str, birth_date: dt.date, gender: str) -> None:
    """A holder's ID number is valid and agrees with their birth date and gender (FieldError otherwise)."""
    _region, birth, id_gender = check_ssn(ssn)
    if birth_date != birth:
        raise FieldError("birth_date", f"does not match the ID number {mask(ssn)}")
    if gender != id_gender:
        raise FieldError("gender", f"does not match the ID number {mask(ssn)} (17th digit)")


def _today() -> dt.date:
    now = time.monotonic()
    if now - _today_at[0] > 60:
        _today_at[:] = [now, dt.date.today()]
    return _today_at[1]


_today_at: list = [-1e9, None]
_LOADED_ON = dt.date.today()


NAME_MAX = 50  # characters: the store takes any GB18030 (that is, any Unicode) name up to this long


def _name_error(name: str) -> str:
    if not name:
        return "must not be empty"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "must not contain control characters (a line break, a tab...)"
    if len(name) > NAME_MAX:
        return f"must be at most {NAME_MAX} characters (it has {len(name)})"
    bad = next(c for c in name if not c.isprintable())
    return f"must not contain invisible or unassigned characters (U+{ord(bad):04X})"


_NAME_FAST = 0  # bytes that surely fit 姓名 alone, read from the profile on first use


def name_problem(name: str) -> str | None:
    """Why a stored name cannot go on the card as it is, or None when it can. The one rule is the profile's
    (`cardlib.fields.split_name`: 姓名 is GBK in 30 bytes, 姓名扩展 takes the rest in 20); personalization
    applies the same function, so the import's warning and the card agree."""
    global _NAME_FAST
    try:
        raw = name.encode("gbk")
    except UnicodeEncodeError:
        outside = "".join(dict.fromkeys(c for c in name if not _gbk(c)))
        return (f"{outside} ({', '.join(f'U+{ord(c):04X}' for c in outside)}) not in GBK, the card's "
                "character set for 姓名: the card needs the name as the issuer's rare-character (生僻字) rule "
                "gives it")
    if not _NAME_FAST:
        from apdu_specs import profile

        _NAME_FAST = profile().field("name")[1].length
    if len(raw) <= _NAME_FAST:
        return None
    from cardlib import fields

    try:
        fields.split_name(name)
    except fields.FieldError as exc:
        return f"{len(raw)} GBK bytes: {exc}"
    return None


def _gbk(c: str) -> bool:
    try:
        c.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def holder_row(row: Mapping[str, str], today: dt.date | None = None) -> dict[str, object]:
    """Validate one holder (the import file's columns, as strings) into the values for the holders table."""
    ssn = row["ssn"].strip()
    _region, birth, gender = check_ssn(ssn)
    if ssn[17] == "x":
        ssn = ssn.upper()
    name = row["name"].strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise FieldError("name", _name_error(name))
    g = row["gender"].strip()
    if g != gender:
        if g not in ("1", "2"):
            raise FieldError("gender", "must be 1 (male) or 2 (female)")
        raise FieldError("gender", f"does not match the ID number {mask(ssn)} (17th digit)")
    nation = row["nation"].strip()
    if nation not in NATIONS:
        raise FieldError("nation", "must be a two-digit nationality code 01-56 (or 97, 98)")
    if row["birth_date"].strip() != ssn[6:14]:
        if _date(row["birth_date"].strip()) is None:
            raise FieldError("birth_date", "must be a real date written YYYYMMDD")
        raise FieldError("birth_date", f"does not match the ID number {mask(ssn)}")
    if birth > _LOADED_ON and birth > (today or _today()):  # the first test settles nearly every row
        raise FieldError("birth_date", "is in the future")
    table = _REGIONS
    birthplace = row["birthplace"].strip()
    if birthplace and birthplace not in table:
        raise FieldError("birthplace", "must be empty or a six-digit GB/T 2260 region code")
    region = row["region"].strip()
    if region not in table:
        if len(region) != 6 or not region.isdigit():
            raise FieldError("region", "must be six digits")
        raise FieldError("region", "is not a GB/T 2260 region code")
    return {"ssn": ssn, "name": name, "gender": g, "nation": nation, "birth_date": birth,
            "birthplace": birthplace, "region": region}
