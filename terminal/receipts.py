"""Receipts: every payment, settlement and refund leaves one, as text for the holder and JSON for the records.

The holder appears only masked (cardlib.idnumber.mask) and a bank account only as its masked number; amounts stay
in integer fen in the JSON and are shown as yuan in the text.

A receipt and its money move together: the folder is made and proven writable (`ready`) before any money moves,
each receipt is written beside its final names (`prepare`) before its posting commits, put in place once it did
(`Pending.keep`) and removed if it did not (`Pending.drop`). A folder that cannot be made or written is a
ReceiptError naming it, never an OSError after a payment.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cardlib.idnumber import mask
from cardlib.pboc import mask_pan

TITLES = {"payment": "待遇发放回单 (benefit payment)", "settlement": "就医结算单 (medical settlement)",
          "refund": "结算退费单 (settlement refund)"}
LABELS = {
    "entitlement_id": "待遇编号 entitlement", "benefit": "待遇 benefit", "period": "期间 period",
    "amount": "金额 amount", "bank_account": "账户 account", "settlement_id": "结算号 settlement",
    "refund_of": "原结算号 refund of", "total": "总额 total", "out_of_catalog": "目录外 out of catalog",
    "self_pay_first": "先行自付 self pay first", "deductible": "起付线 deductible", "fund": "统筹 fund",
    "account": "个人账户 account", "cash": "现金 cash", "card_no": "卡号 card",
}
MONEY = {"amount", "total", "out_of_catalog", "self_pay_first", "deductible", "fund", "account", "cash"}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import: a receipt gets the mode a plain file would (mkstemp makes 0600)


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals, without floating point."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


@dataclass(frozen=True)
class Receipt:
    kind: str
    receipt_id: str
    holder: str  # masked ID number, never the full one
    fields: dict[str, Any] = field(default_factory=dict)
    at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "receipt_id": self.receipt_id, "at": self.at, "holder": self.holder,
                **self.fields}

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)

    def as_text(self) -> str:
        lines = [TITLES.get(self.kind, self.kind), f"编号 receipt: {self.receipt_id}", f"时间 time: {self.at}",
                 f"持卡人 holder: {self.holder}"]
        for key, value in self.fields.items():
            shown = f"{yuan(value)} 元" if key in MONEY and isinstance(value, int) else value
            lines.append(f"{LABELS.get(key, key)}: {shown}")
        return "\n".join(lines) + "\n"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def payment(entitlement_id: str, ssn: str, benefit: str, period: str, amount: int, bank_account: str,
            *, at: str | None = None) -> Receipt:
    return Receipt("payment", f"PAY-{entitlement_id}", mask(ssn), {
        "entitlement_id": entitlement_id, "benefit": benefit, "period": period, "amount": amount,
        "bank_account": mask_pan(bank_account)}, at or _now())


def settlement(settlement_id: str, ssn: str, split: dict[str, int], *, at: str | None = None) -> Receipt:
    return Receipt("settlement", f"SET-{settlement_id}", mask(ssn), {"settlement_id": settlement_id, **split},
                   at or _now())


def refund(settlement_id: str, ssn: str, split: dict[str, int], *, at: str | None = None) -> Receipt:
    return Receipt("refund", f"REF-{settlement_id}", mask(ssn), {"refund_of": settlement_id, **split}, at or _now())


class ReceiptError(RuntimeError):
    """A receipt could not be written: the message names the folder and why. `moved` is False when the money it
    was for did not move (the usual case: the receipt is written first)."""

    def __init__(self, message: str, *, moved: bool = False) -> None:
        super().__init__(message)
        self.moved = moved


def _failed(directory: Path, exc: OSError) -> ReceiptError:
    return ReceiptError(f"receipts folder {directory}: cannot be made or written ({exc.strerror or exc})")


def ready(directory: str | Path) -> Path:
    """The receipts folder, made if missing and proven writable (a probe file made and removed); ReceiptError if
    it cannot be. Called before any money moves."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _failed(out, exc) from None
    return out


@dataclass
class Pending:
    """A receipt written under temporary names beside its final ones: `keep` puts it in place, `drop` removes it."""

    moves: list[tuple[Path, Path]]  # (written, final)

    def keep(self) -> tuple[Path, Path]:
        try:
            for written, final in self.moves:
                os.replace(written, final)
        except OSError as exc:
            raise ReceiptError(f"the money moved but its receipt {self.moves[0][1].stem} could not be put in place "
                               f"in {self.moves[0][1].parent} ({exc.strerror or exc})", moved=True) from None
        return self.moves[0][1], self.moves[1][1]

    def drop(self) -> None:
        for written, _final in self.moves:
            try:
                written.unlink(missing_ok=True)
            except OSError:
                pass


def prepare(receipt: Receipt, directory: str | Path) -> Pending:
    """Write NAME.txt and NAME.json under temporary names in the directory (made if missing); ReceiptError, with
    nothing left behind, if they cannot be written."""
    out = Path(directory)
    stem = _SAFE.sub("_", receipt.receipt_id)
    pending = Pending([])
    try:
        out.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".txt", receipt.as_text()), (".json", receipt.as_json() + "\n")):
            fd, name = tempfile.mkstemp(dir=out, prefix=f".{stem}{suffix}.", suffix=".tmp")
            pending.moves.append((Path(name), out / f"{stem}{suffix}"))
            os.fchmod(fd, 0o666 & ~_UMASK)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
    except OSError as exc:
        pending.drop()
        raise _failed(out, exc) from None
    return pending


def write(receipt: Receipt, directory: str | Path) -> tuple[Path, Path]:
    """Write NAME.txt and NAME.json into the directory (atomically each), returning both paths."""
    return prepare(receipt, directory).keep()


def with_receipt(receipt: Receipt | None, directory: str | Path | None, move: Callable[[], bool]) -> bool:
    """Run `move` (a posting; True when the money moved) with its receipt written first: kept when it moved,
    removed when it did not or raised. With no directory, just `move`."""
    if receipt is None or directory is None:
        return move()
    pending = prepare(receipt, directory)
    try:
        moved = move()
    except BaseException:
        pending.drop()
        raise
    if moved:
        pending.keep()
    else:
        pending.drop()
    return moved


def with_receipts(receipts_: list[Receipt], directory: str | Path | None,
                  move: Callable[[int], set[int]]) -> set[int]:
    """`with_receipt` for a page of postings made in one transaction: every receipt is written first, then
    `move(n)` posts the first n (returning the indexes whose money moved), then those receipts are kept and the
    others removed; if it raises, all are removed. A receipt that cannot be written stops the page there as it
    would stop one-by-one payments: the ones before it are posted, it and the rest are not, and its ReceiptError
    is raised. With no directory, just `move`."""
    if directory is None:
        return move(len(receipts_))
    pending: list[Pending] = []
    unwritten: ReceiptError | None = None
    try:
        for receipt in receipts_:
            pending.append(prepare(receipt, directory))
    except ReceiptError as exc:
        unwritten = exc
    try:
        moved = move(len(pending)) if pending else set()
    except BaseException:
        for p in pending:
            p.drop()
        raise
    for i, p in enumerate(pending):
        if i not in moved:
            p.drop()
    failed: ReceiptError | None = None
    for i, p in enumerate(pending):
        if i in moved:
            try:
                p.keep()
            except ReceiptError as exc:  # the money moved: put the others in place before saying so
                failed = failed or exc
    if failed is not None or unwritten is not None:
        raise failed or unwritten  # type: ignore[misc]
    return moved
