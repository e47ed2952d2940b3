"""Benefit payment end to end on holder_db through the CLI: imports with line-numbered rejects, a batch that holds
back the deceased, the imprisoned, shared accounts, abnormal ages and inactive cards, pays the rest exactly once."""
from __future__ import annotations

import json
import threading

import pytest

from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from holder_db import models, store
from terminal import payment
from terminal.dbstore import DbStore
from terminal.risk import Entitlement

from .conftest import add_holder
from .ids import ssn

OK1, OK2 = ssn("19500101", "111"), ssn("19510101", "121")
SHARE1, SHARE2 = ssn("19520202", "222"), ssn("19530303", "232")
DEAD, JAILED, YOUNG, LOST = (ssn("19400404", "444"), ssn("19450505", "555"), ssn("19900606", "666"),
                             ssn("19550707", "777"))


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def setup_holders(url):
    for n, who in enumerate([OK1, OK2, SHARE1, SHARE2, DEAD, JAILED, YOUNG]):
        add_holder(url, who, card_no=f"A0000000{n}")
    add_holder(url, LOST, card_no="A00000099", card_status="lost")


ENTITLEMENTS = f"""entitlement_id,ssn,benefit,period,amount,bank_account
E-OK1,{OK1},pension,2026-01,250000,6222000000000001
E-OK2,{OK2},pension,2026-01,180050,6222000000000002
E-SH1,{SHARE1},pension,2026-01,200000,6222000000009999
E-SH2,{SHARE2},pension,2026-01,200000,6222000000009999
E-DEAD,{DEAD},pension,2026-01,300000,6222000000000005
E-JAIL,{JAILED},pension,2026-01,300000,6222000000000006
E-YOUNG,{YOUNG},pension,2026-01,300000,6222000000000007
E-LOST,{LOST},pension,2026-01,300000,6222000000000008
E-FEB,{OK1},pension,2026-02,250000,6222000000000001
E-BAD1,{OK1[:-1]}0,pension,2026-01,1,6222000000000001
E-BAD2,{OK1},pension,2026-13,1,6222000000000001
E-BAD3,{OK1},pension,2026-01,12.50,6222000000000001
E-BAD4,{OK1},pension,2026-01,-5,6222000000000001
E-BAD5,{OK1},pension,2026-01,5,62220000
E-OK1,{OK1},pension,2026-01,250000,6222000000000001
"""

RECORDS = f"""ssn,kind,date
{DEAD},death,20251120
{JAILED},imprisonment,2024-03-01
{OK2},activity,20260105
{OK1},death,20990101
{OK1},abducted,20200101
{OK1[:-1]}0,death,20200101
"""


