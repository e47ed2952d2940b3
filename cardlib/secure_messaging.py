"""Secure messaging for writes and PIN unblock: a command gets CLA 04 (or 84) and a MAC the PSAM computes.

The MAC (ISO 9797-1 retail MAC for 3DES, SM4 CBC-MAC for SM4, 80-padding, 4 bytes) covers the command header with
the SM class and the new Lc (data + 4), then the data; its initial vector is a fresh card challenge (GET CHALLENGE),
so a recorded command cannot be replayed. The host never holds the key: it names the usage and the card factors.
"""
from __future__ import annotations

from typing import Protocol

from cardlib.crypto import Alg, block_size
from cardlib.psam import Psam

MAC_LENGTH = 4


class Transmitter(Protocol):
    def transmit(self, apdu: bytes) -> bytes: ...


class CardRefused(RuntimeError):
    """The card answered a status word other than 9000 to a step; `sw` holds it."""

    def __init__(self, step: str, sw: int) -> None:
        self.step, self.sw = step, sw
        super().__init__(f"{step}: card answered SW {sw:04X}")


def get_challenge(card: Transmitter, length: int = 8) -> bytes:
    resp = card.transmit(bytes([0x00, 0x84, 0x00, 0x00, length]))
    sw = int.from_bytes(resp[-2:], "big") if len(resp) >= 2 else 0x6F00
    if sw != 0x9000 or len(resp) - 2 != length:
        raise CardRefused("GET CHALLENGE", sw)
    return resp[:-2]


def mac_input(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """What the MAC covers: the header with the SM class bit (04) and Lc = len(data) + MAC, then the data."""
    return bytes([cla | 0x04, ins, p1, p2, len(data) + MAC_LENGTH]) + data


def wrap(cla: int, ins: int, p1: int, p2: int, data: bytes, mac: bytes) -> bytes:
    return bytes([cla | 0x04, ins, p1, p2, len(data) + len(mac)]) + data + mac


def secure_command(card: Transmitter, psam: Psam, alg: Alg, usage: str, card_id: bytes, atr: bytes,
                   cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """Build a MAC'd command for the card: challenge from the card, MAC from the PSAM under the card's `usage` key."""
    challenge = get_challenge(card)
    psam.set_card_key(alg, usage, card_id, atr)
    mac = psam.mac(mac_input(cla, ins, p1, p2, data), iv=challenge.ljust(block_size(alg), b"\x00"),
                   length=MAC_LENGTH)
    return wrap(cla, ins, p1, p2, data, mac)
