"""The audit trail: who read or changed what. Subjects are stored masked; rows are append-only."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from cardlib.idnumber import mask
from holder_db.models import AuditEntry, Holder, utcnow


def _values(actor: str, action: str, ssn: str | None, holder_id: int | None, sensitive: bool,
            detail: str) -> dict[str, Any]:
    return {"at": utcnow(), "actor": actor, "action": action, "subject": mask(ssn) if ssn else "",
            "holder_id": holder_id, "sensitive": sensitive, "detail": detail}


def record(db: Session | Connection, actor: str, action: str, *, ssn: str | None = None,
           holder_id: int | None = None, sensitive: bool = False, detail: str = "") -> None:
    """Append one audit row in the caller's transaction (a Session or a Core Connection). `ssn` is masked before
    it is stored (and names the holder row when `holder_id` is not given); `detail` must not hold secrets or full
    ID numbers."""
    if holder_id is None and ssn:
        holder_id = db.execute(select(Holder.id).where(Holder.ssn == ssn)).scalar()
    stmt = insert(AuditEntry.__table__).values(**_values(actor, action, ssn, holder_id, sensitive, detail))  # type: ignore[attr-defined]
    db.execute(stmt)


def sensitive_read(db: Session | Connection, actor: str, action: str, *, ssn: str | None = None,
                   holder_id: int | None = None, detail: str = "") -> None:
    """Record a read of personal data (a holder shown, a terminal lookup)."""
    record(db, actor, action, ssn=ssn, holder_id=holder_id, sensitive=True, detail=detail)


def entries(session: Session, *, holder_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest audit rows, optionally for one holder."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)  # type: ignore[union-attr]
    if holder_id is not None:
        stmt = stmt.where(AuditEntry.holder_id == holder_id)
    return list(session.scalars(stmt))
