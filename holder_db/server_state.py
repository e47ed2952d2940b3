"""State the e-card server's workers and nodes share, kept in holder_db (SQLite or PostgreSQL): one-time values
(device proofs' jti, so a proof replayed on another worker is refused), rate-limit token buckets, and scan-to-login
sessions. It survives a restart. ecard_server.shared offers the same over Valkey/Redis."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import store
from holder_db.models import LoginSessionRow, RateBucket, ServerNonce

PURGE_EVERY = 2000  # writes between sweeps of expired nonces and sessions
COLLECTED = {"collected": True}  # what an approved session's result becomes once its relying party has read it


@dataclass(frozen=True)
class Login:
    relying_party: str
    scope: list[str]
    poll_hash: str
    expires_at: float
    result: dict[str, Any] | None


def _key(key: bytes | str) -> str:
    raw = key if isinstance(key, bytes) else key.encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def _upsert(conn: Connection | Engine, model: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(model)


class DbSharedState:
    """Nonces, rate limits and login sessions in the holder database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writes = 0
        self._lock = threading.Lock()
        self._seen: dict[str, Any] = {}  # dialect -> the statement, built once

    def _tick(self, conn: Connection, now: float) -> None:
        if self._due():
            self._purge(conn, now)

    def _due(self) -> bool:
        with self._lock:
            self._writes += 1
            return self._writes % PURGE_EVERY == 0

    def _purge(self, conn: Connection, now: float) -> None:
        conn.execute(delete(ServerNonce).where(ServerNonce.exp < int(now) - 60))
        conn.execute(delete(LoginSessionRow).where(LoginSessionRow.expires_at < now - 3600))
        conn.execute(delete(RateBucket).where(RateBucket.at < now - 3600))

    # ---- one-time values ----

    def seen(self, key: bytes | str, exp: int, now: float) -> bool:
        """True if `key` was recorded and has not expired; otherwise record it until `exp` and return False.
        One statement, atomic on its own (run on the driver's cursor: every device request makes one): insert, or
        take over an expired row; a live row is left alone (nothing changes)."""
        dialect = self.engine.dialect
        stmt = self._seen.get(dialect.name)
        if stmt is None:
            ins = _upsert(self.engine, ServerNonce).values(key=bindparam("k"), exp=bindparam("exp"))
            stmt = self._seen[dialect.name] = store.Prepared(ins.on_conflict_do_update(
                index_elements=["key"], set_={"exp": ins.excluded.exp},
                where=ServerNonce.exp <= bindparam("now")).returning(ServerNonce.exp))
        with store.raw(self.engine) as conn:
            fresh = bool(stmt.rows(conn, {"k": _key(key), "exp": int(exp), "now": int(now)}, dialect))
            conn.commit()
        if self._due():
            with store.write_connection(self.engine) as conn:
                self._purge(conn, now)
        return not fresh

    # ---- rate limits ----

    def take(self, key: str, per_minute: float, burst: int, now: float | None = None) -> float:
        """0 if the call may go ahead (and is counted), else the seconds to wait (for Retry-After)."""
        now = time.time() if now is None else now
        rate = per_minute / 60.0
        k = _key(key)
        with store.write_connection(self.engine) as conn:
            conn.execute(_upsert(conn, RateBucket).values(key=k, tokens=float(burst), at=now)
                         .on_conflict_do_nothing(index_elements=["key"]))
            sel = select(RateBucket.tokens, RateBucket.at).where(RateBucket.key == k)
            row = conn.execute(sel if store.is_sqlite(conn) else sel.with_for_update()).one()
            tokens = min(float(burst), row.tokens + max(0.0, now - row.at) * rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            conn.execute(update(RateBucket).where(RateBucket.key == k).values(tokens=tokens, at=max(now, row.at)))
        return wait

    # ---- scan-to-login sessions ----

    def login_open(self, session_id: str, relying_party: str, scope: list[str], poll_hash: str, expires_at: float,
                   max_open: int) -> bool:
        """Record a new session; False when `max_open` sessions are open already."""
        now = time.time()
        with store.write_connection(self.engine) as conn:
            open_now = conn.execute(select(func.count()).select_from(LoginSessionRow)
                                    .where(LoginSessionRow.expires_at > now)).scalar() or 0
            if open_now >= max_open:
                return False
            conn.execute(insert(LoginSessionRow).values(id=session_id, relying_party=relying_party,
                                                        scope=",".join(scope), poll_hash=poll_hash,
                                                        expires_at=expires_at))
            self._tick(conn, now)
        return True

    def login(self, session_id: str) -> Login | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(LoginSessionRow).where(LoginSessionRow.id == session_id)).first()
        if row is None:
            return None
        return Login(row.relying_party, [s for s in row.scope.split(",") if s], row.poll_hash, row.expires_at,
                     json.loads(row.result) if row.result else None)

    def login_approve(self, session_id: str, result: dict[str, Any]) -> bool:
        """Set the result once; False if the session was already approved (or is gone)."""
        with store.write_connection(self.engine) as conn:
            done = conn.execute(update(LoginSessionRow)
                                .where(LoginSessionRow.id == session_id, LoginSessionRow.result.is_(None))  # type: ignore[union-attr]
                                .values(result=json.dumps(result)))
        return done.rowcount == 1

    def login_collect(self, session_id: str) -> dict[str, Any] | None:
        """The approved result, handed out once: the row's result becomes COLLECTED in the same transaction, so a
        second poll (or a thief holding the poll secret) gets COLLECTED. None while pending or unknown."""
        with store.write_connection(self.engine) as conn:
            t = LoginSessionRow
            sel = select(t.result).where(t.id == session_id)
            row = conn.execute(sel if store.is_sqlite(conn) else sel.with_for_update()).first()
            if row is None or row.result is None:
                return None
            result = json.loads(row.result)
            if result == COLLECTED:
                return COLLECTED
            done = conn.execute(update(t).where(t.id == session_id, t.result == row.result)
                                .values(result=json.dumps(COLLECTED)))
        return result if done.rowcount == 1 else COLLECTED
