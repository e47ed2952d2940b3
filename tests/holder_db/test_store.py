"""Engines and migrations on both SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel

from holder_db import migrate, store


def test_init_creates_every_table_and_is_repeatable(empty_db_url: str) -> None:
    assert store.revision(empty_db_url) is None
    assert store.init(empty_db_url) == migrate.head()
    assert store.init(empty_db_url) == migrate.head()
    tables = set(inspect(store.get_engine(empty_db_url)).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_migrations_match_the_models(db_url: str) -> None:
    with store.get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


@pytest.mark.parametrize("table, statement", [
    ("postings", "UPDATE postings SET amount = amount + 1"),
    ("postings", "DELETE FROM postings"),
    ("audit", "UPDATE audit SET actor = 'someone else'"),
    ("audit", "DELETE FROM audit"),
])
def test_append_only_tables_refuse_update_and_delete(db_url: str, table: str, statement: str) -> None:
    from holder_db import audit, ledger

    engine = store.get_engine(db_url)
    account = ledger.open_account(engine, "fund", "pool")
    ledger.post(engine, account, 500, "deposit", "k-1")
    with engine.begin() as conn:
        audit.record(conn, "tester", "probe")
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == (2 if table == "postings" else 1)


def test_database_refuses_a_negative_balance(db_url: str) -> None:
    engine = store.get_engine(db_url)
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO accounts (kind, ref, balance) VALUES ('fund', 'x', -1)"))


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with store.get_engine(url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == store.BUSY_TIMEOUT_MS
    store.dispose(url)


@pytest.mark.parametrize("given, env, expected", [
    (None, None, "sqlite:///var/sscard.db"),
    (None, "sqlite:////srv/x.db", "sqlite:////srv/x.db"),
    ("sqlite:///a.db", "sqlite:////srv/x.db", "sqlite:///a.db"),
    ("data/h.db", None, "sqlite:///data/h.db"),
    ("postgresql://u@h/db", None, "postgresql+psycopg://u@h/db"),
    ("postgres://u@h/db", None, "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", None, "postgresql+psycopg://u@h/db"),
])
def test_resolve_url(monkeypatch: pytest.MonkeyPatch, given, env, expected) -> None:  # type: ignore[no-untyped-def]
    if env is None:
        monkeypatch.delenv(store.ENV, raising=False)
    else:
        monkeypatch.setenv(store.ENV, env)
    assert store.resolve_url(given) == expected


def test_downgrade_to_nothing_and_back(db_url: str) -> None:
    from alembic import command

    cfg = migrate.config(db_url)
    with store.get_engine(db_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "holders" not in inspect(store.get_engine(db_url)).get_table_names()
    assert store.init(db_url) == migrate.head()
    assert "holders" in inspect(store.get_engine(db_url)).get_table_names()


def test_init_adopts_a_database_made_by_create_all(empty_db_url: str) -> None:
    store.create_all(empty_db_url)
    assert store.revision(empty_db_url) is None
    assert store.init(empty_db_url) == migrate.head()


def test_init_refuses_unversioned_tables_that_differ(empty_db_url: str) -> None:
    with store.get_engine(empty_db_url).begin() as conn:
        conn.execute(text("CREATE TABLE holders (id INTEGER PRIMARY KEY, ssn VARCHAR(18))"))
    with pytest.raises(store.StoreError, match="differ"):
        store.init(empty_db_url)


def test_create_all_makes_the_append_only_triggers_too(empty_db_url: str) -> None:
    from holder_db import ledger

    engine = store.create_all(empty_db_url)
    account = ledger.open_account(engine, "fund", "pool")
    ledger.post(engine, account, 5, "deposit", "k")
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM postings"))


def test_migrate_does_not_import_store():
    """store imports migrate (for init); migrate works on the Engine it is given and never reaches back."""
    import subprocess
    import sys

    code = "import sys, holder_db.migrate; assert 'holder_db.store' not in sys.modules, 'circle'"
    subprocess.run([sys.executable, "-c", code], check=True)
    for path in ("holder_db/migrate.py", "holder_db/migrations/env.py"):
        assert "holder_db.store" not in (Path(__file__).resolve().parents[2] / path).read_text(encoding="utf-8")
