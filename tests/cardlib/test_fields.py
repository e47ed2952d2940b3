import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from apdu_specs import profile
from cardlib.fields import FieldError, decode_field, encode_field, encode_field_record, split_name

SSN = "11010519491231002X"


def spec(name: str):  # type: ignore[no-untyped-def]
    return profile().field(name)[1]


@pytest.mark.parametrize(
    "field, value, encoded",
    [
        ("card_id", "330300D15600000599110145FFFFFFFF", "330300D15600000599110145FFFFFFFF"),
        ("version", "3.00", "332E3030"),
        ("card_no", "A12345678", "413132333435363738"),
        ("card_type", "3", "33"),
        ("issue_date", "20211203", "20211203"),
        ("expiry", "2031-12-02", "20311202"),
        ("name", "张三", "D5C5C8FD" + "00" * 26),
        ("name_ext", "", "FF" * 20),
        ("name_ext", "丁", "B6A1" + "FF" * 18),
        ("gender", "1", "31"),
        ("nation", "01", "01"),
        ("nation", "1", "1F"),
        ("birthplace", "110105", "110105"),
        ("birth_date", "19491231", "19491231"),
        ("ssn", SSN, SSN.encode().hex()),
    ],
)
def test_encode_decode_table(field: str, value: str, encoded: str) -> None:
    s = spec(field)
    raw = encode_field(s, value)
    assert raw == bytes.fromhex(encoded)
    assert len(raw) == s.length
    assert decode_field(s, raw) == value.replace("-", "")


def test_encode_date_object() -> None:
    assert encode_field(spec("birth_date"), dt.date(1990, 2, 28)) == bytes.fromhex("19900228")


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("name", "张" * 16, "32 GBK bytes do not fit in 30"),
        ("name", "\U0001F600", "no GBK encoding"),
        ("name", "张\x00", "control"),
        ("birth_date", "19490231", "not a calendar date"),
        ("birth_date", "1949123", "YYYYMMDD"),
        ("issue_date", "2021120A", "YYYYMMDD"),
        ("card_id", "3303", "exactly 16 bytes"),
        ("card_id", "ZZ" * 16, "not hexadecimal"),
        ("nation", "123", "up to 2 digits"),
        ("birthplace", "11A105", "digits"),
        ("version", "3.000", "do not fit in 4"),
        ("card_no", "卡号", "ASCII encoding"),
        ("gender", 1, "must be text"),
    ],
)
def test_encode_refuses_naming_field(field: str, value: object, reason: str) -> None:
    s = spec(field)
    with pytest.raises(FieldError, match=reason) as info:
        encode_field(s, value)  # type: ignore[arg-type]
    assert s.label in str(info.value) and s.field in str(info.value)


def test_ssn_never_in_error() -> None:
    with pytest.raises(FieldError) as info:
        encode_field(spec("ssn"), SSN + "1")
    assert SSN not in str(info.value)


@pytest.mark.parametrize(
    "field, raw, reason",
    [
        ("birth_date", "1949123F", "8 digits"),
        ("nation", "A1", "BCD"),
        ("name", "81" + "00" * 29, "not GBK"),
        ("version", "80303030", "not ASCII"),
        ("version", "3030", "2 bytes read"),
    ],
)
def test_decode_refuses(field: str, raw: str, reason: str) -> None:
    with pytest.raises(FieldError, match=reason):
        decode_field(spec(field), bytes.fromhex(raw))


def test_open_date_decodes_empty() -> None:
    assert decode_field(spec("expiry"), b"\xff" * 4) == ""
    with pytest.raises(FieldError, match="YYYYMMDD"):
        encode_field(spec("expiry"), "")


def test_decode_tolerates_other_padding() -> None:
    assert decode_field(spec("name"), "李四".encode("gbk") + b"\xff" * 26) == "李四"
    assert decode_field(spec("card_no"), b"A1234\xff\xff\xff\xff") == "A1234"


def test_record() -> None:
    assert encode_field_record(spec("gender"), "2") == bytes.fromhex("0A0132")


@pytest.mark.parametrize(
    "name, head, tail",
    [
        ("张三", "张三", ""),
        ("张" * 15, "张" * 15, ""),
        ("张" * 16, "张" * 15, "张"),
        ("A" + "张" * 15, "A" + "张" * 14, "张"),  # 31 bytes: the 15th 张 would straddle byte 30
        ("张" * 25, "张" * 15, "张" * 10),
        ("阿卜杜热合曼·买买提" + "A" * 15, "阿卜杜热合曼·买买提" + "A" * 10, "A" * 5),
    ],
)
def test_split_name(name: str, head: str, tail: str) -> None:
    assert split_name(name) == (head, tail)
    assert head + tail == name
    assert len(head.encode("gbk")) <= 30 and len(tail.encode("gbk")) <= 20


@pytest.mark.parametrize("name", ["张" * 26, "", "A" * 51])
def test_split_name_refuses(name: str) -> None:
    with pytest.raises(FieldError, match="姓名"):
        split_name(name)


gbk_chars = st.characters(min_codepoint=0x20, max_codepoint=0x9FFF).filter(
    lambda c: c != "\x7f" and _gbk_ok(c))


def _gbk_ok(c: str) -> bool:
    try:
        c.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=150)
@given(st.text(gbk_chars, min_size=1, max_size=30))
def test_split_and_encode_round_trip(name: str) -> None:
    try:
        head, tail = split_name(name)
    except FieldError:
        assert len(name.encode("gbk")) > 30
        return
    rebuilt = decode_field(spec("name"), encode_field(spec("name"), head)) + \
        decode_field(spec("name_ext"), encode_field(spec("name_ext"), tail))
    assert rebuilt == name


@settings(max_examples=200)
@given(st.sampled_from([r.field for f in profile().files for r in f.records]), st.binary(max_size=40))
def test_decode_random_bytes_only_field_error(field: str, raw: bytes) -> None:
    try:
        decode_field(spec(field), raw)
    except FieldError:
        pass
