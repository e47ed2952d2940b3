"""Card security services of the SSSE application: verified reading (is the card genuine?), PIN verify / change /
unblock, and secure writes of holder records, all with keys reached only through a PSAM.

Verified reading follows the published flow (CARD-FACTS) in one session: select SSSE; the algorithm from FCI tag
9F0C (01 when absent); read each EF05/EF06 record once (卡识别码 gives the city factor, 规范版本 the generation);
INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM under the card's diversified internal-authentication
key; for 3.00 cards GET CHALLENGE and EXTERNAL AUTHENTICATE with the RKSSSE key. On the card that is 1 SELECT
(+ 1 GET RESPONSE when the card answers 61xx) + 14 READ RECORD + 3 = 18 or 19 APDUs (docs/services.md).

Every command goes through a Channel (cardlib.channel), so the trace sees it; failures are the CardError family
with the reader interface's codes. PINs never enter a message, repr or log: PinError says only the tries left.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import apdu_specs
from cardlib.commands import command
from cardlib.channel import Channel, as_channel
from cardlib.crypto import Alg, alg_from_id, block_size
from cardlib.psam import Psam
from cardlib.ssapp import CardDataError, CardInfo, SocialSecurityApp
from cardlib.sw import CardError, CardSecurityError, PinError, PsamError, interface_code
from cardlib.transport import Transmitter

CARD_ID_FORMAT = interface_code("card_data")
INTERNAL_AUTH_FAILED = interface_code("internal_auth_failed")
EXTERNAL_AUTH_FAILED = interface_code("external_auth_failed")
PSAM_NO_ALGORITHM = interface_code("psam_no_algorithm")
PIN_WRONG = interface_code("pin_wrong")
PIN_BLOCKED = interface_code("pin_blocked")

__all__ = ["CardError", "CardSecurityError", "PinError", "CardSession", "authenticate", "verified_read", "verified_session", "select_ssse",
           "verify_pin", "change_pin", "unblock_pin", "update_record", "pin_bcd"]

Link = Channel | Transmitter


@dataclass(frozen=True)
class CardSession:
    """What a verified session knows about the card: algorithm, 卡识别码, ATR and version (no secrets)."""

    alg: Alg
    card_id: bytes
    atr: bytes
    version: str
    external_auth: bool
    psam: str = "PSAM"

    @property
    def keys(self) -> list[str]:
        """The card keys the session proved, by usage (apdu_specs key names)."""
        return ["internal_auth", "external_auth"] if self.external_auth else ["internal_auth"]

    def as_dict(self) -> dict[str, object]:
        return {"verified": True, "alg": self.alg, "keys": self.keys, "psam": self.psam}


def _alg(algorithm_id: int) -> Alg:
    try:
        return alg_from_id(algorithm_id)
    except ValueError as exc:
        raise CardSecurityError(str(exc), CARD_ID_FORMAT) from None


def select_ssse(card: Link) -> Alg:
    return _alg(SocialSecurityApp(as_channel(card)).select())


def internal_authenticate(card: Link, psam: Psam, alg: Alg, card_id: bytes, atr: bytes) -> None:
    """Is the card genuine? It enciphers our random under its internal-authentication key; the PSAM checks it."""
    process_factor, random = secrets.token_bytes(8), secrets.token_bytes(8)
    resp = as_channel(card).send(command("INTERNAL AUTHENTICATE", data=process_factor + random, le=256))
    if resp.sw != 0x9000:
        raise CardSecurityError("internal authentication refused", INTERNAL_AUTH_FAILED, sw=resp.sw,
                                command="INTERNAL AUTHENTICATE")
    try:
        psam.set_card_key(alg, "internal_auth", card_id, atr, process_factor)
    except PsamError as exc:
        raise CardSecurityError(str(exc), PSAM_NO_ALGORITHM, sw=exc.sw) from None
    except ValueError as exc:  # a card id whose region is not BCD
        raise CardSecurityError(str(exc), CARD_ID_FORMAT) from None
    if not resp.data or not psam.check(random, resp.data):
        raise CardSecurityError("internal authentication failed: the card is not genuine", INTERNAL_AUTH_FAILED)


def external_authenticate(card: Link, psam: Psam, alg: Alg, card_id: bytes, atr: bytes) -> None:
    """Prove the terminal to the card with the RKSSSE key: the PSAM enciphers the card's challenge."""
    from cardlib.channel import get_challenge

    ch = as_channel(card)
    challenge = get_challenge(ch)
    psam.set_card_key(alg, "external_auth", card_id, atr)
    cryptogram = psam.encipher(challenge.ljust(block_size(alg), b"\x00"))
    p2 = apdu_specs.profile().key("external_auth").p2
    resp = ch.send(command("EXTERNAL AUTHENTICATE", 0x00, p2, cryptogram))
    if resp.sw != 0x9000:
        raise CardSecurityError("external authentication refused", EXTERNAL_AUTH_FAILED, sw=resp.sw,
                                command="EXTERNAL AUTHENTICATE")


