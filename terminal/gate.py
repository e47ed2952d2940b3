"""Gates and merchants: decide e-card QR codes offline from cached keys and status list, refresh when online.

A gate must keep admitting valid codes and refusing revoked ones when the network is gone. So the issuer's JWKS
and the signed status list live in a cache directory (written atomically, only after they parse and verify), are
refreshed in the background whenever the network answers, and every decision is made locally by the pure
verifier (ecard.verify) with a replay cache. A status list that was cached but has since expired makes the
gate refuse (status_list_expired) rather than silently skip the revocation check. The replay cache lives in the
cache directory too (ecard.replay.ReplayFile), so a restarted gate still refuses the codes it admitted.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from ecard import status_list as sl
from ecard import verify as qr_verify
from ecard.replay import ReplayFile, ReplayFileBusy
from ecard.client import ClientError, EcardClient
from ecard.keys import BadKeyError, Jwks

JWKS_FILE = "jwks.json"
STATUS_FILE = "status_list.jwt"
REPLAY_FILE = "replay.json"
FETCH_TIMEOUT = 2.0
MAX_LINE = 4096  # bytes of one stdin line looked at; a token is at most 500 characters


class GateError(RuntimeError):
    """The gate cannot decide anything: no keys cached and none could be fetched."""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _load_status(text: str, jwks: Jwks) -> sl.StatusList:
    # Signature and shape are checked now; expiry is judged per scan by the verifier (now=0 here), so a list that
    # expires while offline refuses codes instead of disappearing and letting revoked cards through.
    return sl.load(text, jwks, now=0)


@dataclass
class Refresh:
    jwks: str  # fetched | cached | file | failed
    status: str  # fetched | cached | file | failed | none
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"jwks": self.jwks, "status": self.status, "errors": self.errors}


class Gate:
    """Cached keys and status list plus a replay cache; `decide(token)` never touches the network."""

    def __init__(self, cache_dir: str | Path, *, jwks_url: str | None = None, jwks_file: str | Path | None = None,
                 status_url: str | None = None, status_file: str | Path | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = FETCH_TIMEOUT) -> None:
        if (jwks_url is None) == (jwks_file is None):
            raise GateError("give exactly one of a JWKS URL or a JWKS file")
        self.cache = Path(cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.jwks_url, self.jwks_file = jwks_url, Path(jwks_file) if jwks_file else None
        self.status_url, self.status_file = status_url, Path(status_file) if status_file else None
        self.clock, self.timeout = clock, timeout
        self.jwks: Jwks | None = None
        self.status: sl.StatusList | None = None
        self.wants_status = status_url is not None or status_file is not None
        try:
            self.replay = ReplayFile(self.cache / REPLAY_FILE, clock(), wait=False)
        except ReplayFileBusy:
            raise GateError(f"another gate is using the cache {self.cache}") from None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # ---- caches ----

    def _read_cached(self) -> None:
        jwks_path, status_path = self.cache / JWKS_FILE, self.cache / STATUS_FILE
        if self.jwks is None and jwks_path.exists():
            try:
                self.jwks = Jwks.from_json(jwks_path.read_text(encoding="utf-8"))
            except (BadKeyError, OSError, UnicodeDecodeError):
                self.jwks = None
        if self.status is None and self.jwks is not None and status_path.exists():
            try:
                self.status = _load_status(status_path.read_text(encoding="utf-8"), self.jwks)
            except (sl.StatusListError, OSError, UnicodeDecodeError):
                self.status = None

    def _get(self, url: str) -> str:
        with EcardClient(url, timeout=self.timeout) as client:
            return client.jwks_text(url) if url == self.jwks_url else client.status_list_text(url)

    def refresh(self) -> Refresh:
        """Fetch (or read the given files), verify, then swap in and cache; on any failure keep what we have."""
        result = Refresh(jwks="cached", status="none" if not self.wants_status else "cached")
        jwks = self.jwks
        try:
            text = self._get(self.jwks_url) if self.jwks_url else self.jwks_file.read_text(encoding="utf-8")  # type: ignore[union-attr]
            jwks = Jwks.from_json(text)
            _atomic_write(self.cache / JWKS_FILE, text)
            result.jwks = "fetched" if self.jwks_url else "file"
        except (ClientError, OSError, UnicodeDecodeError, BadKeyError) as exc:
            result.jwks = "failed" if self.jwks is None else "cached"
            result.errors.append(f"jwks: {exc.__class__.__name__}: {exc}")
        status = self.status
        if self.wants_status and jwks is not None:
            try:
                text = self._get(self.status_url) if self.status_url else self.status_file.read_text(encoding="utf-8")  # type: ignore[union-attr]
                status = _load_status(text, jwks)
                if self.status is not None and status.iat < self.status.iat:
                    raise sl.StatusListError("stale", "fetched status list is older than the cached one")
                _atomic_write(self.cache / STATUS_FILE, text)
                result.status = "fetched" if self.status_url else "file"
            except (ClientError, OSError, UnicodeDecodeError, sl.StatusListError) as exc:
                status = self.status
                result.status = "failed" if status is None else "cached"
                result.errors.append(f"status list: {exc.__class__.__name__}: {exc}")
        with self._lock:
            self.jwks, self.status = jwks, status
        return result

    def start(self) -> Refresh:
        """Load the cache, then try the network once; raise GateError when there are no keys at all."""
        self._read_cached()
        first = self.refresh()
        if self.jwks is None:
            raise GateError("no issuer keys: none cached in " + str(self.cache) + " and none could be fetched ("
                            + "; ".join(first.errors) + ")")
        return first

    def refresh_in_background(self, every: float) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(every):
                self.refresh()

        thread = threading.Thread(target=loop, name="gate-refresh", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop refreshing and let go of the replay file (no decisions after this)."""
        self._stop.set()
        self.replay.close()

    # ---- decisions ----

    def decide(self, token: str | bytes, now: float | None = None) -> qr_verify.Result:
        with self._lock:
            jwks, status = self.jwks, self.status
        if jwks is None:
            return qr_verify.Result(False, "unknown_key", "gate has no issuer keys")
        if self.wants_status and status is None:
            return qr_verify.Result(False, "status_unknown", "gate has no valid status list; cannot check revocation")
        return qr_verify.verify(token, jwks, status, self.clock() if now is None else now, self.replay)


def answer(result: qr_verify.Result, as_json: bool) -> str:
    """One output line per code: JSON, or ADMIT/REFUSE with the reason."""
    if as_json:
        return json.dumps({"valid": result.valid, "reason": result.reason, "detail": result.detail,
                           "kind": result.kind, "status_checked": result.status_checked})
    return f"ADMIT {result.kind}" if result.valid else f"REFUSE {result.reason}: {result.detail}"


def byte_lines(stream: BinaryIO, limit: int = MAX_LINE) -> Iterator[bytes]:
    """The lines of a byte stream, each cut to `limit` bytes (the rest of a longer one is read and dropped), so a
    scanner's endless line cannot fill memory and no byte sequence can stop the loop."""
    while line := stream.readline(limit):
        if len(line) == limit and not line.endswith(b"\n"):
            while (rest := stream.readline(limit)) and not rest.endswith(b"\n"):
                pass
        yield line


def run(gate: Gate, lines: Iterable[str | bytes], as_json: bool = False) -> Iterator[str]:
    """Decide each non-empty line (one token per line, text or the raw bytes a scanner sent), one answer each."""
    for line in lines:
        token = line.strip()
        if not token:
            continue
        yield answer(gate.decide(token), as_json)
