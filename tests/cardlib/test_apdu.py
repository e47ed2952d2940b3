import pytest
from hypothesis import given, settings, strategies as st

from cardlib.apdu import ApduError, CommandAPDU, ResponseAPDU

AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")


@pytest.mark.parametrize(
    "cmd, encoded, case",
    [
        (CommandAPDU(0x00, 0xA4, 0x00, 0x00), "00A40000", 1),
        (CommandAPDU(0x00, 0x84, 0x00, 0x00, le=8), "0084000008", 2),
        (CommandAPDU(0x00, 0xB2, 0x01, 0x2C, le=256), "00B2012C00", 2),
        (CommandAPDU(0x00, 0xB2, 0x01, 0x2C, le=0), "00B2012C00", 2),
        (CommandAPDU(0x00, 0x20, 0x00, 0x00, bytes.fromhex("123456")), "0020000003123456", 3),
        (CommandAPDU(0x00, 0xA4, 0x04, 0x00, AID, le=256), "00A404000F" + AID.hex().upper() + "00", 4),
        (CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=257), "00B00000000101", 2),
        (CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=65536), "00B00000000000", 2),
        (CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=8, extended=True), "00B00000000008", 2),
        (CommandAPDU(0x00, 0xD6, 0x00, 0x00, b"\xAA" * 256), "00D60000000100" + "AA" * 256, 3),
        (CommandAPDU(0x00, 0x2A, 0x9E, 0x9A, b"\x01\x02", le=65536, extended=True), "002A9E9A00000201020000", 4),
        (CommandAPDU(0x00, 0x2A, 0x9E, 0x9A, b"\x01" * 300, le=256), "002A9E9A00012C" + "01" * 300 + "0100", 4),
    ],
)
def test_encode_and_parse_table(cmd: CommandAPDU, encoded: str, case: int) -> None:
    raw = bytes.fromhex(encoded)
    assert cmd.to_bytes() == raw
    assert cmd.case == case
    assert CommandAPDU.from_bytes(raw) == cmd


def test_case1_is_never_extended() -> None:
    assert CommandAPDU(0, 0xA4, 0, 0, extended=True).to_bytes() == bytes.fromhex("00A40000")


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "shorter than the 4-byte header"),
        ("00A400", "shorter"),
        ("00A4040002AA", "Lc 2 does not match the 1 bytes"),
        ("00A4040002AABBCCDD", "Lc 2 does not match the 4 bytes"),
        ("00A4040000AA", "neither short nor extended"),
        ("00A40400000000AA", "extended Lc 0000"),
        ("00A4040000000201", "extended Lc 2 does not match"),
        ("00A404000000020102030405", "extended Lc 2 does not match the 5 bytes"),
    ],
)
def test_parse_errors(raw: str, reason: str) -> None:
    with pytest.raises(ApduError, match=reason):
        CommandAPDU.from_bytes(bytes.fromhex(raw))


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        (dict(cla=256, ins=0, p1=0, p2=0), "CLA must be a byte"),
        (dict(cla=0, ins=-1, p1=0, p2=0), "INS must be a byte"),
        (dict(cla=0, ins=0, p1=0, p2=0, le=65537), "Le must be"),
        (dict(cla=0, ins=0, p1=0, p2=0, data=bytes(65536)), "exceeds 65535"),
        (dict(cla=0, ins=0, p1=0, p2=0, data="text"), "must be bytes"),
    ],
)
def test_value_errors(kwargs: dict, reason: str) -> None:
    with pytest.raises(ApduError, match=reason):
        CommandAPDU(**kwargs)


def test_response() -> None:
    r = ResponseAPDU.from_bytes(bytes.fromhex("0102039000"))
    assert (r.data, r.sw1, r.sw2, r.sw, r.ok) == (b"\x01\x02\x03", 0x90, 0x00, 0x9000, True)
    assert bytes(r) == bytes.fromhex("0102039000")
    assert not ResponseAPDU.from_bytes(bytes.fromhex("6A82")).ok
    with pytest.raises(ApduError, match="no status word"):
        ResponseAPDU.from_bytes(b"\x90")


commands = st.builds(
    CommandAPDU, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
    st.one_of(st.binary(max_size=300), st.binary(min_size=250, max_size=600)),
    st.one_of(st.none(), st.integers(1, 65536)), st.booleans(),
)


@settings(max_examples=200)
@given(commands)
def test_round_trip(cmd: CommandAPDU) -> None:
    assert CommandAPDU.from_bytes(cmd.to_bytes()) == cmd


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_apdu_error(raw: bytes) -> None:
    try:
        cmd = CommandAPDU.from_bytes(raw)
    except ApduError:
        return
    assert cmd.to_bytes() == raw  # every accepted encoding is the canonical one


@settings(max_examples=300)
@given(commands)
def test_the_short_fast_check_builds_what_the_full_validation_builds(cmd: CommandAPDU) -> None:
    """bytes data takes the one-expression check when the APDU is short; a bytearray always takes the full one."""
    slow = CommandAPDU(cmd.cla, cmd.ins, cmd.p1, cmd.p2, bytearray(cmd.data), cmd.le, cmd.extended)
    fast = CommandAPDU(cmd.cla, cmd.ins, cmd.p1, cmd.p2, bytes(cmd.data), cmd.le, cmd.extended)
    assert fast == slow and type(fast.data) is bytes
    assert fast.to_bytes() == slow.to_bytes()


def test_commands_without_data_are_kept_and_commands_with_data_never_are() -> None:
    """A data-less command repeats every session and is built once; one with data (a PIN in VERIFY, a
    cryptogram) is made fresh each time, so nothing it carries outlives its use in a cache."""
    from cardlib.commands import _plain, command

    assert command("READ RECORD", 1, 0x2C, le=256) is command("READ RECORD", 1, 0x2C, le=256)
    before = _plain.cache_info().currsize
    pin = command("VERIFY", data=bytes.fromhex("123456"))
    assert pin is not command("VERIFY", data=bytes.fromhex("123456"))
    assert _plain.cache_info().currsize == before
