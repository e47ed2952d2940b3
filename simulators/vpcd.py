"""The bridge into the real PC/SC stack: a card object served to vsmartcard's vpcd reader driver over TCP.

vpcd (inside pcscd) listens; we connect. Every message is a 2-byte big-endian length and a payload. A 1-byte payload
is a control: 00 power off, 01 power on, 02 reset (no reply), 04 get ATR (reply: the ATR). Anything longer is a
command APDU, answered with the response APDU.

Latency: with default sockets a round trip costs ~40 ms (Nagle against delayed ACKs); the card side sets
TCP_NODELAY and re-arms TCP_QUICKACK after every receive (Linux clears it), which brings it to a fraction of a ms.
If pcscd goes away the bridge reconnects with backoff; SIGTERM/SIGINT stop it cleanly after the APDU in hand.
Log lines carry the command header, lengths and status word only, never APDU data.
"""
from __future__ import annotations

import gc
import logging
import signal
import socket
import time
from typing import Any, Callable, Protocol

LOG = logging.getLogger("sscard.sim.vpcd")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0


class Card(Protocol):
    atr: bytes

    def reset(self) -> bytes: ...

    def process(self, apdu: bytes) -> bytes: ...


class Stop(Exception):
    """Raised out of a blocking wait when a stop signal arrives."""


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or :PORT, or PORT) -> (host, port); raises ValueError naming what is wrong."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"vpcd address {text!r}: the port must be a number (HOST:PORT)") from None
    if not 0 < number < 65536:
        raise ValueError(f"vpcd address {text!r}: port out of range")
    return host or DEFAULT_HOST, number


def tune(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    quickack(sock)


def quickack(sock: socket.socket) -> None:
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class Bridge:
    """One card in one vpcd slot, for as long as `run()` runs."""

    def __init__(self, card: Card, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.card = card
        self.host, self.port = host, port
        self.on_event = on_event or (lambda _e, _d: None)
        self.stopping = False
        self._busy = False
        self.apdus = 0

    def request_stop(self, *_: object) -> None:
        """Signal handler: stop now if waiting, else after the APDU in hand is answered."""
        self.stopping = True
        if not self._busy:
            raise Stop

    def run(self) -> None:
        """Serve until stopped: connect, answer vpcd, reconnect with backoff when the connection drops."""
        delay = BACKOFF_FIRST
        try:
            while not self.stopping:
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=2.0)
                except OSError as exc:
                    level = logging.INFO if delay == BACKOFF_FIRST else logging.DEBUG
                    LOG.log(level, "vpcd %s:%d not reachable (%s); retrying in %.1fs", self.host, self.port,
                            exc.strerror or exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                delay = BACKOFF_FIRST
                try:
                    sock.settimeout(None)
                    tune(sock)
                    LOG.info("connected to vpcd %s:%d", self.host, self.port)
                    self.on_event("connected", {"vpcd": f"{self.host}:{self.port}"})
                    self._serve(sock)
                except (ConnectionError, OSError) as exc:
                    LOG.info("vpcd %s:%d connection lost (%s); reconnecting", self.host, self.port,
                             getattr(exc, "strerror", None) or exc)
                    self.on_event("disconnected", {"vpcd": f"{self.host}:{self.port}"})
                finally:
                    sock.close()
        except Stop:
            pass
        LOG.info("stopped after %d APDUs", self.apdus)

    def _serve(self, sock: socket.socket) -> None:
        buf = b""
        while not self.stopping:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("vpcd closed the connection")
            quickack(sock)
            buf += chunk
            while len(buf) >= 2:
                size = int.from_bytes(buf[:2], "big")
                if len(buf) < 2 + size:
                    break
                message, buf = buf[2:2 + size], buf[2 + size:]
                self._busy = True
                try:
                    reply = self.handle(message)
                    if reply is not None:
                        sock.sendall(len(reply).to_bytes(2, "big") + reply)
                finally:
                    self._busy = False
            if self.stopping:
                raise Stop

    def handle(self, message: bytes) -> bytes | None:
        """The reply to one vpcd message (None for controls that take none)."""
        if len(message) == 1:
            control = message[0]
            if control == GET_ATR:
                return bytes(self.card.atr)
            if control in (POWER_OFF, POWER_ON, RESET):
                self.card.reset()
                LOG.debug("control %02X", control)
            else:
                LOG.warning("unknown vpcd control %02X ignored", control)
            return None
        if not message:
            return None
        response = bytes(self.card.process(message))
        self.apdus += 1
        if LOG.isEnabledFor(logging.DEBUG):
            lc = message[4] if len(message) > 5 else 0
            LOG.debug("APDU %s Lc=%d -> %d bytes SW %s", message[:4].hex().upper(), lc, len(response) - 2,
                      response[-2:].hex().upper())
        return response


def serve(card: Card, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
          on_stop: Callable[[], None] | None = None,
          on_event: Callable[[str, dict[str, Any]], None] | None = None) -> Bridge:
    """Serve `card` in the vpcd slot at host:port until SIGTERM or SIGINT; then call `on_stop` (e.g. save)."""
    bridge = Bridge(card, host, port, on_event)
    gc.collect()
    gc.freeze()  # start-up objects need no more collecting: keeps collector pauses out of the round trips
    previous = {s: signal.signal(s, bridge.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        bridge.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if on_stop is not None:
            on_stop()
    return bridge
