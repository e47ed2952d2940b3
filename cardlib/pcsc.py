"""PC/SC transport over pyscard's thin winscard binding, with PC/SC failures turned into cardlib's errors.

Errors come as NoReaderError, NoCardError or CardRemovedError (all TransportError) with the reader's name and the
PC/SC reason, so a kiosk can tell "insert a card" from "card pulled, start again" without parsing messages.
"""
from __future__ import annotations

from smartcard import scard

from .transport import CardRemovedError, NoCardError, NoReaderError, TransportBase, TransportError

_NO_READER = {scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE,
              scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_NO_CARD = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD}
_REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_W_RESET_CARD, scard.SCARD_W_UNRESPONSIVE_CARD,
            scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_F_COMM_ERROR, scard.SCARD_W_UNSUPPORTED_CARD,
            scard.SCARD_E_PROTO_MISMATCH}


def _error(hresult: int, what: str) -> TransportError:
    reason = scard.SCardGetErrorMessage(hresult)
    message = f"{what}: {reason} (PC/SC {hresult & 0xFFFFFFFF:08X})"
    if hresult in _NO_READER:
        return NoReaderError(message)
    if hresult in _NO_CARD:
        return NoCardError(message)
    if hresult in _REMOVED:
        return CardRemovedError(message)
    return TransportError(message)


def _context() -> int:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error(hresult, "cannot reach the PC/SC service (is pcscd running?)")
    return context


def _readers(context: int) -> list[str]:
    hresult, names = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error(hresult, "cannot list readers")
    return list(names)


def _presence(context: int, names: list[str]) -> list[tuple[str, bool]]:
    if not names:
        return []
    hresult, states = scard.SCardGetStatusChange(context, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names])
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error(hresult, "cannot read reader states")
    return [(name, bool(state & scard.SCARD_STATE_PRESENT)) for name, state, _atr in states]


def list_readers() -> list[tuple[str, bool]]:
    """Every PC/SC reader with whether a card is in it (without touching the cards)."""
    context = _context()
    try:
        return _presence(context, _readers(context))
    finally:
        scard.SCardReleaseContext(context)


class PcscTransport(TransportBase):
    """A card in a PC/SC reader; with no reader named, the first reader that holds a card."""

    def __init__(self, reader: str | None = None) -> None:
        self.reader = reader
        self._context: int | None = None
        self._card: int | None = None
        self._protocol = 0
        self._atr = b""

    def connect(self) -> None:
        self.disconnect()
        self._context = _context()
        try:
            self.reader = self._pick_reader()
            hresult, card, protocol = scard.SCardConnect(
                self._context, self.reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if hresult != scard.SCARD_S_SUCCESS:
                raise _error(hresult, f"cannot connect to the card in {self.reader!r}")
            self._card, self._protocol = card, protocol
            self._atr = self._status_atr()
        except BaseException:
            self.disconnect()
            raise

    def _pick_reader(self) -> str:
        assert self._context is not None
        present = _presence(self._context, _readers(self._context))
        if not present:
            raise NoReaderError("no PC/SC reader found")
        if self.reader is not None:
            for name, has_card in present:
                if name == self.reader:
                    if not has_card:
                        raise NoCardError(f"no card in reader {name!r}")
                    return name
            raise NoReaderError(f"no reader named {self.reader!r} (readers: {', '.join(n for n, _ in present)})")
        for name, has_card in present:
            if has_card:
                return name
        raise NoCardError(f"no card in any reader ({', '.join(n for n, _ in present)})")

    def _status_atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error(hresult, f"cannot read the card status in {self.reader!r}")
        return bytes(atr)

    def reconnect(self, *, reset: bool = False) -> None:
        """Regain the card after another application reset it (or reset it ourselves)."""
        if self._card is None:
            return self.connect()
        hresult, protocol = scard.SCardReconnect(
            self._card, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error(hresult, f"cannot reconnect to the card in {self.reader!r}")
        self._protocol = protocol
        self._atr = self._status_atr()

    def transmit(self, apdu: bytes) -> bytes:
        if self._card is None:
            raise NoCardError("PC/SC transport is not connected (call connect())")
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error(hresult, f"card in {self.reader!r} did not answer")
        if len(response) < 2:
            raise CardRemovedError(f"card in {self.reader!r} gave a {len(response)}-byte response, no status word")
        return bytes(response)

    @property
    def atr(self) -> bytes:
        if self._card is None:
            raise NoCardError("PC/SC transport is not connected (call connect())")
        return self._atr

    def disconnect(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None
