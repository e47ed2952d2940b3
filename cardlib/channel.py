"""A command channel over any Transport: APDU objects in and out, 61xx/6Cxx handled, every exchange traced.

61xx: the card holds xx more bytes; GET RESPONSE (00C00000xx) is sent until the card stops saying 61, and the
pieces are joined. 6Cxx: the Le was wrong; the same command is sent again with Le = xx.
"""
from __future__ import annotations

import time

from .apdu import ApduError, CommandAPDU, ResponseAPDU
from .sw import check
from .trace import Trace, command_names
from .transport import CardRemovedError, Transport

MAX_GET_RESPONSE = 256  # 256 x 256 bytes: far above any real response; a card looping on 61xx is broken


class Channel:
    def __init__(self, transport: Transport, trace: Trace | None = None) -> None:
        self.transport = transport
        self.trace = trace

    @property
    def atr(self) -> bytes:
        return self.transport.atr

    def _exchange(self, cmd: CommandAPDU) -> ResponseAPDU:
        if self.trace is not None:
            self.trace.command(cmd)
        start = time.perf_counter()
        raw = self.transport.transmit(cmd.to_bytes())
        try:
            resp = ResponseAPDU.from_bytes(raw)
        except ApduError as exc:
            raise CardRemovedError(f"card gave no status word: {exc}") from None
        if self.trace is not None:
            self.trace.response(resp, (time.perf_counter() - start) * 1000)
        return resp

    def _exchange_le(self, cmd: CommandAPDU) -> ResponseAPDU:
        resp = self._exchange(cmd)
        if resp.sw1 == 0x6C:
            resp = self._exchange(cmd.with_le(resp.sw2 or 256))
        return resp

    def send(self, cmd: CommandAPDU) -> ResponseAPDU:
        """Send a command and return the card's final answer, whatever its status word."""
        resp = self._exchange_le(cmd)
        data = b""
        for _ in range(MAX_GET_RESPONSE):
            if resp.sw1 != 0x61:
                return ResponseAPDU(data + resp.data, resp.sw1, resp.sw2)
            data += resp.data
            resp = self._exchange_le(CommandAPDU(0x00, 0xC0, 0x00, 0x00, le=resp.sw2 or 256))
        raise CardRemovedError(f"card still answers 61xx after {MAX_GET_RESPONSE} GET RESPONSE commands")

    def transmit(self, apdu: bytes) -> bytes:
        """Raw bytes in and out, with 61xx/6Cxx handled and the trace kept: for services written against transmit()."""
        return self.send(CommandAPDU.from_bytes(apdu)).to_bytes()

    def call(self, cmd: CommandAPDU, name: str | None = None) -> bytes:
        """Send a command; return its data on 9000, raise CardError (naming the command) otherwise."""
        return check(self.send(cmd), name or command_names().get(cmd.ins, f"INS {cmd.ins:02X}"))
