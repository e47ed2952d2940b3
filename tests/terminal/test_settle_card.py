"""Settlement on a software card through pcscd + vpcd: card and holder_db agree after a good settlement, after the
card is pulled mid-way (the database side is reversed), and after an orphan record is found on the card."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from click.testing import CliRunner

from cardlib import medical, security
from cardlib.channel import Channel
from cardlib.pcsc import PcscTransport
from cli import main, open_psam
from terminal import settle as flow
from terminal.cardsession import visit
from terminal.dbstore import DbStore
from terminal.settlement import Usage, load_bill, parse_policy
from tests.plugins.pcsc import ROOT, sample_holder, sscard_command, start_card_server

from .conftest import add_holder
from .test_settlement import POLICY_TOML
from .test_settle_db import BILL

pytestmark = pytest.mark.pcsc
HOLDER = sample_holder()
SSN, PIN = HOLDER["ssn"], HOLDER["pin"]


@pytest.fixture
def card_and_keys(tmp_path):
    keys = tmp_path / "keys"
    subprocess.run([*sscard_command(), "keys", "new-issuer", "--out", str(keys), "--alg", "sm4"], cwd=ROOT,
                   check=True, capture_output=True)
    (tmp_path / "holder.json").write_text(json.dumps(HOLDER, ensure_ascii=False), encoding="utf-8")
    subprocess.run([*sscard_command(), "sim", "new", "--holder", str(tmp_path / "holder.json"), "--out",
                    str(tmp_path / "card.json"), "--keys", str(keys), "--alg", "sm4"], cwd=ROOT, check=True,
                   capture_output=True)
    return tmp_path / "card.json", keys


def card_records(reader):
    with PcscTransport(reader) as t:
        ch = Channel(t)
        security.select_ssse(ch)
        security.verify_pin(ch, PIN)
        return medical.read_all(ch)


def test_settle_on_card_pull_mid_way_and_recover(pcsc, db_url, card_and_keys, tmp_path):
    image, keys = card_and_keys
    add_holder(db_url, SSN, HOLDER["name"], card_no=HOLDER["card_no"])
    db = DbStore(db_url)
    db.credit_medical(SSN, 100000, "alloc")
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(BILL), encoding="utf-8")
    policy = parse_policy(POLICY_TOML)
    bill = load_bill(tmp_path / "b.json", policy)

    server = start_card_server(image)
    try:
        # 1. A good settlement through the CLI: the card's newest record is the database's settlement.
        r = CliRunner().invoke(main, ["terminal", "settle", "--policy", str(tmp_path / "p.toml"), "--bill",
                                      str(tmp_path / "b.json"), "--reader", server.reader, "--keys", str(keys),
                                      "--pin-stdin", "--db", db_url, "--year", "2026", "--receipts",
                                      str(tmp_path / "rc"), "--json"], input=PIN + "\n")
        assert r.exit_code == 0, r.output
        done = json.loads(r.output.splitlines()[-1])
        newest = card_records(server.reader)[0]
        assert (newest.settlement_id, newest.kind, newest.total, newest.fund, newest.account, newest.cash) == (
            done["settlement_id"], "settlement", done["total"], done["fund"], done["account"], done["cash"])
        assert db.settlements_of(SSN) == {done["settlement_id"]: "settled"}
        after_first = db.usage(SSN, 2026)
        assert after_first == Usage(2000, 80000, 52000)

        # 2. The card is pulled between the database's prepared transaction and the card write.
        with open_psam(keys) as psam, visit(server.reader, pin=PIN, psam=psam) as card:
            with pytest.raises(flow.SettleError, match="reversed in the database"):
                flow.settle_card(db, card.channel, card.psam, card.session, SSN, policy, bill, year=2026,
                                 before_card_write=server.stop)
        assert db.usage(SSN, 2026) == after_first
        assert list(db.settlements_of(SSN)) == [done["settlement_id"]]
        server = start_card_server(image)
        assert [r.settlement_id for r in card_records(server.reader)] == [done["settlement_id"]]

        # 3. A record on the card the database never committed (answer lost) is neutralised on the next visit.
        with open_psam(keys) as psam, visit(server.reader, pin=PIN, psam=psam) as card:
            orphan = medical.SettlementRecord("SORPHAN000000001", dt.datetime(2026, 1, 5, 9, 0), "settlement",
                                              5000, 1000, 2000, 2000, "3")
            medical.append(card.channel, card.psam, card.session, orphan)
            second = flow.settle_card(db, card.channel, card.psam, card.session, SSN, policy, bill, year=2026)
        on_card = card_records(server.reader)
        assert [(r.settlement_id, r.kind) for r in on_card[:4]] == [
            (second.settlement_id, "settlement"), ("SORPHAN000000001", "refund"), ("SORPHAN000000001", "settlement"),
            (done["settlement_id"], "settlement")]
        assert db.settlements_of(SSN) == {done["settlement_id"]: "settled", second.settlement_id: "settled"}

        # 4. A refund with the card present writes the refund record on the card too.
        r = CliRunner().invoke(main, ["terminal", "refund", second.settlement_id, "--reader", server.reader,
                                      "--keys", str(keys), "--pin-stdin", "--db", db_url, "--receipts", str(tmp_path / "rc"),
                                      "--json"], input=PIN + "\n")
        assert r.exit_code == 0, r.output
        assert (tmp_path / "rc" / f"REF-{second.settlement_id}.json").exists()
        assert (card_records(server.reader)[0].settlement_id, card_records(server.reader)[0].kind) == (
            second.settlement_id, "refund")
        assert db.usage(SSN, 2026) == after_first
    finally:
        server.stop()


def test_wrong_pin_settles_nothing(pcsc, db_url, card_and_keys, tmp_path):
    image, keys = card_and_keys
    add_holder(db_url, SSN, HOLDER["name"], card_no=HOLDER["card_no"])
    (tmp_path / "p.toml").write_text(POLICY_TOML, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(BILL), encoding="utf-8")
    server = start_card_server(image)
    try:
        r = CliRunner().invoke(main, ["terminal", "settle", "--policy", str(tmp_path / "p.toml"), "--bill",
                                      str(tmp_path / "b.json"), "--reader", server.reader, "--keys", str(keys),
                                      "--pin-stdin", "--db", db_url, "--json"], input="999999\n")
        assert r.exit_code == 1 and "wrong PIN" in r.output and "999999" not in r.output
        assert DbStore(db_url).settlements_of(SSN) == {}
    finally:
        server.stop()
