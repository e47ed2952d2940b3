"""BER-TLV (ISO 7816-4 / EMV data objects) and the card's simple TLV records (1-byte tag, 1-byte length).

FCIs and EMV responses are BER-TLV; EF05/EF06 records are simple TLV records. Both are parsed strictly: anything
that does not fit raises TlvError with the offset and the reason, never IndexError or a silent truncation.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_TAG_BYTES = 4
MAX_LENGTH_BYTES = 3  # 81, 82, 83


class TlvError(ValueError):
    """Bytes that are not a well-formed TLV encoding."""


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV data object; a constructed one (tag bit 6 set) also has its parsed children."""

    tag: int
    value: bytes
    children: tuple[Tlv, ...] = ()

    @property
    def constructed(self) -> bool:
        return is_constructed(self.tag)

    def find(self, tag: int) -> Tlv | None:
        return find(self.children, tag)

    def __repr__(self) -> str:
        return f"Tlv({self.tag:X}, {self.value.hex().upper()})"


def tag_bytes(tag: int) -> bytes:
    if tag < 0:
        raise TlvError(f"tag {tag} is negative")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    if len(raw) > MAX_TAG_BYTES:
        raise TlvError(f"tag {tag:X} is longer than {MAX_TAG_BYTES} bytes")
    multi = (raw[0] & 0x1F) == 0x1F
    if multi != (len(raw) > 1):
        raise TlvError(f"tag {tag:X} is not a valid BER tag (first byte low bits 1F iff multi-byte)")
    for i, b in enumerate(raw[1:], 1):
        last = i == len(raw) - 1
        if bool(b & 0x80) == last:
            raise TlvError(f"tag {tag:X} is not a valid BER tag (continuation bits)")
    return raw


def is_constructed(tag: int) -> bool:
    first = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")[0]
    return bool(first & 0x20)


def encode_length(length: int) -> bytes:
    if length < 0:
        raise TlvError(f"length {length} is negative")
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > MAX_LENGTH_BYTES:
        raise TlvError(f"length {length} needs more than {MAX_LENGTH_BYTES} length bytes")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    if pos >= len(data):
        raise TlvError(f"offset {pos}: tag expected, data ends")
    first = data[pos]
    pos += 1
    if (first & 0x1F) == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError(f"offset {start}: multi-byte tag runs past the end")
            b = data[pos]
            pos += 1
            if pos - start > MAX_TAG_BYTES:
                raise TlvError(f"offset {start}: tag longer than {MAX_TAG_BYTES} bytes")
            if not b & 0x80:
                break
    return int.from_bytes(data[start:pos], "big"), pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError(f"offset {pos}: length expected, data ends")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    size = first & 0x7F
    if size == 0:
        raise TlvError(f"offset {pos - 1}: indefinite length (80) is not allowed")
    if size > MAX_LENGTH_BYTES:
        raise TlvError(f"offset {pos - 1}: length form {first:02X} not supported (81, 82, 83 only)")
    if pos + size > len(data):
        raise TlvError(f"offset {pos - 1}: length bytes run past the end")
    return int.from_bytes(data[pos:pos + size], "big"), pos + size


def iter_tlv(data: bytes, *, recursive: bool = True) -> Iterator[Tlv]:
    pos = 0
    data = bytes(data)
    while pos < len(data):
        start = pos
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(f"offset {start}: tag {tag:X} declares {length} bytes, only {len(data) - pos} remain")
        value = data[pos:pos + length]
        pos += length
        children = tuple(iter_tlv(value)) if recursive and is_constructed(tag) else ()
        yield Tlv(tag, value, children)


def parse(data: bytes, *, recursive: bool = True) -> list[Tlv]:
    """Parse concatenated BER-TLV objects; constructed ones are parsed into children when `recursive`."""
    return list(iter_tlv(data, recursive=recursive))


def encode(tag: int, value: bytes | Iterable[Tlv]) -> bytes:
    """Encode one object; `value` is bytes, or for a constructed tag an iterable of children."""
    if not isinstance(value, (bytes, bytearray)):
        value = b"".join(encode_tlv(child) for child in value)
    return tag_bytes(tag) + encode_length(len(value)) + bytes(value)


def encode_tlv(obj: Tlv) -> bytes:
    return encode(obj.tag, obj.children if obj.children else obj.value)


def encode_all(objs: Iterable[Tlv]) -> bytes:
    return b"".join(encode_tlv(o) for o in objs)


def find(objs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first object with `tag`, searching depth-first through constructed objects."""
    for o in objs:
        if o.tag == tag:
            return o
        hit = find(o.children, tag)
        if hit is not None:
            return hit
    return None


# The card's simple TLV records: tag (1 byte), length (1 byte), value.

def encode_record(tag: int, value: bytes) -> bytes:
    if not 0 <= tag <= 0xFF:
        raise TlvError(f"record tag {tag} does not fit in one byte")
    if tag in (0x00, 0xFF):
        raise TlvError(f"record tag {tag:02X} is reserved (00 and FF are not tags)")
    if len(value) > 0xFF:
        raise TlvError(f"record value of {len(value)} bytes does not fit a 1-byte length")
    return bytes([tag, len(value)]) + bytes(value)


def decode_record(raw: bytes) -> tuple[int, bytes]:
    """One whole record: (tag, value). The record must be exactly tag + length + value."""
    raw = bytes(raw)
    if len(raw) < 2:
        raise TlvError(f"record of {len(raw)} bytes is shorter than tag and length")
    tag, length = raw[0], raw[1]
    if tag in (0x00, 0xFF):
        raise TlvError(f"record tag {tag:02X} is reserved (00 and FF are not tags)")
    if len(raw) != 2 + length:
        raise TlvError(f"record tag {tag:02X} declares {length} bytes but carries {len(raw) - 2}")
    return tag, raw[2:]


def decode_records(raw: bytes) -> list[tuple[int, bytes]]:
    """Concatenated records (e.g. a whole record file dumped in one go)."""
    raw = bytes(raw)
    out = []
    pos = 0
    while pos < len(raw):
        if pos + 2 > len(raw):
            raise TlvError(f"offset {pos}: record header runs past the end")
        length = raw[pos + 1]
        end = pos + 2 + length
        if end > len(raw):
            raise TlvError(f"offset {pos}: record tag {raw[pos]:02X} declares {length} bytes, "
                           f"only {len(raw) - pos - 2} remain")
        out.append(decode_record(raw[pos:end]))
        pos = end
    return out
