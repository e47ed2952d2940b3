"""Record values of the card profile: text <-> the fixed-length bytes the card stores, by the profile's encoding.

The encodings (bin, ascii, gbk0, gbkff, bcd, bcd_date) and lengths come from apdu_specs; nothing about a field is
repeated here. Errors name the field (label and name) but never echo the value, since some values are ID numbers.
"""
from __future__ import annotations

import datetime as dt

from apdu_specs import RecordSpec, profile

from . import tlv


class FieldError(ValueError):
    """A value that does not fit its field; the message names the field, never the value."""


def _who(spec: RecordSpec) -> str:
    return f"{spec.label} ({spec.field})"


def _text_bytes(spec: RecordSpec, value: str, codec: str) -> bytes:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise FieldError(f"{_who(spec)}: control characters are not allowed")
    try:
        raw = value.encode(codec)
    except UnicodeEncodeError:
        raise FieldError(f"{_who(spec)}: a character has no {codec.upper()} encoding") from None
    if len(raw) > spec.length:
        raise FieldError(f"{_who(spec)}: {len(raw)} {codec.upper()} bytes do not fit in {spec.length}")
    return raw


def _date_digits(spec: RecordSpec, value: str | dt.date) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    text = value.replace("-", "") if isinstance(value, str) and len(value) == 10 else value
    if not isinstance(text, str) or len(text) != 8 or not text.isascii() or not text.isdigit():
        raise FieldError(f"{_who(spec)}: a date must be YYYYMMDD or YYYY-MM-DD")
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise FieldError(f"{_who(spec)}: not a calendar date") from None
    return text


def encode_field(spec: RecordSpec, value: str | bytes | dt.date) -> bytes:
    """The field's value as exactly `spec.length` bytes, padded as its encoding says."""
    enc = spec.encoding
    if enc == "bin":
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise FieldError(f"{_who(spec)}: not hexadecimal") from None
        if not isinstance(value, (bytes, bytearray)) or len(value) != spec.length:
            raise FieldError(f"{_who(spec)}: must be exactly {spec.length} bytes ({2 * spec.length} hex digits)")
        return bytes(value)
    if enc == "bcd_date":
        return bytes.fromhex(_date_digits(spec, value))  # type: ignore[arg-type]
    if not isinstance(value, str):
        raise FieldError(f"{_who(spec)}: must be text")
    if enc == "ascii":
        return _text_bytes(spec, value, "ascii").ljust(spec.length, b"\x00")
    if enc == "gbk0":
        return _text_bytes(spec, value, "gbk").ljust(spec.length, b"\x00")
    if enc == "gbkff":
        return _text_bytes(spec, value, "gbk").ljust(spec.length, b"\xff")
    if enc == "bcd":
        if not value.isascii() or not value.isdigit() or len(value) > 2 * spec.length:
            raise FieldError(f"{_who(spec)}: must be up to {2 * spec.length} digits")
        return bytes.fromhex(value.ljust(2 * spec.length, "F"))
    raise FieldError(f"{_who(spec)}: unknown encoding {enc!r} in the profile")


def decode_field(spec: RecordSpec, raw: bytes) -> str:
    """The field's bytes as text: hex for bin, digits for BCD, text without its padding otherwise."""
    raw = bytes(raw)
    if len(raw) != spec.length:
        raise FieldError(f"{_who(spec)}: {len(raw)} bytes read, the profile says {spec.length}")
    enc = spec.encoding
    if enc == "bin":
        return raw.hex().upper()
    if enc in ("bcd", "bcd_date"):
        digits = raw.hex().upper().rstrip("F")
        if not digits.isdigit() and digits:
            raise FieldError(f"{_who(spec)}: not BCD digits")
        if enc == "bcd_date" and len(digits) not in (0, 8):  # all F: a date the issuer left open
            raise FieldError(f"{_who(spec)}: a BCD date must be 8 digits (or all F)")
        return digits
    text = raw.rstrip(b"\x00\xff")  # neither byte occurs inside ASCII or GBK text
    codec = "ascii" if enc == "ascii" else "gbk" if enc in ("gbk0", "gbkff") else None
    if codec is None:
        raise FieldError(f"{_who(spec)}: unknown encoding {enc!r} in the profile")
    try:
        return text.decode(codec)
    except UnicodeDecodeError:
        raise FieldError(f"{_who(spec)}: not {codec.upper()} text") from None


def encode_field_record(spec: RecordSpec, value: str | bytes | dt.date) -> bytes:
    """The whole TLV record (tag, length, value) for UPDATE RECORD or a card image."""
    return tlv.encode_record(spec.tag, encode_field(spec, value))


def split_name(name: str, profile_name: str | None = None) -> tuple[str, str]:
    """Split a name into 姓名 and 姓名扩展 at a character boundary; refuse one that fits neither."""
    p = profile(profile_name) if profile_name else profile()
    _, main = p.field("name")
    _, ext = p.field("name_ext")
    if not isinstance(name, str) or not name:
        raise FieldError(f"{_who(main)}: must not be empty")
    used = 0
    cut = len(name)
    for i, ch in enumerate(name):
        size = len(_text_bytes(main, ch, "gbk"))
        if used + size > main.length:
            cut = i
            break
        used += size
    head, tail = name[:cut], name[cut:]
    if tail:
        try:
            _text_bytes(ext, tail, "gbk")
        except FieldError:
            raise FieldError(f"{_who(main)}: too long: at most {main.length} + {ext.length} GBK bytes "
                             f"(with {_who(ext)})") from None
    return head, tail
