"""Property: no APDU, however malformed, breaks the card: it always answers with a status word and afterwards
still answers a good SELECT and READ RECORD correctly."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.status import OK

from .helpers import SELECT_SSSE, new_card, select_ssse, tx

CARD, IMAGE = new_card("sm4")
EF05_REC1 = bytes.fromhex("0110110100D156000005A1B2C3D4E5F60718")
INS = [0xA4, 0xB2, 0xDC, 0xE2, 0xB0, 0xD6, 0x84, 0x88, 0x82, 0x20, 0x5E, 0x24, 0xC0, 0xCA, 0xA8, 0xAE]


def apdus() -> st.SearchStrategy[bytes]:
    header = st.tuples(st.sampled_from([0x00, 0x04, 0x80, 0x84, 0xA0, 0xFF]), st.sampled_from(INS) | st.integers(0, 255),
                       st.integers(0, 255), st.integers(0, 255)).map(bytes)
    shaped = st.tuples(header, st.binary(max_size=40), st.one_of(st.none(), st.integers(0, 255))).map(
        lambda t: t[0] + (bytes([len(t[1])]) + t[1] if t[1] else b"") + (bytes([t[2]]) if t[2] is not None else b""))
    return st.one_of(st.binary(max_size=300), shaped, header.flatmap(lambda h: st.binary(max_size=20).map(lambda b: h + b)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(apdus(), min_size=1, max_size=6), st.booleans())
def test_random_apdus_never_break_the_card(sequence: list[bytes], selected_first: bool) -> None:
    IMAGE.path = None  # nothing random reaches a file
    CARD.reset()
    if selected_first:
        select_ssse(CARD)
    for apdu in sequence:
        resp = CARD.process(apdu)
        assert isinstance(resp, bytes) and len(resp) >= 2
        assert resp[-2] in (0x90, 0x61, 0x6C, 0x63, 0x65, 0x67, 0x69, 0x6A, 0x6B, 0x6D, 0x6E, 0x6F), resp.hex()
    CARD.reset()
    select_ssse(CARD)
    assert tx(CARD, "00B2012C00") == (EF05_REC1, 0x9000)
    assert CARD.process(SELECT_SSSE)[-2] == 0x61


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=270))
def test_random_bytes_after_select_keep_the_session(raw: bytes) -> None:
    IMAGE.path = None
    CARD.reset()
    select_ssse(CARD)
    resp = CARD.process(raw)
    assert len(resp) >= 2
    if resp[-2:] == OK or resp[-2] == 0x61:
        CARD.process(b"\x00\xa4\x04\x00" + bytes([15]) + SELECT_SSSE[5:20])
        CARD.process(b"\x00\xc0\x00\x00\x00")
    assert CARD.process(b"\x00\xb2\x01\x2c\x00") == EF05_REC1 + OK