def test_batch_pays_once_and_holds_with_reasons(db_url, tmp_path):
    setup_holders(db_url)
    (tmp_path / "e.csv").write_text(ENTITLEMENTS, encoding="utf-8")
    (tmp_path / "r.csv").write_text(RECORDS, encoding="utf-8")
    imported = run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url, "--json")
    assert imported.exit_code == 0, imported.output
    data = json.loads(imported.output.splitlines()[-1])
    assert data["imported"] == 9 and data["skipped"] == 1
    assert [r["line"] for r in data["rejected"]] == [11, 12, 13, 14, 15]
    reasons = {r["line"]: r["reason"] for r in data["rejected"]}
    assert reasons[11].startswith("ssn:") and reasons[12].startswith("period:") and reasons[13].startswith("amount:")
    assert reasons[15].startswith("bank_account:") and OK1 not in imported.output
    again = json.loads(run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url, "--json")
                       .output.splitlines()[-1])
    assert again["imported"] == 0 and again["skipped"] == 10

    records = json.loads(run("db", "import-records", tmp_path / "r.csv", "--db", db_url, "--json")
                         .output.splitlines()[-1])
    assert records["imported"] == 3 and [r["line"] for r in records["rejected"]] == [5, 6, 7]

    first = run("terminal", "pay", "--period", "2026-01", "--db", db_url, "--receipts", tmp_path / "rc", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.output.splitlines()[-1])
    assert out["period"] == "2026-01"
    assert out["paid"] == [{"entitlement_id": "E-OK1", "amount": 250000}, {"entitlement_id": "E-OK2", "amount": 180050}]
    assert {h["entitlement_id"]: h["reasons"] for h in out["held"]} == {
        "E-SH1": ["shared_account"], "E-SH2": ["shared_account"], "E-DEAD": ["deceased"], "E-JAIL": ["imprisoned"],
        "E-YOUNG": ["abnormal_age"], "E-LOST": ["card_not_active"]}
    assert out["skipped"] == [] and out["total_paid"] == 430050
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == [
        "PAY-E-OK1.json", "PAY-E-OK1.txt", "PAY-E-OK2.json", "PAY-E-OK2.txt"]
    receipt = (tmp_path / "rc" / "PAY-E-OK1.txt").read_text(encoding="utf-8")
    assert OK1 not in receipt and "2500.00 元" in receipt

    second = json.loads(run("terminal", "pay", "--period", "2026-01", "--db", db_url, "--json").output.splitlines()[-1])
    assert second["paid"] == [] and second["total_paid"] == 0
    assert second["skipped"] == [{"entitlement_id": "E-OK1", "reason": "already_paid"},
                                 {"entitlement_id": "E-OK2", "reason": "already_paid"}]
    assert len(second["held"]) == 6

    with store.get_engine(db_url).connect() as conn:
        balances = dict(conn.execute(select(models.Account.ref, models.Account.balance)
                                     .where(models.Account.kind == "bank")).all())
        postings = conn.execute(select(func.count()).select_from(models.Posting)).scalar_one()
    assert balances == {"6222000000000001": 250000, "6222000000000002": 180050} and postings == 4  # double entry
    check = run("db", "ledger", "check", "--db", db_url, "--json")
    assert check.exit_code == 0 and json.loads(check.output)["ok"] is True


def test_bad_period_and_missing_file(db_url, tmp_path):
    bad = run("terminal", "pay", "--period", "2026-1", "--db", db_url, "--json")
    assert bad.exit_code == 1 and "YYYY-MM" in json.loads(bad.output)["error"]
    missing = run("db", "import-records", tmp_path / "nope.csv", "--db", db_url, "--json")
    assert missing.exit_code == 1 and "cannot read" in missing.output
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    header = run("db", "import-entitlements", tmp_path / "wrong.csv", "--db", db_url, "--json")
    assert header.exit_code == 1 and "header must be" in header.output


