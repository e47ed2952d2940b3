"""A blank card: the chip as the card maker delivers it, before the personalization station writes it.

A blank card image (`sscard-blank/1`, JSON) holds the chip's ATR (its last 8 bytes are the card factor, unique per
chip), the algorithm and the chip's transport key (the issuer's perso master diversified by the card factor).
It answers (commands are sscard's own, GlobalPlatform-shaped; see docs/services.md):

- GET DATA `80CA9F7F00`: 9F7F 0A <serial 8> <alg id> <state 01 = blank>;
- STORE DATA `80E2 P1 P2 Lc <DGI 2><len 1><value>...`: data groups, P1 bit 8 on the last command. Keys and the
  PIN arrive enciphered under the transport key. After the last one the card checks the whole set and turns into
  the personalized card in one step (`build`), or refuses it whole and stays blank.

Any other APDU gets a status word. The card becomes personalized only by `build`, which writes its image.
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Callable

import apdu_specs
from cardlib import issuer_keys
from cardlib.crypto import Alg, alg_id, block_size, decrypt_ecb, unpad_80
from cardlib.commands import command
from cardlib.personalization import cplc_tag, cplc_value, dgi, parse_dgis

from .status import OK, SwError, parse, sw

BLANK_FORMAT = "sscard-blank/1"
STATE_BLANK = int(apdu_specs.personalization()["state_blank"], 16)
DGI_EF05, DGI_EF06, DGI_BANK = dgi("ef05"), dgi("ef06"), dgi("bank")
DGI_KEYS, DGI_BANK_KEY, DGI_PIN = dgi("keys"), dgi("bank_key"), dgi("pin")
STORE_DATA = command("STORE DATA")
LAST = int(apdu_specs.personalization()["store_data"]["last_p1"], 16)




def new_blank(key_set: issuer_keys.IssuerKeySet, serial: bytes | None = None) -> dict[str, Any]:
    """A blank chip for an issuer: a fresh 8-byte serial (the ATR's last 8 bytes) and its transport key."""
    serial = serial or secrets.token_bytes(8)
    atr = apdu_specs.profile().atr[:-8] + serial
    transport = issuer_keys.diversify(key_set.alg, key_set.master("perso"), issuer_keys.card_factor(atr))
    return {"format": BLANK_FORMAT, "alg": key_set.alg, "atr": atr.hex().upper(),
            "transport_key": transport.hex().upper()}


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """A blank image goes to disk like any card image: old or new contents, never torn (image.write_atomic)."""
    from .image import write_atomic

    write_atomic(Path(path), json.dumps(data, indent=1).encode())


def is_blank(image: dict[str, Any]) -> bool:
    return isinstance(image, dict) and image.get("format") == BLANK_FORMAT


def split_records(data: bytes) -> list[bytes]:
    """Concatenated TLV records (1-byte tag, 1-byte length) as a list of whole records."""
    out, i = [], 0
    while i < len(data):
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise ValueError("TLV record truncated")
        out.append(data[i : i + 2 + data[i + 1]])
        i += 2 + data[i + 1]
    return out


class BlankCard:
    """The card object of a blank chip; `build(personalization) -> card` makes (and saves) the personalized card."""

    def __init__(self, image: dict[str, Any], build: Callable[[dict[str, Any]], Any]) -> None:
        self.image = image
        self.alg: Alg = image["alg"]
        self.atr = bytes.fromhex(image["atr"])
        self._transport = bytes.fromhex(image["transport_key"])
        self._build = build
        self.personalized: Any = None  # the card this chip became
        self._groups: dict[int, bytes] = {}

    def __repr__(self) -> str:
        return f"BlankCard(serial={self.serial.hex().upper()})"

    @property
    def serial(self) -> bytes:
        return self.atr[-8:]

    def reset(self) -> bytes:
        if self.personalized is not None:
            return self.personalized.reset()
        self._groups = {}
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        if self.personalized is not None:
            return self.personalized.process(apdu)
        try:
            return self._process(bytes(apdu))
        except SwError as exc:
            return exc.sw
        except Exception:
            self._groups = {}
            return sw("unknown_error")

    def _process(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2, data, _le, _extended = parse(apdu)
        if (cla, ins, p1 << 8 | p2) == (0x80, 0xCA, cplc_tag()):
            return cplc_value(self.serial, alg_id(self.alg), STATE_BLANK) + OK
        if (cla, ins) == (STORE_DATA.cla, STORE_DATA.ins):
            if not data:
                raise SwError("wrong_length")
            try:
                for number, value in parse_dgis(data):
                    self._groups[number] = value
            except ValueError:
                self._groups = {}
                raise SwError("wrong_data") from None
            if p1 & LAST:
                return self._commit()
            return OK
        if ins == 0xA4:
            raise SwError("file_not_found")
        raise SwError("conditions_not_satisfied")

    def _decipher(self, value: bytes) -> bytes:
        if not value or len(value) % block_size(self.alg):
            raise ValueError("enciphered data is not whole blocks")
        return decrypt_ecb(self.alg, self._transport, value)

    def _commit(self) -> bytes:
        groups, self._groups = self._groups, {}
        try:
            perso = self._personalization(groups)
        except (KeyError, ValueError):
            raise SwError("wrong_data")
        card = self._build(perso)
        card.reset()
        self.personalized = card
        return OK

    def _personalization(self, groups: dict[int, bytes]) -> dict[str, Any]:
        keys = self._decipher(groups[DGI_KEYS])
        usages = [k.usage for k in apdu_specs.profile().keys]
        if len(keys) != 16 * len(usages):
            raise ValueError("key group has the wrong length")
        pin_block = unpad_80(self._decipher(groups[DGI_PIN]))
        pin = pin_block[1:].hex().upper().rstrip("F")
        if len(pin) != pin_block[0] or not pin.isdigit():
            raise ValueError("PIN block malformed")
        perso: dict[str, Any] = {
            "alg": self.alg, "atr": self.image["atr"],
            "records": {"EF05": split_records(groups[DGI_EF05]), "EF06": split_records(groups[DGI_EF06])},
            "keys": {u: keys[16 * i : 16 * i + 16] for i, u in enumerate(usages)},
            "pin": pin,
        }
        if DGI_BANK in groups:
            perso["bank"] = groups[DGI_BANK]
            perso["bank_key"] = self._decipher(groups[DGI_BANK_KEY])
        return perso


