"""The audit trail: who read or changed what, why and which fields. Subjects are stored masked; rows are
append-only (the database refuses UPDATE and DELETE, models.APPEND_ONLY).

The holder sees their own part of it (`access_log`): every read of their record, with who read it, when, why
(the purpose) and which fields, and every e-card presentation they approved (a login, a credential issued)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from cardlib.idnumber import mask
from holder_db.models import AuditEntry, Holder, utcnow

# actions that are an e-card presentation the holder approved on their device, and what each is called
PRESENTATIONS = {
    "ecard.login": "scan-to-login approved",
    "ecard.offline_credential": "offline credentials issued",
    "ecard.sd_jwt": "SD-JWT credentials issued",
}
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
MAX_PAGE = 200


def _fields(fields: Iterable[str]) -> str:
    return ",".join(dict.fromkeys(f.strip() for f in fields if f.strip()))[:200]


def _values(actor: str, action: str, ssn: str | None, holder_id: int | None, sensitive: bool,
            detail: str, purpose: str, fields: Iterable[str]) -> dict[str, Any]:
    return {"at": utcnow(), "actor": actor, "action": action, "subject": mask(ssn) if ssn else "",
            "holder_id": holder_id, "sensitive": sensitive, "detail": detail, "purpose": purpose[:60],
            "fields": _fields(fields)}


def record(db: Session | Connection, actor: str, action: str, *, ssn: str | None = None,
           holder_id: int | None = None, sensitive: bool = False, detail: str = "", purpose: str = "",
           fields: Iterable[str] = ()) -> None:
    """Append one audit row in the caller's transaction (a Session or a Core Connection). `ssn` is masked before
    it is stored (and names the holder row when `holder_id` is not given); `detail` must not hold secrets or full
    ID numbers. `purpose` and `fields` say why the holder's record was read and which parts of it."""
    if holder_id is None and ssn:
        holder_id = db.execute(select(Holder.id).where(Holder.ssn == ssn)).scalar()
    stmt = insert(AuditEntry.__table__).values(  # type: ignore[attr-defined]
        **_values(actor, action, ssn, holder_id, sensitive, detail, purpose, fields))
    db.execute(stmt)


def record_many(conn: Connection, actor: str, action: str, rows: Iterable[tuple[str, int | None, str]]) -> None:
    """`record` for many (ssn, holder id, detail) of one actor and action: one executemany (a payment page)."""
    values = [_values(actor, action, ssn, holder_id, False, detail, "", ()) for ssn, holder_id, detail in rows]
    if values:
        conn.execute(insert(AuditEntry.__table__), values)  # type: ignore[attr-defined]


def sensitive_read(db: Session | Connection, actor: str, action: str, *, ssn: str | None = None,
                   holder_id: int | None = None, detail: str = "", purpose: str = "",
                   fields: Iterable[str] = ()) -> None:
    """Record a read of personal data (a holder shown, a terminal lookup): who, why and which fields."""
    record(db, actor, action, ssn=ssn, holder_id=holder_id, sensitive=True, detail=detail, purpose=purpose,
           fields=fields)


def entries(session: Session, *, holder_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest audit rows, optionally for one holder."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)  # type: ignore[union-attr]
    if holder_id is not None:
        stmt = stmt.where(AuditEntry.holder_id == holder_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Access:
    """One line of a holder's access log, as the holder is shown it (no full ID number anywhere)."""

    id: int
    at: dt.datetime
    who: str
    why: str
    fields: list[str]
    kind: str  # "read" | "presentation"
    action: str
    detail: str


def access_of(row: Any) -> Access:
    """The holder's view of one audit row: the purpose, or what the action is, as `why`; any ID number left in a
    detail masked (details must not hold one, but the holder is shown nothing less safe than the bureau)."""
    kind = "presentation" if row.action in PRESENTATIONS else "read"
    why = row.purpose or PRESENTATIONS.get(row.action, "") or row.action
    detail = _ID_LIKE.sub(lambda m: mask(m.group(0)), row.detail or "")
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.timezone.utc)
    return Access(row.id, at, row.actor, why, [f for f in (row.fields or "").split(",") if f], kind, row.action,
                  detail)


def access_log(db: Session | Connection, holder_id: int, *, before: int | None = None,
               limit: int = 50) -> tuple[list[Access], int | None]:
    """The holder's reads and approved presentations, newest first, `limit` at a time: the page and the cursor for
    the next one (`before`), None on the last page."""
    limit = max(1, min(limit, MAX_PAGE))
    a = AuditEntry
    stmt = (select(a.id, a.at, a.actor, a.action, a.purpose, a.fields, a.detail)
            .where(a.holder_id == holder_id, or_(a.sensitive.is_(True), a.action.in_(list(PRESENTATIONS))))  # type: ignore[attr-defined,union-attr]
            .order_by(a.id.desc()).limit(limit + 1))  # type: ignore[union-attr]
    if before is not None:
        stmt = stmt.where(a.id < before)  # type: ignore[operator]
    rows = list(db.execute(stmt))
    page = [access_of(r) for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)
