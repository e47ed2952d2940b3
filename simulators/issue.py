"""Making a card: a holder file (JSON) in, a personalized card image out.

HOLDER.json has `ssn, name, gender, nation, birthplace, birth_date, card_no, card_id` (32 hex digits), `version,
issue_date, expiry, pin`, and may add `card_type`, `init_org` (24 hex digits), `atr_historical` (hex) and
`algorithm` (3des or sm4). Every value is checked against the profile before anything is written; a bad one is
refused with a message naming the field (never echoing an ID number or the PIN).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import apdu_specs
from cardlib import fields, idnumber
from cardlib.crypto import Alg

from .image import ALGS, CardImage, ImageError, default_historical, make_atr

REQUIRED = ("ssn", "name", "gender", "nation", "birthplace", "birth_date", "card_no", "card_id", "version",
            "issue_date", "expiry", "pin")
DEFAULTS = {"card_type": "3", "init_org": "00" * 12}
DEFAULT_ALG: Alg = "sm4"


class HolderError(ValueError):
    """A holder file that cannot make a card; the message names the field."""


def load_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise HolderError(f"cannot read holder file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise HolderError(f"holder file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HolderError(f"holder file {path} must hold one JSON object")
    return data


def card_keys(alg: Alg, card_id: bytes, atr: bytes, key_set: Any = None) -> dict[str, bytes]:
    """The card's own keys, one per key usage of the profile: random per card, or, given an issuer key set
    (cardlib.issuer_keys.IssuerKeySet), diversified from its master keys by the card's city and card factors."""
    if key_set is not None:
        from cardlib import issuer_keys

        if key_set.alg != alg:
            raise HolderError(f"issuer key set is {key_set.alg}, the card is {alg}")
        return issuer_keys.card_keys(key_set, card_id, atr)
    return {k.usage: secrets.token_bytes(16) for k in apdu_specs.profile().keys}


def _text(holder: dict[str, Any], name: str) -> str:
    value = holder.get(name, DEFAULTS.get(name))
    if value is None:
        raise HolderError(f"field {name!r} is missing")
    if isinstance(value, int) and not isinstance(value, bool) and name in ("nation", "birthplace"):
        value = f"{value:0{2 if name == 'nation' else 6}d}"
    if not isinstance(value, str):
        raise HolderError(f"field {name!r} must be a string")
    return value


def field_values(holder: dict[str, Any]) -> dict[str, str]:
    """The holder's values for every record field of the profile, checked beyond what the encodings check."""
    values = {name: _text(holder, name) for name in (*REQUIRED, *DEFAULTS)}
    try:
        who = idnumber.parse(values["ssn"])
    except idnumber.IdNumberError as exc:
        raise HolderError(f"field 'ssn' (社会保障号码): {exc}") from None
    if values["gender"] not in ("1", "2"):
        raise HolderError("field 'gender' (性别) must be '1' (male) or '2' (female)")
    if values["gender"] != who.gender:  # as `db import` refuses it: the 17th digit's parity is the gender
        raise HolderError("field 'gender' (性别) does not match the ID number (its 17th digit)")
    if values["birth_date"].replace("-", "") != who.birth_date.strftime("%Y%m%d"):
        raise HolderError("field 'birth_date' (出生日期) does not match the ID number")
    card_id = values["card_id"]
    if len(card_id) != 32 or not all(c in "0123456789abcdefABCDEF" for c in card_id):
        raise HolderError("field 'card_id' (卡识别码) must be 32 hex digits")
    if not card_id[:6].isdigit():
        raise HolderError("field 'card_id' (卡识别码) must start with the 6-digit region code")
    for name in ("birth_date", "issue_date", "expiry"):
        text = values[name].replace("-", "")
        try:
            dt.datetime.strptime(text, "%Y%m%d")
        except ValueError:
            raise HolderError(f"field {name!r} must be a date, YYYYMMDD or YYYY-MM-DD") from None
        values[name] = text
    try:
        values["name"], values["name_ext"] = fields.split_name(values["name"])
    except fields.FieldError as exc:
        raise HolderError(f"field 'name': {exc}") from None
    card = apdu_specs.profile().card
    pin = values.pop("pin")
    if not pin.isdigit() or not card["pin_min_length"] <= len(pin) <= card["pin_max_length"]:
        raise HolderError(f"field 'pin' must be {card['pin_min_length']} to {card['pin_max_length']} digits")
    return values


