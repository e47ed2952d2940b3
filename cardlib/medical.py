"""The medical application's settlement records on the card (DF04, cyclic file "DF04/EF05"; a profile extension).

A hospital terminal appends one record per settlement or refund, under secure messaging (MAC by the PSAM under
the card's update key); reading them needs the holder's PIN. The file geometry (SFI, record length, count) comes
from apdu_specs; the record's inside is sscard's own layout (an extension, as the file itself):

    tag 0x70, length (record_length - 2), then
    settlement id   16 bytes ASCII, 0x00-padded
    when             7 bytes BCD YYYYMMDDhhmmss
    kind             1 byte: 0x01 settlement, 0x02 refund
    total, fund, account, cash   4 bytes each, unsigned big-endian fen
    level            1 byte ASCII (institution level)
    the rest         0x00
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import apdu_specs
from cardlib.commands import command
from cardlib.channel import Channel, as_channel, select_aid
from cardlib.psam import Psam
from cardlib.security import CardSession
from cardlib.sw import check
from cardlib.transport import Transmitter

FILE = "DF04/EF05"
TAG = 0x70
KINDS = {"settlement": 0x01, "refund": 0x02}
ID_LENGTH = 16
RECORD_NOT_FOUND = 0x6A83


class MedicalRecordError(ValueError):
    """A settlement record that cannot be encoded or does not decode."""


@dataclass(frozen=True)
class SettlementRecord:
    settlement_id: str
    when: dt.datetime
    kind: str  # settlement | refund
    total: int
    fund: int
    account: int
    cash: int
    level: str


def _spec() -> apdu_specs.FileSpec:
    return apdu_specs.profile().file(FILE)


def encode(record: SettlementRecord) -> bytes:
    spec = _spec()
    assert spec.record_length is not None
    sid = record.settlement_id.encode("ascii", "strict")
    if not sid or len(sid) > ID_LENGTH:
        raise MedicalRecordError(f"settlement id must be 1..{ID_LENGTH} ASCII characters")
    if record.kind not in KINDS:
        raise MedicalRecordError(f"kind must be one of {', '.join(KINDS)}")
    amounts = (record.total, record.fund, record.account, record.cash)
    if any(not 0 <= a < 2**32 for a in amounts):
        raise MedicalRecordError("amounts must fit in 4 bytes of fen")
    level = record.level.encode("ascii")[:1].ljust(1, b"\x00")
    body = (sid.ljust(ID_LENGTH, b"\x00") + bytes.fromhex(record.when.strftime("%Y%m%d%H%M%S"))
            + bytes([KINDS[record.kind]]) + b"".join(a.to_bytes(4, "big") for a in amounts) + level)
    value_length = spec.record_length - 2
    if len(body) > value_length:
        raise MedicalRecordError("record layout exceeds the file's record length")
    return bytes([TAG, value_length]) + body.ljust(value_length, b"\x00")


def decode(raw: bytes) -> SettlementRecord:
    if len(raw) < 2 + ID_LENGTH + 7 + 1 + 16 + 1 or raw[0] != TAG or raw[1] != len(raw) - 2:
        raise MedicalRecordError("not a settlement record")
    v = raw[2:]
    try:
        sid = v[:ID_LENGTH].rstrip(b"\x00").decode("ascii")
        when = dt.datetime.strptime(v[ID_LENGTH:ID_LENGTH + 7].hex(), "%Y%m%d%H%M%S")
    except ValueError:
        raise MedicalRecordError("settlement record has a bad id or date") from None
    kind = {k: n for n, k in KINDS.items()}.get(v[ID_LENGTH + 7])
    if kind is None:
        raise MedicalRecordError("settlement record has an unknown kind")
    at = ID_LENGTH + 8
    total, fund, account, cash = (int.from_bytes(v[at + 4 * i: at + 4 * i + 4], "big") for i in range(4))
    level = v[at + 16: at + 17].rstrip(b"\x00").decode("ascii", "replace")
    return SettlementRecord(sid, when, kind, total, fund, account, cash, level)


def select(card: Channel | Transmitter) -> None:
    """SELECT the medical DF by its AID (it sits inside the SSSE, so a verified PIN still holds)."""
    df = apdu_specs.profile().file(_spec().parent or "DF04")
    assert df.aid is not None
    as_channel(card).call(select_aid(df.aid, p2=0x0C), f"SELECT {df.name}")


def append(card: Channel | Transmitter, psam: Psam, session: CardSession, record: SettlementRecord) -> None:
    """APPEND RECORD to the cyclic file under a MAC; the new record becomes record 1."""
    spec = _spec()
    assert spec.sfi is not None
    data = encode(record)
    ch = as_channel(card)
    select(ch)
    ch.secure(psam, session.alg, "update", session.card_id, session.atr).call(
        command("APPEND RECORD", 0x00, spec.sfi << 3, data), f"APPEND RECORD {FILE}")


def read_all(card: Channel | Transmitter) -> list[SettlementRecord]:
    """Every settlement record on the card, newest first (needs the PIN verified in this session)."""
    spec = _spec()
    assert spec.sfi is not None and spec.record_count is not None
    ch = as_channel(card)
    select(ch)
    out = []
    for n in range(1, spec.record_count + 1):
        resp = ch.send(command("READ RECORD", n, (spec.sfi << 3) | 4, le=256))
        if resp.sw == RECORD_NOT_FOUND:
            break
        out.append(decode(check(resp, f"READ RECORD {FILE} #{n}")))
    return out
