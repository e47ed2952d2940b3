"""`sscard db show` on a SQLite store without loading SQLAlchemy: the short road for a one-shot command.

A counter clerk runs `sscard db show` once per holder; loading SQLAlchemy, SQLModel and Alembic costs far more
than the lookup (about 25x a bare `import sqlite3`). When the store is an existing SQLite file already at the
newest migration, this module answers with the standard library's sqlite3 and the same SQL the models define,
and audits the read like `queries.holder_view` does; in any other case (PostgreSQL, no file yet, an older schema)
it raises `NotFast` and the command takes the full road, which also migrates. A test holds both roads' answers and
audit rows equal.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from cardlib.idnumber import mask

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([^'\"\s]*)['\"]?", re.M)


SHOW_PURPOSE = "record shown at the counter (sscard db show)"
SHOW_FIELDS = "name,gender,nation,birth_date,birthplace,region,cards,enrolments"


class NotFast(Exception):
    """The short road does not apply; take the full one."""


def head() -> str:
    """The newest migration, read from the migration files' `revision` / `down_revision` lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            if found.get("down_revision") not in (None, "", "None"):
                parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise NotFast("the migrations have more than one head")
    return heads.pop()


def sqlite_path(db_url: str | None) -> str:
    """The SQLite file `--db` / $SSCARD_DB / the default names, as `store.resolve_url` resolves it (a test holds
    them equal); NotFast for anything but an existing plain SQLite file."""
    url = db_url or os.environ.get("SSCARD_DB") or ""
    if not url:
        path = os.path.join("var", "sscard.db")
    elif "://" not in url:
        path = url
    elif url.startswith("sqlite:///") and "?" not in url:
        path = url[len("sqlite:///"):]
    else:
        raise NotFast("not a plain SQLite file URL")
    if not path or path == ":memory:" or not os.path.isfile(path):
        raise NotFast("no database file yet")
    return path


def _timestamp() -> str:
    """UTC now, written as SQLAlchemy writes a DateTime into SQLite."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def at_head(path: str) -> bool:
    """Whether the SQLite file at `path` is at the newest migration (so commands need not load Alembic)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return version is not None and version[0] == head()


def holder_view(path: str, ssn: str, *, actor: str) -> dict[str, Any] | None:
    """What `queries.holder_view(session, ssn, actor=actor)` returns for the SQLite file at `path`, with the same
    audit row; NotFast when the short road does not apply."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise NotFast(str(exc)) from None
    try:
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise NotFast(str(exc)) from None
        if version is None or version[0] != head():
            raise NotFast("the schema is not at the newest migration")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT id, ssn, name, gender, nation, birth_date, birthplace, region FROM holders "
                           "WHERE ssn = ?", (ssn.strip().upper(),)).fetchone()
        if row is None:
            conn.execute("ROLLBACK")
            return None
        holder_id, full, name, gender, nation, birth, birthplace, region = row
        conn.execute("INSERT INTO audit (at, actor, action, subject, holder_id, sensitive, detail, purpose, fields) "
                     "VALUES (?, ?, 'holder.show', ?, ?, 1, '', ?, ?)",
                     (_timestamp(), actor, mask(full), holder_id, SHOW_PURPOSE, SHOW_FIELDS))
        cards = conn.execute("SELECT card_no, card_id, status, region, issued_on, expires_on FROM cards "
                             "WHERE holder_id = ? ORDER BY id", (holder_id,)).fetchall()
        enrolments = conn.execute("SELECT insurance, region, status, start_date, end_date FROM enrolments "
                                  "WHERE holder_id = ? ORDER BY id", (holder_id,)).fetchall()
        conn.execute("COMMIT")
    except sqlite3.Error as exc:  # locked, read-only, damaged...: the full road names it
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise NotFast(str(exc)) from None
    finally:
        conn.close()
    return {
        "ssn": mask(full), "name": name, "gender": gender, "nation": nation, "birth_date": birth,
        "birthplace": birthplace, "region": region,
        "cards": [{"card_no": c[0], "card_id": c[1], "status": c[2], "region": c[3], "issued_on": c[4],
                   "expires_on": c[5]} for c in cards],
        "enrolments": [{"insurance": e[0], "region": e[1], "status": e[2], "start_date": e[3], "end_date": e[4]}
                       for e in enrolments],
    }