def records_for(values: dict[str, str], profile_name: str = apdu_specs.DEFAULT_PROFILE) -> dict[str, list[bytes]]:
    """Every record file of the profile filled from the values, as whole TLV records in record order."""
    out: dict[str, list[bytes]] = {}
    for spec in apdu_specs.profile(profile_name).files:
        if spec.type != "record" or not spec.records:
            continue
        records = []
        for r in sorted(spec.records, key=lambda r: r.number):
            try:
                records.append(fields.encode_field_record(r, values[r.field]))
            except KeyError:
                raise HolderError(f"field {r.field!r} ({r.label}) is missing") from None
            except fields.FieldError as exc:
                raise HolderError(f"field {r.field!r}: {exc}") from None
        out[spec.name] = records
    return out


def make_image(alg: Alg, historical: bytes, records: dict[str, list[bytes]], keys: dict[str, bytes], pin: str,
               *, applets: dict[str, Any] | None = None,
               profile_name: str = apdu_specs.DEFAULT_PROFILE) -> CardImage:
    """A personalized card image from its parts (also the end of the personalization station's flow)."""
    if alg not in ALGS:
        raise HolderError(f"algorithm must be one of {', '.join(ALGS)}")
    make_atr(historical)
    image = CardImage(profile=profile_name, historical=bytes(historical), alg=alg,
                      files={name: list(recs) for name, recs in records.items()}, keys=dict(keys),
                      applets=dict(applets or {}))
    image.set_pin(pin)
    return image


def issue(holder: dict[str, Any], *, alg: Alg | None = None, key_set: Any = None) -> CardImage:
    """A new card for a holder: checked values, a fresh card factor in the ATR, the card's keys and the PIN."""
    values = field_values(holder)
    alg = alg or holder.get("algorithm") or DEFAULT_ALG
    if alg not in ALGS:
        raise HolderError(f"field 'algorithm' must be one of {', '.join(ALGS)}")
    if "atr_historical" in holder:
        try:
            historical = bytes.fromhex(str(holder["atr_historical"]))
            make_atr(historical)
        except (ValueError, ImageError):
            raise HolderError("field 'atr_historical' must be 8 to 15 bytes of hex") from None
        if len(historical) < 8:
            raise HolderError("field 'atr_historical' must be 8 to 15 bytes of hex")
    else:
        historical = default_historical()[:-8] + secrets.token_bytes(8)
    card_id = bytes.fromhex(values["card_id"])
    keys = card_keys(alg, card_id, make_atr(historical), key_set)
    applets = {"pboc_debit": debit_application(holder, alg, card_id, values["expiry"], key_set)}
    return make_image(alg, historical, records_for(values), keys, str(holder["pin"]), applets=applets)


def debit_application(holder: dict[str, Any], alg: Alg, card_id: bytes, expiry: str, key_set: Any = None) -> dict[str, Any]:
    """The financial (PBOC debit) application every third-generation card carries: PAN from the holder file's
    `bank.pan` or the sample BIN and the chip's serial, expiry the card's, 5F20 the holder's `bank.name` (Latin,
    SURNAME/GIVEN) or `name_latin`; the AC key from the issuer key set (random without one)."""
    from cardlib.pboc import luhn_complete

    from .pboc import new_state, spec

    bank = holder.get("bank") or {}
    if not isinstance(bank, dict):
        raise HolderError("field 'bank' must be an object (pan, name)")
    pan = str(bank.get("pan") or luhn_complete(spec()["defaults"]["bin"] + str(int.from_bytes(card_id[-6:], "big")
                                                                                 % 10**12).zfill(12)))
    if not (pan.isdigit() and 12 <= len(pan) <= 19) or luhn_complete(pan[:-1]) != pan:
        raise HolderError("field 'bank.pan' must be 12 to 19 digits with a valid Luhn check digit")
    name = str(bank.get("name") or holder.get("name_latin") or "")
    if name and (not name.isascii() or not 2 <= len(name) <= 26):
        raise HolderError("field 'bank.name' (5F20) must be 2 to 26 Latin characters, e.g. ZHANG/LIHUA")
    ac_master = key_set.master("ac") if key_set is not None else secrets.token_bytes(16)
    return new_state(alg, pan, expiry[2:8], ac_master, name=name.upper())