def _session(card: Link, psam: Psam, alg: Alg, card_id: bytes, atr: bytes, version: str) -> CardSession:
    internal_authenticate(card, psam, alg, card_id, atr)
    ext = version.startswith("3")
    if ext:
        external_authenticate(card, psam, alg, card_id, atr)
    return CardSession(alg=alg, card_id=card_id, atr=atr, version=version, external_auth=ext, psam=psam.name)


def authenticate(card: Link, psam: Psam, atr: bytes | None = None) -> CardSession:
    """Select, read 卡识别码 and 规范版本, authenticate: for a service (unblock, update) that needs no other data."""
    ch = as_channel(card)
    app = SocialSecurityApp(ch)
    alg = _alg(app.select())
    try:
        card_id, version = app.read_raw_field("card_id"), app.read_raw_field("version").decode("ascii", "replace")
    except CardDataError as exc:
        raise CardSecurityError(str(exc), CARD_ID_FORMAT) from None
    return _session(ch, psam, alg, card_id, atr if atr is not None else ch.atr, version)


def verified_session(card: Link, psam: Psam, info: CardInfo) -> CardSession:
    """Authenticate a card whose records were just read in this session (`info`): no SELECT, no read again."""
    ch = as_channel(card)
    try:
        card_id = bytes.fromhex(info.card_id)
    except ValueError:
        raise CardSecurityError("卡识别码 is not hex", CARD_ID_FORMAT) from None
    return _session(ch, psam, _alg(info.algorithm_id), card_id, ch.atr, info.version)


def verified_read(card: Link, psam: Psam) -> tuple[CardInfo, CardSession]:
    """The published verified reading in one session: select once, read each record once, then authenticate."""
    ch = as_channel(card)
    info = SocialSecurityApp(ch).read_card_info()
    return info, verified_session(ch, psam, info)


def pin_bcd(pin: str) -> bytes:
    """A PIN as BCD, F-padded; checked against the profile's lengths (the message never holds the PIN)."""
    card = apdu_specs.profile().card
    if not pin.isdigit() or not card["pin_min_length"] <= len(pin) <= card["pin_max_length"]:
        raise ValueError(f"a PIN is {card['pin_min_length']} to {card['pin_max_length']} digits")
    return bytes.fromhex(pin + ("F" if len(pin) % 2 else ""))


def _pin_result(sw: int, command: str) -> None:
    if sw == 0x9000:
        return
    if sw & 0xFFF0 == 0x63C0:
        raise PinError(PIN_WRONG, sw & 0x0F, sw=sw) if sw & 0x0F else PinError(PIN_BLOCKED, sw=sw)
    if sw == 0x6983:
        raise PinError(PIN_BLOCKED, sw=sw)
    raise CardError(sw, command)


def verify_pin(card: Link, pin: str) -> None:
    _pin_result(as_channel(card).send(command("VERIFY", data=pin_bcd(pin))).sw, "VERIFY")


def change_pin(card: Link, old: str, new: str) -> None:
    data = pin_bcd(old) + b"\xff" + pin_bcd(new)
    _pin_result(as_channel(card).send(command("CHANGE PIN", 0x01, 0x00, data)).sw, "CHANGE PIN")


def unblock_pin(card: Link, psam: Psam, session: CardSession, new: str) -> None:
    """PIN UNBLOCK under secure messaging: the new PIN, enciphered by the PSAM, and a MAC under the unblock key."""
    plain = pin_bcd(new)
    size = block_size(session.alg)
    psam.set_card_key(session.alg, "pin_unblock", session.card_id, session.atr)
    block = bytes([len(plain)]) + plain
    enciphered = psam.encipher(block + b"\x80" + bytes(-(len(block) + 1) % size))
    secure = as_channel(card).secure(psam, session.alg, "pin_unblock", session.card_id, session.atr)
    secure.call(command("PIN UNBLOCK", 0x00, apdu_specs.profile().key("pin_unblock").p2, enciphered))


def update_record(card: Link, psam: Psam, session: CardSession, field: str, value: bytes) -> None:
    """UPDATE RECORD of a holder field under secure messaging (CLA 04, MAC by the PSAM under the update key).

    `value` is the field's encoded bytes (cardlib.fields); the record is written whole, by record number."""
    f, r = apdu_specs.profile().field(field)
    assert f.sfi is not None
    if len(value) != r.length:
        raise ValueError(f"{r.label} must be {r.length} bytes encoded, got {len(value)}")
    secure = as_channel(card).secure(psam, session.alg, "update", session.card_id, session.atr)
    secure.call(command("UPDATE RECORD", r.number, (f.sfi << 3) | 4, bytes([r.tag, r.length]) + value),
                f"UPDATE RECORD {r.label}")
