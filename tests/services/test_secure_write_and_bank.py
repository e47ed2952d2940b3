"""Secure writes (a legal name change under secure messaging) and the debit application, through pcscd + vpcd."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import apdu_specs
from cardlib import fields, pboc, security
from cardlib.pcsc import PcscTransport
from cardlib.psam import Psam
from cardlib.ssapp import SocialSecurityApp
from cardlib.sw import CardError
from cardlib.transport import LoopbackTransport
from simulators.psam import Psam as SimulatedPsam
from terminal import issuer
from cardlib import issuer_keys
from tests.services.conftest import card_image, sscard

pytestmark = pytest.mark.pcsc
PAN = "6228480012345678901"


def _psam(keys: Path) -> Psam:
    loop = LoopbackTransport(SimulatedPsam.from_dir(keys))
    loop.connect()
    return Psam(loop)


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_name_change_needs_secure_messaging(alg: str, tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], alg))
    spec = apdu_specs.profile().field("name")[1]
    with PcscTransport(reader) as card:
        session = security.authenticate(card, _psam(issuer_dirs["ours"]), card.atr)
        record = fields.encode_field_record(spec, "王新华")
        plain = card.transmit(bytes([0x00, 0xDC, spec.number, (6 << 3) | 4, len(record)]) + record)
        assert plain[-2:].hex().upper() in ("6982", "6987")
        with pytest.raises(CardError) as stranger:  # a MAC under another issuer's keys
            security.update_record(card, _psam(issuer_dirs["other"]), session, "name", fields.encode_field(spec, "王新华"))
        assert stranger.value.code == -0x6988
        assert SocialSecurityApp(card).read_field("name") == "张丽华"
        security.update_record(card, _psam(issuer_dirs["ours"]), session, "name", fields.encode_field(spec, "王新华"))
        assert SocialSecurityApp(card).read_field("name") == "王新华"
    r = sscard("card", "read", "--verify", "--keys", str(issuer_dirs["ours"]), "--reader", reader)
    assert r.returncode == 0 and r.stdout.split("|")[4] == "王新华"


def test_a_secured_command_cannot_be_replayed(tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    from cardlib.apdu import CommandAPDU
    from cardlib.channel import Channel, SecureMessaging

    class Recorder:  # a wrapper of our own in the stack: what went on the wire
        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            self.inner, self.sent = inner, []

        def transmit(self, apdu: bytes) -> bytes:
            self.sent.append(apdu)
            return self.inner.transmit(apdu)

    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "sm4"))
    spec = apdu_specs.profile().field("name")[1]
    record = fields.encode_field_record(spec, "李四")
    with PcscTransport(reader) as card:
        session = security.authenticate(card, _psam(issuer_dirs["ours"]), card.atr)
        recorder = Recorder(Channel(card).link)
        sm = SecureMessaging(recorder, _psam(issuer_dirs["ours"]), "sm4", "update", session.card_id, card.atr)
        assert sm.transmit(CommandAPDU(0x00, 0xDC, spec.number, (6 << 3) | 4, record).to_bytes())[-2:] == b"\x90\x00"
        apdu = recorder.sent[-1]
        assert apdu[0] == 0x04 and [a[1] for a in recorder.sent] == [0x84, 0xDC]  # GET CHALLENGE, then the command
        assert card.transmit(apdu)[-2:] != b"\x90\x00"  # the challenge it was MAC'd under is spent


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_terminal_reads_the_bank_app_and_the_issuer_verifies_the_arqc(alg: str, tmp_path: Path, issuer_dirs: dict,
                                                                      virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], alg, bank=True))
    r = sscard("card", "bank", "--reader", reader, "--amount", "1234", "--issuer-keys", str(issuer_dirs["ours"]),
               "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["pan"] == "622848*********8901" and PAN not in r.stdout
    assert (out["expiry"], out["balance"], out["aid"]) == ("2030-12", "500.00", "A000000333010101")
    assert out["cryptogram"]["type"] == "ARQC" and len(out["cryptogram"]["ac"]) == 16
    assert out["issuer"]["approved"] is True and out["issuer"]["alg"] == alg and len(out["issuer"]["arpc"]) == 16
    text = sscard("card", "bank", "--reader", reader)
    assert text.returncode == 0 and "622848*********8901" in text.stdout and PAN not in text.stdout
    with PcscTransport(reader) as card:
        info = pboc.read_card(card, amount=500)
        assert info.atc == out["atc"] + 2  # every GET PROCESSING OPTIONS counts
        assert info.cryptogram is not None and PAN not in repr(info)
        assert issuer.authorise(issuer_keys.load(issuer_dirs["ours"]), info.cryptogram).approved
        with pytest.raises(issuer.ArqcError):
            issuer.authorise(issuer_keys.load(issuer_dirs["other"]), info.cryptogram)
        tampered = pboc.Cryptogram(**{**info.cryptogram.__dict__, "cdol_data": info.cryptogram.cdol_data[:-1] + b"\0"})
        with pytest.raises(issuer.ArqcError):
            issuer.authorise(issuer_keys.load(issuer_dirs["ours"]), tampered)


def test_card_without_a_bank_app_says_so(tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    from simulators import image

    path = card_image(tmp_path, issuer_dirs["ours"], "sm4")
    img = image.load(path)
    assert "pboc_debit" in img.applets  # `sim new` makes a whole card; take its debit application away
    del img.applets["pboc_debit"]
    img.save()
    reader = virtual_card(path)
    r = sscard("card", "bank", "--reader", reader, "--json")
    assert r.returncode == 1
    err = json.loads(r.stderr.strip().splitlines()[-1])
    assert err["code"] == -0x6A82 and "SELECT PPSE" in err["error"]


def test_card_update_cli_changes_the_name_only_with_the_issuers_psam(tmp_path: Path, issuer_dirs: dict,
                                                                     virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des"))
    long_name = "欧阳" + "娜" * 16  # 36 GBK bytes: 姓名 (30) and 姓名扩展 change together
    stranger = sscard("card", "update", "name", long_name, "--keys", str(issuer_dirs["other"]), "--reader", reader,
                      "--json")
    assert stranger.returncode == 1 and json.loads(stranger.stderr.strip().splitlines()[-1])["code"] == -21
    r = sscard("card", "update", "name", long_name, "--keys", str(issuer_dirs["ours"]), "--reader", reader, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"ok": True, "field": "name"}
    read = sscard("card", "read", "--verify", "--keys", str(issuer_dirs["ours"]), "--reader", reader, "--json")
    assert json.loads(read.stdout)["name"] == long_name
    bad = sscard("card", "update", "gender", "7x", "--keys", str(issuer_dirs["ours"]), "--reader", reader)
    assert bad.returncode == 2 and "性别" in bad.stderr
