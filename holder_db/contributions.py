"""Contributions into personal medical accounts (个人账户): each a ledger entry out of `fund:medical`, once per
holder and period (idempotency key `contribution:<ssn>:<period>`), so `settle --ssn` meets a real balance and a
rerun of the same file pays nothing twice.

    file: ssn,amount,period      (amount in fen, period YYYY-MM)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Engine

from holder_db import bulk, ledger, models, store
from holder_db.validate import FieldError, check_ssn

HEADER = ("ssn", "amount", "period")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_BATCH = 1000


@dataclass
class FundResult:
    rows: int = 0
    paid: int = 0
    skipped: int = 0
    total: int = 0
    rejected: list[bulk.Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "paid": self.paid, "skipped": self.skipped, "total": self.total,
                "rejected": [{"line": r.line, "lines": r.lines, "reason": r.reason} for r in self.rejected]}


def read(path: Path, encoding: str | None = None) -> list[tuple[int, int, dict[str, str]]]:
    return list(bulk.read_csv(path, HEADER, encoding=encoding))


def contribution_row(row: Mapping[str, str]) -> tuple[str, int, str]:
    ssn = (row.get("ssn") or "").strip().upper()
    check_ssn(ssn)
    text = (row.get("amount") or "").strip()
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise FieldError("amount", "must be a whole, positive number of fen")
    amount = int(text)
    if amount > ledger.MAX_FEN:
        raise FieldError("amount", f"must be at most {ledger.MAX_FEN} fen")
    period = (row.get("period") or "").strip()
    if not _PERIOD.match(period):
        raise FieldError("period", "must be YYYY-MM")
    return ssn, amount, period


def fund(engine: Engine, rows: Iterable[tuple[int, int, Mapping[str, str]]], *,
         progress: Callable[[int], None] | None = None) -> FundResult:
    """Pay each valid row into the holder's medical account; rows in batches of one transaction each."""
    result = FundResult()
    H = models.Holder.__table__  # type: ignore[attr-defined]
    pending = list(rows)
    for start in range(0, len(pending), _BATCH):
        chunk = pending[start:start + _BATCH]
        with store.write_connection(engine) as conn:
            for line, span, row in chunk:
                result.rows += span
                error = row.get("__error__")
                if error is not None:
                    result.rejected.append(bulk.Rejection(line, error, span))
                    continue
                try:
                    ssn, amount, period = contribution_row(row)
                except ValueError as exc:
                    result.rejected.append(bulk.Rejection(line, str(exc)))
                    continue
                holder_id = conn.execute(select(H.c.id).where(H.c.ssn == ssn)).scalar()
                if holder_id is None:
                    result.rejected.append(bulk.Rejection(line, "ssn: no holder with that ID number in the store"))
                    continue
                account = ledger.open_account(conn, "medical", f"medical:{ssn}", holder_id)
                try:
                    posted = ledger.post(conn, account, amount, "contribution", f"contribution:{ssn}:{period}")
                except ledger.KeyReused:
                    result.rejected.append(bulk.Rejection(line, f"amount: {period} was already paid in with a "
                                                                "different amount"))
                    continue
                if posted.applied:
                    result.paid += 1
                    result.total += amount
                else:
                    result.skipped += 1
        if progress:
            progress(len(chunk))
    return result
