"""Read questions the other parts ask of holder_db: who is this (by ID number, card number or card id), what state
is the card in, what does the holder's medical account hold. Reads of personal data by a person or terminal are
audited by the caller with `holder_db.audit.sensitive_read`; `holder_view` does it itself when given an actor."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from cardlib.idnumber import mask
from holder_db import audit, standing
from holder_db.fastread import SHOW_FIELDS, SHOW_PURPOSE
from holder_db.models import Account, BankAccount, Card, Enrolment, Holder, MedicalAccount, SharedRecord


def holder_by_ssn(session: Session, ssn: str) -> Holder | None:
    return session.scalars(select(Holder).where(Holder.ssn == ssn.strip().upper())).first()


_HOLDER_COLUMNS = Holder.__table__.c  # type: ignore[attr-defined]
_BY_SSN = select(_HOLDER_COLUMNS).where(_HOLDER_COLUMNS.ssn == bindparam("ssn"))
_by_ssn_cache: dict[tuple[str, str], tuple[str, bool, list[tuple[str, Any]]]] = {}


def _by_ssn_statement(dialect: Any) -> tuple[str, bool, list[tuple[str, Any]]]:
    key = (dialect.name, dialect.paramstyle)
    hit = _by_ssn_cache.get(key)
    if hit is None:
        compiled = _BY_SSN.compile(dialect=dialect)
        columns = [(c.name, c.type._cached_result_processor(dialect, None)) for c in _HOLDER_COLUMNS]
        hit = _by_ssn_cache[key] = (compiled.string, bool(compiled.positiontup), columns)
    return hit


def holder_row_by_ssn(conn: Connection, ssn: str) -> dict[str, Any] | None:
    """The holder's row as a dict: the fast path for terminals' lookups. The statement is compiled by SQLAlchemy
    once per dialect and run on the driver's cursor, so a lookup costs little more than the database's own work."""
    sql, positional, columns = _by_ssn_statement(conn.dialect)
    key = ssn.strip().upper()
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, (key,) if positional else {"ssn": key})
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    return {name: (proc(value) if proc else value) for (name, proc), value in zip(columns, row)}


def holder_by_card_no(session: Session, card_no: str) -> Holder | None:
    stmt = select(Holder).join(Card, Card.holder_id == Holder.id).where(Card.card_no == card_no)
    return session.scalars(stmt).first()


def holder_by_card_id(session: Session, card_id: str) -> Holder | None:
    stmt = select(Holder).join(Card, Card.holder_id == Holder.id).where(Card.card_id == card_id.upper())
    return session.scalars(stmt).first()


def card_by_no(session: Session, card_no: str) -> Card | None:
    return session.scalars(select(Card).where(Card.card_no == card_no)).first()


def card_by_id(session: Session, card_id: str) -> Card | None:
    return session.scalars(select(Card).where(Card.card_id == card_id.upper())).first()


def card_status(session: Session, card_no: str) -> str | None:
    """The status of the card with this number, or None when there is no such card."""
    return session.scalars(select(Card.status).where(Card.card_no == card_no)).first()


def cards_of(session: Session, holder_id: int) -> list[Card]:
    return list(session.scalars(select(Card).where(Card.holder_id == holder_id).order_by(Card.id)))


def current_card(session: Session, holder_id: int) -> Card | None:
    """The holder's current card, by the one rule (holder_db.standing.pick_current)."""
    return standing.pick_current(cards_of(session, holder_id))


def card_status_by_ssn(session: Session, ssns: list[str]) -> dict[str, str | None]:
    """For each ID number, the status of the holder's current card (None: no holder or no card)."""
    return standing.card_status_by_ssn(session, ssns)


def enrolments_of(session: Session, holder_id: int) -> list[Enrolment]:
    return list(session.scalars(select(Enrolment).where(Enrolment.holder_id == holder_id).order_by(Enrolment.id)))


def bank_accounts_of(session: Session, holder_id: int) -> list[BankAccount]:
    return list(session.scalars(select(BankAccount).where(BankAccount.holder_id == holder_id)
                                .order_by(BankAccount.id)))


