"""A real Valkey/Redis server for the tests (Debian's redis-server), started like tests/plugins/postgres.py starts
PostgreSQL: in a fresh directory, listening only on a unix socket there, no persistence; stopped and removed at
the end of the session. If it cannot start the test fails with the server's log: nothing is skipped."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_WAIT = 20


class RedisServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sscard-redis-"))
        self.socket = self.dir / "redis.sock"
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        exe = shutil.which("redis-server") or shutil.which("valkey-server")
        if exe is None:
            raise RuntimeError("redis-server not found; run scripts/bootstrap.sh")
        self.proc = subprocess.Popen([exe, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                                      "--logfile", str(self.log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        raise RuntimeError(f"redis-server did not start:\n{log}")

    def flush(self) -> None:
        import redis

        redis.Redis(unix_socket_path=str(self.socket)).flushall()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001
        server.stop()
        pytest.fail(f"could not start redis-server for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    redis_server.flush()
    yield redis_server.url
