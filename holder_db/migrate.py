"""Alembic, configured in code: no alembic.ini is needed in the working directory.

Works on an Engine the caller opened (the store module does: `store.init(url)`, `store.revision(url)`), so this
module never imports store and store may import it."""
from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from holder_db import models  # noqa: F401  (the tables, for the comparison)
from holder_db.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic is imported by the functions that use it: every command imports the store, few of them migrate.


def config(url: str) -> "Config":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config("sqlite://")).get_current_head() or ""


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database at `url` to `revision`; returns the revision it is then at.

    A database made by `store.create_all` (tables but no migration record) is taken to be at the newest schema
    when it matches the models, and stamped so; one that does not match is refused."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    cfg = config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        if context.get_current_revision() is None and inspect(conn).has_table("holders"):
            if compare_metadata(context, SQLModel.metadata):
                raise StoreError("the database has holder_db tables but no migration record, and they differ from "
                                 "the current schema; migrate it by hand")
            command.stamp(cfg, "head")
        else:
            command.upgrade(cfg, revision)
    return current(engine) or ""
