"""Row validation: a table of cases, and the fast ID check held equal to cardlib.idnumber.parse."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardlib.idnumber import IdNumberError, check_char, parse
from holder_db.validate import FieldError, check_ssn, holder_row, regions


def ssn(region: str = "110101", birth: str = "19800101", seq: str = "001") -> str:
    body = region + birth + seq
    return body + check_char(body)


MALE = ssn()
FEMALE = ssn(seq="002")
GOOD = {"ssn": MALE, "name": "张三", "gender": "1", "nation": "01", "birth_date": "19800101",
        "birthplace": "110101", "region": "440305"}


def test_a_good_row() -> None:
    assert holder_row(GOOD) == {**GOOD, "birth_date": dt.date(1980, 1, 1)}


@pytest.mark.parametrize("change, field, words", [
    ({"ssn": MALE[:-1] + ("0" if MALE[-1] != "0" else "1")}, "ssn", "check digit"),
    ({"ssn": MALE[:17]}, "ssn", "18 characters"),
    ({"ssn": "A" + MALE[1:]}, "ssn", "17 digits"),
    ({"ssn": ssn(region="990101")}, "ssn", "unknown region"),
    ({"ssn": ssn(region="110199")}, "ssn", "GB/T 2260"),
    ({"ssn": ssn(birth="19810229")}, "ssn", "impossible birth date"),
    ({"ssn": ssn(birth="18700101")}, "ssn", "impossible birth date"),
    ({"name": "  "}, "name", "empty"),
    ({"name": "张" * 51}, "name", "at most 50"),
    ({"name": "张\x00三"}, "name", "control characters"),
    ({"name": "张\u2028三"}, "name", "invisible or unassigned characters (U+2028)"),
    ({"gender": "2"}, "gender", "does not match"),
    ({"gender": "M"}, "gender", "1 (male) or 2"),
    ({"nation": "57"}, "nation", "01-56"),
    ({"nation": "1"}, "nation", "01-56"),
    ({"birth_date": "1980-01-01"}, "birth_date", "YYYYMMDD"),
    ({"birth_date": "19800230"}, "birth_date", "real date"),
    ({"birth_date": "19800102"}, "birth_date", "does not match"),
    ({"birthplace": "12345"}, "birthplace", "region code"),
    ({"birthplace": "990000"}, "birthplace", "region code"),
    ({"region": "4403"}, "region", "six digits"),
    ({"region": "440399"}, "region", "not a GB/T 2260"),
])
def test_bad_rows_name_the_field_and_never_the_full_id(change: dict, field: str, words: str) -> None:
    row = {**GOOD, **change}
    with pytest.raises(FieldError) as info:
        holder_row(row)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert words in str(info.value)
    assert row["ssn"] not in str(info.value) or len(row["ssn"]) < 18


def test_birth_in_the_future_is_refused() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    b = tomorrow.strftime("%Y%m%d")
    row = {**GOOD, "ssn": ssn(birth=b), "birth_date": b}
    with pytest.raises(FieldError, match="future"):
        holder_row(row)


def test_female_and_lowercase_x() -> None:
    values = holder_row({**GOOD, "ssn": FEMALE, "gender": "2"})
    assert values["gender"] == "2"
    body = next(b for b in (f"11010119800101{n:03d}" for n in range(1000)) if check_char(b) == "X")
    assert holder_row({**GOOD, "ssn": (body + "x"), "gender": "1" if int(body[16]) % 2 else "2"})["ssn"] == body + "X"


def test_region_table_has_real_codes() -> None:
    table = regions()
    assert len(table) > 3000
    assert table["110101"].name == "东城区"
    assert table["440305"].name == "南山区"
    assert table["500000"].name == "重庆市"
    assert all(len(code) == 6 and code.isdigit() for code in table)


valid_ids = st.builds(
    lambda region, day, seq: ssn(region, day.strftime("%Y%m%d"), f"{seq:03d}"),
    st.sampled_from(sorted(regions())), st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)),
    st.integers(0, 999))


def mutations(value: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(value),
        st.builds(lambda i, c: value[:i] + c + value[i + 1:], st.integers(0, 17), st.sampled_from("0123456789Xx a")),
        st.builds(lambda i: value[:i] + value[i + 1:], st.integers(0, 17)),
    )


@settings(max_examples=200, deadline=None)
@given(st.one_of(valid_ids.flatmap(mutations), st.text(max_size=20)))
def test_check_ssn_agrees_with_cardlib_parse(value: str) -> None:
    try:
        expected = parse(value)
    except IdNumberError as exc:
        with pytest.raises(FieldError) as info:
            check_ssn(value)
        assert str(info.value) == f"ssn: {exc}"
        return
    try:
        region, birth, gender = check_ssn(value)
    except FieldError as exc:
        assert "GB/T 2260" in str(exc) and value[:6] not in regions()
        assert value.upper() not in str(exc)
        return
    assert (region, birth, gender) == (expected.region, expected.birth_date, expected.gender)
