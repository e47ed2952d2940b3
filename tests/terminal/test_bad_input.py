"""Bad input never crashes: arbitrary bills, import rows and gate lines give a refusal with a reason."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecard.keys import new_key
from holder_db.entitlements import entitlement_row, record_row
from holder_db.validate import FieldError
from ecard import verify as qr_verify
from terminal import settlement
from terminal.gate import Gate, run

from .test_settlement import POLICY

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(level=json_values, items=json_values)
def test_any_bill_is_parsed_or_refused(level, items):
    for data in ({"level": level, "items": items}, items):
        try:
            bill = settlement.parse_bill(data, POLICY)
        except settlement.BillError as exc:
            assert str(exc)
        else:
            s = settlement.split(POLICY, bill)
            assert s.fund + s.account + s.cash == s.total


@settings(max_examples=200, deadline=None)
@given(row=st.fixed_dictionaries({k: st.text(max_size=40) for k in
                                  ("entitlement_id", "ssn", "benefit", "period", "amount", "bank_account", "kind",
                                   "date")}))
def test_any_import_row_is_accepted_or_named(row):
    for validate in (entitlement_row, record_row):
        try:
            values = validate(row)
        except FieldError as exc:
            assert exc.field in row
            assert len(row["ssn"].strip()) < 18 or row["ssn"].strip() not in str(exc)
        else:
            assert values["ssn"] == row["ssn"].strip().upper()


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    keys = new_key(d / "keys")
    (d / "jwks.json").write_text(json.dumps(keys.jwks()), encoding="utf-8")
    g = Gate(d / "cache", jwks_file=d / "jwks.json")
    g.start()
    return g


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.text(max_size=600) | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                                            max_size=600).map(lambda t: "SSC1:" + t))
def test_gate_decides_any_line(gate, line):
    answers = list(run(gate, [line], as_json=True))
    assert len(answers) == (1 if line.strip() else 0)
    for answer in answers:
        decided = json.loads(answer)
        assert decided["valid"] is False and decided["reason"] in qr_verify.REASONS


def test_a_huge_bill_on_the_cli_is_one_line_whatever_the_mode(tmp_path):
    from click.testing import CliRunner

    from cli import main
    from holder_db import store

    from .ids import ssn
    from .test_settlement import POLICY_TOML

    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.init(url)
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    for amount in (10**29, 2**63 + 1):
        (tmp_path / "b.json").write_text(json.dumps({"level": "3", "items": [
            {"code": "A1", "category": "A", "amount": amount}]}), encoding="utf-8")
        for mode in (["--quote"], ["--ssn", ssn()], ["--quote", "--balance", str(10**20)]):
            out = CliRunner().invoke(main, ["terminal", "settle", "--policy", str(tmp_path / "p.toml"), "--bill",
                                            str(tmp_path / "b.json"), "--db", url, *mode])
            assert out.exit_code == 1 and isinstance(out.exception, SystemExit), (mode, out.output)
            assert out.output.count("\n") == 1 and "at most 1000000000000000 fen" in out.output
    store.dispose(url)
