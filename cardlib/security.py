"""Card security services of the SSSE application: verified reading (is the card genuine?), PIN verify / change /
unblock, and secure writes of holder records, all with keys reached only through a PSAM.

Verified reading follows the published flow (CARD-FACTS): select SSSE; the algorithm from FCI tag 9F0C (01 when
absent); read 卡识别码 for the city factor; INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM under the
card's diversified internal-authentication key; for 3.00 cards EXTERNAL AUTHENTICATE with the RKSSSE key.

Failures carry the reader interface's error codes. PINs never enter a message, repr or log: PinError says only
how many tries are left.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import apdu_specs
from cardlib.sw import CodedError
from cardlib.transport import Transmitter
from cardlib.crypto import Alg, alg_from_id, block_size
from cardlib.psam import Psam, PsamError
from cardlib.secure_messaging import CardRefused, get_challenge, secure_command
from cardlib.ssapp import algorithm_id

# Reader-interface codes (CARD-FACTS: -20..-25 card id format, internal authentication, PSAM level).
CARD_ID_FORMAT = -20
INTERNAL_AUTH_FAILED = -21
EXTERNAL_AUTH_FAILED = -22
PSAM_NO_ALGORITHM = -23
PIN_WRONG = -51
PIN_BLOCKED = -52


class CardSecurityError(CodedError):
    """A security step failed; `code` is the reader-interface error code."""


class PinError(CardSecurityError):
    """VERIFY / CHANGE refused: -51 with the tries left, or -52 when the PIN is blocked. Never holds the PIN."""

    def __init__(self, code: int, tries_left: int | None = None) -> None:
        self.tries_left = tries_left
        msg = "PIN blocked" if code == PIN_BLOCKED else f"wrong PIN, {tries_left} tries left"
        super().__init__(msg, code)


def sw_code(sw: int) -> int:
    """The reader-interface code for a status word: the table's code (63Cx -> -51, 6983 -> -52) or -(SW)."""
    spec = apdu_specs.status_word(sw)
    return spec.code if spec and spec.code is not None else -sw


def _send(card: Transmitter, apdu: bytes) -> tuple[bytes, int]:
    resp = card.transmit(apdu)
    data = b""
    for _ in range(256):  # a card looping on 61xx is broken, not a reason to hang
        if len(resp) < 2 or resp[-2] != 0x61:
            break
        data += resp[:-2]
        resp = card.transmit(b"\x00\xc0\x00\x00" + resp[-1:])
    if len(resp) < 2:
        return data, 0x6F00
    return data + resp[:-2], int.from_bytes(resp[-2:], "big")


def _ok(card: Transmitter, apdu: bytes, step: str) -> bytes:
    data, sw = _send(card, apdu)
    if sw != 0x9000:
        raise CardSecurityError(f"{step}: card answered SW {sw:04X}", sw_code(sw))
    return data


def select_ssse(card: Transmitter) -> Alg:
    aid = apdu_specs.profile().ssse.aid
    assert aid is not None
    fci = _ok(card, b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid + b"\x00", "SELECT SSSE")
    try:
        return alg_from_id(algorithm_id(fci))
    except ValueError as exc:
        raise CardSecurityError(str(exc), CARD_ID_FORMAT) from None


def _record(card: Transmitter, field: str) -> bytes:
    f, r = apdu_specs.profile().field(field)
    assert f.sfi is not None
    data = _ok(card, bytes([0x00, 0xB2, r.number, (f.sfi << 3) | 4, 0x00]), f"READ RECORD {r.label}")
    if len(data) < 2 or data[0] != r.tag or data[1] != len(data) - 2:
        raise CardSecurityError(f"{r.label} record is malformed", CARD_ID_FORMAT)
    return data[2:]


@dataclass(frozen=True)
class CardSession:
    """What a verified session knows about the card: algorithm, 卡识别码, ATR and version (no secrets)."""

    alg: Alg
    card_id: bytes
    atr: bytes
    version: str
    external_auth: bool


def internal_authenticate(card: Transmitter, psam: Psam, alg: Alg, card_id: bytes, atr: bytes) -> None:
    """Is the card genuine? It enciphers our random under its internal-authentication key; the PSAM checks it."""
    process_factor, random = secrets.token_bytes(8), secrets.token_bytes(8)
    data, sw = _send(card, bytes([0x00, 0x88, 0x00, 0x00, 0x10]) + process_factor + random + b"\x00")
    if sw != 0x9000:
        raise CardSecurityError(f"internal authentication refused: SW {sw:04X}", INTERNAL_AUTH_FAILED)
    try:
        psam.set_card_key(alg, "internal_auth", card_id, atr, process_factor)
    except PsamError as exc:
        raise CardSecurityError(str(exc), PSAM_NO_ALGORITHM) from None
    if not data or not psam.check(random, data):
        raise CardSecurityError("internal authentication failed: the card is not genuine", INTERNAL_AUTH_FAILED)


