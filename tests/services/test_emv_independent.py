"""The software debit application as independent EMV code reads it: python-emv (`emv`) and pyemv, through the
real pcscd + vpcd, on the card `sscard sim new` makes; and the EMV state machine the card follows."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardlib import issuer_keys, pboc
from cardlib.apdu import CommandAPDU
from cardlib.channel import Channel
from cardlib.sw import CardError
from cardlib.transport import LoopbackTransport
from tests.services.conftest import card_image

AIP_DDA, AIP_ISSUER_AUTH, AIP_CDA, AIP_SDA = 0x20, 0x04, 0x01, 0x40


def _connection(reader_name: str):  # type: ignore[no-untyped-def]
    """pyscard's own PC/SC connection, undecorated: python-emv reads `T0_protocol` off the connection, which
    CardConnection has and the decorator `createConnection()` wraps it in (pyscard 2.1+) does not pass on."""
    from smartcard.pcsc.PCSCCardConnection import PCSCCardConnection

    return PCSCCardConnection(reader_name)


@pytest.mark.pcsc
def test_python_emv_finds_the_app_by_the_pse_and_reads_a_real_name(tmp_path: Path, issuer_dirs: dict,
                                                                   virtual_card) -> None:
    from emv.card import Card
    from emv.protocol.command import GetProcessingOptions

    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des"))
    card = Card(_connection(reader))
    apps = card.list_applications()  # SELECT 1PAY.SYS.DDF01, READ RECORD of its directory
    assert [bytes(a[0x4F]).hex().upper() for a in apps] == ["A000000333010101"]
    fci = card.select_application(apps[0][0x4F]).data[0x6F]
    pdol = fci[0xA5][(0x9F, 0x38)]  # python-emv's DOL: (Tag, length) pairs
    tag_hex = lambda t: bytes(t.value if isinstance(t.value, list) else [t.value]).hex().upper()  # noqa: E731
    data = pboc.build_dol([(tag_hex(t), n) for t, n in pdol], pboc.terminal_data(0))
    # python-emv's get_processing_options sends 8300; this card has a PDOL, so the command carries its data
    res = card.tp.exchange(GetProcessingOptions([0x83, len(data), *data]))
    aip = bytes(res.data[0x77][0x82])
    assert aip[0] & (AIP_SDA | AIP_DDA | AIP_ISSUER_AUTH | AIP_CDA) == 0  # claims no ODA, no issuer authentication
    records = card.get_application_data(list(res.data[0x77][0x94]))
    assert bytes(records[(0x5F, 0x20)]) == b"ZHANG/LIHUA"
    assert bytes(records[0x5A]).hex().upper().rstrip("F").startswith("622848")


@pytest.mark.pcsc
def test_the_arqc_and_arpc_agree_with_pyemv(tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    from pyemv import ac, kd

    from cardlib import emv_crypto
    from cardlib.pcsc import PcscTransport

    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des"))
    with PcscTransport(reader) as t:
        read = pboc.read_card(Channel(t), amount=1234)
    c = read.cryptogram
    assert c is not None and c.kind == "ARQC"
    issuer_mk = issuer_keys.load(issuer_dirs["ours"])["3des"].master("ac")
    icc_mk = kd.derive_icc_mk_a(issuer_mk, c.pan, c.psn)
    sk = kd.derive_common_sk(icc_mk, c.atc + bytes(6))
    data = c.cdol_data + c.aip + c.atc + c.iad[3:7]
    assert ac.generate_ac(sk, data, ac.PaddingType.EMV) == c.ac
    ours = emv_crypto.session_key("3des", emv_crypto.card_master_key("3des", issuer_mk, c.pan, c.psn), c.atc)
    assert ac.generate_arpc_1(sk, c.ac, b"00") == emv_crypto.arpc("3des", ours, c.ac, b"00")


# ---- the EMV state machine, in process ------------------------------------------------------------------------

def _debit(tmp_path: Path) -> Channel:
    from simulators.pboc import BankCard, new_state

    state = new_state("3des", "6228480012345678901", "301231", bytes(range(16)), name="ZHANG/LIHUA")
    t = LoopbackTransport(BankCard(state))
    t.connect()
    return Channel(t)


def _gpo(ch: Channel, fci: dict[str, bytes]) -> CommandAPDU:
    data = pboc.build_dol(pboc.parse_dol(fci["9F38"]), pboc.terminal_data(100))
    return CommandAPDU(0x80, 0xA8, 0x00, 0x00, bytes([0x83, len(data)]) + data, 256)


def test_one_gpo_per_selection_and_generate_ac_in_order(tmp_path: Path) -> None:
    ch = _debit(tmp_path)
    _aid, fci = pboc.select_application(ch)
    gen_ac_data = pboc.build_dol(pboc.parse_dol(fci["9F38"]), pboc.terminal_data(100))
    assert ch.send(CommandAPDU(0x80, 0xAE, 0x80, 0x00, gen_ac_data, 256)).sw == 0x6985  # before GPO
    assert ch.send(_gpo(ch, fci)).sw == 0x9000
    atc = pboc.find_all(ch.call(pboc.get_data(0x9F36)))["9F36"]
    assert ch.send(_gpo(ch, fci)).sw == 0x6985  # a second GPO in one selection
    assert pboc.find_all(ch.call(pboc.get_data(0x9F36)))["9F36"] == atc  # and the ATC did not count up
    first = pboc.find_all(ch.call(CommandAPDU(0x80, 0xAE, 0x80, 0x00, gen_ac_data, 256)))
    assert first["9F27"] == b"\x80"  # ARQC
    assert ch.send(CommandAPDU(0x80, 0xAE, 0x80, 0x00, gen_ac_data + b"00", 256)).sw == 0x6985  # no 2nd ARQC
    second = pboc.find_all(ch.call(CommandAPDU(0x80, 0xAE, 0x40, 0x00, gen_ac_data + b"00", 256)))
    assert second["9F27"] == b"\x40" and second["9F26"] != first["9F26"]  # TC on the issuer's approval "00"
    assert ch.send(CommandAPDU(0x80, 0xAE, 0x40, 0x00, gen_ac_data + b"00", 256)).sw == 0x6985  # it is over
    pboc.select_application(ch)
    assert ch.send(_gpo(ch, fci)).sw == 0x9000  # a new selection, a new transaction


def test_second_generate_ac_declined_by_the_issuer_gives_an_aac(tmp_path: Path) -> None:
    ch = _debit(tmp_path)
    _aid, fci = pboc.select_application(ch)
    data = pboc.build_dol(pboc.parse_dol(fci["9F38"]), pboc.terminal_data(100))
    ch.call(_gpo(ch, fci))
    ch.call(CommandAPDU(0x80, 0xAE, 0x80, 0x00, data, 256))
    records: dict[str, bytes] = {}
    for sfi, number in ((1, 1), (1, 2), (2, 1)):
        pboc.find_all(ch.call(CommandAPDU(0x00, 0xB2, number, (sfi << 3) | 4, le=256)), records)
    assert records["8D"].endswith(bytes.fromhex("8A02"))  # CDOL2 asks the authorisation response code
    declined = pboc.find_all(ch.call(CommandAPDU(0x80, 0xAE, 0x40, 0x00, data + b"05", 256)))
    assert declined["9F27"] == b"\x00"


def test_the_card_claims_only_what_it_does(tmp_path: Path) -> None:
    ch = _debit(tmp_path)
    _aid, fci = pboc.select_application(ch)
    aip = pboc.find_all(ch.call(_gpo(ch, fci)))["82"]
    assert aip[0] & (AIP_SDA | AIP_DDA | AIP_ISSUER_AUTH | AIP_CDA) == 0
    with pytest.raises(CardError) as no_dda:
        ch.call(CommandAPDU(0x00, 0x88, 0x00, 0x00, bytes(4), 256))
    assert no_dda.value.sw == 0x6D00
