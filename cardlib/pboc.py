"""Host side of the financial application (PBOC 3.0 / UnionPay IC debit): read the card, run a transaction up to
the ARQC, read the electronic cash balance.

Flow: SELECT PPSE -> SELECT AID (from the directory, A000000333010101 expected) -> GET PROCESSING OPTIONS with the
PDOL data in tag 83 -> READ RECORD per AFL -> GENERATE AC (ARQC) -> GET DATA 9F79. The PAN is sensitive (emv_tags):
`BankCard` shows it masked and its repr never holds it.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import apdu_specs
from cardlib import tlv
from cardlib.apdu import CommandAPDU
from cardlib.channel import Channel, as_channel, select_aid
from cardlib.commands import command
from cardlib.sw import CardError
from cardlib.transport import Transmitter

PPSE = b"2PAY.SYS.DDF01"


def exchange(card: Channel | Transmitter, cmd: CommandAPDU, step: str) -> bytes:
    """Send a command through the card's channel (61xx, 6Cxx, trace); its data, or CardError naming the step."""
    return as_channel(card).call(cmd, step)


def get_data(tag: int) -> CommandAPDU:
    return command("GET DATA", tag >> 8, tag & 0xFF, le=256)


def find_all(data: bytes, into: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every primitive object in a BER-TLV tree, by tag in hex (first occurrence wins); TlvError if malformed."""
    into = {} if into is None else into

    def walk(objs: list[tlv.Tlv] | tuple[tlv.Tlv, ...]) -> None:
        for o in objs:
            if o.constructed:
                walk(o.children)
            else:
                into.setdefault(f"{o.tag:02X}", o.value)

    walk(tlv.parse(data))
    return into


def parse_dol(dol: bytes) -> list[tuple[str, int]]:
    """A data object list (PDOL, CDOL): (tag hex, length) pairs."""
    out, i = [], 0
    while i < len(dol):
        start = i
        i += 1
        if dol[start] & 0x1F == 0x1F:
            while i < len(dol) and dol[i] & 0x80:
                i += 1
            i += 1
        if i >= len(dol):
            raise ValueError("DOL truncated")
        out.append((dol[start:i].hex().upper(), dol[i]))
        i += 1
    return out


def terminal_data(amount: int, *, unpredictable: bytes | None = None, when: dt.date | None = None,
                  currency: str = "0156", country: str = "0156") -> dict[str, bytes]:
    """The terminal's values for DOL tags, for a purchase of `amount` fen."""
    when = when or dt.date.today()
    return {
        "9F66": bytes.fromhex("26000000"),  # TTQ: contact EMV, online capable (extension values)
        "9F02": bytes.fromhex(f"{amount:012d}"),
        "9F03": bytes(6),
        "9F1A": bytes.fromhex(country),
        "95": bytes(5),
        "5F2A": bytes.fromhex(currency),
        "9A": bytes.fromhex(when.strftime("%y%m%d")),
        "9C": b"\x00",
        "9F37": unpredictable or secrets.token_bytes(4),
    }


def build_dol(dol: list[tuple[str, int]], values: dict[str, bytes]) -> bytes:
    """Concatenate values for a DOL: right-truncated or zero-padded left to each length (absent -> zeros)."""
    return b"".join(values.get(tag, b"")[-length:].rjust(length, b"\x00") for tag, length in dol)


def luhn_complete(digits: str) -> str:
    """The digits with their Luhn (ISO/IEC 7812) check digit appended: a PAN from its first digits."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def mask_pan(pan: str) -> str:
    return pan[:6] + "*" * max(len(pan) - 10, 0) + pan[-4:] if len(pan) > 10 else "*" * len(pan)


@dataclass(frozen=True)
class Cryptogram:
    """What GENERATE AC returned and what the issuer needs to check it (PAN kept out of the repr)."""

    cid: int
    atc: bytes
    ac: bytes
    iad: bytes
    aip: bytes
    cdol_data: bytes
    pan: str = field(repr=False)
    psn: str

    @property
    def kind(self) -> str:
        return {0x80: "ARQC", 0x40: "TC", 0x00: "AAC"}.get(self.cid & 0xC0, "RFU")


@dataclass(frozen=True)
class BankCard:
    aid: str
    label: str
    pan: str = field(repr=False)
    psn: str
    expiry: str  # YYMMDD
    balance: int | None  # electronic cash balance in fen
    atc: int
    cryptogram: Cryptogram | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "aid": self.aid, "label": self.label, "pan": self.masked_pan, "expiry": f"20{self.expiry[:2]}-{self.expiry[2:4]}",
            "balance": None if self.balance is None else f"{self.balance // 100}.{self.balance % 100:02d}",
            "atc": self.atc,
        }
        if self.cryptogram:
            c = self.cryptogram
            out["cryptogram"] = {"type": c.kind, "ac": c.ac.hex().upper(), "atc": c.atc.hex().upper()}
        return out


def select_application(card: Channel | Transmitter) -> tuple[bytes, dict[str, bytes]]:
    """SELECT PPSE, pick the highest-priority debit AID it lists, SELECT it; returns (AID, its FCI objects)."""
    ppse = find_all(exchange(card, select_aid(PPSE), "SELECT PPSE"))
    aid = ppse.get("4F")
    if not aid:
        raise CardError(0x6A82, "SELECT PPSE", message="the PPSE lists no application")
    fci = find_all(exchange(card, select_aid(aid), "SELECT AID"))
    return aid, fci


def read_card(card: Channel | Transmitter, *, amount: int | None = None, unpredictable: bytes | None = None) -> BankCard:
    """The whole terminal flow up to the records and balance; with `amount`, also GENERATE AC asking an ARQC."""
    card = as_channel(card)
    aid, fci = select_application(card)
    values = terminal_data(amount or 0, unpredictable=unpredictable)
    pdol = parse_dol(fci.get("9F38", b""))
    pdol_data = build_dol(pdol, values)
    gpo = exchange(card, command("GET PROCESSING OPTIONS", data=tlv.encode(0x83, pdol_data), le=256),
                   "GET PROCESSING OPTIONS")
    objs = find_all(gpo) if gpo[:1] == b"\x77" else {"82": gpo[2:4], "94": gpo[4:]}
    afl = objs.get("94", b"")
    if len(afl) % 4:
        raise ValueError("AFL length is not a multiple of 4")
    records: dict[str, bytes] = {}
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        for number in range(first, last + 1):
            find_all(exchange(card, command("READ RECORD", number, (sfi << 3) | 4, le=256), "READ RECORD"), records)
    pan = records.get("5A", b"").hex().upper().rstrip("F")
    if not pan:
        raise ValueError("the card's records carry no PAN (5A)")
    psn = records.get("5F34", b"\x00").hex()
    cryptogram = None
    if amount is not None:
        cdol = parse_dol(records.get("8C", b""))
        cdol_data = build_dol(cdol, values)
        resp = find_all(exchange(card, command("GENERATE AC", 0x80, 0x00, cdol_data, 256), "GENERATE AC"))
        cryptogram = Cryptogram(cid=resp["9F27"][0], atc=resp["9F36"], ac=resp["9F26"], iad=resp.get("9F10", b""),
                                aip=objs.get("82", b""), cdol_data=cdol_data, pan=pan, psn=psn)
    try:
        balance_data = find_all(exchange(card, get_data(0x9F79), "GET DATA 9F79"))
        balance: int | None = int(balance_data["9F79"].hex())
    except CardError:
        balance = None
    atc_data = find_all(exchange(card, get_data(0x9F36), "GET DATA 9F36"))
    label = fci.get("50", b"").decode("ascii", "replace")
    return BankCard(aid=aid.hex().upper(), label=label, pan=pan, psn=psn, expiry=records.get("5F24", b"").hex(),
                    balance=balance, atc=int.from_bytes(atc_data.get("9F36", b"\x00"), "big"), cryptogram=cryptogram)
