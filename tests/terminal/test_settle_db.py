"""Real settlements against holder_db (no card): counters and personal account move in one transaction, refunds
give everything back, bad input and unknown holders are refused with a message."""
from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main
from terminal.dbstore import DbStore
from terminal.settlement import Usage

from .conftest import add_holder
from .ids import ssn
from .test_settlement import POLICY_TOML

WHO = ssn("19600101", "123")
BILL = {"level": "3", "items": [{"code": "A1", "category": "A", "amount": 100000},
                                {"code": "B1", "category": "B", "amount": 50000},
                                {"code": "C1", "category": "C", "amount": 20000}]}


def settle(tmp_path, db_url, *args, bill=BILL):
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(bill), encoding="utf-8")
    r = CliRunner().invoke(main, ["terminal", "settle", "--policy", str(tmp_path / "p.toml"), "--bill",
                                  str(tmp_path / "b.json"), "--db", db_url, "--receipts", str(tmp_path / "rc"),
                                  "--year", "2026", "--json", *args])
    return r.exit_code, json.loads(r.output.splitlines()[-1])


def refund(tmp_path, db_url, sid):
    r = CliRunner().invoke(main, ["terminal", "refund", sid, "--db", db_url, "--receipts", str(tmp_path / "rc"),
                                  "--json"])
    return r.exit_code, json.loads(r.output.splitlines()[-1])


def test_settle_refund_cycle(db_url, tmp_path):
    add_holder(db_url, WHO, card_no="A00000001")
    db = DbStore(db_url)
    assert db.credit_medical(WHO, 100000, "alloc-2026")
    assert not db.credit_medical(WHO, 100000, "alloc-2026")  # idempotent

    code, first = settle(tmp_path, db_url, "--ssn", WHO)
    assert code == 0, first
    assert {k: first[k] for k in ("deductible", "fund", "account", "cash")} == {
        "deductible": 80000, "fund": 52000, "account": 98000, "cash": 20000}
    assert db.usage(WHO, 2026) == Usage(balance=2000, deductible_used=80000, fund_used=52000)

    code, second = settle(tmp_path, db_url, "--ssn", WHO)
    assert code == 0 and (second["deductible"], second["fund"], second["account"], second["cash"]) == (0, 116000, 2000, 52000)
    assert db.usage(WHO, 2026) == Usage(0, 80000, 168000)

    code, back = refund(tmp_path, db_url, first["settlement_id"])
    assert code == 0 and back["refunded"] is True and back["account"] == 98000
    assert db.usage(WHO, 2026) == Usage(98000, 0, 116000)
    code, again = refund(tmp_path, db_url, first["settlement_id"])
    assert code == 1 and "is refunded" in again["error"]
    assert db.settlements_of(WHO) == {first["settlement_id"]: "refunded", second["settlement_id"]: "settled"}

    names = sorted(p.name for p in (tmp_path / "rc").iterdir())
    assert f"SET-{first['settlement_id']}.json" in names and f"REF-{first['settlement_id']}.txt" in names
    for p in (tmp_path / "rc").iterdir():
        assert WHO not in p.read_text(encoding="utf-8")


def test_refusals(db_url, tmp_path):
    code, out = settle(tmp_path, db_url, "--ssn", WHO)
    assert code == 1 and "no holder" in out["error"] and WHO not in out["error"]
    add_holder(db_url, WHO, card_no="A00000070")
    code, out = settle(tmp_path, db_url, "--ssn", WHO, bill={"level": "7", "items": []})
    assert code == 1 and "level '7'" in out["error"]
    code, out = refund(tmp_path, db_url, "S-NOPE")
    assert code == 1 and "no settlement" in out["error"]
    assert DbStore(db_url).usage(WHO, 2026) == Usage(0, 0, 0)


def test_concurrent_settlements_share_one_deductible_and_balance(db_url):
    import threading

    from terminal import settle as flow
    from terminal.settlement import parse_bill, parse_policy

    add_holder(db_url, WHO, card_no="A00000084")
    DbStore(db_url).credit_medical(WHO, 50000, "alloc")
    policy = parse_policy(POLICY_TOML)
    bill = parse_bill({"level": "1", "items": [{"code": "A", "category": "A", "amount": 100000}]}, policy)
    done = []
    threads = [threading.Thread(target=lambda: done.append(flow.settle_db(DbStore(db_url), WHO, policy, bill,
                                                                          year=2026))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 4
    assert sum(d.split["deductible"] for d in done) == 80000
    assert sum(d.split["account"] for d in done) == 50000
    assert DbStore(db_url).usage(WHO, 2026) == Usage(0, 80000, sum(d.split["fund"] for d in done))
