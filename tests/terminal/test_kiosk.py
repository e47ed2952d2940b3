"""The benefit kiosk on a software card with its debit application, through pcscd + vpcd: pending benefits shown,
paid to the card's bank account (not the file's), never twice, and the batch then skips them."""
from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cardlib import issuer_keys
from cli import main
from holder_db import models, store
from simulators import image
from simulators.pboc import new_state
from tests.plugins.pcsc import ROOT, reader_name, sample_holder, sscard_command, start_card_server

from .conftest import add_holder

pytestmark = pytest.mark.pcsc
PAN = "6228480012345678901"


def run(*args, input=None):
    r = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return r.exit_code, r.output


def make_bank_card(tmp_path):
    holder = sample_holder()
    keys = tmp_path / "keys"
    subprocess.run([*sscard_command(), "keys", "new-issuer", "--out", str(keys), "--alg", "sm4"], cwd=ROOT,
                   check=True, capture_output=True)
    (tmp_path / "holder.json").write_text(json.dumps(holder, ensure_ascii=False), encoding="utf-8")
    subprocess.run([*sscard_command(), "sim", "new", "--holder", str(tmp_path / "holder.json"), "--out",
                    str(tmp_path / "card.json"), "--keys", str(keys), "--alg", "sm4"], cwd=ROOT, check=True,
                   capture_output=True)
    img = image.load(tmp_path / "card.json")
    img.applets["pboc_debit"] = new_state("sm4", PAN, "301231", issuer_keys.load(keys)["sm4"].master("ac"),
                                          name="ZHANG LIHUA")
    img.save()
    return holder, keys


def test_kiosk_pays_pending_benefits_to_the_cards_account(pcsc, db_url, tmp_path):
    holder, keys = make_bank_card(tmp_path)
    add_holder(db_url, holder["ssn"], holder["name"], card_no=holder["card_no"])
    ssn = holder["ssn"]
    (tmp_path / "e.csv").write_text(
        "entitlement_id,ssn,benefit,period,amount,bank_account\n"
        f"K-JAN,{ssn},pension,2026-01,310000,6222000000000001\n"
        f"K-FEB,{ssn},pension,2026-02,310000,6222000000000001\n"
        f"K-FUTURE,{ssn},pension,2999-01,310000,6222000000000001\n", encoding="utf-8")
    assert run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url)[0] == 0

    server = start_card_server(tmp_path / "card.json")
    try:
        args = ("terminal", "kiosk", "--reader", server.reader, "--keys", keys, "--once", "--pin-stdin", "--db",
                db_url, "--receipts", tmp_path / "rc")
        code, out = run(*args, input=holder["pin"] + "\nn\n")  # declined at the confirmation: nothing moves
        assert code == 0 and "K-JAN" in out and "payable" in out and "paid 0 (nothing confirmed)" in out

        code, out = run(*args, "--json", "--yes", input=holder["pin"] + "\n")
        assert code == 0, out
        data = json.loads(out.splitlines()[-1])
        assert data["bank_account"] == "622848*********8901" and ssn not in out and PAN not in out
        assert [p["entitlement_id"] for p in data["pending"]] == ["K-JAN", "K-FEB"]
        assert data["confirmed"] is True and data["outcome"]["total_paid"] == 620000

        code, out = run(*args, "--json", "--yes", input=holder["pin"] + "\n")
        again = json.loads(out.splitlines()[-1])
        assert again["pending"] == [] and again["confirmed"] is False

        code, out = run(*args, input=holder["pin"] + "\n")
        assert code == 0 and "nothing pending" in out

        code, out = run(*args, "--json", "--yes", input="000000\n")
        assert code == 1 and "wrong PIN" in out and "000000" not in out
    finally:
        server.stop()

    with store.get_engine(db_url).connect() as conn:
        balances = dict(conn.execute(select(models.Account.ref, models.Account.balance)
                                     .where(models.Account.kind == "bank")).all())
    assert balances == {PAN: 620000}
    code, out = run("terminal", "pay", "--period", "2026-01", "--db", db_url, "--json")
    assert json.loads(out.splitlines()[-1])["skipped"] == [{"entitlement_id": "K-JAN", "reason": "already_paid"}]
    # the visits with card and PIN are evidence: the silent pass certifies the holder by the card_pin_use rule
    code, out = run("cert", "run", "--year", dt.date.today().year, "--db", db_url, "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["this_run"]["card_pin_use"] == 1


def test_kiosk_loop_serves_each_inserted_card(pcsc, db_url, tmp_path):
    holder, keys = make_bank_card(tmp_path)
    add_holder(db_url, holder["ssn"], holder["name"], card_no=holder["card_no"])
    (tmp_path / "e.csv").write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                                    f"L-1,{holder['ssn']},pension,2026-01,1000,6222000000000001\n", encoding="utf-8")
    assert run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url)[0] == 0
    kiosk = subprocess.Popen([*sscard_command(), "terminal", "kiosk", "--reader", reader_name(0), "--keys", str(keys),
                              "--pin-stdin", "--yes", "--json", "--db", db_url, "--receipts", str(tmp_path / "rc")],
                             cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        kiosk.stdin.write(holder["pin"] + "\n" + holder["pin"] + "\n")
        kiosk.stdin.flush()
        for _ in range(2):  # the same holder comes twice: paid the first time, nothing pending the second
            server = start_card_server(tmp_path / "card.json")
            line = kiosk.stdout.readline()
            server.stop()
            visit = json.loads(line)
            if _ == 0:
                assert visit["outcome"]["paid"] == [{"entitlement_id": "L-1", "amount": 1000}]
            else:
                assert visit["pending"] == [] and visit["outcome"] is None
    finally:
        kiosk.send_signal(signal.SIGINT)
        try:
            kiosk.wait(10)
        except subprocess.TimeoutExpired:
            kiosk.kill()
            kiosk.wait(5)
    err = kiosk.stderr.read()
    assert "[inserted]" in err and "[removed]" in err and "Traceback" not in err
