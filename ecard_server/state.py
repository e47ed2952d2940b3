"""What one worker holds: the settings, the holder store, the key files (re-read when they change) and the
shared state (holder_db or Valkey/Redis) every worker sees alike. Nothing here is per-process but caches."""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecard import tokens
from ecard.keys import KEYSET_FILE, BadKeyError, KeySet, SigningKey, VerifyKey, load_keyset
from ecard_server.shared import SharedState, open_shared
from ecard_server.terminals import FILE as TERMINALS_FILE
from ecard_server.terminals import check_api_key, load_terminals
from holder_db.cards import mask_card  # noqa: F401  (the routes take it from here)
from holder_db.ecard import EcardStore
from sscard_settings import Settings

STATUS_HEADROOM = 16_384
LOGIN_PREFIX = "SSCL1:"
MAX_OPEN_LOGINS = 100_000


class ConfigError(RuntimeError):
    """The server cannot start with these settings (no key set, a bad terminal table...)."""


class Refused(Exception):
    """A request refused with an HTTP status (4xx) and a message; the app maps it to a JSON answer."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


@dataclass
class Caller:
    device_id: str
    holder_id: Any
    status_idx: int
    device_key: VerifyKey
    jwk: dict[str, Any]
    refusal: Any = None  # holder_db.standing's answer, read in the same trip as the binding when standing_read
    standing_read: bool = False


class KeyFiles:
    """The key set and terminal table, re-read when `sscard keys new|terminal` changes them (checked once a second),
    so a rotation or a new terminal needs no restart."""

    def __init__(self, keys_dir: str | Path) -> None:
        self.dir = Path(keys_dir)
        self._checked = 0.0
        self._lock = threading.Lock()
        try:
            self.keyset = load_keyset(self.dir)
            self.terminals = load_terminals(self.dir)
        except ValueError as exc:  # BadKeyError, TerminalError
            raise ConfigError(f"e-card keys in {self.dir}: {exc}") from None
        self._stamp = self._stamps()

    def _stamps(self) -> tuple[tuple[int, int, int], ...]:
        """Inode, mtime and size of each file: both are replaced by a rename, so two writes within one mtime
        tick still differ."""
        out = []
        for f in (KEYSET_FILE, TERMINALS_FILE):
            try:
                st = (self.dir / f).stat()
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((0, 0, 0))
        return tuple(out)

    def refresh(self, force: bool = False) -> None:
        """At most one look at the files a second, unless `force`: a key that does not match, a withdrawal that
        must show in the JWKS at once, are worth two stat calls."""
        now = time.monotonic()
        if now - self._checked < 1.0 and not force:
            return
        with self._lock:
            self._checked = now
            stamp = self._stamps()
            if stamp != self._stamp:
                try:
                    self.keyset, self.terminals = load_keyset(self.dir), load_terminals(self.dir)
                    self._stamp = stamp
                except (BadKeyError, ValueError):
                    pass  # a half-written key set: keep serving with the one loaded


@dataclass
class State:
    settings: Settings
    store: EcardStore
    files: KeyFiles
    shared: SharedState
    status_uri: str
    status_cache: tuple[Any, str, float] = (None, "", 0.0)  # (revocation version, signing kid), JWT, made at
    status_body: tuple[str, bytes, str] = ("", b"", "")  # that JWT, as bytes, its ETag
    jwks_cache: tuple[Any, Any, bytes, str] = (None, None, b"", "")  # key set, which retired keys shown, body, ETag
    _lock: threading.Lock = field(default_factory=threading.Lock)
    proxies: tuple[Any, ...] = ()
    device_keys: dict[str, tuple[dict[str, Any], VerifyKey]] = field(default_factory=dict)  # kid -> (its JWK, parsed)

    def __post_init__(self) -> None:
        self.proxies = tuple(ipaddress.ip_network(n, strict=False) for n in self.settings.trusted_proxies)

    def trusted(self, host: str) -> bool:
        """Whether `host` is one of Settings.trusted_proxies."""
        if not self.proxies:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.proxies)

    @classmethod
    def open(cls, settings: Settings) -> "State":
        files = KeyFiles(settings.ecard_keys_dir)
        store = EcardStore(settings.db_url)
        return cls(settings, store, files, open_shared(store.engine, settings.redis),
                   settings.status_uri or "/status-list")

    @property
    def keyset(self) -> KeySet:
        self.files.refresh()
        return self.files.keyset

    @property
    def signer(self) -> SigningKey:
        """The key to sign with, after a look at the key files (two stat calls): a key withdrawn a moment ago signs
        nothing more, not even within the second `keyset` may lag."""
        self.files.refresh(force=True)
        return self.files.keyset.current

    @property
    def terminals(self) -> dict[str, str]:
        self.files.refresh()
        return self.files.terminals

    def terminal(self, api_key: str | None) -> str | None:
        """The terminal id of this API key, or None; a key that does not match makes the files be looked at again
        first, so a terminal added by `sscard keys terminal` a moment ago is known at once."""
        found = check_api_key(self.terminals, api_key)
        if found is None and api_key:
            self.files.refresh(force=True)
            found = check_api_key(self.files.terminals, api_key)
        return found

    def handle(self, holder_id: Any) -> bytes:
        return tokens.pseudonym(self.keyset.pseudonym_secret, f"holder:{holder_id}")

    def limit(self, name: str, client: str) -> None:
        """Count one call of `client` against the rate limit `name` (Settings.limits); 429 when over it."""
        per_minute, burst = self.settings.limits[name]
        wait = self.shared.take(f"{name}:{client}", per_minute, burst)
        if wait:
            raise Refused(429, "too many requests; slow down", {"Retry-After": str(max(1, math.ceil(wait)))})

    def forget_status_list(self) -> None:
        self.status_cache = (None, "", 0.0)