def shared_records(session: Session, ssns: list[str]) -> list[SharedRecord]:
    if not ssns:
        return []
    return list(session.scalars(select(SharedRecord).where(SharedRecord.ssn.in_(ssns))  # type: ignore[attr-defined]
                                .order_by(SharedRecord.date)))


def death_date(session: Session, ssn: str) -> dt.date | None:
    stmt = select(SharedRecord.date).where(SharedRecord.ssn == ssn, SharedRecord.kind == "death")
    return session.scalars(stmt.order_by(SharedRecord.date)).first()


def medical_usage(session: Session, holder_id: int, year: int) -> dict[str, int]:
    """This year's counters and the personal account balance, in fen (zeros when nothing is on record)."""
    row = session.scalars(select(MedicalAccount).where(MedicalAccount.holder_id == holder_id,
                                                       MedicalAccount.year == year)).first()
    balance = 0
    account = session.scalars(select(Account).where(Account.kind == "medical", Account.holder_id == holder_id)).first()
    if account is not None:
        balance = account.balance
    return {"year": year, "balance": balance, "deductible_used": row.deductible_used if row else 0,
            "fund_paid": row.fund_paid if row else 0}


def holder_view(session: Session, ssn: str, *, actor: str | None = None) -> dict[str, Any] | None:
    """The holder with cards and enrolments, ID number masked, ready to print or serialise; when `actor` is given
    the read is audited as sensitive."""
    holder = holder_by_ssn(session, ssn)
    if holder is None:
        return None
    if actor is not None:
        audit.sensitive_read(session, actor, "holder.show", ssn=holder.ssn, holder_id=holder.id,
                             purpose=SHOW_PURPOSE, fields=SHOW_FIELDS.split(","))
    return {
        "ssn": mask(holder.ssn),
        "name": holder.name,
        "gender": holder.gender,
        "nation": holder.nation,
        "birth_date": holder.birth_date.isoformat(),
        "birthplace": holder.birthplace,
        "region": holder.region,
        "cards": [{"card_no": c.card_no, "card_id": c.card_id, "status": c.status, "region": c.region,
                   "issued_on": c.issued_on.isoformat() if c.issued_on else None,
                   "expires_on": c.expires_on.isoformat() if c.expires_on else None}
                  for c in cards_of(session, holder.id)],  # type: ignore[arg-type]
        "enrolments": [{"insurance": e.insurance, "region": e.region, "status": e.status,
                        "start_date": e.start_date.isoformat(),
                        "end_date": e.end_date.isoformat() if e.end_date else None}
                       for e in enrolments_of(session, holder.id)],  # type: ignore[arg-type]
    }


def benefits_paid(session: Session, holder_id: int, limit: int = 60) -> list[dict[str, Any]]:
    """The benefits money went out for to this holder, newest first: each of their entitlements with the ledger
    posting that paid it (keyed by the entitlement id, whether a payment run or a kiosk paid it). What the posting
    moved is the amount, its time the payment's; the bank account is masked and no ID number is in the answer."""
    from cardlib.pboc import mask_pan
    from holder_db.kinds import benefit_kinds
    from holder_db.models import Entitlement, Posting

    holder = session.get(Holder, holder_id)
    if holder is None:
        return []
    rows = session.exec(  # type: ignore[call-overload]
        select(Entitlement.benefit, Entitlement.period, Entitlement.bank_account, Posting.amount, Posting.created_at)
        .join(Posting, Posting.idempotency_key == Entitlement.entitlement_id)  # type: ignore[arg-type]
        .where(Entitlement.ssn == holder.ssn, Posting.kind == "benefit")
        .order_by(Posting.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    kinds = benefit_kinds()
    return [{"benefit": r.benefit, "benefit_name": kinds[r.benefit].name if r.benefit in kinds else r.benefit,
             "period": r.period, "amount": int(r.amount), "paid_at": r.created_at.isoformat(timespec="seconds"),
             "bank_account_masked": mask_pan(r.bank_account)} for r in rows]
