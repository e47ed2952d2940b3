"""The 18-character citizen ID number (GB 11643), which is also the social security number: checks and masking.

Masking lives here once; every display, receipt, log line and exception that shows an ID number calls `mask`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Province-level prefixes of GB/T 2260 (the first two digits of every region code).
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


class IdNumberError(ValueError):
    """An ID number that is not valid; the message says why and never contains the number itself."""


@dataclass(frozen=True)
class IdNumber:
    region: str
    birth_date: dt.date
    gender: str  # "1" male, "2" female (the 17th digit's parity)


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS)) % 11]


def parse(value: str) -> IdNumber:
    """Check an ID number's shape, region prefix, birth date and check digit; raise IdNumberError if wrong."""
    if not isinstance(value, str) or len(value) != 18:
        raise IdNumberError("ID number must be 18 characters")
    body, last = value[:17], value[17].upper()
    if not body.isdigit() or not (last.isdigit() or last == "X"):
        raise IdNumberError("ID number must be 17 digits and a digit or X")
    if body[:2] not in PROVINCES:
        raise IdNumberError("ID number has an unknown region code")
    try:
        birth = dt.datetime.strptime(body[6:14], "%Y%m%d").date()
    except ValueError:
        raise IdNumberError("ID number has an impossible birth date") from None
    if birth.year < 1880:
        raise IdNumberError("ID number has an impossible birth date")
    if check_char(body) != last:
        raise IdNumberError("ID number check digit is wrong")
    return IdNumber(region=body[:6], birth_date=birth, gender="1" if int(body[16]) % 2 else "2")


def is_valid(value: str) -> bool:
    try:
        parse(value)
    except IdNumberError:
        return False
    return True


def mask(value: str | None) -> str:
    """Show an ID number as a display may: the first 6 and last 4 characters, the rest as '*'."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]