def external_authenticate(card: Transmitter, psam: Psam, alg: Alg, card_id: bytes, atr: bytes) -> None:
    """Prove the terminal to the card with the RKSSSE key: the PSAM enciphers the card's challenge."""
    challenge = get_challenge(card)
    psam.set_card_key(alg, "external_auth", card_id, atr)
    cryptogram = psam.encipher(challenge.ljust(block_size(alg), b"\x00"))
    p2 = apdu_specs.profile().key("external_auth").p2
    _, sw = _send(card, bytes([0x00, 0x82, 0x00, p2, len(cryptogram)]) + cryptogram)
    if sw != 0x9000:
        raise CardSecurityError(f"external authentication refused: SW {sw:04X}", EXTERNAL_AUTH_FAILED)


def authenticate(card: Transmitter, psam: Psam, atr: bytes) -> CardSession:
    """The published verified-reading flow up to (and including) the authentications."""
    alg = select_ssse(card)
    card_id = _record(card, "card_id")
    version = _record(card, "version").decode("ascii", "replace")
    try:
        internal_authenticate(card, psam, alg, card_id, atr)
    except ValueError as exc:  # a card id whose region is not BCD
        raise CardSecurityError(str(exc), CARD_ID_FORMAT) from None
    ext = version.startswith("3")
    if ext:
        external_authenticate(card, psam, alg, card_id, atr)
    return CardSession(alg=alg, card_id=card_id, atr=atr, version=version, external_auth=ext)


def pin_bcd(pin: str) -> bytes:
    """A PIN as BCD, F-padded; checked against the profile's lengths (the message never holds the PIN)."""
    card = apdu_specs.profile().card
    if not pin.isdigit() or not card["pin_min_length"] <= len(pin) <= card["pin_max_length"]:
        raise ValueError(f"a PIN is {card['pin_min_length']} to {card['pin_max_length']} digits")
    return bytes.fromhex(pin + ("F" if len(pin) % 2 else ""))


def _pin_result(sw: int) -> None:
    if sw == 0x9000:
        return
    if sw & 0xFFF0 == 0x63C0:
        raise PinError(PIN_WRONG, sw & 0x0F) if sw & 0x0F else PinError(PIN_BLOCKED)
    if sw == 0x6983:
        raise PinError(PIN_BLOCKED)
    raise CardSecurityError(f"PIN command refused: SW {sw:04X}", sw_code(sw))


def verify_pin(card: Transmitter, pin: str) -> None:
    data = pin_bcd(pin)
    _pin_result(_send(card, bytes([0x00, 0x20, 0x00, 0x00, len(data)]) + data)[1])


def change_pin(card: Transmitter, old: str, new: str) -> None:
    data = pin_bcd(old) + b"\xff" + pin_bcd(new)
    _pin_result(_send(card, bytes([0x80, 0x5E, 0x01, 0x00, len(data)]) + data)[1])


def unblock_pin(card: Transmitter, psam: Psam, session: CardSession, new: str) -> None:
    """PIN UNBLOCK under secure messaging: the new PIN, enciphered by the PSAM, and a MAC under the unblock key."""
    plain = pin_bcd(new)
    size = block_size(session.alg)
    psam.set_card_key(session.alg, "pin_unblock", session.card_id, session.atr)
    block = bytes([len(plain)]) + plain
    enciphered = psam.encipher(block + b"\x80" + bytes(-(len(block) + 1) % size))
    apdu = secure_command(card, psam, session.alg, "pin_unblock", session.card_id, session.atr,
                          0x80, 0x24, 0x00, apdu_specs.profile().key("pin_unblock").p2, enciphered)
    _, sw = _send(card, apdu)
    if sw != 0x9000:
        raise CardSecurityError(f"PIN unblock refused: SW {sw:04X}", sw_code(sw))


def update_record(card: Transmitter, psam: Psam, session: CardSession, field: str, value: bytes) -> None:
    """UPDATE RECORD of a holder field under secure messaging (CLA 04, MAC by the PSAM under the update key).

    `value` is the field's encoded bytes (cardlib.fields); the record is written whole, by record number."""
    f, r = apdu_specs.profile().field(field)
    assert f.sfi is not None
    if len(value) != r.length:
        raise ValueError(f"{r.label} must be {r.length} bytes encoded, got {len(value)}")
    record = bytes([r.tag, r.length]) + value
    try:
        apdu = secure_command(card, psam, session.alg, "update", session.card_id, session.atr,
                              0x00, 0xDC, r.number, (f.sfi << 3) | 4, record)
    except CardRefused as exc:
        raise CardSecurityError(str(exc), sw_code(exc.sw)) from None
    _, sw = _send(card, apdu)
    if sw != 0x9000:
        raise CardSecurityError(f"UPDATE RECORD {r.label} refused: SW {sw:04X}", sw_code(sw))
