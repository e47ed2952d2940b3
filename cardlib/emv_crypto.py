"""EMV / PBOC 3.0 application cryptograms: card master key, ATC session keys, ARQC and ARPC, 3DES and SM4.

Pure functions shared by the simulated debit card (which makes the ARQC) and the issuer side (which checks it and
answers with an ARPC), so both compute from one definition. Primitives come from cardlib.crypto (cryptography).

- Card master key (UDK, EMV Book 2 A1.4 option A / PBOC): the issuer master key diversified by the rightmost 16
  digits of PAN || PAN sequence number, as 8 BCD bytes (3DES: Enc(Y) || Enc(~Y); SM4: Enc(Y || ~Y)).
- Session key (EMV common session key derivation, Book 2 A1.3.1): 3DES: Enc(ATC||F0||00*5) || Enc(ATC||0F||00*5);
  SM4 (16-byte block): Enc(ATC || 00*14).
- ARQC: the card's MAC (retail MAC for 3DES, SM4 CBC-MAC for SM4, 80-padding) over the transaction data, 8 bytes.
- ARPC (method 1): Enc(SK, ARQC xor (ARC || 00*6)), 8 bytes; SM4 encrypts the 16-byte block (that || 00*8) and
  keeps the left 8 bytes.
"""
from __future__ import annotations

import hmac

from cardlib.crypto import Alg, block_size, diversify, encrypt_ecb, mac

AC_LENGTH = 8


def pan_factor(pan: str, psn: str = "00") -> bytes:
    """The 8-byte diversification factor of a card: the rightmost 16 digits of PAN || PSN, BCD, 0-padded left."""
    digits = (pan + psn).rstrip("F")
    if not digits.isdigit():
        raise ValueError("PAN and PAN sequence number must be digits")
    return bytes.fromhex(digits[-16:].rjust(16, "0"))


def card_master_key(alg: Alg, issuer_master: bytes, pan: str, psn: str = "00") -> bytes:
    return diversify(alg, issuer_master, pan_factor(pan, psn))


def session_key(alg: Alg, card_master: bytes, atc: bytes) -> bytes:
    if len(atc) != 2:
        raise ValueError(f"ATC must be 2 bytes, got {len(atc)}")
    if block_size(alg) == 8:
        return encrypt_ecb(alg, card_master, atc + b"\xf0" + bytes(5)) + encrypt_ecb(
            alg, card_master, atc + b"\x0f" + bytes(5)
        )
    return encrypt_ecb(alg, card_master, atc + bytes(14))


def arqc_input(cdol_data: bytes, aip: bytes, atc: bytes, iad: bytes) -> bytes:
    """The data the application cryptogram covers: CDOL1 data || AIP || ATC || CVR (IAD bytes 3..6)."""
    return cdol_data + aip + atc + iad[3:7]


def arqc(alg: Alg, session: bytes, data: bytes) -> bytes:
    return mac(alg, session, data, length=AC_LENGTH)


def verify_arqc(alg: Alg, session: bytes, data: bytes, cryptogram: bytes) -> bool:
    return hmac.compare_digest(arqc(alg, session, data), cryptogram)


def arpc(alg: Alg, session: bytes, cryptogram: bytes, arc: bytes) -> bytes:
    if len(cryptogram) != AC_LENGTH or len(arc) != 2:
        raise ValueError("ARPC needs an 8-byte ARQC and a 2-byte authorisation response code")
    block = bytes(a ^ b for a, b in zip(cryptogram, arc + bytes(6)))
    return encrypt_ecb(alg, session, block.ljust(block_size(alg), b"\x00"))[:AC_LENGTH]
