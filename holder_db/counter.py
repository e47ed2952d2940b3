"""holder_db as the counter terminals need it (terminal/dbstore.py adapts it to the flows' types): entitlements and their payment, shared records, card status, the
medical personal account with its annual counters, settlements and refunds, identity lookups.

Every money movement is a holder_db.ledger posting (append-only, unique idempotency key) made in the same
transaction as the rows it explains (entitlement paid, counters, settlement); SQLite takes the write lock up front
(BEGIN IMMEDIATE), PostgreSQL locks the counters it reads (SELECT ... FOR UPDATE), so concurrent terminals never
lose an update or pay a key twice. Who may be settled is holder_db.standing's answer.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cardlib.idnumber import mask
from holder_db import audit, certification, ledger, models, standing, store
from holder_db.standing import Refused, Standing

E = models.Entitlement.__table__  # type: ignore[attr-defined]
R = models.SharedRecord.__table__  # type: ignore[attr-defined]
H = models.Holder.__table__  # type: ignore[attr-defined]
C = models.Card.__table__  # type: ignore[attr-defined]
A = models.Account.__table__  # type: ignore[attr-defined]
P = models.Posting.__table__  # type: ignore[attr-defined]
M = models.MedicalAccount.__table__  # type: ignore[attr-defined]
S = models.Settlement.__table__  # type: ignore[attr-defined]
B = models.EcardBinding.__table__  # type: ignore[attr-defined]
K = models.EcardCode.__table__  # type: ignore[attr-defined]
ACTOR = "terminal"


StoreRefused = Refused


@dataclass(frozen=True)
class Counters:
    """A holder's medical year so far, in fen: the personal account balance and what was used."""

    balance: int = 0
    deductible_used: int = 0
    fund_used: int = 0


class _Split(Protocol):
    deductible: int
    fund: int
    account: int

    def as_dict(self) -> dict[str, int]: ...


T = TypeVar("T", bound=_Split)


@dataclass(frozen=True)
class EntitlementRow:
    entitlement_id: str
    ssn: str
    benefit: str
    period: str
    amount: int
    bank_account: str


@dataclass(frozen=True)
class RecordRow:
    ssn: str
    kind: str
    date: dt.date


def _entitlement(row: Any) -> EntitlementRow:
    return EntitlementRow(row.entitlement_id, row.ssn, row.benefit, row.period, row.amount, row.bank_account)


def _for_update(conn: Connection, stmt: Any) -> Any:
    return stmt if store.is_sqlite(conn) else stmt.with_for_update()


# what a settlement reads of the holder's record, and why (the holder's access log shows it)
SETTLEMENT_READ = ("medical settlement", ("card_status", "death_date", "enrolments", "medical_account"))
IDENTITY_FIELDS = ("ssn", "card_no", "card_id", "card_status", "death_date", "enrolments")


def _audit(conn: Connection, action: str, ssn: str, detail: str = "", holder_id: int | None = None,
           read: tuple[str, tuple[str, ...]] | None = None) -> None:
    purpose, fields = read or ("", ())
    audit.record(conn, ACTOR, action, ssn=ssn, holder_id=holder_id, detail=detail, sensitive=read is not None,
                 purpose=purpose, fields=fields)


