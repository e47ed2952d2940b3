"""`sscard terminal identify` by e-card QR (offline verifier) and by card (verified read through pcscd + vpcd),
judged against holder_db: reasons listed, ID masked, exit 0 only when every check passes."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from cli import main
from ecard import status_list as sl
from ecard.keys import new_key
from holder_db import audit, models, store
from terminal import identify
from tests.plugins.pcsc import ROOT, sample_holder, sscard_command, start_card_server

from .conftest import add_holder
from .ids import ssn

WHO = ssn("19700101", "123")


def run(*args, input=None):
    r = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return r.exit_code, json.loads(r.output.splitlines()[-1])


def checks(answer):
    return {c["check"]: c["ok"] for c in answer["reasons"]}


def test_identify_by_qr(db_url, tmp_path):
    keys = new_key(tmp_path / "keys")
    add_holder(db_url, WHO, card_no="A12345678")
    code, issued = run("qr", "issue", "--keys", tmp_path / "keys", "--db", db_url, "--ssn", WHO, "--json")
    assert code == 0, issued
    token = issued["token"]
    jwks = tmp_path / "keys" / "jwks.json"

    code, answer = run("terminal", "identify", "--qr", token, "--jwks", jwks, "--db", db_url, "--json")
    assert code == 0 and answer["ok"] is True and answer["source"] == "qr"
    assert checks(answer) == {"genuine": True, "holder_known": True, "card_status": True, "alive": True}
    assert answer["holder"] == WHO[:6] + "********" + WHO[-4:] and WHO not in json.dumps(answer)
    assert "revocation not checked" in answer["notes"][0]

    (tmp_path / "status.jwt").write_text(sl.sign({issued["status_idx"]}, 64, keys.current, "u"), encoding="utf-8")
    code, answer = run("terminal", "identify", "--qr", token, "--jwks", jwks, "--status-list", tmp_path / "status.jwt",
                       "--db", db_url, "--json")
    assert code == 2 and checks(answer)["genuine"] is False
    assert "revoked" in answer["reasons"][0]["why"]

    (tmp_path / "r.csv").write_text(f"ssn,kind,date\n{WHO},death,20250101\n", encoding="utf-8")
    run("db", "import-records", tmp_path / "r.csv", "--db", db_url, "--json")
    code, answer = run("terminal", "identify", "--qr", token, "--jwks", jwks, "--db", db_url, "--json")
    assert code == 2 and checks(answer) == {"genuine": True, "holder_known": True, "card_status": True, "alive": False}

    code, answer = run("terminal", "identify", "--qr", "SSC1:AAAA", "--jwks", jwks, "--db", db_url, "--json")
    assert code == 2 and checks(answer) == {"genuine": False, "holder_known": False}


@pytest.mark.pcsc
def test_identify_by_card(pcsc, db_url, tmp_path):
    holder = sample_holder()
    for name in ("ours", "other"):
        subprocess.run([*sscard_command(), "keys", "new-issuer", "--out", str(tmp_path / name), "--alg", "sm4"],
                       cwd=ROOT, check=True, capture_output=True)
    (tmp_path / "holder.json").write_text(json.dumps(holder, ensure_ascii=False), encoding="utf-8")
    for name in ("ours", "other"):
        subprocess.run([*sscard_command(), "sim", "new", "--holder", str(tmp_path / "holder.json"), "--out",
                        str(tmp_path / f"{name}.card"), "--keys", str(tmp_path / name), "--alg", "sm4"],
                       cwd=ROOT, check=True, capture_output=True)
    add_holder(db_url, holder["ssn"], holder["name"], card_no=holder["card_no"], card_id=holder["card_id"])

    server = start_card_server(tmp_path / "ours.card")
    try:
        args = ("terminal", "identify", "--reader", server.reader, "--keys", tmp_path / "ours", "--db", db_url,
                "--json")
        code, answer = run(*args, "--pin-stdin", "--terminal-id", "window-3", input=holder["pin"] + "\n")
        assert code == 0, answer
        assert checks(answer) == {"genuine": True, "pin": True, "holder_known": True, "card_status": True,
                                  "alive": True, "id_matches": True, "card_no_matches": True, "card_id_matches": True}
        with store.get_engine(db_url).connect() as conn:  # the read is in the holder's access log
            holder_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == holder["ssn"])).scalar()
            log, _ = audit.access_log(conn, holder_id)
        assert [(e.who, e.why, e.kind) for e in log] == [("terminal:window-3", identify.CARD_PURPOSE, "read")]
        assert {"card_status", "death_date", "enrolments"} <= set(log[0].fields)
        code, answer = run(*args, "--pin-stdin", input="000000\n")
        assert code == 2 and checks(answer)["pin"] is False and "tries left" in answer["reasons"][1]["why"]
        with store.get_engine(db_url).begin() as conn:
            conn.execute(update(models.Card.__table__).values(status="lost"))
        code, answer = run(*args)
        assert code == 2 and checks(answer)["card_status"] is False and "lost" in json.dumps(answer)
    finally:
        server.stop()

    server = start_card_server(tmp_path / "other.card")  # made under another issuer's keys: a counterfeit
    try:
        code, answer = run("terminal", "identify", "--reader", server.reader, "--keys", tmp_path / "ours", "--db",
                           db_url, "--json")
        assert code == 2 and checks(answer)["genuine"] is False and "-21" in answer["reasons"][0]["why"]
    finally:
        server.stop()
