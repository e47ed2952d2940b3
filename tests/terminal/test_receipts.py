"""Receipts: masked identity, exact yuan formatting, text and JSON written atomically."""
from __future__ import annotations

import json

import pytest

from terminal import receipts

from .ids import ssn

SSN = ssn("19550101", "123")


@pytest.mark.parametrize("fen,text", [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123456, "1234.56"), (-250, "-2.50"),
                                      (10**15 + 1, "10000000000000.01")])
def test_yuan(fen, text):
    assert receipts.yuan(fen) == text


def test_payment_receipt_masks_identity_and_account(tmp_path):
    r = receipts.payment("E-1/x", SSN, "pension", "2026-01", 123456, "6222021234567890123", at="2026-01-31T00:00:00")
    txt, js = receipts.write(r, tmp_path)
    text, data = txt.read_text(encoding="utf-8"), json.loads(js.read_text(encoding="utf-8"))
    for shown in (text, js.read_text(encoding="utf-8")):
        assert SSN not in shown and "6222021234567890123" not in shown
    assert data["holder"] == SSN[:6] + "********" + SSN[-4:]
    assert data["amount"] == 123456 and data["bank_account"] == "622202*********0123"
    assert "1234.56 元" in text
    assert txt.name == "PAY-E-1_x.txt"  # the id cannot escape the directory
    assert not list(tmp_path.glob("*.tmp"))


def test_settlement_receipt_carries_the_split():
    split = {"total": 170000, "out_of_catalog": 20000, "self_pay_first": 5000, "deductible": 80000, "fund": 52000,
             "account": 10000, "cash": 108000}
    r = receipts.settlement("S7", SSN, split)
    assert {k: r.as_dict()[k] for k in split} == split
    assert "统筹 fund: 520.00 元" in r.as_text() and SSN not in r.as_text()
    assert receipts.refund("S7", SSN, split).as_dict()["refund_of"] == "S7"
