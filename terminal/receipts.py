"""Receipts: every payment, settlement and refund leaves one, as text for the holder and JSON for the records.

The holder appears only masked (cardlib.idnumber.mask) and a bank account only as its masked number; amounts stay
in integer fen in the JSON and are shown as yuan in the text.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def write(receipt: Receipt, directory: str | Path) -> tuple[Path, Path]:
    """Write NAME.txt and NAME.json into the directory (atomically each), returning both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stem = _SAFE.sub("_", receipt.receipt_id)
    paths = (out / f"{stem}.txt", out / f"{stem}.json")
    for path, text in zip(paths, (receipt.as_text(), receipt.as_json() + "\n")):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return paths
