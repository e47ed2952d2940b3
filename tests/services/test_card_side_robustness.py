"""The card-side pieces of the services answer any APDU with a status word and keep working: the debit applet,
the blank chip, the hopper, the PSAM (see test_psam.py). Property tests in process, against the real objects."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from cardlib import issuer_keys, pboc
from cardlib.transport import LoopbackTransport
from simulators.cardos import build_card
from simulators.hopper import Hopper
from simulators.personalization import BlankCard, new_blank, write_json_atomic
from simulators.pboc import BankCard, new_state

KEYS = issuer_keys.new_key_set("sm4", "PROP")
apdus = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.sampled_from([b"\x80\xa8", b"\x80\xae", b"\x00\xb2", b"\x80\xca", b"\x80\xe2", b"\x00\xa4"]),
              st.binary(max_size=30)).map(lambda t: t[0] + t[1]),
)


def _bank() -> BankCard:
    return BankCard(new_state("sm4", "6228480012345678901", "301231", KEYS.master("ac")))


@settings(max_examples=150, deadline=None)
@given(junk=st.lists(apdus, max_size=6))
def test_debit_applet_survives_any_apdus_and_still_reads(junk: list[bytes]) -> None:
    card = _bank()
    t = LoopbackTransport(card)
    t.connect()
    t.transmit(b"\x00\xa4\x04\x00\x08\xa0\x00\x00\x03\x33\x01\x01\x01\x00")
    for apdu in junk:
        assert len(t.transmit(apdu)) >= 2
    info = pboc.read_card(t, amount=1)
    assert info.masked_pan == "622848*********8901" and info.cryptogram is not None


@settings(max_examples=150, deadline=None)
@given(junk=st.lists(apdus, max_size=6))
def test_blank_chip_survives_any_apdus_and_stays_blank(junk: list[bytes]) -> None:
    built: list[dict] = []
    card = BlankCard(new_blank(KEYS), built.append)
    card.reset()
    for apdu in junk:
        assert len(card.process(apdu)) >= 2
    answer = card.process(bytes.fromhex("80CA9F7F00"))
    assert answer[-2:] == b"\x90\x00" or built  # only a complete, well-formed personalization turns it


def test_blank_refuses_incomplete_or_forged_personalization() -> None:
    built: list[dict] = []
    card = BlankCard(new_blank(KEYS), built.append)
    card.reset()
    assert card.process(bytes.fromhex("80E2800003 010100")) == bytes.fromhex("6A80")  # last group, nothing else
    forged = bytes.fromhex("8101") + bytes([64]) + bytes(64)  # keys not wrapped under the transport key
    card.process(bytes([0x80, 0xE2, 0x00, 0x00, len(forged)]) + forged)
    assert card.process(bytes.fromhex("80E2800105 9101 02 0000")) == bytes.fromhex("6A80")
    assert not built and card.process(bytes.fromhex("80CA9F7F00"))[-3:] == b"\x01\x90\x00"


def test_hopper_presents_cards_in_order_and_passes_over_unreadable_images(tmp_path: Path) -> None:
    blanks = [new_blank(KEYS) for _ in range(3)]
    for i, b in enumerate(blanks):
        write_json_atomic(tmp_path / f"c{i}.json", b)
    (tmp_path / "c1.json").write_text("{not json")
    emptied: list[bool] = []
    hopper = Hopper(tmp_path, build_card, on_empty=lambda: emptied.append(True))
    assert hopper.atr.hex().upper() == blanks[0]["atr"]
    assert hopper.process(bytes.fromhex("80EE0000")) == b"\x90\x00"
    assert hopper.atr.hex().upper() == blanks[2]["atr"]  # c1 was misfed
    assert hopper.process(bytes.fromhex("80EE0000")) == b"\x90\x00" and emptied == [True]
    assert hopper.process(bytes.fromhex("80CA9F7F00")) == bytes.fromhex("6A82")
