"""The simulated PSAM through the host PSAM service (in process, loopback): what terminals get, and what they never do."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from cardlib import issuer_keys
from cardlib.crypto import decrypt_ecb, encrypt_ecb, mac
from cardlib.psam import Psam, PsamError
from cardlib.transport import LoopbackTransport
from simulators.psam import Psam as SimulatedPsam

CARD_ID = bytes.fromhex("411600D156000005C38275EEFC9B9648")
ATR = bytes.fromhex("3B6D0000008C544CB386844116018593CA")


@pytest.fixture(scope="module")
def key_sets() -> dict:
    return {alg: issuer_keys.new_key_set(alg, "TEST") for alg in ("3des", "sm4")}


def _psam(key_sets: dict) -> Psam:
    t = LoopbackTransport(SimulatedPsam(key_sets))
    t.connect()
    return Psam(t)


def test_key_files_are_private_and_round_trip(tmp_path: Path, key_sets: dict) -> None:
    path = issuer_keys.save(key_sets["sm4"], tmp_path / "k")
    assert path.stat().st_mode & 0o777 == 0o600
    assert issuer_keys.load(tmp_path / "k")["sm4"].masters == key_sets["sm4"].masters
    with pytest.raises(issuer_keys.KeySetError):
        issuer_keys.save(key_sets["sm4"], tmp_path / "k")
    assert key_sets["sm4"].masters["update"].hex() not in repr(key_sets["sm4"]).lower()


def test_bad_key_file_is_named_not_dumped(tmp_path: Path) -> None:
    (tmp_path / "issuer-sm4.json").write_text('{"format": "sscard-issuer-keys/1", "alg": "sm4", "keys": {"ac": "zz"}}')
    with pytest.raises(issuer_keys.KeySetError, match="'ac' is not hex"):
        issuer_keys.load(tmp_path)
    with pytest.raises(issuer_keys.KeySetError, match="no issuer key set"):
        issuer_keys.load(tmp_path / "nothing")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_psam_enciphers_and_checks_under_the_card_key(alg: str, key_sets: dict) -> None:
    psam = _psam(key_sets)
    card_key = issuer_keys.diversify_card_key(alg, key_sets[alg].master("internal_auth"), CARD_ID, ATR)
    psam.set_card_key(alg, "internal_auth", CARD_ID, ATR)
    size = 8 if alg == "3des" else 16
    challenge = bytes(range(8))
    assert psam.encipher(challenge.ljust(size, b"\0")) == encrypt_ecb(alg, card_key, challenge.ljust(size, b"\0"))
    assert psam.check(challenge, encrypt_ecb(alg, card_key, challenge.ljust(size, b"\0")))
    assert not psam.check(challenge, encrypt_ecb(alg, bytes(16), challenge.ljust(size, b"\0")))
    assert psam.mac(b"hello", iv=challenge) == mac(alg, card_key, b"hello", iv=challenge)


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_wrap_key_only_under_a_perso_key(alg: str, key_sets: dict) -> None:
    psam = _psam(key_sets)
    psam.set_card_key(alg, "update", CARD_ID, ATR)
    with pytest.raises(PsamError):
        psam.wrap_key(alg, "update", b"411600sx", ATR[-8:])
    psam.set_key(alg, "perso", ATR[-8:])
    wrapped = psam.wrap_key(alg, "update", b"411600sx", ATR[-8:])
    transport_key = issuer_keys.diversify(alg, key_sets[alg].master("perso"), ATR[-8:])
    assert decrypt_ecb(alg, transport_key, wrapped) == issuer_keys.diversify_card_key(
        alg, key_sets[alg].master("update"), CARD_ID, ATR
    )


def test_psam_without_the_algorithm_says_so(key_sets: dict) -> None:
    t = LoopbackTransport(SimulatedPsam({"sm4": key_sets["sm4"]}))
    t.connect()
    with pytest.raises(PsamError) as exc:
        Psam(t).set_card_key("3des", "internal_auth", CARD_ID, ATR)
    assert exc.value.code == -2202


@settings(max_examples=150)
@given(apdu=st.binary(max_size=40))
def test_any_apdu_gets_a_status_word(apdu: bytes) -> None:
    card = SimulatedPsam({"sm4": issuer_keys.new_key_set("sm4", "X")})
    card.reset()
    card.process(bytes.fromhex("00A4040006D15600000590"))
    for a in (apdu, b"\x80\x1a\x04\x01" + apdu, b"\x80\xfa" + apdu):
        resp = card.process(a)
        assert len(resp) >= 2


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_the_psams_kept_ciphers_follow_its_keys(alg: str) -> None:
    """The PSAM keeps the ciphers of master and intermediate keys between sessions; the same card asked twice gets
    the same answer, and a master key changed under it is used at once (a kept cipher is never a stale key)."""
    key_set = issuer_keys.new_key_set(alg, "KEPT")
    psam = _psam({alg: key_set})
    block = bytes(range(16 if alg == "sm4" else 8))

    def under(master: bytes) -> bytes:
        return encrypt_ecb(alg, issuer_keys.diversify_card_key(alg, master, CARD_ID, ATR), block)

    answers = []
    for _ in range(2):
        psam.set_card_key(alg, "internal_auth", CARD_ID, ATR)
        answers.append(psam.encipher(block))
    assert answers == [under(key_set.master("internal_auth"))] * 2
    key_set.masters["internal_auth"] = bytes(16)
    psam.set_card_key(alg, "internal_auth", CARD_ID, ATR)
    assert psam.encipher(block) == under(bytes(16))