def test_concurrent_batches_never_pay_twice(db_url):
    setup_holders(db_url)
    store_ = DbStore(db_url)
    ents = [Entitlement(f"C{i}", OK1, "pension", "2026-03", 100 + i, "6222000000000001") for i in range(40)]
    decisions = [payment.Decision(e, "pay") for e in ents]
    outcomes = []

    def batch():
        outcomes.append(payment.execute(DbStore(db_url), "2026-03", decisions))

    threads = [threading.Thread(target=batch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paid = [p["entitlement_id"] for o in outcomes for p in o.paid]
    assert sorted(paid) == sorted(e.entitlement_id for e in ents)
    assert sum(len(o.skipped) for o in outcomes) == 80
    assert store_.paid_ids(e.entitlement_id for e in ents) == {e.entitlement_id for e in ents}
    with store.get_engine(db_url).connect() as conn:
        balance = conn.execute(select(models.Account.balance).where(models.Account.ref == "6222000000000001")).scalar()
    assert balance == sum(e.amount for e in ents)


def _page_setup(db_url):
    setup_holders(db_url)
    who = [OK1, OK2, SHARE1, SHARE2]
    return [Entitlement(f"P{i:02d}", who[i % 4], "pension", "2026-04", 1000 + i, f"62220000000001{i % 4:02d}")
            for i in range(23)]


def _money(db_url):
    with store.get_engine(db_url).connect() as conn:
        postings = conn.execute(select(func.count()).select_from(models.Posting)).scalar_one()
        paid_audit = conn.execute(select(func.count()).select_from(models.AuditEntry)
                                  .where(models.AuditEntry.action == "benefit_paid")).scalar_one()
        banked = conn.execute(select(func.coalesce(func.sum(models.Account.balance), 0))
                              .where(models.Account.kind == "bank")).scalar_one()
    return postings, paid_audit, banked


def test_pages_pay_each_once_with_their_receipts_and_a_rerun_pays_nothing(db_url, tmp_path):
    ents = _page_setup(db_url)
    decisions = [payment.Decision(e, "pay") for e in ents]
    decisions.insert(5, payment.Decision(ents[0], "hold", ("deceased",)))  # order kept around the pages
    first = payment.execute(DbStore(db_url), "2026-04", decisions, receipts_dir=tmp_path / "rc", page=7)
    assert [p["entitlement_id"] for p in first.paid] == [e.entitlement_id for e in ents]
    assert first.total_paid == sum(e.amount for e in ents) and first.counts["held"] == 1
    assert _money(db_url) == (2 * len(ents), len(ents), sum(e.amount for e in ents))
    names = sorted(p.name for p in (tmp_path / "rc").iterdir())
    assert names == sorted(f"PAY-{e.entitlement_id}{s}" for e in ents for s in (".json", ".txt"))
    again = payment.execute(DbStore(db_url), "2026-04", decisions, receipts_dir=tmp_path / "rc", page=7)
    assert again.paid == [] and again.counts["skipped"] == len(ents)
    assert {s["reason"] for s in again.skipped} == {"already_paid"}
    assert _money(db_url) == (2 * len(ents), len(ents), sum(e.amount for e in ents))
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == names  # no temp receipt left behind
    assert run("db", "ledger", "check", "--db", db_url, "--json").exit_code == 0


def test_a_page_with_keys_already_posted_pays_only_the_others(db_url, tmp_path):
    ents = _page_setup(db_url)[:6]
    db = DbStore(db_url)
    assert db.post(ents[1], ents[1].bank_account)  # paid before, same posting
    assert db.post(ents[4], "6222000000000999")  # key spent on another account: KeyReused, never paid again
    dup = [payment.Decision(e, "pay") for e in ents] + [payment.Decision(ents[2], "pay")]  # an id twice
    out = payment.execute(db, "2026-04", dup, receipts_dir=tmp_path / "rc", page=50)
    assert [p["entitlement_id"] for p in out.paid] == ["P00", "P02", "P03", "P05"]
    assert [s["entitlement_id"] for s in out.skipped] == ["P01", "P04", "P02"]
    assert _money(db_url)[:2] == (2 * 6, 6)
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == sorted(
        f"PAY-{i}{s}" for i in ("P00", "P02", "P03", "P05") for s in (".json", ".txt"))


def test_concurrent_paged_runs_never_pay_twice(db_url):
    ents = _page_setup(db_url)
    decisions = [payment.Decision(e, "pay") for e in ents]
    outcomes = []

    def batch():
        outcomes.append(payment.execute(DbStore(db_url), "2026-04", decisions, page=5))

    threads = [threading.Thread(target=batch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p["entitlement_id"] for o in outcomes for p in o.paid) == [e.entitlement_id for e in ents]
    assert sum(o.counts["skipped"] for o in outcomes) == 2 * len(ents)
    assert _money(db_url) == (2 * len(ents), len(ents), sum(e.amount for e in ents))


def test_a_page_that_fails_is_paid_one_by_one_as_before(db_url, tmp_path):
    from holder_db.kinds import MAX_FEN
    from holder_db.ledger import LedgerError

    ents = _page_setup(db_url)[:4]
    ents[2] = Entitlement("P02", OK1, "pension", "2026-04", MAX_FEN + 1, "6222000000000100")  # the ledger refuses it
    with pytest.raises(LedgerError):
        payment.execute(DbStore(db_url), "2026-04", [payment.Decision(e, "pay") for e in ents],
                        receipts_dir=tmp_path / "rc", page=10)
    assert DbStore(db_url).paid_ids(e.entitlement_id for e in ents) == {"P00", "P01"}  # what one by one paid
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == [
        "PAY-P00.json", "PAY-P00.txt", "PAY-P01.json", "PAY-P01.txt"]
    assert _money(db_url)[:2] == (4, 2)
