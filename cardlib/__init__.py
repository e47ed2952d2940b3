"""Host side of sscard: APDUs, status words, TLV, transports (PC/SC and in-process), the social-security app.

The public names below are loaded on first use, so `import cardlib.crypto` (as the simulators do) does not pull in
pyscard or the transports.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CommandAPDU": "apdu", "ResponseAPDU": "apdu", "ApduError": "apdu",
    "CardError": "sw", "CardSecurityError": "sw", "PinError": "sw", "PsamError": "sw", "StatusWord": "sw",
    "describe": "sw", "check": "sw",
    "Tlv": "tlv", "TlvError": "tlv",
    "FieldError": "fields", "encode_field": "fields", "decode_field": "fields", "encode_field_record": "fields",
    "split_name": "fields",
    "Transport": "transport", "LoopbackTransport": "transport", "TransportError": "transport",
    "NoReaderError": "transport", "NoCardError": "transport", "CardRemovedError": "transport",
    "PcscTransport": "pcsc", "list_readers": "pcsc",
    "Channel": "channel", "GetResponse": "channel", "RetryLe": "channel", "Traced": "channel",
    "SecureMessaging": "channel", "as_channel": "channel", "select_aid": "channel",
    "Psam": "psam",
    "Trace": "trace",
    "SocialSecurityApp": "ssapp", "CardInfo": "ssapp", "CardDataError": "ssapp",
    "basic_info": "reader_interface", "basic_info_line": "reader_interface", "error_code": "reader_interface",
    "historical_bytes": "reader_interface", "AtrError": "reader_interface",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cardlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cardlib.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
