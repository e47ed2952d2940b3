import pytest
from hypothesis import given, settings, strategies as st

from cardlib.reader_interface import (
    AtrError, basic_info, basic_info_line, error_code, historical_bytes, parse_basic_info_line,
)
from cardlib.ssapp import CardDataError, CardInfo
from cardlib.sw import CardError
from cardlib.transport import CardRemovedError, NoCardError

ATR = "3B6D0000008C544CB386844116018593CA"


@pytest.mark.parametrize(
    "atr, hist",
    [
        (ATR, "008C544CB386844116018593CA"),
        ("3B00", ""),
        ("3B02AABB", "AABB"),
        ("3BDB960080B1FE451F830031C064C7FC100001900074", "0031C064C7FC1000019000"),  # TD1, TD2, TD3 chains
        ("3F6525000208043C55", "0208043C55"),  # inverse convention, TB1 and TC1
    ],
)
def test_historical_bytes(atr: str, hist: str) -> None:
    assert historical_bytes(bytes.fromhex(atr)).hex().upper() == hist


@pytest.mark.parametrize(
    "atr, reason",
    [("", "no T0"), ("3B", "no T0"), ("1234", "not TS"), ("3B8F", "inside its interface bytes"),
     ("3B0D0102", "13 historical bytes, only 2"), ("3B6D0000", "only 0")],
)
def test_historical_bytes_errors(atr: str, reason: str) -> None:
    with pytest.raises(AtrError, match=reason):
        historical_bytes(bytes.fromhex(atr))


@settings(max_examples=200)
@given(st.binary(max_size=40))
def test_random_atr_never_crashes(raw: bytes) -> None:
    try:
        assert len(historical_bytes(raw)) == raw[1] & 0x0F
    except AtrError:
        pass


INFO = CardInfo(
    card_id="411600D156000005C38275EEFC9B9648", card_type="3", version="3.00", init_org="00" * 12,
    issue_date="20211203", expiry="20311202", card_no="A12345678", ssn="41160019800101001X", name="张三丰",
    gender="1", nation="01", birthplace="411600", birth_date="19800101", atr=ATR, algorithm_id=4,
)


def test_line_matches_the_interface_example_shape() -> None:
    line = basic_info_line(INFO, terminal_no="T01", device_no="D02")
    assert line == ("411600|41160019800101001X|A12345678|411600D156000005C38275EEFC9B9648|张三丰|"
                    "008C544CB386844116018593CA|3.00|20211203|20311202|T01|D02|")
    assert parse_basic_info_line(line) == basic_info(INFO, terminal_no="T01", device_no="D02")
    assert basic_info_line(INFO).endswith("|20311202|||")


def test_parse_line_refuses_wrong_field_count() -> None:
    with pytest.raises(ValueError, match="11 fields"):
        parse_basic_info_line("411600|||")


@pytest.mark.parametrize(
    "exc, code",
    [
        (CardError(0x63C2, "VERIFY"), -51),
        (CardError(0x6983, "VERIFY"), -52),
        (CardError(0x6A82), -27266),
        (CardError(0x6982), -27010),
        (NoCardError("x"), -1),
        (CardRemovedError("x"), -1),
        (CardDataError("x"), -20),
    ],
)
def test_error_codes(exc: Exception, code: int) -> None:
    assert error_code(exc) == code


def test_error_code_refuses_unrelated_exceptions() -> None:
    with pytest.raises(TypeError):
        error_code(KeyError("x"))
