"""A tiny card for channel tests: implements the simulated-card contract (atr, reset(), process()).

It answers from a table of exact command bytes, and can hold long answers behind 61xx or insist on an exact Le
(6Cxx), the two behaviours the channel must cope with. Everything else gets 6D00.
"""
from __future__ import annotations


class FakeCard:
    def __init__(self, answers: dict[bytes, bytes], *, chunk: int | None = None, exact_le: bool = False,
                 atr: bytes = bytes.fromhex("3B6D0000008C544CB386844116018593CA")) -> None:
        self.atr = atr
        self.answers = answers
        self.chunk = chunk
        self.exact_le = exact_le
        self.pending = b""
        self.received: list[bytes] = []
        self.resets = 0

    def reset(self) -> bytes:
        self.resets += 1
        self.pending = b""
        return self.atr

    def _out(self, data: bytes, sw: bytes = b"\x90\x00") -> bytes:
        if self.chunk is not None and len(data) > self.chunk:
            self.pending = data[self.chunk:]
            return data[:self.chunk] + bytes([0x61, min(len(self.pending), 256) & 0xFF])
        return data + sw

    def process(self, apdu: bytes) -> bytes:
        self.received.append(bytes(apdu))
        if apdu[1:2] == b"\xC0":
            data, self.pending = self.pending, b""
            return self._out(data) if data else b"\x69\x85"
        key = apdu[:4] + (apdu[5:5 + apdu[4]] if len(apdu) > 5 else b"")
        if key not in self.answers:
            return b"\x6D\x00"
        data = self.answers[key]
        if self.exact_le and data:
            le = apdu[-1] or 256 if len(apdu) == 5 or len(apdu) == 6 + apdu[4] else None
            if le != len(data):
                return bytes([0x6C, len(data) & 0xFF])
        return self._out(data)
