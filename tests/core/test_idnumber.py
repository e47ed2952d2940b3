import datetime as dt

import pytest
from hypothesis import given, strategies as st

from cardlib import idnumber

VALID = "11010519491231002X"  # the GB 11643 example number


def test_parse_valid() -> None:
    parsed = idnumber.parse(VALID)
    assert parsed.region == "110105"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == "2"


@pytest.mark.parametrize(
    "value, reason",
    [
        ("11010519491231002", "18 characters"),
        ("1101051949123100XX", "17 digits"),
        ("99010519491231002X", "region"),
        ("11010519490231002X", "birth date"),
        ("110105194912310021", "check digit"),
    ],
)
def test_parse_refuses_with_reason_and_no_number(value: str, reason: str) -> None:
    with pytest.raises(idnumber.IdNumberError, match=reason) as info:
        idnumber.parse(value)
    assert value not in str(info.value)


@given(st.text(max_size=30))
def test_parse_never_crashes_otherwise(value: str) -> None:
    try:
        idnumber.parse(value)
    except idnumber.IdNumberError:
        pass


@given(
    st.sampled_from(sorted(idnumber.PROVINCES)),
    st.from_regex(r"\d{4}(19[0-9]{2}|20[01][0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])\d{3}", fullmatch=True),
)
def test_check_char_makes_valid_numbers(province: str, rest: str) -> None:
    body = province + rest
    number = body + idnumber.check_char(body)
    assert idnumber.is_valid(number)
    assert idnumber.parse(number).gender == ("1" if int(body[16]) % 2 else "2")


def test_mask() -> None:
    assert idnumber.mask(VALID) == "110105********002X"
    assert idnumber.mask("") == ""
    assert idnumber.mask("12345") == "*****"
