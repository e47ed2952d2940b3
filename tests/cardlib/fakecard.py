"""A tiny card for channel tests: implements the simulated-card contract (atr, reset(), process()).

It answers from a table of exact command bytes, and can hold long answers behind 61xx or insist on an exact Le
(6Cxx), the two behaviours the channel must cope with. Everything else gets `missing` (6D00).
"""
from __future__ import annotations


class FakeCard:
    def __init__(self, answers: dict[bytes, bytes], *, chunk: int | None = None, exact_le: bool = False,
                 atr: bytes = bytes.fromhex("3B6D0000008C544CB386844116018593CA"), missing: bytes = b"\x6D\x00") -> None:
        self.atr = atr
        self.missing = missing
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
            return self.missing
        data = self.answers[key]
        if self.exact_le and data:
            le = apdu[-1] or 256 if len(apdu) == 5 or len(apdu) == 6 + apdu[4] else None
            if le != len(data):
                return bytes([0x6C, len(data) & 0xFF])
        return self._out(data)


HOLDER = {
    "card_id": "330300D15600000599110145FFFFFFFF", "card_type": "3", "version": "3.00",
    "init_org": "330300000000000000000001", "issue_date": "20211203", "expiry": "20311202", "card_no": "A00000001",
    "ssn": "11010519491231002X", "name": "张" * 15, "name_ext": "三丰", "gender": "2", "nation": "01",
    "birthplace": "110105", "birth_date": "19491231",
}
SSSE_FCI = bytes.fromhex("6F19840F7378312E73682EC9E7BBE1B1A3D5CFA5069F0C03860104")


def ssse_card(holder: dict[str, str] | None = None, *, fci: bytes = SSSE_FCI, **kw: object) -> FakeCard:
    """A FakeCard answering SELECT SSSE and READ RECORD (by number and by tag) for EF05/EF06 from a holder."""
    from apdu_specs import profile
    from cardlib.fields import encode_field_record

    p = profile()
    holder = HOLDER if holder is None else holder
    answers = {bytes.fromhex("00A40400") + p.ssse.aid: fci}  # type: ignore[operator]
    for name in ("EF05", "EF06"):
        f = p.file(name)
        for r in f.records:
            if r.field in holder:
                record = encode_field_record(r, holder[r.field])
                answers[bytes([0x00, 0xB2, r.number, (f.sfi << 3) | 4])] = record  # type: ignore[operator]
                answers[bytes([0x00, 0xB2, r.tag, (f.sfi << 3) | 0])] = record  # type: ignore[operator]
    return FakeCard(answers, missing=b"\x6A\x83", **kw)  # type: ignore[arg-type]
