"""The card OS through `process()`: a table of plain commands, then PIN, authentication and secure messaging."""
from __future__ import annotations

from pathlib import Path

import pytest

import apdu_specs
from cardlib import tlv
from cardlib.crypto import diversify, encrypt_ecb, alg_id
from simulators.image import load

from .helpers import SELECT_SSSE, challenge, external_auth, new_card, secured, select_ssse, tx, unblock_block

SW = apdu_specs.status_word_by_name
EF05_REC1 = "0110110100D156000005A1B2C3D4E5F60718"

# (description, commands sent first, command, expected SW, expected data as hex or None to skip the check)
CASES = [
    ("read before SELECT SSSE: no EF05 under the MF", [], "00B2012C00", SW("file_not_found"), ""),
    ("EF05 record 1 by number", [SELECT_SSSE.hex()], "00B2012C00", 0x9000, EF05_REC1),
    ("EF05 卡号 by tag 07", [SELECT_SSSE.hex()], "00B2072800", 0x9000, "0709413030303030303031"),
    ("EF06 性别 by number 4", [SELECT_SSSE.hex()], "00B2043400", 0x9000, "0A0132"),
    ("EF06 出生日期 by tag 0D", [SELECT_SSSE.hex()], "00B20D3000", 0x9000, "0D0419491231"),
    ("SFI 0 reads the current EF", [SELECT_SSSE.hex(), "00B2012C00"], "00B2030400", 0x9000, "0304332E3030"),
    ("SFI 0 with no current EF", [SELECT_SSSE.hex()], "00B2010400", SW("no_current_ef"), ""),
    ("record past the end", [SELECT_SSSE.hex()], "00B2082C00", SW("record_not_found"), ""),
    ("record 0", [SELECT_SSSE.hex()], "00B2002C00", SW("record_not_found"), ""),
    ("tag not in the file", [SELECT_SSSE.hex()], "00B2422800", SW("record_not_found"), ""),
    ("P2 mode 5 is not supported", [SELECT_SSSE.hex()], "00B2012D00", SW("wrong_p1p2"), ""),
    ("wrong Le gets 6Cxx with the right one", [SELECT_SSSE.hex()], "00B2012C05", SW("wrong_le") | 0x12, ""),
    ("exact Le", [SELECT_SSSE.hex()], "00B2012C12", 0x9000, EF05_REC1),
    ("READ RECORD on a binary EF", [SELECT_SSSE.hex()], "00B2013C00", SW("incompatible_file"), ""),
    ("READ BINARY EF07 needs the PIN", [SELECT_SSSE.hex()], "00B0870000", SW("security_not_satisfied"), ""),
    ("READ BINARY on a record EF", [SELECT_SSSE.hex()], "00B0850000", SW("incompatible_file"), ""),
    ("READ BINARY with no current EF", [SELECT_SSSE.hex()], "00B0000010", SW("no_current_ef"), ""),
    ("plain UPDATE RECORD of a MAC-protected file", [SELECT_SSSE.hex()],
     "00DC012C12" + EF05_REC1, SW("sm_missing"), ""),
    ("APPEND RECORD to a linear file", [SELECT_SSSE.hex()], "04E2002800", SW("sm_missing"), ""),
    ("SELECT EF05 by FID then read via SFI 0", [SELECT_SSSE.hex(), "00A40000 02 EF05".replace(" ", "")],
     "00B2070400", 0x9000, "0709413030303030303031"),
    ("SELECT by path MF/SSSE/EF06", [], "00A4080004DDF1EF06", SW("more_data") | 0x09, ""),
    ("SELECT an unknown FID", [], "00A40000021234", SW("file_not_found"), ""),
    ("SELECT an unknown AID", [], "00A4040005A000000001", SW("file_not_found"), ""),
    ("SELECT with a bad P1", [], "00A4050002EF05", SW("wrong_p1p2"), ""),
    ("SELECT by AID with a wrong Lc", [], "00A404000F7378", SW("wrong_length"), ""),
    ("GET RESPONSE with nothing waiting", [], "00C0000000", SW("conditions_not_satisfied"), ""),
    ("GET CHALLENGE with Le 3", [], "0084000003", SW("wrong_length"), ""),
    ("GET CHALLENGE with P1", [], "0084010008", SW("wrong_p1p2"), ""),
    ("EXTERNAL AUTHENTICATE with no challenge", [SELECT_SSSE.hex()], "008200 0A 10".replace(" ", "") + "00" * 16,
     SW("data_invalid"), ""),
    ("EXTERNAL AUTHENTICATE with an unknown key", [SELECT_SSSE.hex()], "0082000510" + "00" * 16,
     SW("data_not_found"), ""),
    ("VERIFY outside the SSSE", [], "0020000003123456", SW("data_not_found"), ""),
    ("VERIFY with a non-BCD PIN", [SELECT_SSSE.hex()], "00200000031234AB", SW("wrong_data"), ""),
    ("VERIFY with a short PIN", [SELECT_SSSE.hex()], "002000000212FF", SW("wrong_data"), ""),
    ("VERIFY asks for the tries left", [SELECT_SSSE.hex()], "00200000", SW("pin_wrong") | 3, ""),
    ("CHANGE PIN without the FF separator", [SELECT_SSSE.hex()], "805E010006123456654321", SW("wrong_data"), ""),
    ("PIN UNBLOCK without secure messaging", [SELECT_SSSE.hex()], "8024000208" + "00" * 8, SW("sm_missing"), ""),
    ("INTERNAL AUTHENTICATE with 8 bytes", [SELECT_SSSE.hex()], "00880000080000000000000000", SW("wrong_length"), ""),
    ("unknown INS", [], "00FF000000", SW("ins_not_supported"), ""),
    ("unknown CLA", [], "A0A4000000", SW("cla_not_supported"), ""),
    ("proprietary class on an ISO command", [SELECT_SSSE.hex()], "80B2012C00", SW("cla_not_supported"), ""),
    ("header only, 3 bytes", [], "00A404", SW("wrong_length"), ""),
    ("Lc longer than the data", [], "00A404000F7378312E", SW("wrong_length"), ""),
    ("empty APDU", [], "", SW("wrong_length"), ""),
]


