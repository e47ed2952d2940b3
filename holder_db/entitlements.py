"""Imports for benefit payment: entitlements to pay (待遇) and the records other departments share (death,
imprisonment, activity evidence), on holder_db's bulk machinery (line-numbered rejects, good rows in, a rerun
adds nothing).

    entitlements: entitlement_id,ssn,benefit,period,amount,bank_account    (benefit a code of the benefit-kinds
                                                                           table, amount in fen, period YYYY-MM)
    records:      ssn,kind,date                                           (kind death|imprisonment|activity,
                                                                           date YYYYMMDD or YYYY-MM-DD)
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from holder_db import ledger, models
from holder_db.bulk import ImportSpec
from holder_db.kinds import benefit_kinds
from holder_db.validate import FieldError, check_ssn

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_ACCOUNT = re.compile(r"^\d{12,32}$")
MAX_FEN = ledger.MAX_FEN


def _ssn(row: Mapping[str, str]) -> str:
    ssn = (row.get("ssn") or "").strip().upper()
    check_ssn(ssn)
    return ssn


def entitlement_row(row: Mapping[str, str]) -> dict[str, Any]:
    """Validate one entitlement line into the entitlements table's values."""
    eid = (row.get("entitlement_id") or "").strip()
    if not _ID.match(eid):
        raise FieldError("entitlement_id", "must be 1-64 letters, digits or _.:/- (starting with a letter or digit)")
    ssn = _ssn(row)
    benefit = (row.get("benefit") or "").strip()
    if benefit not in benefit_kinds():
        raise FieldError("benefit", "must be a code of the benefit-kinds table ("
                         + ", ".join(benefit_kinds()) + ")")
    period = (row.get("period") or "").strip()
    if not _PERIOD.match(period):
        raise FieldError("period", "must be YYYY-MM")
    amount_text = (row.get("amount") or "").strip()
    if not (amount_text.isascii() and amount_text.isdigit()):
        raise FieldError("amount", "must be a whole, non-negative number of fen")
    amount = int(amount_text) if len(amount_text) <= 20 else MAX_FEN + 1
    if amount > MAX_FEN:
        raise FieldError("amount", f"must be at most {MAX_FEN} fen")
    account = (row.get("bank_account") or "").strip()
    if not _ACCOUNT.match(account):
        raise FieldError("bank_account", "must be 12-32 digits")
    return {"entitlement_id": eid, "ssn": ssn, "benefit": benefit, "period": period, "amount": amount,
            "bank_account": account, "status": "due"}


def _date(text: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise FieldError("date", "must be a real date, YYYYMMDD or YYYY-MM-DD")


def record_row(row: Mapping[str, str], today: dt.date | None = None) -> dict[str, Any]:
    """Validate one shared record into the shared_records table's values."""
    ssn = _ssn(row)
    kind = (row.get("kind") or "").strip().lower()
    if kind not in models.RECORD_KINDS:
        raise FieldError("kind", f"must be one of {', '.join(models.RECORD_KINDS)}")
    date = _date(row.get("date") or "")
    if date > (today or dt.date.today()):
        raise FieldError("date", "is in the future")
    return {"ssn": ssn, "kind": kind, "date": date}


ENTITLEMENT_IMPORT = ImportSpec(
    table=models.Entitlement.__table__,  # type: ignore[attr-defined]
    header=("entitlement_id", "ssn", "benefit", "period", "amount", "bank_account"),
    validate=entitlement_row,
    key=lambda values: values["entitlement_id"],
    conflict=("entitlement_id",),
    defaults=lambda: {"created_at": models.utcnow()},
    compare=("ssn", "benefit", "period", "amount", "bank_account"),
    frozen=("status", ("paid",)),  # money that went out is corrected by a new entitlement, never by editing
    subject="entitlement",
)

RECORD_IMPORT = ImportSpec(
    table=models.SharedRecord.__table__,  # type: ignore[attr-defined]
    header=("ssn", "kind", "date"),
    validate=record_row,
    key=lambda values: (values["ssn"], values["kind"], values["date"]),
    conflict=("ssn", "kind", "date"),
    defaults=lambda: {"created_at": models.utcnow(), "source": "import"},
)
