"""Certification and family proxy at a counter with a software card through pcscd + vpcd: the card read and
verified through the PSAM plus the PIN certifies its holder (`sscard cert self`), binds a proxy (`sscard proxy
bind`), certifies a principal as proxy (`sscard cert proxy`), revokes; a wrong PIN or no PSAM certifies nobody."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli import main
from holder_db import models, proxy, store
from tests.plugins.pcsc import start_card_server

from .conftest import add_holder
from .ids import ssn as make_ssn
from .test_kiosk import make_bank_card

pytestmark = pytest.mark.pcsc
Y = dt.date.today().year


def run(*args, input=None):
    r = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return r.exit_code, r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.output


def test_at_the_counter_with_card_and_pin(pcsc, db_url, tmp_path):
    holder, keys = make_bank_card(tmp_path)  # the kiosk test's card: the same verified read
    son, mother = make_ssn("19750505", "311"), make_ssn("19450606", "422")
    add_holder(db_url, holder["ssn"], holder["name"], card_no=holder["card_no"])
    add_holder(db_url, son, "王强")
    add_holder(db_url, mother, "刘兰")
    (tmp_path / "e.csv").write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                                    f"C-0001,{holder['ssn']},pension,{Y}-01,100,622200000000001\n"
                                    f"C-0002,{mother},pension,{Y}-01,100,622200000000002\n", encoding="utf-8")
    assert run("db", "import-entitlements", tmp_path / "e.csv", "--db", db_url)[0] == 0
    server = start_card_server(tmp_path / "card.json")
    card = ("--reader", server.reader, "--keys", keys, "--pin-stdin", "--db", db_url, "--json")
    try:
        code, out = run("cert", "self", "--reader", server.reader, "--pin-stdin", "--db", db_url, "--json",
                        input=holder["pin"] + "\n")
        assert code == 1 and "PSAM" in json.loads(out)["error"]  # a card read without a PSAM proves nothing
        code, out = run("cert", "self", *card, input="000000\n")
        assert code == 1 and "wrong PIN" in json.loads(out)["error"] and "000000" not in out
        assert json.loads(run("cert", "show", "--year", Y, "--ssn", holder["ssn"], "--db", db_url,
                              "--json")[1])["state"] == "due"
        code, out = run("cert", "self", *card, "--terminal", "kiosk-7", input=holder["pin"] + "\n")
        rec = json.loads(out)
        assert code == 0 and (rec["source"], rec["rule"], rec["actor"], rec["created"]) == \
            ("self", "card_pin", "kiosk:kiosk-7", True)
        assert holder["ssn"] not in out

        until = (dt.date.today() + dt.timedelta(days=200)).isoformat()
        code, out = run("proxy", "bind", *card, "--proxy", son, "--scope", "view_benefits", "--until", until,
                        input=holder["pin"] + "\n")
        bound = json.loads(out)
        assert code == 0 and (bound["state"], bound["principal_consent"]) == ("pending_proxy", "card_pin")

        # the card's holder as a proxy: the officer bound her for her mother, she accepted with her e-card
        code, out = run("proxy", "bind", "--officer", "李科员", "--holder", mother, "--proxy", holder["ssn"],
                        "--scope", "certification", "--until", until, "--db", db_url, "--json")
        for_mother = json.loads(out)["binding_id"]
        with store.write_connection(store.get_engine(db_url)) as conn:
            holder_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == holder["ssn"])).scalar_one()
            proxy.consent_by_proxy(conn, for_mother, holder_id, "device:test")
        code, out = run("cert", "proxy", *card, "--binding", for_mother, input=holder["pin"] + "\n")
        rec = json.loads(out)
        assert code == 0 and (rec["source"], rec["rule"], rec["proxy"]["name"]) == ("proxy", "proxy_card_pin",
                                                                                   holder["name"])
        code, out = run("proxy", "revoke", *card, "--binding", for_mother, input=holder["pin"] + "\n")
        assert code == 0 and json.loads(out)["state"] == "revoked"
        code, out = run("cert", "proxy", *card, "--binding", for_mother, input=holder["pin"] + "\n")
        assert code == 1 and "revoked" in json.loads(out)["error"]
    finally:
        server.stop()
    listed = json.loads(run("proxy", "list", "--ssn", mother, "--db", db_url, "--json")[1])
    assert [a["act"] for a in listed["acts"]] == ["certification"] and listed["proxies"][0]["state"] == "revoked"
