"""The personalization protocol, station side, from apdu_specs/personalization.toml: GET DATA CPLC, STORE DATA of
data groups (DGIs), EJECT. The blank card (simulators/personalization.py) parses the same DGIs with `parse_dgis`.

Every command goes through a Channel, so the redacting trace sees the whole session (STORE DATA shown by length).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import apdu_specs

from .apdu import CommandAPDU
from .commands import command
from .channel import Channel, as_channel
from .crypto import Alg, alg_from_id
from .sw import CardError
from .transport import Transmitter


@cache
def dgi(name: str) -> int:
    """A data group's number by its name in apdu_specs (ef05, ef06, bank, keys, bank_key, pin)."""
    return int(apdu_specs.personalization()["dgi"][name], 16)


def encode_dgi(number: int, value: bytes) -> bytes:
    if len(value) > 0xFF:
        raise ValueError(f"data group {number:04X} too long ({len(value)} bytes)")
    return number.to_bytes(2, "big") + bytes([len(value)]) + value


def parse_dgis(data: bytes) -> list[tuple[int, bytes]]:
    """Concatenated DGIs (2-byte number, 1-byte length, value); ValueError if they do not fit the data."""
    out, i = [], 0
    while i < len(data):
        if i + 3 > len(data):
            raise ValueError("DGI header truncated")
        number, n = int.from_bytes(data[i:i + 2], "big"), data[i + 2]
        if i + 3 + n > len(data):
            raise ValueError("DGI longer than the data")
        out.append((number, data[i + 3:i + 3 + n]))
        i += 3 + n
    return out


def cplc_tag() -> int:
    return int(apdu_specs.personalization()["cplc_tag"], 16)


def get_cplc() -> CommandAPDU:
    tag = cplc_tag()
    return command("GET DATA", tag >> 8, tag & 0xFF, le=256)


def eject() -> CommandAPDU:
    return command("EJECT")


def store_data(sequence: int, group: bytes, *, last: bool) -> CommandAPDU:
    last_p1 = int(apdu_specs.personalization()["store_data"]["last_p1"], 16)
    return command("STORE DATA", last_p1 if last else 0x00, sequence & 0xFF, group)


def cplc_value(serial: bytes, alg_id: int, state: int) -> bytes:
    """What a chip answers to GET DATA CPLC (the card side builds it, the station parses it)."""
    tag = cplc_tag()
    value = serial + bytes([alg_id, state])
    return tag.to_bytes(2, "big") + bytes([len(value)]) + value


@dataclass(frozen=True)
class Chip:
    serial: str  # hex
    alg: Alg | None
    blank: bool


def probe(card: Channel | Transmitter, atr_serial: bytes) -> Chip:
    """The chip in the reader: serial, algorithm and whether it is blank (GET DATA CPLC); a personalized card does
    not answer it and is known by `atr_serial` (its card factor)."""
    resp = as_channel(card).send(get_cplc())
    data = resp.data
    tag = cplc_tag().to_bytes(2, "big")
    if resp.sw == 0x9000 and len(data) == 13 and data[:2] == tag and data[2] == 10:
        blank = data[12] == int(apdu_specs.personalization()["state_blank"], 16)
        return Chip(data[3:11].hex().upper(), alg_from_id(data[11]), blank)
    return Chip(atr_serial.hex().upper(), None, False)


def write(card: Channel | Transmitter, groups: list[bytes]) -> None:
    """One STORE DATA per encoded group, the last one marked: the chip commits the whole set or nothing."""
    ch = as_channel(card)
    for i, group in enumerate(groups):
        ch.call(store_data(i, group, last=i == len(groups) - 1), f"STORE DATA (data group {i})")


def send_eject(card: Channel | Transmitter) -> None:
    """Ask the hopper for the next card; a refusal (a reader with no hopper) is not an error."""
    try:
        as_channel(card).send(eject())
    except CardError:
        pass
