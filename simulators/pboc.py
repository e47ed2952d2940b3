"""The financial application of the card (PBOC 3.0 / UnionPay IC debit) and the PPSE directory, card side.

Driven by apdu_specs/pboc_debit.toml (AID, PDOL, AFL, records); the cryptograms come from cardlib.emv_crypto, the
same definitions the issuer side checks with. The applet's state is a plain dict (PAN, expiry, ATC, balance, the
card's AC master key) that the card image stores; `save` is called after every change (the ATC after GPO).
"""
from __future__ import annotations

from typing import Any, Callable

import apdu_specs
from cardlib import emv_crypto
from cardlib import tlv as codec
from cardlib.crypto import Alg

from .status import OK, SwError, answers, parse, sw
PROFILE = "pboc_debit"
CID = {0x00: 0x00, 0x40: 0x80, 0x80: 0x80}  # requested AC -> given: a TC request goes online (ARQC)




def tlv(tag: str, value: bytes) -> bytes:
    return codec.encode(int(tag, 16), value)


def spec() -> dict[str, Any]:
    return apdu_specs.applet_profile(PROFILE)


def _bcd(digits: str, length: int) -> bytes:
    return bytes.fromhex(digits.rjust(length * 2, "0"))


def new_state(alg: Alg, pan: str, expiry: str, ac_master: bytes, *, name: str = "", psn: str | None = None,
              balance: int | None = None, effective: str = "") -> dict[str, Any]:
    """A new applet state: `expiry`/`effective` as YYMMDD, `ac_master` the issuer's AC master key (the card keeps
    only its own diversified key)."""
    d = spec()["defaults"]
    if not (pan.isdigit() and 12 <= len(pan) <= 19):
        raise ValueError("PAN must be 12 to 19 digits")
    if not (len(expiry) == 6 and expiry.isdigit()):
        raise ValueError("expiry must be YYMMDD")
    psn = psn or d["psn"]
    return {
        "alg": alg, "pan": pan, "psn": psn, "expiry": expiry, "effective": effective or expiry,
        "name": name, "balance": int(d["balance"] if balance is None else balance), "atc": 0,
        "mk_ac": emv_crypto.card_master_key(alg, ac_master, pan, psn).hex().upper(),
    }


def _pdol() -> bytes:
    return b"".join(bytes.fromhex(e["tag"]) + bytes([e["length"]]) for e in spec()["pdol"])


def _pdol_length() -> int:
    return sum(e["length"] for e in spec()["pdol"])


def _cdol2() -> bytes:
    """CDOL2 (8D): the PDOL's objects and the issuer's authorisation response code 8A."""
    return _pdol() + bytes.fromhex("8A02")


def _afl() -> bytes:
    return b"".join(bytes([e["sfi"] << 3, e["first"], e["last"], e["oda"]]) for e in spec()["afl"])


def iad(alg: Alg) -> bytes:
    s = spec()["app"]
    cvn = b"\x01" if alg == "3des" else b"\x04"
    return bytes.fromhex(s["iad_prefix"]) + cvn + bytes.fromhex(s["cvr"]) + b"\x00"


class Ppse:
    """The proximity payment system environment: a directory naming the debit application."""

    name = b"2PAY.SYS.DDF01"

    def select(self) -> bytes:
        s = spec()["app"]
        return tlv("6F", tlv("84", self.name) + tlv("A5", tlv("BF0C", _directory_entry()))) + OK

    def process(self, apdu: bytes) -> bytes:
        return sw("ins_not_supported")


def _directory_entry() -> bytes:
    s = spec()["app"]
    return tlv("61", tlv("4F", bytes.fromhex(s["aid"])) + tlv("50", s["label"].encode()) + tlv("87", bytes([s["priority"]])))