@pytest.mark.parametrize("alg", ["3des", "sm4"])
@pytest.mark.parametrize("what,before,command,sw,data", CASES, ids=[c[0] for c in CASES])
def test_command_table(alg: str, what: str, before: list[str], command: str, sw: int, data: str | None) -> None:
    card, _ = new_card(alg)
    for c in before:
        tx(card, c)
    got, got_sw = tx(card, command.replace(" ", ""))
    assert got_sw == sw, f"{what}: SW {got_sw:04X}"
    if data is not None:
        assert got.hex().upper() == data


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_select_answers_61xx_and_fci_names_the_algorithm(alg: str) -> None:
    card, _ = new_card(alg)
    data, sw = tx(card, SELECT_SSSE)
    assert data == b"" and sw >> 8 == 0x61
    part, sw2 = tx(card, bytes([0x00, 0xC0, 0x00, 0x00, 5]))  # a short GET RESPONSE leaves the rest waiting
    assert len(part) == 5 and sw2 == 0x6100 | ((sw & 0xFF) - 5)
    rest, sw3 = tx(card, "00C0000000")
    assert sw3 == 0x9000
    fci = tlv.parse(part + rest)[0]
    assert fci.tag == 0x6F and fci.find(0x84).value == bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
    assert fci.find(0x9F0C).value == bytes([0x86, 0x01, alg_id(alg)])
    assert tx(card, "00C0000000")[1] == SW("conditions_not_satisfied")


