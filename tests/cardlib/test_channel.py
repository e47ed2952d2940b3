import pytest

from cardlib.apdu import CommandAPDU
from cardlib.channel import Channel
from cardlib.sw import CardError
from cardlib.trace import Trace
from cardlib.transport import CardRemovedError, LoopbackTransport, NoCardError

from .fakecard import FakeCard

BIG = bytes(range(256)) * 2 + b"tail"
READ = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256)


def channel(card: FakeCard, trace: Trace | None = None) -> Channel:
    t = LoopbackTransport(card)
    t.connect()
    return Channel(t, trace)


def test_loopback_connect_resets_and_reports_atr() -> None:
    card = FakeCard({})
    t = LoopbackTransport(card)
    with pytest.raises(NoCardError):
        t.transmit(b"\x00\xA4\x00\x00")
    with t:
        assert card.resets == 1 and t.atr == card.atr
        assert t.transmit(b"\x00\x00\x00\x00") == b"\x6D\x00"
    with pytest.raises(NoCardError):
        _ = t.atr


def test_get_response_loop_joins_pieces() -> None:
    card = FakeCard({READ.header: BIG}, chunk=100)
    trace = Trace(logger=None)
    resp = channel(card, trace).send(READ)
    assert resp.data == BIG and resp.sw == 0x9000
    get_responses = [a for a in card.received if a[:4] == bytes.fromhex("00C00000")]
    assert len(get_responses) == 5  # 516 bytes: 100 with the command, then 5 chunks
    assert get_responses[0] == bytes.fromhex("00C0000000")  # 416 waiting: 61 00 asks for 256
    assert sum("(GET RESPONSE)" in line for line in trace.lines) == 5


def test_wrong_le_is_resent_with_card_le() -> None:
    cmd = CommandAPDU(0x00, 0xB2, 0x01, 0x2C, le=256)
    card = FakeCard({cmd.header: b"\x01\x10" + b"3.00".ljust(16, b"\x00")}, exact_le=True)
    resp = channel(card).send(cmd)
    assert resp.ok and len(resp.data) == 18
    assert card.received == [bytes.fromhex("00B2012C00"), bytes.fromhex("00B2012C12")]


def test_wrong_le_then_get_response() -> None:
    cmd = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256)
    card = FakeCard({cmd.header: BIG[:250]}, exact_le=True, chunk=200)
    assert channel(card).send(cmd).data == BIG[:250]
    assert card.received[1] == bytes.fromhex("00B00000FA") and card.received[2] == bytes.fromhex("00C0000032")


def test_error_status_returned_by_send_raised_by_call() -> None:
    card = FakeCard({})
    ch = channel(card)
    cmd = CommandAPDU(0x00, 0xB2, 0x09, 0x2C, le=256)
    assert ch.send(cmd).sw == 0x6D00
    with pytest.raises(CardError) as info:
        ch.call(cmd)
    assert info.value.sw == 0x6D00 and info.value.interface_code == -0x6D00
    assert "READ RECORD" in str(info.value)


class LoopingCard(FakeCard):
    def process(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        return b"\x00\x61\x01"


def test_card_looping_on_61_is_stopped() -> None:
    card = LoopingCard({})
    with pytest.raises(CardRemovedError, match="61xx"):
        channel(card).send(READ)
    assert len(card.received) == 257


class MuteCard(FakeCard):
    def process(self, apdu: bytes) -> bytes:
        return b"\x90"


def test_response_without_status_word() -> None:
    with pytest.raises(CardRemovedError, match="no status word"):
        channel(MuteCard({})).send(READ)


def test_transmit_bytes_through_channel() -> None:
    card = FakeCard({READ.header: BIG}, chunk=100)
    trace = Trace(logger=None)
    assert channel(card, trace).transmit(READ.to_bytes()) == BIG + b"\x90\x00"
    assert len(trace.lines) == 12
