"""Valid ID numbers for tests, built with the real check digit."""
from __future__ import annotations

from cardlib.idnumber import check_char


def ssn(birth: str = "19550101", seq: str = "123", region: str = "110101") -> str:
    body = region + birth + seq
    return body + check_char(body)
