import pytest
from hypothesis import given, settings, strategies as st

from apdu_specs import profile
from cardlib.channel import Channel
from cardlib.ssapp import CardDataError, SocialSecurityApp, algorithm_id
from cardlib.sw import CardError
from cardlib.trace import Trace
from cardlib.transport import LoopbackTransport, TransportError

from .fakecard import HOLDER, FakeCard, ssse_card


def app(card: FakeCard, trace: Trace | None = None) -> SocialSecurityApp:
    t = LoopbackTransport(card)
    t.connect()
    return SocialSecurityApp(Channel(t, trace))


@pytest.mark.parametrize(
    "fci, alg",
    [
        ("", 0x01),
        ("6F11840F7378312E73682EC9E7BBE1B1A3D5CF", 0x01),
        ("6F19840F7378312E73682EC9E7BBE1B1A3D5CFA5069F0C03860104", 0x04),
        ("6F17840F7378312E73682EC9E7BBE1B1A3D5CFA5049F0C0104", 0x04),
        ("9F0C0104", 0x04),
        ("9F0C03860101", 0x01),
    ],
)
def test_algorithm_id(fci: str, alg: int) -> None:
    assert algorithm_id(bytes.fromhex(fci)) == alg


@pytest.mark.parametrize("fci, reason", [("6F05840F", "not BER-TLV"), ("9F0C020101", "neither one byte")])
def test_algorithm_id_errors(fci: str, reason: str) -> None:
    with pytest.raises(CardDataError, match=reason):
        algorithm_id(bytes.fromhex(fci))


def test_read_card_info_decodes_every_field() -> None:
    card = ssse_card()
    info = app(card).read_card_info()
    expected = {k: v for k, v in HOLDER.items() if k != "name_ext"}
    expected["name"] = HOLDER["name"] + HOLDER["name_ext"]
    assert {k: v for k, v in info.as_dict().items() if k not in ("atr", "algorithm_id")} == expected
    assert info.algorithm_id == 0x04 and info.atr == card.atr.hex().upper()
    assert card.received[0] == bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
    assert bytes.fromhex("00B2012C00") in card.received and bytes.fromhex("00B2073400") in card.received
    assert HOLDER["ssn"] not in repr(info) and "110105********002X" in repr(info)


def test_name_ext_absent_on_older_cards() -> None:
    holder = {k: v for k, v in HOLDER.items() if k != "name_ext"}
    holder["name"] = "李四"
    assert app(ssse_card(holder)).read_card_info().name == "李四"


def test_missing_required_record_is_a_card_error() -> None:
    holder = {k: v for k, v in HOLDER.items() if k != "birth_date"}
    with pytest.raises(CardError) as info:
        app(ssse_card(holder)).read_card_info()
    assert info.value.sw == 0x6A83 and info.value.interface_code == -0x6A83


def test_record_with_wrong_tag_or_bad_value() -> None:
    card = ssse_card()
    card.answers[bytes.fromhex("00B20134")] = bytes.fromhex("0A0131")
    with pytest.raises(CardDataError, match="has tag 0A, the profile says 08"):
        app(card).read_card_info()
    card = ssse_card()
    card.answers[bytes.fromhex("00B20734")] = bytes.fromhex("0D041949123A")
    with pytest.raises(CardDataError, match="birth_date"):
        app(card).read_field("birth_date")
    card.answers[bytes.fromhex("00B20734")] = bytes.fromhex("0D05194913")
    with pytest.raises(CardDataError, match="declares 5 bytes"):
        app(card).read_field("birth_date")


def test_select_failure() -> None:
    with pytest.raises(CardError, match="SELECT SSSE") as info:
        app(FakeCard({}, missing=b"\x6A\x82")).select()
    assert info.value.interface_code == -27266


def test_read_by_tag_and_wrong_le_card() -> None:
    a = app(ssse_card(exact_le=True))
    assert a.read_record_by_tag(6, 0x0A) == bytes.fromhex("0A0132")
    assert a.read_record(5, 3) == bytes.fromhex("0304332E3030")


def test_update_field_sends_tlv_record_and_hides_ssn_in_trace() -> None:
    card = ssse_card()
    record = bytes([0x08, 18]) + HOLDER["ssn"].encode()
    card.answers[bytes.fromhex("00DC0134") + record] = b""
    trace = Trace(logger=None)
    app(card, trace).update_field("ssn", HOLDER["ssn"])
    assert card.received[-1] == bytes.fromhex("00DC013414") + record
    assert record.hex().upper() not in trace.text()


def test_update_refused_is_card_error() -> None:
    card = ssse_card()
    card.missing = b"\x69\x82"
    with pytest.raises(CardError) as info:
        app(card).update_field("gender", "1")
    assert info.value.name == "security_not_satisfied" and "UPDATE RECORD" in str(info.value)


def ssse_replies() -> st.SearchStrategy[bytes]:
    """Plausible answers: a record of a profile tag with random bytes, or a status word from the 61/6C families."""
    tags = [r.tag for f in profile().files for r in f.records]
    record = st.builds(lambda t, v: bytes([t, len(v)]) + v + b"\x90\x00", st.sampled_from(tags), st.binary(max_size=32))
    sw = st.builds(lambda a, b: bytes([a, b]), st.sampled_from([0x61, 0x6C, 0x90, 0x6A, 0x63]), st.integers(0, 255))
    return st.one_of(record, sw)


class RandomCard(FakeCard):
    """Answers each command with the next of a list of arbitrary byte strings (then 9000)."""

    def __init__(self, replies: list[bytes]) -> None:
        super().__init__({})
        self.replies = list(replies)

    def process(self, apdu: bytes) -> bytes:
        return self.replies.pop(0) if self.replies else b"\x90\x00"


@settings(max_examples=150)
@given(st.lists(st.one_of(st.binary(max_size=40), ssse_replies()), max_size=30))
def test_any_card_answers_give_documented_errors_only(replies: list[bytes]) -> None:
    try:
        info = app(RandomCard(replies)).read_card_info()
    except (CardError, TransportError, CardDataError):
        return
    assert len(info.card_id) == 32
