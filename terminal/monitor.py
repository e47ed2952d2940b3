"""Card monitor for kiosks and counters: wait for a card, run a flow on it, wait for it to leave, forever.

pyscard's own CardMonitor dies or goes blind on the failures kiosks see every day: pcscd restarting (the context
goes stale: SCARD_E_NO_SERVICE / SERVICE_STOPPED / INVALID_HANDLE), a reader unplugged and plugged back (the
reader name vanishes: UNKNOWN_READER / READER_UNAVAILABLE), a card pulled while a flow runs. This monitor blocks
in SCardGetStatusChange with a timeout (no busy loop), watches the PnP pseudo-reader so new readers wake it,
re-establishes the context when the service goes away, and runs the flow in its own thread of control: whatever
the flow raises is reported as an event and the monitor carries on.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from smartcard import scard

from cardlib.transport import TransportError

PNP = "\\\\?PnP?\\Notification"
_SERVICE_GONE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE,
                 getattr(scard, "SCARD_E_INVALID_PARAMETER", 0x80100004)}
_READERS_CHANGED = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}


@dataclass(frozen=True)
class Event:
    """What the monitor saw or did: kind is one of inserted, removed, flow_done, flow_error, reader_added,
    reader_gone, service_lost, service_back."""

    kind: str
    reader: str = ""
    atr: bytes = b""
    error: BaseException | None = field(default=None, compare=False)
    result: object = field(default=None, compare=False)


Flow = Callable[[str, bytes], object]


class Monitor:
    """Watches readers (all, or those whose name starts with `reader`) and calls flow(reader, atr) per insertion.

    `on_event` hears every Event (from the monitor's thread). `timeout` bounds each wait, so `stop()` is honoured
    within that time; `retry` is the pause before reconnecting to a lost PC/SC service.
    """

    def __init__(self, flow: Flow, *, reader: str | None = None, on_event: Callable[[Event], None] | None = None,
                 timeout: float = 0.5, retry: float = 0.5) -> None:
        self.flow, self.reader, self.on_event = flow, reader, on_event
        self.timeout_ms, self.retry = int(timeout * 1000), retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events: list[Event] = []

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a faulty listener must not stop the kiosk
                pass

    def stop(self) -> None:
        self._stop.set()

    def start(self) -> threading.Thread:
        """Run in a background daemon thread; returns it."""
        self._thread = threading.Thread(target=self.run, name="card-monitor", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _wanted(self, names: list[str]) -> list[str]:
        return [n for n in names if self.reader is None or n.startswith(self.reader)]

    def run(self) -> None:
        """The loop: until stop(), keep a context, keep the reader list, wait for changes, run the flow."""
        present: dict[str, bytes | None] = {}  # reader -> ATR of the card in it, None when empty
        lost = False
        while not self._stop.is_set():
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                if not lost:
                    lost = True
                    self._emit(Event("service_lost"))
                self._stop.wait(self.retry)
                continue
            if lost:
                lost = False
                self._emit(Event("service_back"))
            try:
                lost = self._watch(context, present)
                if lost:
                    self._emit(Event("service_lost"))
                    self._stop.wait(self.retry)
            finally:
                scard.SCardReleaseContext(context)

    def _list(self, context: int) -> tuple[int, list[str]]:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return scard.SCARD_S_SUCCESS, []
        return hresult, list(names) if hresult == scard.SCARD_S_SUCCESS else []

    def _watch(self, context: int, present: dict[str, bytes | None]) -> bool:
        """Wait for changes on one context; True when the service went away (the caller makes a new context)."""
        known: dict[str, int] = {}
        pnp_state = scard.SCARD_STATE_UNAWARE
        pnp_works = True
        relist = True
        names: list[str] = []
        while not self._stop.is_set():
            if relist:
                hresult, all_names = self._list(context)
                if hresult in _SERVICE_GONE:
                    return True
                if hresult != scard.SCARD_S_SUCCESS:
                    self._stop.wait(self.retry)
                    continue
                names = self._wanted(all_names)
                for gone in [n for n in present if n not in names]:
                    if present.pop(gone) is not None:
                        self._emit(Event("removed", gone))
                    self._emit(Event("reader_gone", gone))
                    known.pop(gone, None)
                for new in [n for n in names if n not in present]:
                    present[new] = None
                    self._emit(Event("reader_added", new))
                relist = False
            states = [(n, known.get(n, scard.SCARD_STATE_UNAWARE)) for n in names]
            if pnp_works:
                states.append((PNP, pnp_state))
            if not states:
                self._stop.wait(self.timeout_ms / 1000)
                relist = True
                continue
            hresult, changed = scard.SCardGetStatusChange(context, self.timeout_ms, states)
            if hresult == scard.SCARD_E_TIMEOUT:
                if not pnp_works:
                    relist = True
                continue
            if hresult in _SERVICE_GONE:
                return True
            if hresult in _READERS_CHANGED:
                relist = True
                if pnp_works and not names:
                    pnp_works = False  # a pcscd without PnP notification: fall back to listing on each timeout
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                self._stop.wait(self.retry)
                relist = True
                continue
            for name, state, atr in changed:
                if name == PNP:
                    if state & scard.SCARD_STATE_CHANGED:
                        relist = True
                    pnp_state = state & ~scard.SCARD_STATE_CHANGED
                    continue
                known[name] = state & ~scard.SCARD_STATE_CHANGED
                if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_IGNORE):
                    relist = True
                    continue
                has_card = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
                before = present.get(name)
                if has_card and before is None:
                    present[name] = bytes(atr)
                    self._emit(Event("inserted", name, bytes(atr)))
                    self._run_flow(name, bytes(atr))
                elif not has_card and before is not None:
                    present[name] = None
                    self._emit(Event("removed", name))
        return False

    def _run_flow(self, reader: str, atr: bytes) -> None:
        try:
            result = self.flow(reader, atr)
        except TransportError as exc:
            self._emit(Event("flow_error", reader, atr, error=exc))
        except Exception as exc:  # the flow's own bug or refusal: report it, keep serving the next holder
            self._emit(Event("flow_error", reader, atr, error=exc))
        else:
            self._emit(Event("flow_done", reader, atr, result=result))


def wait_for(monitor: Monitor, kind: str, *, reader: str | None = None, after: int = 0,
             timeout: float = 10.0) -> Event:
    """Block until the monitor has emitted an event of this kind (index >= after); for tests and scripts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in monitor.events[after:]:
            if event.kind == kind and (reader is None or event.reader == reader):
                return event
        time.sleep(0.02)
    raise TimeoutError(f"no {kind!r} event within {timeout}s (saw {[e.kind for e in monitor.events[after:]]})")
