"""Fixtures for tests that run against a real PostgreSQL server started by the test setup.

- `postgres_server` (session): initdb into a fresh directory and `pg_ctl start` on a free port, listening only on
  a unix socket in that directory; stopped and removed at the end of the session. PostgreSQL refuses to run as
  root, so under root the server runs as the `postgres` system user (runuser/su) in a directory it owns. If the
  server cannot start the test fails with the server's log: nothing is skipped.
- `postgres_db` (function) and `postgres_module_db` (module): the URL (`postgresql+psycopg://...`) of a fresh,
  empty database, dropped afterwards.
Mark tests that use them with @pytest.mark.postgres.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPERUSER = "postgres"
START_WAIT = 60


def bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[4])] or [0])
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found; run scripts/bootstrap.sh")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL cluster; `url(name)` points at database `name` over the unix socket."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="sscard-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = _free_port()
        self._names = itertools.count(1)
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.dir.chmod(0o755)

    def _run(self, *args: str, timeout: float = START_WAIT) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = (["runuser", "-u", "postgres", "--", *cmd] if shutil.which("runuser")
                   else ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(_quote, cmd))])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def start(self) -> None:
        init = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                         "-E", "UTF8", "--locale=C", "--no-sync")
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c max_connections=200")
        start = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                          "-w", "-t", str(START_WAIT), "start")
        if start.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log}")

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.dir}&port={self.port}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.dir), port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        name = re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{next(self._names)}".lower())[:60]
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        from holder_db import store

        store.dispose(url)
        name = url.split("/")[-1].split("?")[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001  (fail loudly, with the server's own words)
        server.stop()
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    url = postgres_server.create_database(request.node.name[:40])
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def postgres_module_db(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    url = postgres_server.create_database(request.module.__name__.rsplit(".", 1)[-1][:40])
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
