"""The social-security application (SSSE) on a card: select it, read and decode EF05/EF06, write records.

Everything about files, records, tags and encodings comes from the profile in apdu_specs. Writes here are plain
UPDATE RECORD; a card that protects a file with a MAC answers 6982 and the caller needs secure messaging.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from apdu_specs import FileSpec, Profile, RecordSpec, profile

from . import tlv
from .commands import command
from .channel import Channel, as_channel, select_aid
from .fields import FieldError, decode_field, encode_field_record
from .idnumber import mask
from .sw import CardError
from .transport import Transmitter

CARD_DATA_ERROR = -20  # reader-interface code for card data of the wrong format (卡识别码 / record format)
ABSENT = (0x6A82, 0x6A83, 0x6A88)  # a record the card does not have (e.g. 姓名扩展 on older cards)


class CardDataError(CardError, ValueError):
    """The card answered 9000 with data that does not fit the profile (-20); in the CardError family, no SW."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message=message, code=CARD_DATA_ERROR)


def algorithm_id(fci: bytes, tag: int = 0x9F0C) -> int:
    """The algorithm id in an FCI: tag 9F0C holding one byte, or `86 01 xx` inside it; 01 when absent."""
    try:
        found = tlv.find(tlv.parse(fci), tag) if fci else None
    except tlv.TlvError as exc:
        raise CardDataError(f"SSSE FCI is not BER-TLV: {exc}") from None
    if found is None:
        return 0x01
    if len(found.value) == 1:
        return found.value[0]
    try:
        inner = tlv.find(tlv.parse(found.value), 0x86)
    except tlv.TlvError:
        inner = None
    if inner is None or len(inner.value) != 1:
        raise CardDataError(f"FCI tag {tag:X} is neither one byte nor 86 01 xx")
    return inner.value[0]


@dataclass(frozen=True, repr=False)
class CardInfo:
    """EF05 and EF06 decoded (name = 姓名 + 姓名扩展), with the ATR and the SSSE algorithm id."""

    card_id: str
    card_type: str
    version: str
    init_org: str
    issue_date: str
    expiry: str
    card_no: str
    ssn: str
    name: str
    gender: str
    nation: str
    birthplace: str
    birth_date: str
    atr: str
    algorithm_id: int

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)

    def __repr__(self) -> str:
        return f"CardInfo(card_no={self.card_no!r}, ssn={mask(self.ssn)!r}, version={self.version!r})"


class SocialSecurityApp:
    def __init__(self, link: Channel | Transmitter, profile_name: str | None = None) -> None:
        self.channel = as_channel(link)
        self.profile: Profile = profile(profile_name) if profile_name else profile()
        self.fci: bytes | None = None
        self.algorithm_id: int | None = None

    def select(self) -> int:
        """SELECT the SSSE by AID; remember the FCI and return the algorithm id (01 3DES, 04 SM4)."""
        ssse = self.profile.ssse
        assert ssse.aid is not None
        self.fci = self.channel.call(select_aid(ssse.aid), "SELECT SSSE")
        self.algorithm_id = algorithm_id(self.fci, int(ssse.raw.get("fci_algorithm_tag", "9F0C"), 16))
        return self.algorithm_id

    def read_record(self, sfi: int, number: int) -> bytes:
        """Record `number` of the file with `sfi`, the whole TLV record."""
        return self.channel.call(command("READ RECORD", number, (sfi << 3) | 4, le=256))

    def read_record_by_tag(self, sfi: int, tag: int) -> bytes:
        return self.channel.call(command("READ RECORD", tag, (sfi << 3) | 0, le=256))

    def _located(self, field: str) -> tuple[FileSpec, RecordSpec]:
        f, r = self.profile.field(field)
        if f.sfi is None:
            raise KeyError(f"file {f.name} of field {field!r} has no SFI")
        return f, r

    def read_raw_field(self, field: str) -> bytes:
        """A field's value bytes, read by record number; the record's tag and length are checked."""
        return self._raw_value(*self._located(field))

    def _raw_value(self, f: FileSpec, r: RecordSpec) -> bytes:
        record = self.read_record(f.sfi, r.number)  # type: ignore[arg-type]
        try:
            tag, value = tlv.decode_record(record)
        except tlv.TlvError as exc:
            raise CardDataError(f"{f.name} record {r.number} ({r.label}): {exc}") from None
        if tag != r.tag:
            raise CardDataError(f"{f.name} record {r.number} ({r.label}) has tag {tag:02X}, the profile says {r.tag:02X}")
        return value

    def read_field(self, field: str) -> str:
        return self._decoded(*self._located(field))

    def _decoded(self, f: FileSpec, r: RecordSpec) -> str:
        if f.sfi is None:
            raise KeyError(f"file {f.name} of field {r.field!r} has no SFI")
        raw = self._raw_value(f, r)
        try:
            return decode_field(r, raw)
        except FieldError as exc:
            raise CardDataError(str(exc)) from None

    def _optional_field(self, field: str) -> str:
        try:
            return self.read_field(field)
        except CardError as exc:
            if exc.sw in ABSENT:
                return ""
            raise

    def read_card_info(self) -> CardInfo:
        """Select the SSSE and read every EF05/EF06 field the profile lists."""
        alg = self.select()
        values: dict[str, str] = {}
        for file_name in ("EF05", "EF06"):
            f = self.profile.file(file_name)
            for r in f.records:
                values[r.field] = self._optional_field(r.field) if r.field == "name_ext" else self._decoded(f, r)
        values["name"] += values.pop("name_ext", "")
        return CardInfo(**values, atr=self.channel.atr.hex().upper(), algorithm_id=alg)

    def update_record(self, sfi: int, number: int, record: bytes) -> None:
        """Plain UPDATE RECORD of a whole TLV record by number."""
        self.channel.call(command("UPDATE RECORD", number, (sfi << 3) | 4, record))

    def update_record_by_tag(self, sfi: int, record: bytes) -> None:
        self.channel.call(command("UPDATE RECORD", record[0], (sfi << 3) | 0, record))

    def update_field(self, field: str, value: str | bytes) -> None:
        f, r = self._located(field)
        self.update_record(f.sfi, r.number, encode_field_record(r, value))  # type: ignore[arg-type]
