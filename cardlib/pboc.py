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
from cardlib.transport import Transmitter
from cardlib import tlv

PPSE = b"2PAY.SYS.DDF01"


class BankError(RuntimeError):
    """The card refused a step of the financial flow; `sw` is the status word, `code` the reader-interface code."""

    def __init__(self, step: str, sw: int) -> None:
        self.step, self.sw, self.code = step, sw, _code(sw)
        super().__init__(f"{step} failed: SW {sw:04X} ({_meaning(sw)})")


def _code(sw: int) -> int:
    spec = apdu_specs.status_word(sw)
    return spec.code if spec and spec.code is not None else -sw


def _meaning(sw: int) -> str:
    spec = apdu_specs.status_word(sw)
    return spec.meaning if spec else "unknown status"


def exchange(card: Transmitter, apdu: bytes, step: str) -> bytes:
    """Send an APDU and return its data, following 61xx and 6Cxx; raise BankError unless it ends in 9000."""
    resp = card.transmit(apdu)
    data = b""
    for _ in range(32):
        if len(resp) < 2:
            raise BankError(step, 0x6F00)
        sw1, sw2 = resp[-2], resp[-1]
        if sw1 == 0x61:
            data += resp[:-2]
            resp = card.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw2]))
            continue
        if sw1 == 0x6C:
            resp = card.transmit(apdu[:4] + bytes([sw2]) if len(apdu) <= 5 else apdu[:-1] + bytes([sw2]))
            continue
        break
    sw = int.from_bytes(resp[-2:], "big")
    if sw != 0x9000:
        raise BankError(step, sw)
    return data + resp[:-2]


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


def select_application(card: Transmitter) -> tuple[bytes, dict[str, bytes]]:
    """SELECT PPSE, pick the highest-priority debit AID it lists, SELECT it; returns (AID, its FCI objects)."""
    ppse = find_all(exchange(card, b"\x00\xa4\x04\x00" + bytes([len(PPSE)]) + PPSE + b"\x00", "SELECT PPSE"))
    aid = ppse.get("4F")
    if not aid:
        raise BankError("SELECT PPSE", 0x6A82)
    fci = find_all(exchange(card, b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid + b"\x00", "SELECT AID"))
    return aid, fci


def read_card(card: Transmitter, *, amount: int | None = None, unpredictable: bytes | None = None) -> BankCard:
    """The whole terminal flow up to the records and balance; with `amount`, also GENERATE AC asking an ARQC."""
    aid, fci = select_application(card)
    values = terminal_data(amount or 0, unpredictable=unpredictable)
    pdol = parse_dol(fci.get("9F38", b""))
    pdol_data = build_dol(pdol, values)
    gpo = exchange(card, b"\x80\xa8\x00\x00" + bytes([len(pdol_data) + 2, 0x83, len(pdol_data)]) + pdol_data + b"\x00",
                   "GET PROCESSING OPTIONS")
    objs = find_all(gpo) if gpo[:1] == b"\x77" else {"82": gpo[2:4], "94": gpo[4:]}
    afl = objs.get("94", b"")
    if len(afl) % 4:
        raise ValueError("AFL length is not a multiple of 4")
    records: dict[str, bytes] = {}
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        for number in range(first, last + 1):
            find_all(exchange(card, bytes([0x00, 0xB2, number, (sfi << 3) | 4, 0x00]), "READ RECORD"), records)
    pan = records.get("5A", b"").hex().upper().rstrip("F")
    if not pan:
        raise ValueError("the card's records carry no PAN (5A)")
    psn = records.get("5F34", b"\x00").hex()
    cryptogram = None
    if amount is not None:
        cdol = parse_dol(records.get("8C", b""))
        cdol_data = build_dol(cdol, values)
        resp = find_all(exchange(card, b"\x80\xae\x80\x00" + bytes([len(cdol_data)]) + cdol_data + b"\x00",
                                 "GENERATE AC"))
        cryptogram = Cryptogram(cid=resp["9F27"][0], atc=resp["9F36"], ac=resp["9F26"], iad=resp.get("9F10", b""),
                                aip=objs.get("82", b""), cdol_data=cdol_data, pan=pan, psn=psn)
    try:
        balance_data = find_all(exchange(card, b"\x80\xca\x9f\x79\x00", "GET DATA 9F79"))
        balance: int | None = int(balance_data["9F79"].hex())
    except BankError:
        balance = None
    atc_data = find_all(exchange(card, b"\x80\xca\x9f\x36\x00", "GET DATA 9F36"))
    label = fci.get("50", b"").decode("ascii", "replace")
    return BankCard(aid=aid.hex().upper(), label=label, pan=pan, psn=psn, expiry=records.get("5F24", b"").hex(),
                    balance=balance, atc=int.from_bytes(atc_data.get("9F36", b"\x00"), "big"), cryptogram=cryptogram)
