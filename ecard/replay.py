"""Replay caches: the codes a verifier has already accepted, each remembered until it expires.

A verifier needs only `seen(key, exp, now)` (the `Replay` protocol): the gate keeps a `ReplayCache` in memory;
the server keeps its own in the shared store so every worker and node refuses a code another one accepted.
"""
from __future__ import annotations

import heapq
import threading
from typing import Protocol


class Replay(Protocol):
    def seen(self, key: bytes, exp: int, now: float) -> bool:
        """True if `key` was recorded and has not expired; otherwise record it (until `exp`) and return False."""
        ...


class ReplayCache:
    """Codes already accepted, keyed by jti/nonce, each kept until the code expires; bounded by `max_entries`
    (when full the entry closest to expiry is dropped first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._exp: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._exp)

    def snapshot(self) -> dict[bytes, int]:
        """The remembered keys and their expiry times, e.g. to keep them across restarts."""
        with self._lock:
            return dict(self._exp)

    def _purge(self, now: float) -> None:
        heap, exp = self._heap, self._exp
        while heap and (heap[0][0] <= now or len(exp) > self.max_entries):
            when, key = heapq.heappop(heap)
            if exp.get(key) == when:
                del exp[key]

    def seen(self, key: bytes, exp: int, now: float) -> bool:
        """True if `key` was recorded and has not expired; otherwise record it (until `exp`) and return False."""
        with self._lock:
            self._purge(now)
            if key in self._exp:
                return True
            self._exp[key] = exp
            heapq.heappush(self._heap, (exp, key))
            if len(self._exp) > self.max_entries:
                self._purge(now)
            return False


