"""Card cryptography over `cryptography`'s primitives: block encryption, PBOC-style key diversification, MACs.

3DES (two-key, 16-byte keys) and SM4 (16-byte keys) are the card's two algorithm families; everything here takes
an `alg` of "3des" or "sm4" so callers follow the algorithm the card announces in FCI tag 9F0C.
No primitive is written here: DES, 3DES and SM4 come from `cryptography`.
"""
from __future__ import annotations

from typing import Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Alg = Literal["3des", "sm4"]
ALG_IDS: dict[int, Alg] = {0x01: "3des", 0x04: "sm4"}


def alg_from_id(alg_id: int) -> Alg:
    try:
        return ALG_IDS[alg_id]
    except KeyError:
        raise ValueError(f"unknown algorithm id {alg_id:02X} (01 = 3DES, 04 = SM4)") from None


def alg_id(alg: Alg) -> int:
    return {v: k for k, v in ALG_IDS.items()}[alg]


def block_size(alg: Alg) -> int:
    return 8 if alg == "3des" else 16


def _algorithm(alg: Alg, key: bytes):  # type: ignore[no-untyped-def]
    if len(key) not in (8, 16):
        raise ValueError(f"{alg} key must be 16 bytes (8 for single DES), got {len(key)}")
    if alg == "3des":
        return TripleDES(key * 3 if len(key) == 8 else key + key[:8])
    if len(key) != 16:
        raise ValueError("SM4 key must be 16 bytes")
    return algorithms.SM4(key)


def encrypt_ecb(alg: Alg, key: bytes, data: bytes) -> bytes:
    enc = Cipher(_algorithm(alg, key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt_ecb(alg: Alg, key: bytes, data: bytes) -> bytes:
    dec = Cipher(_algorithm(alg, key), modes.ECB()).decryptor()
    return dec.update(data) + dec.finalize()


class Ecb:
    """One key's ECB cipher with its contexts set up once: a card or PSAM using the same key session after session
    pays for the cipher set-up (most of a one-block encryption's cost) once, not per block. ECB keeps no state
    between blocks, so one context serves every call; data must be whole blocks. The repr shows no key."""

    __slots__ = ("alg", "size", "_cipher", "_enc", "_dec")

    def __init__(self, alg: Alg, key: bytes) -> None:
        self.alg, self.size = alg, block_size(alg)
        self._cipher = Cipher(_algorithm(alg, key), modes.ECB())
        self._enc = self._dec = None  # type: ignore[var-annotated]

    def __repr__(self) -> str:
        return f"Ecb({self.alg})"

    def _blocks(self, data: bytes) -> None:
        if len(data) % self.size:
            raise ValueError(f"{len(data)} bytes is not a whole number of {self.size}-byte {self.alg} blocks")

    def encrypt(self, data: bytes) -> bytes:
        self._blocks(data)
        if self._enc is None:
            self._enc = self._cipher.encryptor()
        return self._enc.update(data)  # type: ignore[no-any-return]

    def decrypt(self, data: bytes) -> bytes:
        self._blocks(data)
        if self._dec is None:
            self._dec = self._cipher.decryptor()
        return self._dec.update(data)  # type: ignore[no-any-return]

    def diversify(self, factor: bytes) -> bytes:
        """PBOC diversification of this key (see `diversify`)."""
        if len(factor) != 8:
            raise ValueError(f"diversification factor must be 8 bytes, got {len(factor)}")
        inverse = bytes(b ^ 0xFF for b in factor)
        return self.encrypt(factor + inverse)  # 3DES: two blocks, Enc(factor) || Enc(~factor); SM4: one


def pad_80(data: bytes, size: int) -> bytes:
    """ISO 9797-1 padding method 2: 80 then zeros to a whole block (always adds at least one byte)."""
    data = data + b"\x80"
    return data + b"\x00" * (-len(data) % size)


def unpad_80(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise ValueError("bad 80-padding")
    return stripped[:-1]


def diversify(alg: Alg, master: bytes, factor: bytes) -> bytes:
    """PBOC key diversification: the 16-byte child key of `master` for an 8-byte factor.

    3DES: Enc(factor) || Enc(~factor); SM4: Enc(factor || ~factor).
    """
    if len(factor) != 8:
        raise ValueError(f"diversification factor must be 8 bytes, got {len(factor)}")
    return Ecb(alg, master).diversify(factor)


def mac(alg: Alg, key: bytes, data: bytes, iv: bytes | None = None, length: int = 4) -> bytes:
    """The card's MAC over `data` (80-padded): ISO 9797-1 MAC algorithm 3 (retail MAC) for 3DES, SM4 CBC-MAC
    for SM4. `iv` is the initial vector (a card challenge, zero-padded to a block, in secure messaging)."""
    size = block_size(alg)
    iv = (iv or b"").ljust(size, b"\x00")[:size]
    padded = pad_80(data, size)
    if alg == "3des":
        k1 = key[:8]
        cbc = Cipher(_algorithm("3des", k1), modes.CBC(iv)).encryptor()
        last = (cbc.update(padded) + cbc.finalize())[-8:]
        out = encrypt_ecb("3des", k1, decrypt_ecb("3des", key[8:16], last))
    else:
        cbc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
        out = (cbc.update(padded) + cbc.finalize())[-16:]
    return out[:length]
