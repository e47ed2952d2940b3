"""Command and response APDUs (ISO 7816-3/-4): the four cases, short and extended encodings, strict parsing.

`le` is the number of bytes expected (1..256 short, up to 65536 extended); Le byte 00 means 256 and the extended
Le 0000 means 65536, so `le=0` is taken as 256. The encoding is extended only when the data or Le need it, or
when asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


class ApduError(ValueError):
    """Bytes or values that do not make an APDU."""


@dataclass(frozen=True)
class CommandAPDU:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = field(default=False)

    def __post_init__(self) -> None:
        cla, ins, p1, p2, data, le = self.cla, self.ins, self.p1, self.p2, self.data, self.le
        if (type(cla) is int and type(ins) is int and type(p1) is int and type(p2) is int and type(data) is bytes
                and 0 <= cla <= 0xFF and 0 <= ins <= 0xFF and 0 <= p1 <= 0xFF and 0 <= p2 <= 0xFF
                and len(data) <= 0xFF and (le is None or (type(le) is int and 0 < le <= 0x100))):
            # the short APDU every card service sends, checked in one expression (it runs for every command)
            if self.extended and not (data or le is not None):
                object.__setattr__(self, "extended", False)
            return
        self._validate()

    def _validate(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= 0xFF:
                raise ApduError(f"{name.upper()} must be a byte (0..255), got {v!r}")
        if not isinstance(self.data, (bytes, bytearray)):
            raise ApduError("data must be bytes")
        object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) > 0xFFFF:
            raise ApduError(f"data of {len(self.data)} bytes exceeds 65535")
        le = self.le
        if le is not None:
            if not isinstance(le, int) or not 0 <= le <= 0x10000:
                raise ApduError(f"Le must be 0..65536 or None, got {le!r}")
            if le == 0:
                object.__setattr__(self, "le", 256)
        needs = len(self.data) > 0xFF or (self.le is not None and self.le > 0x100)
        has_body = bool(self.data) or self.le is not None
        object.__setattr__(self, "extended", has_body and (self.extended or needs))

    @property
    def case(self) -> int:
        """ISO 7816-3 case: 1 no data no Le, 2 Le only, 3 data only, 4 data and Le."""
        return 1 + (self.le is not None) + 2 * bool(self.data)

    @property
    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])

    def to_bytes(self) -> bytes:
        return self._encoded

    @cached_property
    def _encoded(self) -> bytes:
        """The encoding, made once per command (a cached command is sent many times)."""
        out = self.header
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                le = (self.le & 0xFFFF).to_bytes(2, "big")
                out += le if self.data else b"\x00" + le
            return out
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def with_le(self, le: int) -> CommandAPDU:
        return CommandAPDU(self.cla, self.ins, self.p1, self.p2, self.data, le, self.extended)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Parse by ISO 7816-3 12.1.3; raise ApduError saying which rule the bytes break."""
        raw = bytes(raw)
        n = len(raw)
        if n < 4:
            raise ApduError(f"APDU of {n} bytes is shorter than the 4-byte header")
        cla, ins, p1, p2 = raw[:4]
        if n == 4:
            return cls(cla, ins, p1, p2)
        if n == 5:
            return cls(cla, ins, p1, p2, le=raw[4] or 256)
        if raw[4] != 0:
            lc = raw[4]
            if n == 5 + lc:
                return cls(cla, ins, p1, p2, raw[5:])
            if n == 6 + lc:
                return cls(cla, ins, p1, p2, raw[5:-1], le=raw[-1] or 256)
            raise ApduError(f"Lc {lc} does not match the {n - 5} bytes after it (expected {lc} or {lc + 1})")
        if n == 6:
            raise ApduError("6-byte APDU with Lc 00 is neither short nor extended")
        if n == 7:
            return cls(cla, ins, p1, p2, le=int.from_bytes(raw[5:7], "big") or 65536, extended=True)
        lc = int.from_bytes(raw[5:7], "big")
        if lc == 0:
            raise ApduError("extended Lc 0000 with data following")
        if n == 7 + lc:
            return cls(cla, ins, p1, p2, raw[7:], extended=True)
        if n == 9 + lc:
            return cls(cla, ins, p1, p2, raw[7:-2], le=int.from_bytes(raw[-2:], "big") or 65536, extended=True)
        raise ApduError(f"extended Lc {lc} does not match the {n - 7} bytes after it (expected {lc} or {lc + 2})")

    def __str__(self) -> str:
        return self.to_bytes().hex().upper()


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def to_bytes(self) -> bytes:
        return bytes(self.data) + bytes([self.sw1, self.sw2])

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ApduError(f"response of {len(raw)} bytes has no status word")
        return cls(raw[:-2], raw[-2], raw[-1])

    def __str__(self) -> str:
        return self.to_bytes().hex().upper()
