"""One line for each way a database can fail a command, naming what it is: read-only, not a database,
unreachable, not initialised, a folder that cannot be created. Every CLI edge over the store asks here, so the
same trouble reads the same everywhere and never as a traceback or the SQL with its parameters."""
from __future__ import annotations

from typing import Any

_READ_ONLY = ("readonly database", "read-only", "read only transaction", "permission denied for")
_NOT_A_DB = ("file is not a database", "file is encrypted or is not a database", "database disk image is malformed")
_UNREACHABLE = ("connection refused", "connection failed", "connection to server", "could not connect", "could not translate host name", "timeout expired",
                "name or service not known", "no route to host", "connection timed out", "server closed the connection",
                "password authentication failed", "does not exist\n", "unable to open database file")
_MISSING = ("no such table", "does not exist")


def describe(exc: BaseException, url: str | None = None) -> str:
    """What went wrong, in one line, for a database error (SQLAlchemy's, the driver's) or an OSError met while
    opening the store."""
    where = f" ({_shown(url)})" if url else ""
    if isinstance(exc, OSError) and not _is_sqlalchemy(exc):
        target = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"the database folder{target} cannot be created or opened: {exc.strerror or exc}{where}"
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    text = str(orig).lower()
    if any(k in text for k in _READ_ONLY):
        return f"the database is read-only{where}: {first}"
    if any(k in text for k in _NOT_A_DB):
        return f"that file is not an sscard database (not SQLite at all){where}"
    if "database" in text and "does not exist" in text and "relation" not in text:
        return f"the database server is reachable but has no such database{where}: {first}"
    if any(k in text for k in _UNREACHABLE):
        return f"the database cannot be reached{where}: {first}"
    if any(k in text for k in _MISSING):
        return f"the database is not initialised{where}: run `sscard db init` first"
    return f"database error{where}: {first}"


def _is_sqlalchemy(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("sqlalchemy")


def _shown(url: Any) -> str:
    """The URL without its password."""
    text = str(url)
    if "://" in text and "@" in text:
        scheme, rest = text.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return text
