"""The host link, as apdu4j has it: one Transmitter (`transmit(bytes) -> bytes`), each behaviour a wrapper around it.

    SecureMessaging  (outermost, only for the commands that need a MAC)
    GetResponse      61xx: GET RESPONSE until the card stops saying 61, bounded; the pieces joined
    RetryLe          6Cxx: the same command again with Le = xx (once)
    Traced           every APDU on the wire into the redacting Trace (innermost, so it sees GET RESPONSE too)
    transport        PC/SC or in-process

`Channel` stacks the standard three over a transport and speaks CommandAPDU / ResponseAPDU; `call` raises CardError.
Every card service (ssapp, security, psam, pboc, medical, personalization) sends through a Channel.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from .apdu import ApduError, CommandAPDU, ResponseAPDU
from .commands import command
from .sw import CardError, check
from .trace import Trace, command_name
from .transport import CardRemovedError, Transmitter

if TYPE_CHECKING:
    from .crypto import Alg
    from .psam import Psam

MAX_GET_RESPONSE = 256  # 256 x 256 bytes: far above any real response; a card looping on 61xx is broken
MAC_LENGTH = 4
LOG_TRACE = Trace(keep=False)  # the default: lines go to the "cardlib.apdu" logger when it is enabled for DEBUG


def _sw(resp: bytes) -> tuple[int, int]:
    if len(resp) < 2:
        raise CardRemovedError(f"card gave a {len(resp)}-byte response, no status word")
    return resp[-2], resp[-1]


class Traced:
    """Every command and response, redacted, with the time the card took."""

    def __init__(self, inner: Transmitter, trace: Trace) -> None:
        self.inner, self.trace = inner, trace

    def transmit(self, apdu: bytes) -> bytes:
        trace = self.trace
        if not trace.active():
            return self.inner.transmit(apdu)
        try:
            trace.command(CommandAPDU.from_bytes(apdu))
        except ApduError:
            trace.raw(f"> <{len(apdu)} bytes, not an APDU>")
        start = time.perf_counter()
        raw = self.inner.transmit(apdu)
        _sw(raw)
        trace.response(ResponseAPDU.from_bytes(raw), (time.perf_counter() - start) * 1000)
        return raw


class RetryLe:
    """6Cxx: the Le was wrong; send the same command once more with Le = xx."""

    def __init__(self, inner: Transmitter) -> None:
        self.inner = inner

    def transmit(self, apdu: bytes) -> bytes:
        resp = self.inner.transmit(apdu)
        if len(resp) >= 2 and resp[-2] != 0x6C:
            return resp
        sw1, sw2 = _sw(resp)
        if sw1 == 0x6C:
            resp = self.inner.transmit(CommandAPDU.from_bytes(apdu).with_le(sw2 or 256).to_bytes())
        return resp


class GetResponse:
    """61xx: the card holds xx more bytes; GET RESPONSE (00C00000xx) until it says something else, at most
    MAX_GET_RESPONSE times."""

    def __init__(self, inner: Transmitter, limit: int = MAX_GET_RESPONSE) -> None:
        self.inner, self.limit = inner, limit

    def transmit(self, apdu: bytes) -> bytes:
        resp = self.inner.transmit(apdu)
        if len(resp) >= 2 and resp[-2] != 0x61:
            return resp
        data = b""
        for _ in range(self.limit):
            sw1, sw2 = _sw(resp)
            if sw1 != 0x61:
                return data + resp if data else resp
            data += resp[:-2]
            resp = self.inner.transmit(command("GET RESPONSE", le=sw2 or 256).to_bytes())
        raise CardRemovedError(f"card still answers 61xx after {self.limit} GET RESPONSE commands")


class SecureMessaging:
    """Sends each command with CLA | 04 and a MAC the PSAM computes under the card's `usage` key.

    The MAC (ISO 9797-1 retail MAC for 3DES, SM4 CBC-MAC for SM4, 80-padding, 4 bytes) covers the header with the
    SM class and the new Lc (data + 4), then the data; its initial vector is a fresh card challenge (GET CHALLENGE,
    sent through the same stack), so a recorded command cannot be replayed. The host never holds the key."""

    def __init__(self, inner: Transmitter, psam: Psam, alg: Alg, usage: str, card_id: bytes, atr: bytes) -> None:
        self.inner, self.psam, self.alg, self.usage = inner, psam, alg, usage
        self.card_id, self.atr = card_id, atr

    def transmit(self, apdu: bytes) -> bytes:
        from .crypto import block_size

        cmd = CommandAPDU.from_bytes(apdu)
        challenge = get_challenge(self.inner)
        self.psam.set_card_key(self.alg, self.usage, self.card_id, self.atr)
        header = bytes([cmd.cla | 0x04, cmd.ins, cmd.p1, cmd.p2, len(cmd.data) + MAC_LENGTH])
        mac = self.psam.mac(header + cmd.data, iv=challenge.ljust(block_size(self.alg), b"\x00"), length=MAC_LENGTH)
        wrapped = CommandAPDU(cmd.cla | 0x04, cmd.ins, cmd.p1, cmd.p2, cmd.data + mac, cmd.le)
        return self.inner.transmit(wrapped.to_bytes())


def get_challenge(link: Transmitter, length: int = 8) -> bytes:
    resp = ResponseAPDU.from_bytes(link.transmit(command("GET CHALLENGE", le=length).to_bytes()))
    if resp.sw != 0x9000:
        raise CardError(resp.sw, "GET CHALLENGE")
    if len(resp.data) != length:
        raise CardError(0x6700, "GET CHALLENGE", message=f"challenge of {len(resp.data)} bytes, not {length}")
    return resp.data


class Channel:
    """The standard stack over one transport; `transmit` for raw bytes, `send`/`call` for APDU objects."""

    def __init__(self, transport: Transmitter, trace: Trace | None = None, *,
                 link: Transmitter | None = None) -> None:
        self.transport = transport
        self.trace = trace
        self.link: Transmitter = link or GetResponse(RetryLe(Traced(transport, trace or LOG_TRACE)))

    @property
    def atr(self) -> bytes:
        return self.transport.atr  # type: ignore[attr-defined, no-any-return]

    def wrapped(self, wrapper: Callable[[Transmitter], Transmitter]) -> Channel:
        """This channel with one more wrapper on top (e.g. secure messaging), same transport and trace."""
        return Channel(self.transport, self.trace, link=wrapper(self.link))

    def secure(self, psam: Psam, alg: Alg, usage: str, card_id: bytes, atr: bytes | None = None) -> Channel:
        """This channel with secure messaging under the card's `usage` key on top."""
        atr = self.atr if atr is None else atr
        return self.wrapped(lambda inner: SecureMessaging(inner, psam, alg, usage, card_id, atr))

    def transmit(self, apdu: bytes) -> bytes:
        return self.link.transmit(apdu)

    def send(self, cmd: CommandAPDU) -> ResponseAPDU:
        """Send a command and return the card's final answer, whatever its status word."""
        raw = self.link.transmit(cmd.to_bytes())
        if type(raw) is not bytes or len(raw) < 2:
            return ResponseAPDU.from_bytes(raw)  # copies to bytes, or raises: no status word
        return ResponseAPDU(raw[:-2], raw[-2], raw[-1])

    def call(self, cmd: CommandAPDU, name: str | None = None) -> bytes:
        """Send a command; return its data on 9000, raise CardError (naming the command) otherwise."""
        raw = self.link.transmit(cmd.to_bytes())
        if raw[-2:] == b"\x90\x00" and type(raw) is bytes:  # the usual answer, without a ResponseAPDU
            return raw[:-2]
        return check(ResponseAPDU.from_bytes(raw), name or command_name(cmd) or f"INS {cmd.ins:02X}")


def as_channel(link: Channel | Transmitter, trace: Trace | None = None) -> Channel:
    """A Channel for what a caller holds: the channel itself, or a transport (stacked here)."""
    return link if isinstance(link, Channel) else Channel(link, trace)


def select_aid(aid: bytes, *, p2: int = 0x00) -> CommandAPDU:
    """SELECT by AID (DF name): FCI asked for (P2 00, Le 256) unless P2 says no answer data (0C)."""
    return command("SELECT", 0x04, p2, aid, None if p2 & 0x0C == 0x0C else 256)


logging.getLogger("cardlib.apdu").addHandler(logging.NullHandler())
