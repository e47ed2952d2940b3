"""The reads in a holder's access log are audit rows: the database refuses to rewrite or delete them, on SQLite
and on PostgreSQL, with the columns migration 0008 added."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from holder_db import audit
from holder_db import store as db


@pytest.mark.parametrize("statement", ["UPDATE audit SET purpose = 'covered up', fields = ''",
                                       "DELETE FROM audit WHERE fields <> ''"])
def test_reads_in_the_log_cannot_be_rewritten(db_url, statement):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, IntegrityError

    engine = db.get_engine(db_url)
    with engine.begin() as conn:
        audit.sensitive_read(conn, "terminal:t", "holder.identify", purpose="identity check", fields=["name"])
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT purpose, fields FROM audit")).one() == ("identity check", "name")
