"""Engines and sessions: which database, opened how.

The URL comes from `--db URL`, else the environment variable SSCARD_DB, else the SQLite file `var/sscard.db`
under the working directory. SQLite is opened in WAL mode with foreign keys on and a busy timeout, and with
transactions begun explicitly so a writer can ask for `BEGIN IMMEDIATE` (see `write_connection`). PostgreSQL is
reached with psycopg 3 (`postgresql+psycopg://...`; a bare `postgresql://` URL is taken to mean that).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from holder_db import migrate
from holder_db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from holder_db.errors import StoreError

DEFAULT_PATH = Path("var") / "sscard.db"
ENV = "SSCARD_DB"
BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: the argument, else $SSCARD_DB, else the default SQLite file."""
    url = url or os.environ.get(ENV) or ""
    if not url:
        return f"sqlite:///{DEFAULT_PATH}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif "://" not in url:
        url = f"sqlite:///{url}"  # a plain path names a SQLite file
    return url


def is_sqlite(engine_or_url: Engine | Connection | str) -> bool:
    if isinstance(engine_or_url, str):
        return engine_or_url.startswith("sqlite")
    return engine_or_url.dialect.name == "sqlite"


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we say BEGIN ourselves (below), so BEGIN IMMEDIATE is possible
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("immediate") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the life of the process."""
    resolved = resolve_url(url)
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            if is_sqlite(resolved):
                engine = _sqlite_engine(resolved)
            else:
                engine = create_engine(resolved, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _engines[resolved] = engine
    return engine


def dispose(url: str | None = None) -> None:
    """Close the pooled connections of one engine (or all), e.g. before dropping a test database."""
    with _lock:
        keys = [resolve_url(url)] if url else list(_engines)
        for key in keys:
            engine = _engines.pop(key, None)
            if engine is not None:
                engine.dispose()


@contextmanager
def session(url: str | Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back when it raises."""
    engine = url if isinstance(url, Engine) else get_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


@contextmanager
def write_connection(url: str | Engine | None = None) -> Iterator[Connection]:
    """A connection in a write transaction: BEGIN IMMEDIATE on SQLite (takes the write lock up front, so
    read-then-write cannot interleave), a plain transaction on PostgreSQL (use row locks or conditional updates)."""
    engine = url if isinstance(url, Engine) else get_engine(url)
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn = conn.execution_options(immediate=True)
        with conn.begin():
            yield conn


def create_all(url: str | Engine | None = None) -> Engine:
    """Create every table (and the append-only triggers) without migrations: for throwaway databases."""
    engine = url if isinstance(url, Engine) else get_engine(url)
    SQLModel.metadata.create_all(engine)
    return engine


def init(url: str | None = None) -> str:
    """Create the database or bring it to the newest migration; returns the revision it is at."""
    return migrate.upgrade(get_engine(url))


def revision(url: str | None = None) -> str | None:
    """The migration the database is at (None: not migrated yet)."""
    return migrate.current(get_engine(url))


class Prepared:
    """A statement compiled by SQLAlchemy once per dialect and run on the driver's own cursor: for the server's hot
    paths, where compiling and executing through SQLAlchemy costs more than the database's own work. `rows` gives
    tuples with each column's result processing (a SQLite date comes back a date), in the statement's order."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any], list[Any]]] = {}

    def _for(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any], list[Any]]:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            columns = getattr(self.statement, "selected_columns", None) or getattr(
                self.statement, "_returning", None) or ()
            processors = [c.type._cached_result_processor(dialect, None) for c in columns]
            names = tuple(compiled.positiontup) if compiled.positiontup else None
            hit = self._compiled[dialect.name] = (compiled.string, names, dict(compiled.params), processors)
        return hit

    def rows(self, conn: Any, params: dict[str, Any], dialect: Any = None) -> list[tuple[Any, ...]]:
        """Run on `conn`: a Connection, or a pooled driver connection (`raw`) with its engine's dialect."""
        sql, names, defaults, processors = self._for(dialect or conn.dialect)
        values = {**defaults, **params}
        cursor = conn.cursor() if dialect else conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, tuple(values[n] for n in names) if names is not None else values)
            found = cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
        if not any(processors):
            return [tuple(r) for r in found]
        return [tuple(p(v) if p else v for p, v in zip(processors, r)) for r in found]


@contextmanager
def raw(engine: Engine) -> Iterator[Any]:
    """A pooled driver connection, without SQLAlchemy's Connection around it (for `Prepared`); back to the pool,
    rolled back, when the block ends. On SQLite each statement commits on its own (we say BEGIN ourselves). The
    driver's errors come out as SQLAlchemy's (OperationalError...), as through a Connection, so callers and the
    server's handlers (503) see one kind."""
    conn = engine.raw_connection()
    base = engine.dialect.loaded_dbapi.Error
    try:
        yield conn
    except base as exc:
        raise DBAPIError.instance(None, None, exc, base, dialect=engine.dialect) from None
    finally:
        conn.close()
