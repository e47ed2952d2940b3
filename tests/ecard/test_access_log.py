"""The holder's access log: every read of their record (who, when, why, which fields) and every presentation they
approved, through the e-card server with their device key, paged, with no full ID number anywhere; the device
CLI shows it."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ecard import status_list
from ecard.keys import Jwks
from holder_db import audit, queries
from holder_db import store as db
from terminal import identify
from terminal.dbstore import DbStore
from tests.ecard.test_server import activate, activation_code

SSCARD = str(Path(sys.executable).with_name("sscard"))


def test_the_holder_lists_who_read_their_record_why_and_which_fields(live):
    h, other = live.fresh_holder(), live.fresh_holder()
    with live.client() as c:
        dev, stranger = activate(live, c, h), activate(live, c, other)
        # a counter identifies the holder by an e-card code (terminal identify --qr), an officer shows the record
        token = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        jwks = Jwks.from_json(c.get("/.well-known/jwks.json").json())
        sl = status_list.load(c.get("/status-list").text, jwks)
        answer = identify.by_qr(DbStore(live.db_url), token, jwks, sl, now=time.time(), actor="terminal:counter-7")
        assert answer.ok, answer.as_text()
        with db.session(live.db_url) as s:
            assert queries.holder_view(s, h.ssn, actor="officer:li") is not None
        assert dev.request(c, "GET", "/v1/me").status_code == 200
        portal = live.relying_party("city-portal")
        sid = portal.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]}).json()["session_id"]
        assert dev.request(c, "POST", f"/v1/login-sessions/{sid}/approve", {"consent": ["name"]}).status_code == 200
        r = dev.request(c, "GET", "/v1/me/access-log")
        assert r.status_code == 200, r.text
        assert h.ssn not in r.text and other.ssn not in r.text
        log = r.json()["entries"]
        by = {e["action"]: e for e in log}
        assert by["holder.identify"]["who"] == "terminal:counter-7"
        assert by["holder.identify"]["why"] == identify.QR_PURPOSE and by["holder.identify"]["kind"] == "read"
        assert "card_status" in by["holder.identify"]["fields"] and "death_date" in by["holder.identify"]["fields"]
        assert by["holder.show"]["who"] == "officer:li" and "enrolments" in by["holder.show"]["fields"]
        assert by["ecard.me"]["who"] == f"device:{dev.device_id}" and "name" in by["ecard.me"]["fields"]
        assert by["ecard.login"]["kind"] == "presentation" and by["ecard.login"]["why"] == "scan-to-login at city-portal"
        assert by["ecard.login"]["fields"] == ["subject", "name"]
        # newest first, each with its time
        assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
        assert all(abs(dt.datetime.fromisoformat(e["at"]).timestamp() - time.time()) < 120 for e in log)
        # the other holder sees none of it, only their own
        theirs = stranger.request(c, "GET", "/v1/me/access-log").json()["entries"]
        assert not {e["id"] for e in theirs} & {e["id"] for e in log}
        # paged: the pages together are the whole log, once each
        seen, before = [], None
        while True:
            q = "?limit=2" + (f"&before={before}" if before else "")
            page = dev.request(c, "GET", "/v1/me/access-log" + q).json()
            assert len(page["entries"]) <= 2
            seen += [e["id"] for e in page["entries"]]
            before = page["next_before"]
            if before is None:
                break
        assert seen == [e["id"] for e in log]


def test_access_log_refuses_bad_input_and_strangers(live):
    with live.client() as c:
        dev = activate(live, c, live.fresh_holder())
        for q in ("?limit=0", "?limit=201", "?limit=abc", "?before=0", "?before=-5", "?before=x", "?limit=1e3",
                  "?before=" + "9" * 40):
            r = dev.request(c, "GET", "/v1/me/access-log" + q)
            assert r.status_code == 422 and "detail" in r.json(), (q, r.status_code)
        assert c.get("/v1/me/access-log").status_code == 401
        assert c.get("/v1/me/access-log", headers={"Authorization": "Device x.y.z"}).status_code == 401


def test_the_device_cli_shows_the_log(live, tmp_path):
    h = live.fresh_holder()
    with live.client() as c:
        code = activation_code(live, c, h)
    phone = tmp_path / "phone.json"
    run = lambda *a: subprocess.run([SSCARD, "ecard", *a], capture_output=True, text=True, timeout=60)  # noqa: E731
    r = run("activate", code, "--server", live.url, "--device", str(phone), "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(phone.read_text())["batch"]) == 5  # Settings.ecard_batch
    first = json.loads(run("code", "--device", str(phone), "--offline", "--json").stdout)["token"]
    second = json.loads(run("code", "--device", str(phone), "--offline", "--json").stdout)["token"]
    assert first != second and len(json.loads(phone.read_text())["batch"]) == 3  # each member used once
    r = run("access-log", "--device", str(phone), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert h.ssn not in r.stdout
    assert [e["kind"] for e in out["entries"] if e["action"] == "ecard.offline_credential"] == ["presentation"]
    r = run("access-log", "--device", str(phone))
    assert r.returncode == 0 and "offline e-card codes (valid cardholder only)" in r.stdout
    assert run("access-log", "--device", str(phone), "--limit", "0").returncode == 2
    assert run("access-log", "--device", str(tmp_path / "none.json")).returncode == 1


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["11010519491231002X", "110105194912310021"]))
def test_an_id_number_in_a_detail_is_masked_for_the_holder(text, ssn):
    row = type("Row", (), {"id": 1, "at": dt.datetime(2026, 1, 1), "actor": "a", "action": "x", "purpose": "",
                           "fields": "", "detail": f"{text} {ssn} {text}"})
    got = audit.access_of(row)
    assert ssn not in got.detail and "110105" in got.detail and got.at.tzinfo is not None


def test_kind_and_why_come_from_the_action_when_no_purpose_was_given():
    row = type("Row", (), {"id": 1, "at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "actor": "device:d",
                           "action": "ecard.sd_jwt", "purpose": "", "fields": "name,insurance", "detail": ""})
    got = audit.access_of(row)
    assert (got.kind, got.why, got.fields) == ("presentation", "SD-JWT credentials issued", ["name", "insurance"])
    row.action = "holder.show"
    assert (audit.access_of(row).kind, audit.access_of(row).why) == ("read", "holder.show")