def test_select_p2_0c_returns_no_fci() -> None:
    card, _ = new_card()
    assert tx(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF") == (b"", 0x9000)
    assert tx(card, "00B2012C00")[1] == 0x9000


def test_reset_forgets_the_selection_and_the_pin() -> None:
    card, _ = new_card()
    select_ssse(card)
    assert tx(card, "0020000003123456")[1] == 0x9000
    card.reset()
    assert tx(card, "00B2012C00")[1] == SW("file_not_found")
    select_ssse(card)
    assert tx(card, "00B0870000")[1] == SW("security_not_satisfied")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_pin_counter_then_blocked_then_unblocked(alg: str, tmp_path: Path) -> None:
    card, image = new_card(alg, tmp_path / "card.json")
    select_ssse(card)
    assert [tx(card, "0020000003999999")[1] for _ in range(4)] == [0x63C2, 0x63C1, 0x63C0, 0x6983]
    assert tx(card, "0020000003123456")[1] == SW("auth_blocked")  # the right PIN no longer helps
    assert load(tmp_path / "card.json").pin_tries_left == 0  # the counter is on "disk"
    apdu = secured(card, image, "pin_unblock", 0x80, 0x24, 0x00, 0x02, unblock_block(image, "2468135"))
    assert tx(card, apdu)[1] == 0x9000
    assert tx(card, "0020000003123456")[1] == 0x63C2
    assert tx(card, "00200000042468135F")[1] == 0x9000
    assert load(tmp_path / "card.json").pin_tries_left == 3


def test_a_right_pin_resets_the_counter() -> None:
    card, _ = new_card()
    select_ssse(card)
    assert tx(card, "0020000003999999")[1] == 0x63C2
    assert tx(card, "0020000003123456")[1] == 0x9000
    assert tx(card, "0020000003999999")[1] == 0x63C2


def test_pin_opens_the_pin_files() -> None:
    card, _ = new_card()
    select_ssse(card)
    assert tx(card, "0020000003123456")[1] == 0x9000
    data, sw = tx(card, "00B0870010")
    assert sw == 0x9000 and data == bytes(16)


def test_change_pin() -> None:
    card, _ = new_card()
    select_ssse(card)
    assert tx(card, "805E010007 123456 FF 654321".replace(" ", ""))[1] == 0x9000
    assert tx(card, "0020000003123456")[1] == 0x63C2
    assert tx(card, "0020000003654321")[1] == 0x9000
    assert tx(card, "805E010007 111111 FF 222222".replace(" ", ""))[1] == 0x63C2  # a wrong old PIN costs a try


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_pin_unblock_with_a_bad_mac_is_refused(alg: str) -> None:
    card, image = new_card(alg)
    select_ssse(card)
    apdu = secured(card, image, "pin_unblock", 0x80, 0x24, 0x00, 0x02, unblock_block(image, "777777"), tamper=True)
    assert tx(card, apdu)[1] == SW("sm_incorrect")
    assert tx(card, "0020000003777777")[1] == 0x63C2


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_secure_update_record_checks_the_mac(alg: str, tmp_path: Path) -> None:
    card, image = new_card(alg, tmp_path / "card.json")
    select_ssse(card)
    new = bytes.fromhex("0709") + b"B12345678"
    bad = secured(card, image, "update", 0x00, 0xDC, 0x07, 0x2C, new, tamper=True)
    assert tx(card, bad)[1] == SW("sm_incorrect")
    good = secured(card, image, "update", 0x00, 0xDC, 0x07, 0x2C, new)
    assert tx(card, good)[1] == 0x9000
    assert tx(card, good)[1] == SW("data_invalid")  # replay: the challenge was used up
    assert tx(card, "00B2072C00") == (new, 0x9000)
    assert load(tmp_path / "card.json").files["EF05"][6] == new
    short = bytes([0x04, 0xDC, 0x07, 0x2C, 0x03, 0x07, 0x01, 0x42])
    assert tx(card, short)[1] == SW("sm_missing")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_secure_update_record_by_tag_and_its_checks(alg: str) -> None:
    card, image = new_card(alg)
    select_ssse(card)
    ssn = b"\x08\x12" + b"11010519491231002X"
    assert tx(card, secured(card, image, "update", 0x00, 0xDC, 0x08, 0x30, ssn))[1] == 0x9000
    wrong_tag = b"\x09\x12" + b"1" * 18
    assert tx(card, secured(card, image, "update", 0x00, 0xDC, 0x08, 0x30, wrong_tag))[1] == SW("wrong_data")
    short = b"\x08\x11" + b"1" * 17
    assert tx(card, secured(card, image, "update", 0x00, 0xDC, 0x01, 0x34, short))[1] == SW("wrong_length")
    torn = b"\x08\x12" + b"1" * 5
    assert tx(card, secured(card, image, "update", 0x00, 0xDC, 0x01, 0x34, torn))[1] == SW("wrong_data")
    assert tx(card, secured(card, image, "update", 0x00, 0xDC, 0x09, 0x34, ssn))[1] == SW("record_not_found")
    apdu = secured(card, image, "update", 0x00, 0xDC, 0x01, 0x34, ssn)
    tx(card, "0084000008")  # a newer challenge replaces the one the MAC used
    assert tx(card, apdu)[1] == SW("sm_incorrect")


def test_no_challenge_no_secure_messaging() -> None:
    card, image = new_card()
    select_ssse(card)
    apdu = secured(card, image, "update", 0x00, 0xDC, 0x07, 0x2C, b"\x07\x09" + b"A" * 9)
    card.reset()
    select_ssse(card)
    assert tx(card, apdu)[1] == SW("data_invalid")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_binary_with_sfi_and_offsets(alg: str) -> None:
    card, image = new_card(alg)
    select_ssse(card)
    assert tx(card, "0020000003123456")[1] == 0x9000
    photo = bytes(range(200))
    assert tx(card, secured(card, image, "update", 0x00, 0xD6, 0x88, 0x10, photo))[1] == 0x9000
    assert tx(card, "00B0881004") == (photo[:4], 0x9000)
    assert tx(card, "00B000C808") == (photo[184:192], 0x9000)  # current EF, offset 200 - 16... (P1P2 = 00C8)
    size = apdu_specs.profile().file("EF08").size
    assert tx(card, bytes([0x00, 0xB0, size >> 8, size & 0xFF, 0x00]))[1] == SW("wrong_p1p2_offset")
    last = size - 2
    assert tx(card, bytes([0x00, 0xB0, last >> 8, last & 0xFF, 0x08]))[1] == SW("wrong_le") | 2
    too_far = secured(card, image, "update", 0x00, 0xD6, last >> 8, last & 0xFF, b"abc")
    assert tx(card, too_far)[1] == SW("not_enough_memory")
    assert tx(card, "00B0E00000")[1] == SW("wrong_p1p2")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_cyclic_file_append_newest_first(alg: str, tmp_path: Path) -> None:
    card, image = new_card(alg, tmp_path / "card.json")
    select_ssse(card)
    data, sw = tx(card, "00A4040006D15600000504")
    assert sw >> 8 == 0x61
    assert tx(card, "0020000003123456")[1] == 0x9000
    spec = apdu_specs.profile().file("DF04/EF05")
    n, size = spec.record_count, spec.record_length
    for i in range(n + 2):
        rec = bytes([0x30 + i]) * size
        assert tx(card, secured(card, image, "update", 0x00, 0xE2, 0x00, 0x28, rec))[1] == 0x9000
    assert tx(card, "00B2012C00") == (bytes([0x30 + n + 1]) * size, 0x9000)
    assert tx(card, bytes([0x00, 0xB2, n, 0x2C, 0x00])) == (bytes([0x32]) * size, 0x9000)
    assert tx(card, bytes([0x00, 0xB2, n + 1, 0x2C, 0x00]))[1] == SW("record_not_found")
    assert tx(card, bytes([0x00, 0xB2, 0x33, 0x28, 0x00])) == (bytes([0x33]) * size, 0x9000)  # by first byte
    assert len(load(tmp_path / "card.json").files["DF04/EF05"]) == n
    wrong = secured(card, image, "update", 0x00, 0xE2, 0x00, 0x28, b"short")
    assert tx(card, wrong)[1] == SW("wrong_length")


def test_cyclic_file_needs_the_pin_to_read() -> None:
    card, _ = new_card()
    select_ssse(card)
    tx(card, "00A4040006D15600000504")
    assert tx(card, "00B2012C00")[1] == SW("security_not_satisfied")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_internal_authenticate(alg: str) -> None:
    card, image = new_card(alg)
    select_ssse(card)
    factor, rnd = bytes.fromhex("0102030405060708"), bytes.fromhex("1122334455667788")
    data, sw = tx(card, b"\x00\x88\x00\x00\x10" + factor + rnd + b"\x00")
    key = diversify(alg, image.keys["internal_auth"], factor)  # type: ignore[arg-type]
    block = 8 if alg == "3des" else 16
    assert sw == 0x9000 and data == encrypt_ecb(alg, key, rnd.ljust(block, b"\x00"))  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_external_authenticate_single_use_challenge(alg: str) -> None:
    card, image = new_card(alg)
    select_ssse(card)
    assert external_auth(card, image, wrong=True)[1] == SW("security_not_satisfied")
    assert external_auth(card, image)[1] == 0x9000
    assert tx(card, "008200 0A 08 0000000000000000".replace(" ", ""))[1] == SW("data_invalid")


def test_ext_auth_is_forgotten_on_reset() -> None:
    card, image = new_card()
    select_ssse(card)
    assert external_auth(card, image)[1] == 0x9000
    applet = card.default
    assert applet.ext_auth  # type: ignore[attr-defined]
    card.reset()
    assert not applet.ext_auth  # type: ignore[attr-defined]


def test_challenge_is_random() -> None:
    card, _ = new_card()
    assert len({challenge(card) for _ in range(20)}) == 20


def test_card_survives_a_failing_applet() -> None:
    card, _ = new_card()

    class Broken:
        def select(self, aid: bytes) -> bytes:
            raise RuntimeError("boom 123456")

        def process(self, apdu: bytes) -> bytes:
            raise RuntimeError("boom")

    card.register(b"\xa0\x00\x00\x00\x99", Broken())
    assert tx(card, "00A4040005A000000099")[1] == SW("unknown_error")
    select_ssse(card)
    assert tx(card, "00B2012C00")[1] == 0x9000


def test_failed_save_undoes_the_write(tmp_path: Path) -> None:
    card, image = new_card("sm4", tmp_path / "card.json")
    select_ssse(card)
    image.path = tmp_path / "no-such-dir" / "card.json"
    apdu = secured(card, image, "update", 0x00, 0xDC, 0x07, 0x2C, b"\x07\x09" + b"Z" * 9)
    assert tx(card, apdu)[1] == SW("memory_failure")
    assert tx(card, "00B2072C00") == (bytes.fromhex("0709413030303030303031"), 0x9000)
