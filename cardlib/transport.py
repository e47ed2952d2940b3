"""How a host reaches a card: the Transport protocol, its errors, and the in-process LoopbackTransport.

A transport moves raw APDU bytes; it knows nothing of status words (that is channel.py). The errors below are
what a kiosk catches to recover: no reader, no card, the card pulled or reset mid-session.

Contract with simulated cards (simulators/): a card object has `atr: bytes`, `reset() -> bytes` (power-on or
reset; returns the ATR) and `process(apdu: bytes) -> bytes` (response data + SW1 SW2; never raises).
"""
from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable


class TransportError(Exception):
    """The card could not be reached or stopped answering."""


class NoReaderError(TransportError):
    """No reader (or not the named one), or no PC/SC service."""


class NoCardError(TransportError):
    """The reader has no card in it."""


class CardRemovedError(TransportError):
    """The card was removed, reset or stopped responding during the session; reconnect and start over."""


class Transmitter(Protocol):
    """What a card service needs of a connection: one APDU in, the whole response out (a Transport, a Channel)."""

    def transmit(self, apdu: bytes) -> bytes: ...


@runtime_checkable
class Transport(Protocol):
    def connect(self) -> None: ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send a command APDU; return the whole response, data and SW1 SW2."""
        ...

    @property
    def atr(self) -> bytes: ...

    def disconnect(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...


class SimulatedCard(Protocol):
    atr: bytes

    def reset(self) -> bytes: ...

    def process(self, apdu: bytes) -> bytes: ...


class TransportBase:
    """Context-manager plumbing shared by the transports."""

    def connect(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> TransportBase:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.disconnect()


class LoopbackTransport(TransportBase):
    """An in-process card object as if it sat in a reader: connect() powers it up (reset)."""

    def __init__(self, card: SimulatedCard) -> None:
        self.card = card
        self._atr: bytes | None = None

    def connect(self) -> None:
        self._atr = bytes(self.card.reset())

    def transmit(self, apdu: bytes) -> bytes:
        if self._atr is None:
            raise NoCardError("loopback transport is not connected (call connect())")
        response = bytes(self.card.process(bytes(apdu)))
        if len(response) < 2:
            raise CardRemovedError(f"card gave a {len(response)}-byte response, no status word")
        return response

    @property
    def atr(self) -> bytes:
        if self._atr is None:
            raise NoCardError("loopback transport is not connected (call connect())")
        return self._atr

    def disconnect(self) -> None:
        self._atr = None
