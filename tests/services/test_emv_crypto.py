"""Tables for the pure cryptography of card services: diversification, session keys, ARQC/ARPC."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from cardlib import emv_crypto, issuer_keys
from cardlib.crypto import decrypt_ecb, encrypt_ecb

MASTER = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@pytest.mark.parametrize(
    "pan, psn, factor",
    [
        ("6228480012345678901", "01", "8001234567890101"),  # rightmost 16 of PAN||PSN
        ("1234567890123", "00", "0123456789012300"),  # short PAN: 0-padded left
        ("5413330089600010", "00", "1333008960001000"),
    ],
)
def test_pan_factor(pan: str, psn: str, factor: str) -> None:
    assert emv_crypto.pan_factor(pan, psn).hex().upper() == factor


def test_pan_factor_refuses_non_digits() -> None:
    with pytest.raises(ValueError):
        emv_crypto.pan_factor("62284800X2345678", "01")


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_session_key_follows_the_common_session_key_derivation(alg: str) -> None:
    mk = emv_crypto.card_master_key(alg, MASTER, "6228480012345678901", "01")
    sk = emv_crypto.session_key(alg, mk, b"\x00\x2a")
    if alg == "3des":
        assert decrypt_ecb(alg, mk, sk[:8]) == bytes.fromhex("002AF00000000000")
        assert decrypt_ecb(alg, mk, sk[8:]) == bytes.fromhex("002A0F0000000000")
    else:
        assert decrypt_ecb(alg, mk, sk) == bytes.fromhex("002A" + "00" * 14)
    assert emv_crypto.session_key(alg, mk, b"\x00\x2b") != sk


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_arpc_method_1(alg: str) -> None:
    sk = bytes(range(16))
    ac = bytes.fromhex("1122334455667788")
    out = emv_crypto.arpc(alg, sk, ac, b"00")
    block = bytes.fromhex("2112334455667788")  # ARQC xor ('3030' || 00*6)
    assert out == encrypt_ecb(alg, sk, block.ljust(8 if alg == "3des" else 16, b"\x00"))[:8]


@settings(max_examples=60)
@given(data=st.binary(max_size=64), flip=st.integers(min_value=0, max_value=511))
def test_arqc_detects_any_changed_bit(data: bytes, flip: int) -> None:
    for alg in ("3des", "sm4"):
        sk = emv_crypto.session_key(alg, MASTER, b"\x00\x01")
        ac = emv_crypto.arqc(alg, sk, data)
        assert len(ac) == 8 and emv_crypto.verify_arqc(alg, sk, data, ac)
        if data:
            i = (flip // 8) % len(data)
            changed = data[:i] + bytes([data[i] ^ (1 << (flip % 8))]) + data[i + 1 :]
            assert not emv_crypto.verify_arqc(alg, sk, changed, ac)


@pytest.mark.parametrize(
    "card_id, city",
    [
        ("330300D15600000599110145FFFFFFFF", b"330300" + b"\x73\x78"),
        ("411600D156000005C38275EEFC9B9648", b"411600" + b"\x73\x78"),
    ],
)
def test_city_factor_is_region_ascii_then_7378(card_id: str, city: bytes) -> None:
    assert issuer_keys.city_factor(bytes.fromhex(card_id)) == city


def test_city_factor_refuses_a_non_bcd_region() -> None:
    with pytest.raises(ValueError):
        issuer_keys.city_factor(bytes.fromhex("3303A0D15600000599110145FFFFFFFF"))


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_card_key_is_two_level_diversification(alg: str) -> None:
    from cardlib.crypto import diversify

    card_id = bytes.fromhex("411600D156000005C38275EEFC9B9648")
    atr = bytes.fromhex("3B6D0000008C544CB386844116018593CA")
    key = issuer_keys.diversify_card_key(alg, MASTER, card_id, atr)
    city = diversify(alg, MASTER, b"411600sx")
    assert key == diversify(alg, city, bytes.fromhex("86844116018593CA"))
    other_card = issuer_keys.diversify_card_key(alg, MASTER, card_id, atr[:-1] + b"\x00")
    other_city = issuer_keys.diversify_card_key(alg, MASTER, bytes.fromhex("330300") + card_id[3:], atr)
    assert len({key, other_card, other_city}) == 3


def test_cryptograms_agree_with_pyemv_on_fixed_vectors() -> None:
    """3DES: ICC master key (option A), common session key, ARQC and ARPC method 1 as pyemv computes them."""
    from pyemv import ac, kd

    pan, psn, atc = "6228480012345678901", "01", bytes.fromhex("002A")
    data = bytes.fromhex("26000000" "000000001234" "000000000000" "0156" "0000000000" "0156" "260102" "00"
                         "11223344" "1800" "002A" "03A00000")
    mk = emv_crypto.card_master_key("3des", MASTER, pan, psn)
    sk = emv_crypto.session_key("3des", mk, atc)
    theirs_sk = kd.derive_common_sk(kd.derive_icc_mk_a(MASTER, pan, psn), atc + bytes(6))
    arqc = emv_crypto.arqc("3des", sk, data)
    assert ac.generate_ac(theirs_sk, data, ac.PaddingType.EMV) == arqc
    assert ac.generate_arpc_1(theirs_sk, arqc, b"00") == emv_crypto.arpc("3des", sk, arqc, b"00")
    assert emv_crypto.verify_arqc("3des", sk, data, arqc) and not emv_crypto.verify_arqc("3des", sk, data[:-1] + b"\1", arqc)