def _insert_new(conn: Connection, table: Any, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, so racing creators of one row do not fail."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def _account(conn: Connection, kind: str, ref: str, holder_id: int | None) -> int:
    """The ledger account's id, created (balance 0) if missing."""
    return ledger.open_account(conn, kind, ref, holder_id)


def post(conn: Connection, account_id: int, amount: int, kind: str, key: str, contra: int | None = None) -> bool:
    """holder_db's ledger posting in the caller's transaction. False (nothing done) if the key was posted before;
    StoreRefused if the balance would go negative."""
    try:
        return ledger.post(conn, account_id, amount, kind, key, contra=contra).applied
    except ledger.KeyReused:
        return False  # e.g. a kiosk paid this entitlement into the card's account; the key is spent either way
    except ledger.Overdraft as exc:
        raise StoreRefused(str(exc)) from None


class CounterStore:
    """holder_db for payment, settlement and identity at a counter."""

    def __init__(self, url: str | Engine | None = None) -> None:
        self.engine = url if isinstance(url, Engine) else store.get_engine(url)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with store.write_connection(self.engine) as conn:
            yield conn

    # ---- payment ----

    def due(self, period: str) -> list[EntitlementRow]:
        with self._read() as conn:
            rows = conn.execute(select(E).where(E.c.period == period, E.c.status.in_(("due", "held", "paid")))
                                .order_by(E.c.entitlement_id)).all()
        return [_entitlement(r) for r in rows]

    def pending_for(self, ssn: str, up_to_period: str) -> list[EntitlementRow]:
        with self._read() as conn:
            rows = conn.execute(select(E).where(E.c.ssn == ssn, E.c.period <= up_to_period,
                                                E.c.status.in_(("due", "held"))).order_by(E.c.period)).all()
        return [_entitlement(r) for r in rows]

    def all_entitlements(self) -> list[EntitlementRow]:
        with self._read() as conn:
            rows = conn.execute(select(E).where(E.c.status != "cancelled")).all()
        return [_entitlement(r) for r in rows]

    def paid_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        found: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                found |= set(conn.execute(select(P.c.idempotency_key).where(P.c.idempotency_key.in_(chunk))).scalars())
        return found

    def records(self, ssns: Iterable[str]) -> list[RecordRow]:
        wanted = list(set(ssns))
        out: list[RecordRow] = []
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                rows = conn.execute(select(R.c.ssn, R.c.kind, R.c.date).where(R.c.ssn.in_(wanted[i:i + 500]))).all()
                out += [RecordRow(r.ssn, r.kind, r.date) for r in rows]
        return out

    def card_status(self, ssns: Iterable[str]) -> dict[str, str | None]:
        """Per holder, the state of the current card (holder_db.standing); None without holder or card."""
        with self._read() as conn:
            return standing.card_status_by_ssn(conn, ssns)

    @staticmethod
    def _pay(conn: Connection, entitlement: Any, bank_account: str, fund: int | None = None) -> bool:
        """One benefit payment in the caller's transaction: the posting, the entitlement paid, the audit row.
        `fund`: the benefits fund's account, when the caller looked it up once for a page."""
        holder_id = conn.execute(select(H.c.id).where(H.c.ssn == entitlement.ssn)).scalar()
        account_id = _account(conn, "bank", bank_account, holder_id)
        if not post(conn, account_id, entitlement.amount, "benefit", entitlement.entitlement_id, fund):
            return False
        conn.execute(update(E).where(E.c.entitlement_id == entitlement.entitlement_id).values(status="paid"))
        _audit(conn, "benefit_paid", entitlement.ssn, entitlement.entitlement_id, holder_id)
        return True

    def post_many(self, payments: list[tuple[Any, str]]) -> set[str]:
        """`post` for a page of (entitlement, bank account) in one transaction and a few statements per page (the
        holders, the bank accounts opened, both legs of every payment (ledger.post_page), the entitlements marked
        paid, the audit rows); the ids applied. A page that cannot go set-wise (a key posted before: a kiosk paid
        one into the card's account, or a concurrent run) or any error (a concurrent run's key committed first:
        IntegrityError) rolls the whole page back and is raised, for the caller to pay that page one by one
        through `post`."""
        if not payments:
            return set()
        with self._write() as conn:
            fund = ledger.fund_for(conn, "benefit")
            ssns = sorted({e.ssn for e, _ in payments})
            holder: dict[str, int] = {}
            for i in range(0, len(ssns), 500):
                holder.update(conn.execute(select(H.c.ssn, H.c.id).where(H.c.ssn.in_(ssns[i:i + 500]))).all())
            refs = sorted({account for _, account in payments})
            first_holder = {account: holder.get(e.ssn) for e, account in reversed(payments)}
            for ref in refs:
                if not ref or len(ref) > 64:
                    raise ledger.LedgerError("account reference must be 1 to 64 characters")
            now = models.utcnow()
            conn.execute(_insert_new(conn, A, ("kind", "ref")),
                         [{"kind": "bank", "ref": ref, "holder_id": first_holder[ref], "balance": 0,
                           "created_at": now, "credit_normal": False} for ref in refs])
            account_id: dict[str, int] = {}
            for i in range(0, len(refs), 500):
                account_id.update(conn.execute(select(A.c.ref, A.c.id).where(
                    A.c.kind == "bank", A.c.ref.in_(refs[i:i + 500]))).all())
            ledger.post_page(conn, [(account_id[a], e.amount, e.entitlement_id) for e, a in payments], "benefit",
                             fund)
            ids = [e.entitlement_id for e, _ in payments]
            for i in range(0, len(ids), 500):
                conn.execute(update(E).where(E.c.entitlement_id.in_(ids[i:i + 500])).values(status="paid"))
            audit.record_many(conn, ACTOR, "benefit_paid",
                              [(e.ssn, holder.get(e.ssn), e.entitlement_id) for e, _ in payments])
            return set(ids)

    def post(self, entitlement: Any, bank_account: str) -> bool:
        try:
            with self._write() as conn:
                if not self._pay(conn, entitlement, bank_account):
                    return False
        except IntegrityError:
            if self.paid_ids([entitlement.entitlement_id]):
                return False  # a concurrent run posted the same key first; its transaction won, ours rolled back
            raise
        return True

    def count_due(self, period: str) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(E).where(
                E.c.period == period, E.c.status.in_(("due", "held", "paid")))).scalar_one()

    def due_batches(self, period: str, size: int = 5000) -> Iterator[list[EntitlementRow]]:
        """`due`, `size` rows at a time by entitlement id (keyset pages: each page one short query)."""
        last = ""
        while True:
            with self._read() as conn:
                rows = conn.execute(select(E).where(E.c.period == period, E.c.status.in_(("due", "held", "paid")),
                                                    E.c.entitlement_id > last)
                                    .order_by(E.c.entitlement_id).limit(size)).all()
            if not rows:
                return
            yield [_entitlement(r) for r in rows]
            last = rows[-1].entitlement_id

    def due_of(self, period: str, ssns: Iterable[str]) -> list[EntitlementRow]:
        wanted = list(set(ssns))
        out: list[EntitlementRow] = []
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                rows = conn.execute(select(E).where(E.c.period == period, E.c.status.in_(("due", "held", "paid")),
                                                    E.c.ssn.in_(wanted[i:i + 500]))).all()
                out += [_entitlement(r) for r in rows]
        return out

    def shared_accounts(self) -> dict[str, set[str]]:
        """Bank account -> holders, only for the accounts paid entitlements of more than one holder."""
        live = E.c.status != "cancelled"
        shared = (select(E.c.bank_account).where(live).group_by(E.c.bank_account)
                  .having(func.count(func.distinct(E.c.ssn)) > 1).subquery())
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            for account, ssn in conn.execute(select(E.c.bank_account, E.c.ssn).distinct()
                                             .where(live, E.c.bank_account.in_(select(shared.c.bank_account)))):
                out.setdefault(account, set()).add(ssn)
        return out

    def certified_years(self, ssns: Iterable[str], years: Iterable[int]) -> dict[str, set[int]]:
        """Per holder, the years among `years` they are certified for (holder_db.certification)."""
        with self._read() as conn:
            return certification.certified_years(conn, ssns, years)

    def mark_held(self, ids: Iterable[str]) -> None:
        wanted = list(ids)
        with self._write() as conn:
            for i in range(0, len(wanted), 500):
                conn.execute(update(E).where(E.c.entitlement_id.in_(wanted[i:i + 500]), E.c.status == "due")
                             .values(status="held"))

    # ---- medical settlement ----

    def _holder(self, conn: Connection, ssn: str) -> int:
        holder_id = conn.execute(select(H.c.id).where(H.c.ssn == ssn)).scalar()
        if holder_id is None:
            raise StoreRefused(f"no holder {mask(ssn)} in holder_db")
        return holder_id

    def _medical(self, conn: Connection, ssn: str, holder_id: int, year: int) -> Any:
        row = conn.execute(_for_update(conn, select(M).where(M.c.holder_id == holder_id, M.c.year == year))).first()
        if row is None:
            account_id = _account(conn, "medical", f"medical:{ssn}", holder_id)
            conn.execute(_insert_new(conn, M, ("holder_id", "year")).values(
                holder_id=holder_id, year=year, deductible_used=0, fund_paid=0, account_id=account_id))
            row = conn.execute(_for_update(conn, select(M).where(M.c.holder_id == holder_id, M.c.year == year))).one()
        if row.account_id is None:
            account_id = _account(conn, "medical", f"medical:{ssn}", holder_id)
            conn.execute(update(M).where(M.c.id == row.id).values(account_id=account_id))
            row = conn.execute(select(M).where(M.c.id == row.id)).one()
        return row

    def usage(self, ssn: str, year: int) -> Counters:
        with self._read() as conn:
            holder_id = conn.execute(select(H.c.id).where(H.c.ssn == ssn)).scalar()
            if holder_id is None:
                raise StoreRefused(f"no holder {mask(ssn)} in holder_db")
            row = conn.execute(select(M.c.deductible_used, M.c.fund_paid, A.c.balance)
                               .join(A, A.c.id == M.c.account_id, isouter=True)
                               .where(M.c.holder_id == holder_id, M.c.year == year)).first()
            if row is None:
                balance = conn.execute(select(A.c.balance).where(A.c.kind == "medical",
                                                                 A.c.ref == f"medical:{ssn}")).scalar()
                return Counters(balance or 0, 0, 0)
            return Counters(row.balance or 0, row.deductible_used, row.fund_paid)

    def credit_medical(self, ssn: str, amount: int, key: str) -> bool:
        """Pay into a holder's medical personal account (e.g. the yearly allocation)."""
        with self._write() as conn:
            holder_id = self._holder(conn, ssn)
            return post(conn, _account(conn, "medical", f"medical:{ssn}", holder_id), amount, "allocation", key)

    @contextmanager
    def settlement(self, ssn: str, year: int, compute: Callable[[Counters], T], settlement_id: str,
                   level: str) -> Iterator[T]:
        """One transaction: check the holder may be served (current card active, alive, enrolled in medical
        insurance), lock the holder's counters, compute the split from them, apply it and record the settlement.
        The caller's block runs before the commit (the card write): if it raises, nothing is kept."""
        with self._write() as conn:
            holder_id = self._holder(conn, ssn)
            why = standing.refusal(standing.standing_of(conn, holder_id=holder_id), insurance="medical")
            if why is not None:
                raise Refused.of(why)
            med = self._medical(conn, ssn, holder_id, year)
            balance = conn.execute(select(A.c.balance).where(A.c.id == med.account_id)).scalar_one()
            result = compute(Counters(balance, med.deductible_used, med.fund_paid))
            conn.execute(update(M).where(M.c.id == med.id).values(
                deductible_used=M.c.deductible_used + result.deductible, fund_paid=M.c.fund_paid + result.fund))
            if result.account:
                post(conn, med.account_id, -result.account, "settlement", f"settlement:{settlement_id}")
            if result.fund:  # the pooled fund pays its share to the clearing account: the books see all of it
                post(conn, ledger.fund_for(conn, "settlement"), result.fund, "settlement_fund",
                     f"settlement:{settlement_id}/fund")
            conn.execute(insert(S).values(settlement_id=settlement_id, holder_id=holder_id, year=year, level=level,
                                          status="settled", created_at=models.utcnow(), **result.as_dict()))
            _audit(conn, "settlement", ssn, settlement_id, holder_id, SETTLEMENT_READ)
            yield result

    def refund(self, settlement_id: str, *, before_commit: Callable[[str, dict[str, int], str], None] | None = None
               ) -> tuple[str, dict[str, int], str]:
        """Reverse a settled settlement: counters and account back, status refunded; returns (ssn, split, level).
        `before_commit(ssn, split, level)` runs inside the transaction (a receipt written with it): if it raises,
        nothing is reversed."""
        with self._write() as conn:
            s = conn.execute(_for_update(conn, select(S).where(S.c.settlement_id == settlement_id))).first()
            if s is None:
                raise StoreRefused(f"no settlement {settlement_id!r}")
            if s.status != "settled":
                raise StoreRefused(f"settlement {settlement_id!r} is {s.status}, only a settled one can be refunded")
            ssn = conn.execute(select(H.c.ssn).where(H.c.id == s.holder_id)).scalar_one()
            med = self._medical(conn, ssn, s.holder_id, s.year)
            conn.execute(update(M).where(M.c.id == med.id).values(
                deductible_used=func.max(M.c.deductible_used - s.deductible, 0) if store.is_sqlite(conn)
                else func.greatest(M.c.deductible_used - s.deductible, 0),
                fund_paid=func.max(M.c.fund_paid - s.fund, 0) if store.is_sqlite(conn)
                else func.greatest(M.c.fund_paid - s.fund, 0)))
            if s.account:
                post(conn, med.account_id, s.account, "refund", f"refund:{settlement_id}")
            if s.fund and ledger.is_posted(conn, [f"settlement:{settlement_id}/fund"]):  # older ones never posted it
                post(conn, ledger.fund_for(conn, "refund"), -s.fund, "refund_fund", f"refund:{settlement_id}/fund")
            conn.execute(update(S).where(S.c.id == s.id).values(status="refunded", refunded_at=models.utcnow()))
            _audit(conn, "refund", ssn, settlement_id, s.holder_id)
            split = {k: getattr(s, k) for k in ("total", "out_of_catalog", "self_pay_first", "deductible", "fund",
                                                "account", "cash")}
            if before_commit is not None:
                before_commit(ssn, split, s.level)
        return ssn, split, s.level

    def settlements_of(self, ssn: str) -> dict[str, str]:
        """settlement id -> status, for one holder."""
        with self._read() as conn:
            rows = conn.execute(select(S.c.settlement_id, S.c.status).join(H, H.c.id == S.c.holder_id)
                                .where(H.c.ssn == ssn)).all()
        return {r.settlement_id: r.status for r in rows}

    def audit(self, action: str, ssn: str, detail: str) -> None:
        with self._write() as conn:
            _audit(conn, action, ssn, detail, conn.execute(select(H.c.id).where(H.c.ssn == ssn)).scalar())

    # ---- identity ----

    def standing(self, *, ssn: str | None = None, card_no: str | None = None,
                 holder_id: int | None = None) -> Standing | None:
        """The holder (by ssn, card number or id) with the current card, death record and enrolments."""
        with self._read() as conn:
            return standing.standing_of(conn, ssn=ssn, card_no=card_no, holder_id=holder_id)

    def binding_holder(self, status_index: int) -> tuple[int, bool] | None:
        """(holder id, revoked?) of the e-card binding that owns a status-list index: the binding's own, or that of
        the unlinkable code (holder_db.models.EcardCode) the index was drawn for."""
        with self._read() as conn:
            row = conn.execute(select(B.c.holder_id, B.c.revoked_at).where(B.c.status_index == status_index)).first()
            if row is None:
                row = conn.execute(select(B.c.holder_id, B.c.revoked_at).join(K, K.c.binding_id == B.c.id)
                                   .where(K.c.status_index == status_index)).first()
        return None if row is None else (row.holder_id, row.revoked_at is not None)

    def note_read(self, holder_id: int, actor: str, purpose: str, fields: tuple[str, ...] = IDENTITY_FIELDS,
                  action: str = "holder.identify") -> None:
        """Record that `actor` read this holder's record, why and which fields (the holder's access log)."""
        with self._write() as conn:
            audit.sensitive_read(conn, actor[:120], action, holder_id=holder_id, purpose=purpose, fields=fields)

