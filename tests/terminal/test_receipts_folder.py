"""A receipt and its money move together: a receipts folder that cannot be made is one line and an exit code
before any money moves, and a receipt that cannot be written leaves its payment, settlement or refund undone
(before), never done without its receipt; on both engines, through the CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from holder_db import ledger
from terminal import receipts
from terminal.dbstore import DbStore

from .conftest import add_holder
from .ids import ssn
from .test_settle_db import BILL, POLICY_TOML

OLD, OLD2 = ssn("19500101", "111"), ssn("19510101", "121")


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args])


def _last(result) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(result.output.splitlines()[-1])


@pytest.fixture
def due(db_url, tmp_path):  # type: ignore[no-untyped-def]
    for n, who in enumerate((OLD, OLD2)):
        add_holder(db_url, who, card_no=f"A0000000{n}")
    (tmp_path / "e.csv").write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                                    f"E1,{OLD},pension,2026-01,250000,6222000000000001\n"
                                    f"E2,{OLD2},pension,2026-01,180000,6222000000000002\n", encoding="utf-8")
    assert run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url).exit_code == 0
    (tmp_path / "blocker").write_text("a file where the receipts folder's parent should be", encoding="utf-8")
    return db_url


def test_a_receipts_folder_that_cannot_be_made_stops_the_batch_before_any_payment(due, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "blocker" / "receipts"
    for args in ((), ("--json",)):
        result = run("terminal", "pay", "--period", "2026-01", "--db", due, "--receipts", bad, *args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        message = _last(result)["error"] if args else result.output
        assert f"receipts folder {bad}: cannot be made or written" in message and "nothing was paid" in message
    assert DbStore(due).paid_ids(["E1", "E2"]) == set()
    assert ledger.check(due).postings == 0


def test_a_receipt_that_cannot_be_written_leaves_its_payment_unmade(due, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = receipts.prepare

    def second_fails(receipt, directory):  # type: ignore[no-untyped-def]
        if receipt.receipt_id == "PAY-E2":
            raise receipts.ReceiptError(f"receipts folder {directory}: cannot be made or written (No space left)")
        return real(receipt, directory)

    monkeypatch.setattr(receipts, "prepare", second_fails)
    result = run("terminal", "pay", "--period", "2026-01", "--db", due, "--receipts", tmp_path / "rc", "--json")
    assert result.exit_code == 1 and "that payment was not made" in _last(result)["error"]
    assert DbStore(due).paid_ids(["E1", "E2"]) == {"E1"}  # E1 paid with its receipt, E2 not paid at all
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == ["PAY-E1.json", "PAY-E1.txt"]
    monkeypatch.setattr(receipts, "prepare", real)
    again = run("terminal", "pay", "--period", "2026-01", "--db", due, "--receipts", tmp_path / "rc", "--json")
    assert again.exit_code == 0 and [p["entitlement_id"] for p in _last(again)["paid"]] == ["E2"]
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == [
        "PAY-E1.json", "PAY-E1.txt", "PAY-E2.json", "PAY-E2.txt"]
    assert ledger.check(due).ok


def _settle(tmp_path, db_url, *args):  # type: ignore[no-untyped-def]
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(BILL), encoding="utf-8")
    return run("terminal", "settle", "--policy", tmp_path / "p.toml", "--bill", tmp_path / "b.json", "--ssn", OLD,
               "--db", db_url, "--year", "2026", "--json", *args)


def test_settlement_and_refund_are_undone_when_their_receipt_cannot_be(due, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = DbStore(due)
    assert db.credit_medical(OLD, 100000, "alloc-2026")
    bad = tmp_path / "blocker" / "receipts"
    result = _settle(tmp_path, due, "--receipts", bad)
    assert result.exit_code == 1 and _last(result)["error"].endswith("nothing was settled")
    assert db.settlements_of(OLD) == {} and db.usage(OLD, 2026).balance == 100000

    real = receipts.prepare
    monkeypatch.setattr(receipts, "prepare", lambda r, d: (_ for _ in ()).throw(
        receipts.ReceiptError(f"receipts folder {d}: cannot be made or written (No space left)")))
    result = _settle(tmp_path, due, "--receipts", tmp_path / "rc")  # the folder is fine, the receipt fails
    assert result.exit_code == 1 and "nothing was settled" in _last(result)["error"]
    assert db.settlements_of(OLD) == {} and db.usage(OLD, 2026).balance == 100000
    assert not list((tmp_path / "rc").iterdir())

    monkeypatch.setattr(receipts, "prepare", real)
    done = _last(_settle(tmp_path, due, "--receipts", tmp_path / "rc"))
    sid = done["settlement_id"]
    monkeypatch.setattr(receipts, "prepare", lambda r, d: (_ for _ in ()).throw(
        receipts.ReceiptError(f"receipts folder {d}: cannot be made or written (No space left)")))
    result = run("terminal", "refund", sid, "--db", due, "--receipts", tmp_path / "rc", "--json")
    assert result.exit_code == 1 and "nothing was refunded" in _last(result)["error"]
    assert db.settlements_of(OLD) == {sid: "settled"}
    monkeypatch.setattr(receipts, "prepare", real)
    assert run("terminal", "refund", sid, "--db", due, "--receipts", tmp_path / "rc").exit_code == 0
    assert db.settlements_of(OLD) == {sid: "refunded"} and db.usage(OLD, 2026).balance == 100000
    assert sorted(p.name for p in (tmp_path / "rc").iterdir()) == [
        f"REF-{sid}.json", f"REF-{sid}.txt", f"SET-{sid}.json", f"SET-{sid}.txt"]
    assert ledger.check(due).ok


def test_with_receipt_keeps_it_only_when_the_money_moved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = receipts.payment("E9", OLD, "pension", "2026-01", 100, "6222000000000009", at="2026-01-31T00:00:00")
    assert receipts.with_receipt(r, tmp_path, lambda: False) is False
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ZeroDivisionError):
        receipts.with_receipt(r, tmp_path, lambda: bool(1 / 0))
    assert list(tmp_path.iterdir()) == []
    assert receipts.with_receipt(r, tmp_path, lambda: True) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PAY-E9.json", "PAY-E9.txt"]
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    moved = []
    with pytest.raises(receipts.ReceiptError, match="cannot be made or written"):
        receipts.with_receipt(r, tmp_path / "blocker" / "r", lambda: moved.append(1) or True)
    assert moved == []  # the money never moves when its receipt cannot be written


def test_a_receipt_gets_the_mode_a_plain_file_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    r = receipts.payment("E8", OLD, "pension", "2026-01", 100, "6222000000000008", at="2026-01-31T00:00:00")
    txt, js = receipts.write(r, tmp_path)
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    plain = os.stat(tmp_path / "plain").st_mode & 0o777
    assert os.stat(txt).st_mode & 0o777 == os.stat(js).st_mode & 0o777 == plain


def test_with_receipts_keeps_exactly_the_ones_whose_money_moved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = [receipts.payment(f"E{i}", OLD, "pension", "2026-01", 100, "6222000000000009", at="2026-01-31T00:00:00")
            for i in range(4)]
    seen = []

    def some(n):  # type: ignore[no-untyped-def]
        seen.append(sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")))
        return {0, 2}

    assert receipts.with_receipts(page, tmp_path, some) == {0, 2}
    assert len(seen[0]) == 8  # every temp receipt written before the money moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PAY-E0.json", "PAY-E0.txt", "PAY-E2.json", "PAY-E2.txt"]
    with pytest.raises(ZeroDivisionError):
        receipts.with_receipts(page, tmp_path / "x", lambda n: {1 // 0})
    assert list((tmp_path / "x").iterdir()) == []


def test_with_receipts_posts_only_the_ones_before_a_receipt_that_cannot_be_written(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    page = [receipts.payment(f"E{i}", OLD, "pension", "2026-01", 100, "6222000000000009", at="2026-01-31T00:00:00")
            for i in range(4)]
    real = receipts.prepare
    monkeypatch.setattr(receipts, "prepare", lambda r, d: (real(r, d) if r.receipt_id != "PAY-E2" else (
        _ for _ in ()).throw(receipts.ReceiptError("receipts folder: cannot be made or written (No space left)"))))
    asked = []
    with pytest.raises(receipts.ReceiptError):
        receipts.with_receipts(page, tmp_path, lambda n: asked.append(n) or set(range(n)))
    assert asked == [2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PAY-E0.json", "PAY-E0.txt", "PAY-E1.json", "PAY-E1.txt"]
