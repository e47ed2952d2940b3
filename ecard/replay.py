"""Replay caches: the codes a verifier has already accepted, each remembered until it expires.

A verifier needs only `seen(key, exp, now)` (the `Replay` protocol): the gate keeps a `ReplayCache` (in memory) or a
`ReplayFile` (the same, kept on disk across restarts); the server keeps its own in the shared store so every worker
and node refuses a code another one accepted.

A code's key (`code_key`) starts with a digest of whoever holds it, the device key that signs an offline code or the
holder handle of an online one, so a cache can bound each holder's share: a holder who floods a gate with their own
codes pushes out only their own older entries, never another holder's (a gate once forgot every victim's code after
100,001 codes of one attacker). Only when the whole cache is full does an entry of the holder with the most go.
Unlinkable codes carry a key or handle per credential, so "holder" here is one credential of a batch: a flood made
with it is bounded the same way, and the number of credentials a device can get is the server's rate limit.
"""
from __future__ import annotations

import fcntl
import hashlib
import heapq
import json
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

OWNER_BYTES = 16
PER_OWNER = 100  # codes live at most 5 minutes: no holder is admitted 100 times in that time
MAX_ENTRIES = 100_000
log = logging.getLogger(__name__)


class Replay(Protocol):
    def seen(self, key: bytes, exp: int, now: float) -> bool:
        """True if `key` was recorded and has not expired; otherwise record it (until `exp`) and return False."""
        ...


def code_key(owner: bytes, nonce: bytes) -> bytes:
    """The replay key of a code: OWNER_BYTES of SHA-256 over who holds it, then the code's own nonce/jti."""
    return hashlib.sha256(owner).digest()[:OWNER_BYTES] + nonce


def owner_of(key: bytes) -> bytes:
    """Whose entry `key` is (keys too short to carry an owner all share one)."""
    return key[:OWNER_BYTES] if len(key) > OWNER_BYTES else b""


