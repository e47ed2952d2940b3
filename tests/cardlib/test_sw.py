import pytest

from cardlib.apdu import ResponseAPDU
from cardlib.sw import CardError, check, describe


@pytest.mark.parametrize(
    "sw, name, code",
    [
        (0x9000, "ok", -0x9000),
        (0x6A82, "file_not_found", -27266),
        (0x63C2, "pin_wrong", -51),
        (0x63C0, "pin_wrong", -52),  # no tries left: the PIN is blocked (ISO 7816-4), the interface says -52
        (0x6983, "auth_blocked", -52),
        (0x6C12, "wrong_le", -0x6C12),
        (0x6110, "more_data", -0x6110),
        (0x6988, "sm_incorrect", -0x6988),
        (0x1234, "unknown", -0x1234),
    ],
)
def test_describe_table(sw: int, name: str, code: int) -> None:
    info = describe(sw)
    assert (info.name, info.interface_code) == (name, code)


def test_counters_in_meaning() -> None:
    assert describe(0x63C2).tries_left == 2
    assert "2 tries left" in describe(0x63C2).meaning
    assert describe(0x6A82).tries_left is None
    assert "= 18" in describe(0x6C12).meaning


def test_card_error_carries_no_data() -> None:
    err = CardError(0x63C1, "VERIFY")
    assert (err.sw, err.name, err.interface_code, err.tries_left, err.command) == (0x63C1, "pin_wrong", -51, 1, "VERIFY")
    assert str(err) == "VERIFY: card answered 63C1 (pin_wrong: verification failed, 1 tries left)"
    assert not hasattr(err, "data")


def test_check() -> None:
    assert check(ResponseAPDU(b"\x01", 0x90, 0x00)) == b"\x01"
    with pytest.raises(CardError, match="6A83"):
        check(ResponseAPDU(b"", 0x6A, 0x83), "READ RECORD")
