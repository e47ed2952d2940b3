"""The ministry reader interface's output (iReadCardBas) and error codes, built from what cardlib reads.

The line is kept exactly: 发卡地区行政区划代码|社会保障号码|卡号|卡识别码|姓名|卡复位信息|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|
It holds the full 社会保障号码 because that is the interface's definition of the card's own output; it is for the
caller that asked for the card data, never for a log or a trace.
"""
from __future__ import annotations

from .ssapp import CardInfo
from .sw import CardError
from .transport import TransportError

DEVICE_ERROR = -1  # the interface's device range (-1..-15): no reader, no card, card pulled
CARD_DATA_ERROR = -20

FIELDS = ("region", "ssn", "card_no", "card_id", "name", "historical_bytes", "version", "issue_date", "expiry",
          "terminal_no", "device_no")


class AtrError(ValueError):
    """Bytes that are not an ISO 7816-3 ATR."""


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO 7816-3): K from T0's low nibble, after the interface bytes."""
    atr = bytes(atr)
    if len(atr) < 2:
        raise AtrError(f"ATR of {len(atr)} bytes has no T0")
    if atr[0] not in (0x3B, 0x3F):
        raise AtrError(f"ATR starts with {atr[0]:02X}, not TS 3B or 3F")
    k = atr[1] & 0x0F
    y = atr[1] >> 4
    pos = 2
    while True:
        pos += bin(y & 0x7).count("1")  # TA, TB, TC
        if not y & 0x8:
            break
        if pos >= len(atr):
            raise AtrError("ATR ends inside its interface bytes")
        y = atr[pos] >> 4
        pos += 1
    if pos + k > len(atr):
        raise AtrError(f"ATR announces {k} historical bytes, only {max(0, len(atr) - pos)} follow")
    return atr[pos:pos + k]


def basic_info(info: CardInfo, *, terminal_no: str = "", device_no: str = "") -> dict[str, str]:
    """The iReadCardBas fields by name, from a CardInfo (ssapp.read_card_info)."""
    return {
        "region": info.card_id[:6],
        "ssn": info.ssn,
        "card_no": info.card_no[:9],
        "card_id": info.card_id.upper(),
        "name": info.name,
        "historical_bytes": historical_bytes(bytes.fromhex(info.atr)).hex().upper(),
        "version": info.version,
        "issue_date": info.issue_date,
        "expiry": info.expiry,
        "terminal_no": terminal_no,
        "device_no": device_no,
    }


def basic_info_line(info: CardInfo, *, terminal_no: str = "", device_no: str = "") -> str:
    """iReadCardBas output: the eleven fields, each followed by '|'."""
    fields = basic_info(info, terminal_no=terminal_no, device_no=device_no)
    return "".join(f"{fields[name]}|" for name in FIELDS)


def parse_basic_info_line(line: str) -> dict[str, str]:
    """The fields of an iReadCardBas line (for terminals that receive one from a vendor driver)."""
    parts = line.split("|")
    if len(parts) != len(FIELDS) + 1 or parts[-1] != "":
        raise ValueError(f"iReadCardBas line must have {len(FIELDS)} fields each ended by '|', got {len(parts) - 1}")
    return dict(zip(FIELDS, parts))


def error_code(exc: BaseException) -> int:
    """The interface's error code: -51/-52 for PIN, -(SW) for other card answers, -1 for reader trouble."""
    if isinstance(exc, CardError):
        return exc.interface_code
    code = getattr(exc, "interface_code", None)
    if isinstance(code, int):
        return code
    if isinstance(exc, TransportError):
        return DEVICE_ERROR
    if isinstance(exc, ValueError):
        return CARD_DATA_ERROR
    raise TypeError(f"no reader-interface code for {type(exc).__name__}")
