"""`sscard terminal settle --quote`: the split as JSON, refusals as one line, no traceback."""
from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main

from .test_settlement import POLICY_TOML


def run(tmp_path, bill, *extra):
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(bill), encoding="utf-8")
    return CliRunner().invoke(main, ["terminal", "settle", "--policy", str(tmp_path / "p.toml"), "--bill",
                                     str(tmp_path / "b.json"), "--quote", *extra])


def test_quote_prints_the_split(tmp_path):
    bill = {"level": "3", "items": [{"code": "A1", "category": "A", "amount": 100000},
                                    {"code": "B1", "category": "B", "amount": 50000},
                                    {"code": "C1", "category": "C", "amount": 20000}]}
    result = run(tmp_path, bill, "--ssn", "ignored-by-quote", "--balance", "1000000", "--deductible-used", "80000",
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"total": 170000, "out_of_catalog": 20000, "self_pay_first": 5000,
                                         "deductible": 0, "fund": 116000, "account": 34000, "cash": 20000}


def test_quote_refuses_unknown_category_naming_the_item(tmp_path):
    bill = {"level": "3", "items": [{"code": "OK", "category": "A", "amount": 1},
                                    {"code": "BAD", "category": "Z", "amount": 1}]}
    result = run(tmp_path, bill, "--json")
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["ok"] is False and "item 2 ('BAD')" in out["error"] and "Traceback" not in result.output


def test_both_reader_and_ssn_refused(tmp_path):
    result = run(tmp_path, {"level": "1", "items": []}, "--ssn", "x", "--reader", "y")
    assert result.exit_code == 1 and "exactly one" in result.output
