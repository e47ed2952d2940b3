"""Test helpers: a sample card in process, and the host's half of the card's security (the test plays issuer)."""
from __future__ import annotations

from pathlib import Path

from cardlib.crypto import block_size, encrypt_ecb, mac, pad_80
from simulators.cardos import CardOS, build_card
from simulators.image import CardImage
from simulators.issue import issue
from tests.plugins.pcsc import sample_holder

SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
SELECT_SSSE = b"\x00\xa4\x04\x00" + bytes([len(SSSE_AID)]) + SSSE_AID + b"\x00"


def new_card(alg: str = "sm4", path: Path | None = None, **holder: object) -> tuple[CardOS, CardImage]:
    image = issue(sample_holder(**holder), alg=alg)  # type: ignore[arg-type]
    image.path = path
    if path is not None:
        image.save()
    return build_card(image), image


def tx(card: CardOS, apdu: bytes | str) -> tuple[bytes, int]:
    raw = bytes.fromhex(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu
    resp = card.process(raw)
    assert len(resp) >= 2
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def select_ssse(card: CardOS) -> bytes:
    data, sw = tx(card, SELECT_SSSE)
    assert sw >> 8 == 0x61
    fci, sw = tx(card, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
    assert sw == 0x9000
    return fci


def challenge(card: CardOS) -> bytes:
    data, sw = tx(card, "0084000008")
    assert sw == 0x9000 and len(data) == 8
    return data


def secured(card: CardOS, image: CardImage, usage: str, cla: int, ins: int, p1: int, p2: int, data: bytes,
            *, tamper: bool = False) -> bytes:
    """A CLA 04/84 command with its MAC under the card's `usage` key and a fresh challenge as IV."""
    iv = challenge(card)
    header = bytes([cla | 0x04, ins, p1, p2, len(data) + 4])
    m = mac(image.alg, image.keys[usage], header + data, iv=iv)
    if tamper:
        m = bytes([m[0] ^ 1]) + m[1:]
    return header + data + m


def external_auth(card: CardOS, image: CardImage, *, wrong: bool = False) -> tuple[bytes, int]:
    ch = challenge(card)
    key = image.keys["external_auth"]
    if wrong:
        key = bytes(16)
    crypto = encrypt_ecb(image.alg, key, ch.ljust(block_size(image.alg), b"\x00"))
    return tx(card, bytes([0x00, 0x82, 0x00, 0x0A, len(crypto)]) + crypto)


def unblock_block(image: CardImage, pin: str) -> bytes:
    bcd = bytes.fromhex(pin + ("F" if len(pin) % 2 else ""))
    return encrypt_ecb(image.alg, image.keys["pin_unblock"], pad_80(bytes([len(bcd)]) + bcd, block_size(image.alg)))
