"""holder_db tests run on both engines: `db_url` is a fresh, migrated SQLite file or PostgreSQL database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from holder_db import store

ENGINES = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'holders.db'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture(params=ENGINES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no tables yet, on each engine."""
    url = fresh_url(request.param, request, tmp_path)
    yield url
    store.dispose(url)


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to the newest schema (through the real Alembic migrations), on each engine."""
    url = fresh_url(request.param, request, tmp_path)
    store.init(url)
    yield url
    store.dispose(url)
