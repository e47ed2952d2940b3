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


def test_codes_get_their_own_handles_and_indices_and_follow_their_binding(db_url):
    """holder_db.ecard.issue_codes on each engine: distinct random handles and indices in the code space, every
    member revoked with the binding and back when the card is found again, old rows dropped on the way."""
    import time

    from sqlalchemy import func, select, update

    from holder_db import cards, queries
    from holder_db.ecard import CODE_BASE, CODE_SPACE, EXPIRED_KEEP, EcardStore
    from holder_db.models import EcardCode
    from tests.ecard.conftest import make_holders

    h = make_holders(db_url, 1)[0]
    es = EcardStore(db_url)
    holder_id = es.find_holder(ssn=h.ssn).holder_id
    phone = es.bind_device(holder_id, "phone", {"kty": "OKP"}, "EdDSA", "phone")
    batch = es.issue_codes("phone", "offline", time.time() + 3600, 5)
    online = es.issue_codes("phone", "online", time.time() + 60)
    codes = batch + online
    assert len({c.handle for c in codes}) == len({c.status_idx for c in codes}) == 6
    assert all(CODE_BASE <= c.status_idx < CODE_BASE + CODE_SPACE for c in codes)
    assert {es.resolve_code(c.handle).device_id for c in codes} == {"phone"}
    es.report_loss(holder_id, "test")
    revoked, size = es.revoked_indices()
    assert {c.status_idx for c in codes} | {phone.status_idx} <= revoked and size >= CODE_BASE + CODE_SPACE
    with db.session(db_url) as s:
        cards.transition(s, queries.card_by_no(s, h.card_no), "active", actor="counter", reason="found")
    assert not {c.status_idx for c in codes} & es.revoked_indices()[0]
    with pytest.raises(Exception, match="not activated"):
        es.issue_codes("nobody", "online", time.time() + 60)
    engine = db.get_engine(db_url)
    with engine.begin() as conn:  # long expired: the next issue drops these rows
        conn.execute(update(EcardCode).where(EcardCode.kind == "online")
                     .values(expires_at=time.time() - EXPIRED_KEEP - 10))
    es.issue_codes("phone", "online", time.time() + 60)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EcardCode)).scalar() == 6
        assert es.resolve_code(online[0].handle) is None
