"""cardlib.crypto against published vectors and against its own definition built from ECB blocks."""
import pytest
from hypothesis import given, settings, strategies as st

from cardlib import crypto

K16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def test_sm4_known_answer_gbt32907() -> None:
    # GB/T 32907-2016, appendix A.1
    assert crypto.encrypt_ecb("sm4", K16, K16).hex() == "681edf34d206965e86b3e94f536e4246"


def test_des_known_answer() -> None:
    # FIPS 81 / the classic "Now is the time for all " first block
    key = bytes.fromhex("0123456789ABCDEF")
    assert crypto.encrypt_ecb("3des", key, b"Now is t").hex() == "3fa40e8a984d4815"


@pytest.mark.parametrize(
    "data, padded",
    [(b"", "8000000000000000"), (b"\x01" * 7, "0101010101010180"), (b"\x01" * 8, "01010101010101018000000000000000")],
)
def test_pad_80(data: bytes, padded: str) -> None:
    assert crypto.pad_80(data, 8).hex() == padded
    assert crypto.unpad_80(bytes.fromhex(padded)) == data


def _cbc_last(alg: crypto.Alg, key: bytes, data: bytes, iv: bytes) -> bytes:
    size = crypto.block_size(alg)
    block = iv
    for i in range(0, len(data), size):
        block = crypto.encrypt_ecb(alg, key, bytes(a ^ b for a, b in zip(block, data[i:i + size])))
    return block


@settings(max_examples=50)
@given(data=st.binary(max_size=64), iv=st.binary(min_size=8, max_size=8))
def test_retail_mac_is_single_des_cbc_then_3des_final(data: bytes, iv: bytes) -> None:
    padded = crypto.pad_80(data, 8)
    last = _cbc_last("3des", K16[:8], padded, iv)
    final = crypto.encrypt_ecb("3des", K16[:8], crypto.decrypt_ecb("3des", K16[8:], last))
    assert crypto.mac("3des", K16, data, iv=iv) == final[:4]


@settings(max_examples=50)
@given(data=st.binary(max_size=64))
def test_sm4_mac_is_cbc_mac(data: bytes) -> None:
    expected = _cbc_last("sm4", K16, crypto.pad_80(data, 16), b"\x00" * 16)
    assert crypto.mac("sm4", K16, data, length=16) == expected


def test_mac_depends_on_key_data_and_iv() -> None:
    base = crypto.mac("sm4", K16, b"record")
    assert crypto.mac("sm4", K16[::-1], b"record") != base
    assert crypto.mac("sm4", K16, b"recorD") != base
    assert crypto.mac("sm4", K16, b"record", iv=b"\x01" * 8) != base


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_diversify_is_deterministic_and_factor_bound(alg: crypto.Alg) -> None:
    a = crypto.diversify(alg, K16, b"12345678")
    assert len(a) == 16
    assert a == crypto.diversify(alg, K16, b"12345678")
    assert a != crypto.diversify(alg, K16, b"12345679")
    if alg == "3des":
        assert a[:8] == crypto.encrypt_ecb("3des", K16, b"12345678")


def test_bad_inputs_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="factor"):
        crypto.diversify("sm4", K16, b"short")
    with pytest.raises(ValueError, match="key"):
        crypto.encrypt_ecb("sm4", b"\x00" * 8, b"\x00" * 16)
    with pytest.raises(ValueError, match="algorithm id"):
        crypto.alg_from_id(0x07)
    assert crypto.alg_from_id(crypto.alg_id("sm4")) == "sm4"


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_a_kept_ecb_cipher_is_encrypt_ecb_call_after_call(alg: crypto.Alg) -> None:
    """crypto.Ecb reuses one cipher context (what the card and PSAM keep per key): ECB keeps no state between
    calls, so every call answers what a fresh encrypt_ecb / decrypt_ecb / diversify does."""
    ecb = crypto.Ecb(alg, K16)
    size = crypto.block_size(alg)
    for i in range(1, 5):
        block = bytes(range(i, i + size * i))
        assert ecb.encrypt(block) == crypto.encrypt_ecb(alg, K16, block)
        assert ecb.decrypt(block) == crypto.decrypt_ecb(alg, K16, block)
        factor = bytes([i]) * 8
        assert ecb.diversify(factor) == crypto.diversify(alg, K16, factor)
    with pytest.raises(ValueError, match="whole number"):
        ecb.encrypt(b"\x00" * (size + 1))
    assert K16.hex() not in repr(ecb).lower()
    with pytest.raises(ValueError, match="key"):
        crypto.Ecb(alg, b"\x00" * 5)
