"""The ledger as a bureau audits it: after a payment batch, contributions, settlements and refunds every entry has
two legs, the postings sum to zero and each balance is its postings, on both engines; an old single-entry
database is brought to balance by the migration."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import text

from cli import main
from holder_db import ledger, store
from tests.terminal.conftest import add_holder
from tests.terminal.ids import ssn
from tests.terminal.test_settlement import POLICY_TOML

OLD, OLD2, YOUNG = ssn("19500101", "111"), ssn("19510101", "121"), ssn("19900606", "666")


def run(*args: object) -> tuple[int, dict]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, json.loads(r.stdout.splitlines()[-1]) if r.stdout.strip() else {}


def test_batch_contributions_settlements_refunds_balance(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for n, who in enumerate([OLD, OLD2, YOUNG]):
        add_holder(db_url, who, card_no=f"A0000000{n}")
    (tmp_path / "e.csv").write_text(
        "entitlement_id,ssn,benefit,period,amount,bank_account\n"
        f"E1,{OLD},pension,2026-01,250000,6222000000000001\n"
        f"E1-AGAIN,{OLD},pension,2026-01,250000,6222000000000001\n"     # the same payment under another id
        f"E2,{OLD2},pension,2026-01,0,6222000000000002\n"                # nothing to pay
        f"E3,{YOUNG},retirement,2026-01,90000,6222000000000003\n"       # 退休金 at 36
        f"E4,{OLD2},pension,2030-01,180000,6222000000000002\n", encoding="utf-8")
    assert run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url, "--json")[1]["imported"] == 5
    for _ in range(2):
        code, out = run("terminal", "pay", "--period", "2026-01", "--db", db_url, "--receipts", tmp_path / "rc",
                        "--json")
        assert code == 0
    assert out["paid"] == [] and {h["entitlement_id"]: h["reasons"] for h in out["held"]} == {
        "E1-AGAIN": ["duplicate_entitlement"], "E3": ["abnormal_age"]}
    assert {"entitlement_id": "E2", "reason": "zero_amount"} in out["skipped"]
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == ["PAY-E1.json", "PAY-E1.txt"]
    future = run("terminal", "pay", "--period", "2030-01", "--db", db_url, "--json")[1]
    assert future["held"] == [{"entitlement_id": "E4", "reasons": ["future_period"]}]

    (tmp_path / "c.csv").write_text(f"ssn,amount,period\n{OLD},60000,2026-01\n{OLD2},60000,2026-01\n"
                                    f"{OLD},60000,2026-01\n{YOUNG},abc,2026-01\n", encoding="utf-8")
    code, funded = run("db", "fund", tmp_path / "c.csv", "--db", db_url, "--json")
    assert code == 0 and (funded["paid"], funded["skipped"], funded["total"]) == (2, 1, 120000)
    assert [r["line"] for r in funded["rejected"]] == [5]

    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"level": "3", "items": [
        {"code": "A1", "category": "A", "amount": 100000}, {"code": "C1", "category": "C", "amount": 20000}]}))
    settled = []
    for who in (OLD, OLD2, OLD):
        code, out = run("terminal", "settle", "--policy", tmp_path / "p.toml", "--bill", tmp_path / "b.json",
                        "--ssn", who, "--db", db_url, "--year", "2026", "--json")
        assert code == 0, out
        settled.append(out)
    assert settled[0]["account"] > 0  # the contribution is a real balance the settlement meets
    assert run("terminal", "refund", settled[1]["settlement_id"], "--db", db_url, "--json")[0] == 0

    code, report = run("db", "ledger", "check", "--db", db_url, "--json")
    assert code == 0 and report["ok"] and report["sum"] == 0, report
    with store.get_engine(db_url).connect() as conn:
        kinds = dict(conn.execute(text("SELECT ref, balance FROM accounts WHERE kind = 'fund'")).all())
        legs = conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one()
    assert kinds["fund:benefits"] == 250000 and kinds["fund:medical"] == 120000
    kept = (settled[0], settled[2])  # settled[1] was refunded: its account and fund shares came back
    assert kinds["fund:medical-pool"] == sum(out["fund"] for out in kept) > 0  # the pooled fund's share is posted
    assert kinds["clearing:settlements"] == sum(out["account"] + out["fund"] for out in kept)
    moved = sum(bool(out[part]) for out in settled for part in ("account", "fund"))
    moved += bool(settled[1]["account"]) + bool(settled[1]["fund"])  # the refund's entries
    assert legs == report["postings"] == 2 * (1 + 2 + moved)

    code, shown = run("db", "fund", "--db", db_url, "--json")  # without FILE or --ssn: what each fund moved
    assert code == 0
    assert {f["fund"]: f["balance"] for f in shown["funds"]} == kinds
    assert {f["fund"]: f["pays_out"] for f in shown["funds"]}["fund:medical-pool"] is True


def test_a_refund_of_a_settlement_from_before_the_fund_leg_balances(db_url: str) -> None:
    """A settlement an older sscard made (its fund share never posted) refunds without taking back a fund share
    the books never had: the refund goes through and the ledger still balances."""
    add_holder(db_url, OLD, card_no="A00000009")
    with store.get_engine(db_url).begin() as conn:
        holder = conn.execute(text("SELECT id FROM holders WHERE ssn = :s"), {"s": OLD}).scalar_one()
        conn.execute(text("INSERT INTO settlements (settlement_id, holder_id, year, level, status, created_at, total, "
                          "out_of_catalog, self_pay_first, deductible, fund, account, cash) VALUES ('S-OLD', :h, "
                          "2026, '3', 'settled', CURRENT_TIMESTAMP, 100000, 0, 0, 0, 60000, 0, 40000)"), {"h": holder})
    assert run("terminal", "refund", "S-OLD", "--db", db_url, "--json")[0] == 0
    report = ledger.check(db_url)
    assert report.ok and report.postings == 0, report.as_dict()


def test_ledger_check_finds_a_tampered_balance(db_url: str) -> None:
    account = ledger.open_account(db_url, "bank", "6222000000000777")
    ledger.post(db_url, account, 500, "benefit", "x-1")
    with store.get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance + 1 WHERE id = :id"), {"id": account})
    code, report = run("db", "ledger", "check", "--db", db_url, "--json")
    assert code == 1 and not report["ok"]
    assert report["wrong_balances"] == [{"account": account, "kind": "bank", "ref": "622200******0777",
                                         "balance": 501, "postings_say": 500}]


def test_an_old_single_entry_database_is_balanced_by_the_migration(empty_db_url: str) -> None:
    from holder_db import migrate

    migrate.upgrade(store.get_engine(empty_db_url), "0001")
    with store.get_engine(empty_db_url).begin() as conn:
        conn.execute(text("INSERT INTO accounts (kind, ref, balance, created_at) VALUES "
                          "('bank', '6222000000000001', 700, CURRENT_TIMESTAMP)"))
        account = conn.execute(text("SELECT id FROM accounts")).scalar_one()
        for key, amount, after in (("old-1", 1000, 1000), ("old-2", -300, 700)):
            conn.execute(text("INSERT INTO postings (account_id, amount, kind, idempotency_key, balance_after, "
                              "created_at) VALUES (:a, :m, 'benefit', :k, :b, CURRENT_TIMESTAMP)"),
                         {"a": account, "m": amount, "k": key, "b": after})
    migrate.upgrade(store.get_engine(empty_db_url))
    report = ledger.check(empty_db_url)
    assert report.ok and report.postings == 4, report.as_dict()
    assert ledger.balance(empty_db_url, account) == 700
    ledger.post(empty_db_url, account, -200, "withdraw", "new-1")
    assert ledger.check(empty_db_url).ok
