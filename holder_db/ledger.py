"""Money: a double-entry ledger in integer fen that under concurrent writers never loses an update, never
overdraws an account and never applies one idempotency key twice.

Every entry has two legs that sum to zero: `post(account, amount, kind, key)` moves `amount` on the account and
`-amount` on the other side, the fund the kind names (`FUNDS`: benefits are paid out of `fund:benefits`,
contributions into personal medical accounts out of `fund:medical`, a settlement takes the personal account's part
to `clearing:settlements` and the pooled fund's part (统筹) out of `fund:medical-pool` to the same clearing account,
and a refund brings both back) unless the caller names the other account. Funds that pay
out are credit-normal: their balance is minus the sum of their postings (what they have paid out, net), so no
balance is ever negative while the sum of all postings is zero. `check` proves both.

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
from typing import Any, Iterator

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from holder_db import store
from holder_db.kinds import MAX_FEN
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


FUNDS: dict[str, tuple[str, bool]] = {
    # posting kind -> (the other leg's fund account ref, is it credit-normal)
    "benefit": ("fund:benefits", True),
    "allocation": ("fund:medical", True),
    "contribution": ("fund:medical", True),
    "settlement": ("clearing:settlements", False),
    "refund": ("clearing:settlements", False),
    # the pooled fund's share of a settlement: posted on clearing:settlements, paid out of the pool
    "settlement_fund": ("fund:medical-pool", True),
    "refund_fund": ("fund:medical-pool", True),
}
# any other kind: money from outside the books (a deposit: credit-normal source) or to it (a withdrawal: a sink),
# two accounts so that neither balance can go negative
EXTERNAL_IN, EXTERNAL_OUT = ("fund:external-in", True), ("fund:external-out", False)


def open_account(db: str | Engine | Connection | None, kind: str, ref: str, holder_id: int | None = None,
                 credit_normal: bool = False) -> int:
    """The id of the account (kind, ref), created with balance 0 if it does not exist yet."""
    if kind not in ACCOUNT_KINDS:
        raise LedgerError(f"account kind must be one of {', '.join(ACCOUNT_KINDS)}")
    if not ref or len(ref) > 64:
        raise LedgerError("account reference must be 1 to 64 characters")
    with _connection(db) as conn:
        conn.execute(_insert(conn, Account.__table__)
                     .values(kind=kind, ref=ref, holder_id=holder_id, balance=0, created_at=utcnow(),
                             credit_normal=credit_normal)
                     .on_conflict_do_nothing(index_elements=["kind", "ref"]))
        return conn.execute(select(Account.id).where(Account.kind == kind, Account.ref == ref)).scalar_one()


def fund_for(db: str | Engine | Connection | None, kind: str, amount: int = 1) -> int:
    """The account on the other side of a posting of this kind and sign (created on first use)."""
    ref, credit = FUNDS.get(kind) or (EXTERNAL_IN if amount > 0 else EXTERNAL_OUT)
    return open_account(db, "fund", ref, credit_normal=credit)


def funds(db: str | Engine | Connection | None) -> list[dict[str, Any]]:
    """Every fund and clearing account with its balance (a credit-normal fund's: what it paid out, net)."""
    with _connection(db, write=False) as conn:
        rows = conn.execute(select(Account.ref, Account.balance, Account.credit_normal)
                            .where(Account.kind == "fund").order_by(Account.ref)).all()
    return [{"fund": r.ref, "balance": int(r.balance), "pays_out": bool(r.credit_normal)} for r in rows]


def _existing(conn: Connection, key: str) -> PostResult | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM postings WHERE idempotency_key = :key"), {"key": key}).first()
    return None if row is None else PostResult(*row, applied=False)


def _same(found: PostResult, account_id: int, amount: int, kind: str) -> PostResult:
    if (found.account_id, found.amount, found.kind) != (account_id, amount, kind):
        raise KeyReused(f"idempotency key {found.idempotency_key!r} was already used for a different posting")
    return found


def post(db: str | Engine | Connection | None, account_id: int, amount: int, kind: str,
         idempotency_key: str, *, contra: int | None = None) -> PostResult:
    """Move `amount` fen (negative: take out) on the account and `-amount` on `contra` (default: the fund the
    kind names, `FUNDS`), once per idempotency key; returns the account's leg.

    `db` is a URL or engine (the entry gets its own transaction, committed on return) or a Connection in a
    transaction the caller commits (so an entry and, say, a settlement row land together). A key posted before
    returns that posting with applied=False (KeyReused if it was for a different account, amount or kind)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LedgerError("amount must be an integer number of fen")
    if amount == 0:
        raise LedgerError("amount must not be zero: an entry that moves nothing is not made")
    if abs(amount) > MAX_FEN:
        raise LedgerError(f"amount must be at most {MAX_FEN} fen")
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 190:
        raise LedgerError("idempotency key must be 1 to 190 characters")
    if not isinstance(kind, str) or not 0 < len(kind) <= 32:
        raise LedgerError("posting kind must be 1 to 32 characters")
    with _connection(db) as conn:
        found = _existing(conn, idempotency_key)
        if found is not None:
            return _same(found, account_id, amount, kind)
        other = contra if contra is not None else fund_for(conn, kind, amount)
        if other == account_id:
            raise LedgerError("an entry needs two different accounts")
        savepoint = conn.begin_nested()
        balance = _move(conn, account_id, amount)
        if balance is None:
            savepoint.rollback()
            _refusal(conn, account_id, amount)
        row = _insert_leg(conn, account_id, amount, kind, idempotency_key, balance, idempotency_key)
        if row is None:  # another writer posted this key between our look and our insert
            savepoint.rollback()
            found = _existing(conn, idempotency_key)
            if found is None:
                raise LedgerError("idempotency key conflict could not be resolved; try again")
            return _same(found, account_id, amount, kind)
        other_balance = _move(conn, other, -amount)
        if other_balance is None:
            savepoint.rollback()
            _refusal(conn, other, -amount)
        if _insert_leg(conn, other, -amount, kind, f"{idempotency_key}/contra", other_balance,
                       idempotency_key) is None:
            savepoint.rollback()
            raise LedgerError(f"the other leg of {idempotency_key!r} is already posted; try again")
        savepoint.commit()
        return PostResult(*row, applied=True)


def _move(conn: Connection, account_id: int, amount: int) -> int | None:
    """Apply a leg to the account's balance (minus it on a credit-normal account) if that leaves it >= 0; the
    new balance, or None when it would go negative or the account does not exist."""
    return conn.execute(text("UPDATE accounts SET balance = balance + (CASE WHEN credit_normal THEN -1 ELSE 1 END)"
                             " * :amount WHERE id = :id AND balance + (CASE WHEN credit_normal THEN -1 ELSE 1 END)"
                             " * :amount >= 0 RETURNING balance"),
                        {"amount": amount, "id": account_id}).scalar()


def _refusal(conn: Connection, account_id: int, amount: int) -> None:
    current = conn.execute(select(Account.balance, Account.credit_normal).where(Account.id == account_id)).first()
    if current is None:
        raise UnknownAccount(f"no account with id {account_id}")
    taking = -amount if not current.credit_normal else amount
    raise Overdraft(f"account {account_id} holds {current.balance} fen; taking {taking} would overdraw it")


_LEG: dict[str, Any] = {}  # dialect -> the leg INSERT, built once (building it per posting was most of its cost)


def _insert_leg(conn: Connection, account_id: int, amount: int, kind: str, key: str, balance: int,
                entry: str) -> Any:
    stmt = _LEG.get(conn.dialect.name)
    if stmt is None:
        table = Posting.__table__  # type: ignore[attr-defined]
        stmt = _LEG[conn.dialect.name] = (
            _insert(conn, table).on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id, table.c.account_id, table.c.amount, table.c.kind, table.c.idempotency_key,
                       table.c.balance_after))
    return conn.execute(stmt, {"account_id": account_id, "amount": amount, "kind": kind, "idempotency_key": key,
                               "balance_after": balance, "created_at": utcnow(), "entry": entry}).first()


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


@dataclass(frozen=True)
class Reconciliation:
    """What `check` found: the sum of every posting (0 when balanced), accounts whose balance is not what their
    postings say, entries whose legs do not sum to zero."""

    postings: int
    accounts: int
    total: int
    wrong_balances: list[dict[str, Any]]
    unbalanced_entries: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return self.total == 0 and not self.wrong_balances and not self.unbalanced_entries

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "postings": self.postings, "accounts": self.accounts, "sum": self.total,
                "wrong_balances": self.wrong_balances, "unbalanced_entries": self.unbalanced_entries}


def check(db: str | Engine | Connection | None, limit: int = 20) -> Reconciliation:
    """Reconcile the ledger in one read: the postings sum to zero, each entry's legs sum to zero, and each
    account's balance equals its postings (minus them on a credit-normal account). Three aggregate queries, so
    it runs in the database however many postings there are."""
    with _connection(db, write=False) as conn:
        count, total = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM postings")).one()
        accounts = conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar_one()
        wrong = conn.execute(text(
            "SELECT a.id, a.kind, a.ref, a.balance, "
            "(CASE WHEN a.credit_normal THEN -1 ELSE 1 END) * COALESCE(SUM(p.amount), 0) AS expected "
            "FROM accounts a LEFT JOIN postings p ON p.account_id = a.id "
            "GROUP BY a.id, a.kind, a.ref, a.balance, a.credit_normal "
            "HAVING a.balance <> (CASE WHEN a.credit_normal THEN -1 ELSE 1 END) * COALESCE(SUM(p.amount), 0) "
            "ORDER BY a.id LIMIT :limit"), {"limit": limit}).all()
        entries = conn.execute(text(
            "SELECT COALESCE(entry, idempotency_key) AS e, SUM(amount) AS s, COUNT(*) AS n FROM postings "
            "GROUP BY COALESCE(entry, idempotency_key) HAVING SUM(amount) <> 0 ORDER BY MIN(id) LIMIT :limit"),
            {"limit": limit}).all()
    return Reconciliation(
        postings=int(count), accounts=int(accounts), total=int(total),
        wrong_balances=[{"account": r.id, "kind": r.kind, "ref": _shown_ref(r.ref), "balance": int(r.balance),
                         "postings_say": int(r.expected)} for r in wrong],
        unbalanced_entries=[{"entry": r.e, "sum": int(r.s), "legs": int(r.n)} for r in entries])


def _shown_ref(ref: str) -> str:
    """Account references can hold an ID number ("medical:<ssn>") or a bank account: shown masked."""
    from cardlib.idnumber import mask
    from cardlib.pboc import mask_pan

    head, _, tail = ref.rpartition(":")
    if len(tail) == 18:
        return f"{head}:{mask(tail)}" if head else mask(tail)
    if tail.isdigit() and len(tail) >= 12:
        return f"{head}:{mask_pan(tail)}" if head else mask_pan(tail)
    return ref


class PageRefused(LedgerError):
    """A page of postings that cannot go set-wise (a key posted before, an unknown account, a balance that would
    go negative): nothing of it was written; the caller posts that page one by one through `post`."""


def post_page(conn: Connection, legs: list[tuple[int, int, str]], kind: str, contra: int) -> None:
    """`post` for a page of (account id, amount, idempotency key), every contra leg on `contra`, in the caller's
    transaction, as a few statements whatever the page's size: the keys checked at once, the touched accounts
    locked and read at once, the running balances worked out here, both legs inserted with one executemany, the
    balances written with another. A concurrent writer of one of the keys makes the insert fail (IntegrityError):
    the caller's transaction rolls back whole, so nothing is posted twice."""
    if not legs:
        return
    keys = [k for _, _, k in legs]
    if len(set(keys)) != len(keys):
        raise PageRefused("a key twice in one page")
    for _, amount, key in legs:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < abs(amount) <= MAX_FEN \
                or not 0 < len(key) <= 180:
            raise PageRefused(f"posting {key!r} is not valid")
    table = Posting.__table__  # type: ignore[attr-defined]
    for i in range(0, len(keys), 500):
        if conn.execute(select(table.c.id).where(table.c.idempotency_key.in_(keys[i:i + 500])).limit(1)).first():
            raise PageRefused("a key of this page was posted before")
    ids = sorted({a for a, _, _ in legs} | {contra})
    if contra in {a for a, _, _ in legs}:
        raise PageRefused("an entry needs two different accounts")
    accounts = Account.__table__  # type: ignore[attr-defined]
    balance: dict[int, int] = {}
    sign: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        stmt = select(accounts.c.id, accounts.c.balance, accounts.c.credit_normal).where(
            accounts.c.id.in_(ids[i:i + 500])).order_by(accounts.c.id)
        for aid, bal, credit in conn.execute(stmt if conn.dialect.name == "sqlite" else stmt.with_for_update()):
            balance[aid], sign[aid] = int(bal), -1 if credit else 1
    if len(balance) != len(ids):
        raise PageRefused("an account of this page does not exist")
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for account_id, amount, key in legs:
        for aid, amt, k in ((account_id, amount, key), (contra, -amount, f"{key}/contra")):
            balance[aid] += sign[aid] * amt
            if balance[aid] < 0:
                raise PageRefused(f"account {aid} would go below zero")
            rows.append({"account_id": aid, "amount": amt, "kind": kind, "idempotency_key": k,
                         "balance_after": balance[aid], "created_at": now, "entry": key})
    conn.execute(table.insert(), rows)
    conn.execute(accounts.update().where(accounts.c.id == bindparam("aid")).values(balance=bindparam("bal")),
                 [{"aid": aid, "bal": bal} for aid, bal in balance.items()])