class Pse:
    """The contact payment system environment (EMV Book 1, 12.2.2): FCI with the SFI of its directory file,
    whose record 1 lists the debit application."""

    name = b"1PAY.SYS.DDF01"
    SFI = 1

    def select(self) -> bytes:
        return tlv("6F", tlv("84", self.name) + tlv("A5", tlv("88", bytes([self.SFI])))) + OK

    @answers
    def process(self, apdu: bytes) -> bytes:
        cmd = parse(apdu)
        if (cmd.cla, cmd.ins) != (0x00, 0xB2):
            raise SwError("ins_not_supported")
        if cmd.p2 != (self.SFI << 3) | 4:
            raise SwError("file_not_found")
        if cmd.p1 != 1:
            raise SwError("record_not_found")
        return tlv("70", _directory_entry()) + OK


class DebitApplet:
    """The UnionPay IC debit application: GPO, READ RECORD, GENERATE AC and GET DATA over its state."""

    def __init__(self, state: dict[str, Any], save: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.state = state
        self._save = save or (lambda _s: None)
        self.aid = bytes.fromhex(spec()["app"]["aid"])
        self._phase = "selected"  # EMV: selected -> initiated (GPO) -> online (ARQC) -> done; SELECT starts over

    def __repr__(self) -> str:
        return "DebitApplet()"

    def select(self) -> bytes:
        s = spec()["app"]
        self._phase = "selected"
        prop = tlv("50", s["label"].encode()) + tlv("87", bytes([s["priority"]])) + tlv("9F38", _pdol()) + tlv(
            "5F2D", s["language"].encode()
        )
        return tlv("6F", tlv("84", self.aid) + tlv("A5", prop)) + OK

    def _value(self, tag: str) -> bytes:
        st, s = self.state, spec()
        if tag == "5A":
            pan = st["pan"] + ("F" if len(st["pan"]) % 2 else "")
            return bytes.fromhex(pan)
        if tag == "57":
            t2 = f"{st['pan']}D{st['expiry'][:4]}220" + "0" * 10
            return bytes.fromhex(t2 + ("F" if len(t2) % 2 else ""))
        if tag == "5F20":
            return (st.get("name") or "").encode("ascii", "replace")[:26]
        if tag == "5F24":
            return bytes.fromhex(st["expiry"])
        if tag == "5F25":
            return bytes.fromhex(st["effective"])
        if tag == "5F34":
            return bytes.fromhex(st["psn"])
        if tag == "8C":
            return _pdol()
        if tag == "8D":
            return _cdol2()
        if tag == "8E":
            return bytes.fromhex(s["defaults"]["cvm_list"])
        if tag == "9F79":
            return _bcd(str(st["balance"]), 6)
        if tag == "9F36":
            return st["atc"].to_bytes(2, "big")
        raise KeyError(tag)

    @answers
    def process(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2, data, _le, _extended = parse(apdu)
        if (cla, ins) == (0x00, 0xB2):
            return self._read_record(p1, p2)
        if (cla, ins) == (0x80, 0xA8):
            return self._gpo(p1, p2, data)
        if (cla, ins) == (0x80, 0xAE):
            return self._generate_ac(p1, data)
        if (cla, ins) == (0x80, 0xCA):
            tag = f"{p1:02X}{p2:02X}"
            if tag not in spec()["get_data"]["tags"]:
                raise SwError("data_not_found")
            return tlv(tag, self._value(tag)) + OK
        if cla not in (0x00, 0x80):
            raise SwError("cla_not_supported")
        raise SwError("ins_not_supported")

    def _read_record(self, number: int, p2: int) -> bytes:
        if p2 & 0x07 != 0x04:
            raise SwError("wrong_p1p2")
        sfi = p2 >> 3
        for rec in spec()["records"]:
            if rec["sfi"] == sfi and rec["number"] == number:
                values = ((t, self._value(t)) for t in rec["tags"])
                return tlv("70", b"".join(tlv(t, v) for t, v in values if v)) + OK  # no name: no 5F20
        raise SwError("record_not_found")

    def _gpo(self, p1: int, p2: int, data: bytes) -> bytes:
        if (p1, p2) != (0, 0):
            raise SwError("wrong_p1p2")
        if len(data) < 2 or data[0] != 0x83 or data[1] != len(data) - 2:
            raise SwError("wrong_data")
        if data[1] != _pdol_length():
            raise SwError("wrong_length")
        if self._phase != "selected" or self.state["atc"] >= 0xFFFF:  # one GPO per selection
            raise SwError("conditions_not_satisfied")
        self.state["atc"] += 1
        self._save(self.state)
        self._phase = "initiated"
        aip = bytes.fromhex(spec()["app"]["aip"])
        return tlv("77", tlv("82", aip) + tlv("94", _afl())) + OK

    def _generate_ac(self, p1: int, data: bytes) -> bytes:
        """First GENERATE AC (CDOL1): an AAC when asked one, otherwise an ARQC (an online-only card: a TC request
        goes online). Second GENERATE AC (CDOL2, only after an ARQC): a TC when asked one and the issuer's
        authorisation response code 8A is "00", an AAC otherwise; then the transaction is over."""
        if p1 & 0x3F or (p1 & 0xC0) not in CID:
            raise SwError("wrong_p1p2")
        asked = p1 & 0xC0
        if self._phase == "initiated":
            if len(data) != _pdol_length():
                raise SwError("wrong_length")
            cid = CID[asked]
            self._phase = "online" if cid == 0x80 else "done"
        elif self._phase == "online":
            if len(data) != _pdol_length() + 2 or asked == 0x80:
                raise SwError("wrong_length" if asked != 0x80 else "conditions_not_satisfied")
            cid = 0x40 if data[-2:] == b"00" and asked == 0x40 else 0x00
            self._phase = "done"
        else:
            raise SwError("conditions_not_satisfied")
        alg: Alg = self.state["alg"]
        atc = self.state["atc"].to_bytes(2, "big")
        iad_value = iad(alg)
        aip = bytes.fromhex(spec()["app"]["aip"])
        session = emv_crypto.session_key(alg, bytes.fromhex(self.state["mk_ac"]), atc)
        ac = emv_crypto.arqc(alg, session, emv_crypto.arqc_input(data, aip, atc, iad_value))
        return tlv("77", tlv("9F27", bytes([cid])) + tlv("9F36", atc) + tlv("9F26", ac) + tlv("9F10", iad_value)) + OK


class BankCard:
    """A card with only the PPSE and the debit application (the card object contract: atr, reset, process).

    Used in process and in the vpcd slot for the financial flow alone; the full social-security card registers
    the same Ppse and DebitApplet with its card OS.
    """

    def __init__(self, state: dict[str, Any], save: Callable[[dict[str, Any]], None] | None = None,
                 atr: bytes = bytes.fromhex("3B0A") + b"PBOC-DEBIT") -> None:
        self.atr = atr
        self.applets: dict[bytes, Any] = {Ppse.name: Ppse(), Pse.name: Pse(),
                                          bytes.fromhex(spec()["app"]["aid"]): DebitApplet(state, save)}
        self.current: Any = None

    def reset(self) -> bytes:
        self.current = None
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        try:
            return self._process(bytes(apdu))
        except SwError as exc:
            return exc.sw
        except Exception:
            return sw("unknown_error")

    def _process(self, apdu: bytes) -> bytes:
        cmd = parse(apdu)
        if (cmd.cla, cmd.ins, cmd.p1) == (0x00, 0xA4, 0x04):
            applet = self.applets.get(cmd.data)
            if applet is None:
                self.current = None
                raise SwError("file_not_found")
            self.current = applet
            return applet.select()  # type: ignore[no-any-return]
        if self.current is None:
            raise SwError("conditions_not_satisfied")
        return self.current.process(apdu)  # type: ignore[no-any-return]
