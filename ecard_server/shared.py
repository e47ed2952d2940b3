"""Where the server's shared state lives: in the holder database (holder_db.server_state) by default, or in
Valkey/Redis when the settings name one (SSCARD_REDIS). Either way every worker and node sees the same one-time
values, rate limits and login sessions, and they outlive a restart of the server."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from holder_db.server_state import COLLECTED, DbSharedState, Login

PREFIX = "sscard:"

# KEYS[1] bucket; ARGV rate/s, burst, now -> wait seconds (as a string), 0 when taken
_TAKE = """
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t, a = tonumber(b[1]) or burst, tonumber(b[2]) or now
if now > a then t = math.min(burst, t + (now - a) * rate); a = now end
local wait = 0
if t >= 1 then t = t - 1 else wait = (1 - t) / rate end
redis.call('HSET', KEYS[1], 't', tostring(t), 'a', tostring(a))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""
# KEYS[1] session; ARGV result -> 1 when set, 0 when already approved or gone
_APPROVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'result', ARGV[1])
"""

# KEYS[1] session; ARGV the COLLECTED marker -> the result once, then the marker; false while pending or gone
_COLLECT = """
local r = redis.call('HGET', KEYS[1], 'result')
if not r then return false end
if r ~= ARGV[1] then redis.call('HSET', KEYS[1], 'result', ARGV[1]) end
return r
"""


class SharedState(Protocol):
    def seen(self, key: bytes | str, exp: int, now: float) -> bool: ...

    def take(self, key: str, per_minute: float, burst: int, now: float | None = None) -> float: ...

    def login_open(self, session_id: str, relying_party: str, scope: list[str], poll_hash: str, expires_at: float,
                   max_open: int) -> bool: ...

    def login(self, session_id: str) -> Login | None: ...

    def login_approve(self, session_id: str, result: dict[str, Any]) -> bool: ...

    def login_collect(self, session_id: str) -> dict[str, Any] | None: ...


def _h(key: bytes | str) -> str:
    return hashlib.sha256(key if isinstance(key, bytes) else key.encode("utf-8")).hexdigest()


class RedisSharedState:
    """The same state in Valkey/Redis: SET NX for one-time values, a Lua token bucket, a hash per session."""

    def __init__(self, url: str) -> None:
        import redis

        self.r = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        self._take = self.r.register_script(_TAKE)
        self._approve = self.r.register_script(_APPROVE)
        self._collect = self.r.register_script(_COLLECT)

    def seen(self, key: bytes | str, exp: int, now: float) -> bool:
        ttl = max(1, int(exp - now) + 1)
        return not self.r.set(PREFIX + "n:" + _h(key), "1", nx=True, ex=ttl)

    def take(self, key: str, per_minute: float, burst: int, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return float(self._take(keys=[PREFIX + "r:" + _h(key)], args=[per_minute / 60.0, burst, now]))

    def login_open(self, session_id: str, relying_party: str, scope: list[str], poll_hash: str, expires_at: float,
                   max_open: int) -> bool:
        now = time.time()
        index = PREFIX + "logins"
        self.r.zremrangebyscore(index, 0, now)
        if self.r.zcard(index) >= max_open:
            return False
        key = PREFIX + "l:" + session_id
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"rp": relying_party, "scope": ",".join(scope), "poll": poll_hash,
                                "exp": repr(expires_at)})
        pipe.expireat(key, int(expires_at) + 3600)
        pipe.zadd(index, {session_id: expires_at})
        pipe.execute()
        return True

    def login(self, session_id: str) -> Login | None:
        d = self.r.hgetall(PREFIX + "l:" + session_id)
        if not d:
            return None
        return Login(d["rp"], [s for s in d["scope"].split(",") if s], d["poll"], float(d["exp"]),
                     json.loads(d["result"]) if d.get("result") else None)

    def login_approve(self, session_id: str, result: dict[str, Any]) -> bool:
        return int(self._approve(keys=[PREFIX + "l:" + session_id], args=[json.dumps(result)])) == 1

    def login_collect(self, session_id: str) -> dict[str, Any] | None:
        got = self._collect(keys=[PREFIX + "l:" + session_id], args=[json.dumps(COLLECTED)])
        return json.loads(got) if got else None


def open_shared(engine: Engine, redis_url: str | None) -> SharedState:
    """Valkey/Redis at `redis_url` when given, else the holder database behind `engine`."""
    if redis_url:
        return RedisSharedState(redis_url)
    return DbSharedState(engine)