class ReplayCache:
    """Codes already accepted, each kept until it expires; at most `per_owner` per holder (a holder's entry closest
    to expiry goes first) and `max_entries` in all (then from the holder with the most entries)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, per_owner: int = PER_OWNER) -> None:
        self.max_entries = max_entries
        self.per_owner = max(1, min(per_owner, max_entries))
        self._owners: dict[bytes, dict[bytes, int]] = {}
        self._by_count: dict[int, dict[bytes, None]] = {}  # owners by how many entries they hold
        self._top = 0
        self._n = 0
        self._heap: list[tuple[int, bytes]] = []  # (exp, key), stale items skipped when popped
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._n

    def snapshot(self) -> dict[bytes, int]:
        """The remembered keys and their expiry times, e.g. to keep them across restarts."""
        with self._lock:
            return {k: e for entries in self._owners.values() for k, e in entries.items()}

    def _recount(self, owner: bytes, old: int, new: int) -> None:
        if old:
            bucket = self._by_count[old]
            del bucket[owner]
            if not bucket:
                del self._by_count[old]
        if new:
            self._by_count.setdefault(new, {})[owner] = None
            self._top = max(self._top, new)

    def _drop(self, owner: bytes, key: bytes) -> None:
        entries = self._owners[owner]
        del entries[key]
        self._n -= 1
        self._recount(owner, len(entries) + 1, len(entries))
        if not entries:
            del self._owners[owner]

    def _evict_one(self, owner: bytes, keep: bytes) -> None:
        entries = self._owners[owner]
        victim = min((k for k in entries if k != keep), key=entries.__getitem__, default=None)
        if victim is not None:
            self._drop(owner, victim)

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            owner = owner_of(key)
            if self._owners.get(owner, {}).get(key) == when:
                self._drop(owner, key)
        if len(heap) > 2 * self._n + 1024:  # evicted entries leave stale items behind; keep memory bounded
            self._heap = [(e, k) for entries in self._owners.values() for k, e in entries.items()]
            heapq.heapify(self._heap)

    def seen(self, key: bytes, exp: int, now: float) -> bool:
        """True if `key` was recorded and has not expired; otherwise record it (until `exp`) and return False."""
        owner = owner_of(key)
        with self._lock:
            self._purge(now)
            entries = self._owners.setdefault(owner, {})
            if key in entries:
                return True
            entries[key] = exp
            self._n += 1
            self._recount(owner, len(entries) - 1, len(entries))
            heapq.heappush(self._heap, (exp, key))
            if len(entries) > self.per_owner:
                self._evict_one(owner, key)
            if self._n > self.max_entries:
                self._evict_from_largest(owner, key)
            return False

    def _evict_from_largest(self, owner: bytes, keep: bytes) -> None:
        while not self._by_count.get(self._top):
            self._top -= 1
        for count in range(self._top, 0, -1):
            for candidate in self._by_count.get(count, ()):
                if candidate != owner or count > 1:
                    self._evict_one(candidate, keep)
                    return


class ReplayFileBusy(OSError):
    """Another process holds this replay file (two gates must not share one cache folder)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ReplayFile:
    """A ReplayCache that survives restarts: `path` holds a snapshot (JSON {key hex: exp}, rewritten whole and
    atomically: tmp, fsync, rename), `path`.log a journal of the codes recorded since, one line each, appended and
    fsynced before `seen` answers, so a restarted verifier still refuses a code it admitted. A torn or garbled
    snapshot is read as empty and a bad journal line skipped, each with a line in `warnings`, never an exception.
    The journal is folded into the snapshot once it outgrows the cache. `wait=False` raises ReplayFileBusy when
    another process has the file open; otherwise callers take turns."""

    def __init__(self, path: str | os.PathLike[str], now: float, *, max_entries: int = MAX_ENTRIES,
                 per_owner: int = PER_OWNER, wait: bool = True) -> None:
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".log")
        self.cache = ReplayCache(max_entries, per_owner)
        self.warnings: list[str] = []
        self.degraded = False
        self._lock = threading.Lock()
        self._fd = os.open(self.journal_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self._fd)
            self._fd = -1
            raise ReplayFileBusy(f"replay file {self.path} is in use by another process") from None
        self._load(now)

    def _load(self, now: float) -> None:
        try:
            raw = self.path.read_bytes() if self.path.exists() else b"{}"
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            entries = [(bytes.fromhex(k), int(e)) for k, e in data.items() if not isinstance(e, bool)]
        except (OSError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            self.warnings.append(f"replay file {self.path} is unreadable ({exc.__class__.__name__}); "
                                 "starting from empty")
            entries = []
        bad = 0
        with os.fdopen(os.dup(self._fd), "rb") as journal:
            journal.seek(0)
            lines = journal.read().split(b"\n")
        for line in filter(None, lines):
            try:
                key_hex, exp = line.split(b" ")
                entries.append((bytes.fromhex(key_hex.decode("ascii")), int(exp)))
            except ValueError:
                bad += 1
        if bad:
            self.warnings.append(f"replay journal {self.journal_path}: {bad} garbled line(s) skipped")
        for key, exp in entries:
            if exp > now:
                self.cache.seen(key, exp, now)
        self._journal_lines = len(lines)

    def __len__(self) -> int:
        return len(self.cache)

    def seen(self, key: bytes, exp: int, now: float) -> bool:
        """As ReplayCache.seen; a newly recorded code is on disk before this returns."""
        with self._lock:
            if self.cache.seen(key, exp, now):
                return True
            try:
                os.write(self._fd, key.hex().encode("ascii") + b" %d\n" % exp)
                os.fsync(self._fd)
                self._journal_lines += 1
                if self._journal_lines > max(1024, len(self.cache)):
                    self._compact()
            except OSError as exc:  # disk full or gone: still remembered in memory, only not across a restart
                if not self.degraded:
                    self.warnings.append(f"replay file {self.path} cannot be written ({exc.__class__.__name__}); "
                               "admitted codes are remembered until this process stops")
                    log.warning("%s", self.warnings[-1])
                self.degraded = True
            return False

    def _compact(self) -> None:
        text = json.dumps({k.hex(): e for k, e in self.cache.snapshot().items()}, separators=(",", ":"))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path)
        os.ftruncate(self._fd, 0)  # only now: a crash before this leaves entries twice, never none
        os.fsync(self._fd)
        self._journal_lines = 0

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
