"""Money: postings to accounts, in integer fen, that under concurrent writers never lose an update, never overdraw
an account and never apply one idempotency key twice.

How: the balance moves by one conditional `UPDATE accounts SET balance = balance + :amount WHERE id = :id AND
balance + :amount >= 0` (atomic on both engines: PostgreSQL re-checks the condition after waiting for the row
lock; SQLite takes the write lock up front with BEGIN IMMEDIATE), the posting is inserted with `ON CONFLICT
(idempotency_key) DO NOTHING` under a unique constraint, and both happen inside one savepoint, so a key that
another writer got in first undoes our balance change and returns that writer's posting. The database's CHECK
(balance >= 0) and the append-only triggers on postings are the last line.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import store
from holder_db.models import ACCOUNT_KINDS, Account, Posting, utcnow


class LedgerError(ValueError):
    """A posting that cannot be made; the message says why."""


class UnknownAccount(LedgerError):
    pass


class Overdraft(LedgerError):
    pass


class KeyReused(LedgerError):
    """The idempotency key was already used for a different posting."""


@dataclass(frozen=True)
class PostResult:
    posting_id: int
    account_id: int
    amount: int
    kind: str
    idempotency_key: str
    balance_after: int
    applied: bool  # False: the key was already posted; this is that earlier posting


_COLUMNS = "id, account_id, amount, kind, idempotency_key, balance_after"


@contextmanager
def _connection(db: str | Engine | Connection | None, write: bool = True) -> Iterator[Connection]:
    if isinstance(db, Connection):
        yield db
    elif write:
        with store.write_connection(db) as conn:
            yield conn
    else:
        engine = db if isinstance(db, Engine) else store.get_engine(db)
        with engine.connect() as conn:
            yield conn


def _insert(conn: Connection, table):  # type: ignore[no-untyped-def]
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def open_account(db: str | Engine | Connection | None, kind: str, ref: str, holder_id: int | None = None) -> int:
    """The id of the account (kind, ref), created with balance 0 if it does not exist yet."""
    if kind not in ACCOUNT_KINDS:
        raise LedgerError(f"account kind must be one of {', '.join(ACCOUNT_KINDS)}")
    if not ref or len(ref) > 64:
        raise LedgerError("account reference must be 1 to 64 characters")
    with _connection(db) as conn:
        conn.execute(_insert(conn, Account.__table__)
                     .values(kind=kind, ref=ref, holder_id=holder_id, balance=0, created_at=utcnow())
                     .on_conflict_do_nothing(index_elements=["kind", "ref"]))
        return conn.execute(select(Account.id).where(Account.kind == kind, Account.ref == ref)).scalar_one()


def _existing(conn: Connection, key: str) -> PostResult | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM postings WHERE idempotency_key = :key"), {"key": key}).first()
    return None if row is None else PostResult(*row, applied=False)


def _same(found: PostResult, account_id: int, amount: int, kind: str) -> PostResult:
    if (found.account_id, found.amount, found.kind) != (account_id, amount, kind):
        raise KeyReused(f"idempotency key {found.idempotency_key!r} was already used for a different posting")
    return found


def post(db: str | Engine | Connection | None, account_id: int, amount: int, kind: str,
         idempotency_key: str) -> PostResult:
    """Move `amount` fen (negative: take out) on the account, once per idempotency key.

    `db` is a URL or engine (the posting gets its own transaction, committed on return) or a Connection in a
    transaction the caller commits (so a posting and, say, a settlement row land together). A key posted before
    returns that posting with applied=False (KeyReused if it was for a different account, amount or kind)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LedgerError("amount must be an integer number of fen")
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200:
        raise LedgerError("idempotency key must be 1 to 200 characters")
    if not isinstance(kind, str) or not 0 < len(kind) <= 32:
        raise LedgerError("posting kind must be 1 to 32 characters")
    with _connection(db) as conn:
        found = _existing(conn, idempotency_key)
        if found is not None:
            return _same(found, account_id, amount, kind)
        savepoint = conn.begin_nested()
        balance = conn.execute(text("UPDATE accounts SET balance = balance + :amount "
                                    "WHERE id = :id AND balance + :amount >= 0 RETURNING balance"),
                               {"amount": amount, "id": account_id}).scalar()
        if balance is None:
            savepoint.rollback()
            current = conn.execute(select(Account.balance).where(Account.id == account_id)).scalar()
            if current is None:
                raise UnknownAccount(f"no account with id {account_id}")
            raise Overdraft(f"account {account_id} holds {current} fen; taking {-amount} would overdraw it")
        table = Posting.__table__  # type: ignore[attr-defined]
        row = conn.execute(
            _insert(conn, table)
            .values(account_id=account_id, amount=amount, kind=kind, idempotency_key=idempotency_key,
                    balance_after=balance, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id, table.c.account_id, table.c.amount, table.c.kind, table.c.idempotency_key,
                       table.c.balance_after)).first()
        if row is None:  # another writer posted this key between our look and our insert
            savepoint.rollback()
            found = _existing(conn, idempotency_key)
            if found is None:
                raise LedgerError("idempotency key conflict could not be resolved; try again")
            return _same(found, account_id, amount, kind)
        savepoint.commit()
        return PostResult(*row, applied=True)


def balance(db: str | Engine | Connection | None, account_id: int) -> int:
    with _connection(db, write=False) as conn:
        value = conn.execute(select(Account.balance).where(Account.id == account_id)).scalar()
    if value is None:
        raise UnknownAccount(f"no account with id {account_id}")
    return int(value)


def postings(db: str | Engine | Connection | None, account_id: int) -> list[PostResult]:
    with _connection(db, write=False) as conn:
        rows = conn.execute(text(f"SELECT {_COLUMNS} FROM postings WHERE account_id = :id ORDER BY id"),
                            {"id": account_id}).all()
    return [PostResult(*r, applied=True) for r in rows]


def is_posted(db: str | Engine | Connection | None, keys: list[str]) -> set[str]:
    """Which of these idempotency keys the ledger already holds."""
    if not keys:
        return set()
    with _connection(db, write=False) as conn:
        return set(conn.execute(select(Posting.idempotency_key)
                                .where(Posting.idempotency_key.in_(keys))).scalars())  # type: ignore[attr-defined]
