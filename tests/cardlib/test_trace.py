import logging

import pytest
from hypothesis import given, settings, strategies as st

from cardlib.apdu import CommandAPDU, ResponseAPDU
from cardlib.channel import Channel
from cardlib.trace import Trace, format_command, format_response, safe_hex, sensitive_ins
from cardlib.transport import LoopbackTransport

from .fakecard import FakeCard

PIN = bytes.fromhex("123456")
SSN = "11010519491231002X"


def test_sensitive_commands_come_from_the_catalogue() -> None:
    assert {0x20, 0x5E, 0x24, 0x82} <= sensitive_ins()
    assert 0xB2 not in sensitive_ins()


@pytest.mark.parametrize(
    "cmd",
    [
        CommandAPDU(0x00, 0x20, 0x00, 0x00, PIN),
        CommandAPDU(0x80, 0x5E, 0x01, 0x00, PIN + b"\xFF" + bytes.fromhex("654321")),
        CommandAPDU(0x84, 0x24, 0x00, 0x02, bytes.fromhex("1234560011223344")),
        CommandAPDU(0x00, 0x82, 0x00, 0x0A, bytes.fromhex("1234561122334455")),
        CommandAPDU(0x04, 0x20, 0x00, 0x00, PIN),  # secure-messaging class still redacted
    ],
)
def test_secret_data_redacted(cmd: CommandAPDU) -> None:
    line = format_command(cmd)
    assert "123456" not in line and "654321" not in line
    assert f"<{len(cmd.data)} bytes redacted>" in line
    assert line.startswith("> " + cmd.header.hex().upper())


def test_id_number_masked_both_ways() -> None:
    record = bytes([0x08, 18]) + SSN.encode()
    assert SSN.encode().hex().upper() not in format_response(ResponseAPDU(record, 0x90, 0x00))
    assert safe_hex(record) == (bytes([0x08, 18]) + b"110105********002X").hex().upper()
    update = CommandAPDU(0x00, 0xDC, 0x01, 0x34, record)
    assert SSN.encode().hex().upper() not in format_command(update)


def test_plain_data_shown() -> None:
    assert format_command(CommandAPDU(0x00, 0xB2, 0x01, 0x2C, le=256)) == "> 00B2012C Le=256 (READ RECORD)"
    assert format_response(ResponseAPDU(b"\x01\x02", 0x90, 0x00), 1.5) == "< 0102 9000 [1.50 ms]"


def test_pin_never_in_trace_or_log_through_channel(caplog: pytest.LogCaptureFixture) -> None:
    verify = CommandAPDU(0x00, 0x20, 0x00, 0x00, PIN)
    card = FakeCard({verify.to_bytes()[:4] + PIN: b""})
    t = LoopbackTransport(card)
    t.connect()
    trace = Trace()
    with caplog.at_level(logging.DEBUG, logger="cardlib.apdu"):
        assert Channel(t, trace).send(verify).ok
    assert len(trace.lines) == 2 and trace.lines[1].startswith("< 9000")
    for text in (trace.text(), caplog.text):
        assert "123456" not in text and "3 bytes redacted" in text


@settings(max_examples=100)
@given(st.binary(min_size=0, max_size=10), st.binary(min_size=0, max_size=10), st.sampled_from([0x20, 0x5E, 0x24, 0x82]))
def test_no_sensitive_byte_run_leaks(prefix: bytes, suffix: bytes, ins: int) -> None:
    secret = prefix + bytes.fromhex("DEADBEEFCAFE") + suffix
    assert "DEADBEEFCAFE" not in format_command(CommandAPDU(0x00, ins, 0x00, 0x00, secret))


def test_trace_limit() -> None:
    trace = Trace(limit=3, logger=None)
    for i in range(5):
        trace.response(ResponseAPDU(bytes([i]), 0x90, 0x00))
    assert trace.lines == ["< 02 9000", "< 03 9000", "< 04 9000"]


digits = st.text(st.sampled_from("0123456789"), max_size=20)


@settings(max_examples=150)
@given(st.binary(max_size=8), digits, digits, st.binary(max_size=8))
def test_id_number_hidden_whatever_surrounds_it(pre: bytes, pre_digits: str, post_digits: str, post: bytes) -> None:
    data = pre + pre_digits.encode() + SSN.encode() + post_digits.encode() + post
    shown = bytes.fromhex(safe_hex(data))
    assert len(shown) == len(data)
    assert SSN.encode() not in shown and b"19491231" not in shown
