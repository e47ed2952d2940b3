"""Issue 15's story end to end, over a real e-card server (SQLite, then PostgreSQL) and the real `sscard` commands:
a pensioner with a recent hospital settlement is certified silently; one with no activity is due, then certified
by her daughter as proxy with the daughter's e-card, and the record says so; one overdue past the grace period is
held by `terminal pay` with `not_certified`. Then the bad requests: each a 4xx with its reason, never a 500."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from cardlib.idnumber import check_char
from cli import main
from holder_db import models
from holder_db import store as db

from tests.ecard.test_server import activate

TODAY = dt.date.today()
Y = TODAY.year
LAST_DEC = f"{Y - 1}-12"  # a period never in the future, and past last-but-one year's grace period


def pensioner(url: str, i: int, name: str) -> tuple[int, str]:
    """A holder born in 1950 with an active card, enrolled, and a pension for LAST_DEC into an account of her own."""
    body = f"1101011950{(i % 12) + 1:02d}{(i % 27) + 1:02d}{700 + i:03d}"
    ssn = body + check_char(body)
    with db.get_engine(url).begin() as conn:
        hid = conn.execute(insert(models.Holder.__table__).values(
            ssn=ssn, name=name, gender="1" if int(ssn[16]) % 2 else "2", nation="01",
            birth_date=dt.date(1950, (i % 12) + 1, (i % 27) + 1), region="110101", created_at=models.utcnow())
        ).inserted_primary_key[0]
        conn.execute(insert(models.Card.__table__).values(holder_id=hid, card_no=f"P{i:08d}", region="110101",
                                                          status="active", created_at=models.utcnow(),
                                                          status_at=models.utcnow()))
        conn.execute(insert(models.Enrolment.__table__).values(holder_id=hid, insurance="pension", region="110101",
                                                               status="active", start_date=dt.date(2010, 1, 1)))
        conn.execute(insert(models.Entitlement.__table__).values(
            entitlement_id=f"PEN-{i}", ssn=ssn, benefit="pension", period=LAST_DEC, amount=320000,
            bank_account=f"62220000{i:08d}", status="due", created_at=models.utcnow()))
    return hid, ssn


def sscard(*args: str) -> dict:
    r = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


def sscard_fails(*args: str) -> dict:
    r = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def story(live):
    """Three pensioners and a daughter with an activated e-card, made once per engine."""
    base = 100 if live.db_url.startswith("sqlite") else 200
    hosp = pensioner(live.db_url, base + 1, "王秀英")
    idle = pensioner(live.db_url, base + 2, "李桂兰")
    late = pensioner(live.db_url, base + 3, "张淑珍")
    with db.get_engine(live.db_url).begin() as conn:
        conn.execute(insert(models.Settlement.__table__).values(
            settlement_id=f"HOSP-{base}", holder_id=hosp[0], year=Y, level="tertiary", total=52000, status="settled",
            created_at=models.utcnow()))
    daughter = live.fresh_holder()
    with live.client() as c:
        dev = activate(live, c, daughter)
    return {"hosp": hosp, "idle": idle, "late": late, "daughter": daughter, "dev": dev}


def test_the_story(live, story, tmp_path):
    url = live.db_url
    (hosp_id, hosp_ssn), (idle_id, idle_ssn), (late_id, late_ssn) = story["hosp"], story["idle"], story["late"]
    daughter, dev = story["daughter"], story["dev"]

    report = sscard("cert", "run", "--year", str(Y), "--db", url)
    assert report["this_run"]["medical_settlement"] >= 1 and report["due"] >= 2
    rec = sscard("cert", "show", "--year", str(Y), "--ssn", hosp_ssn, "--db", url)
    assert (rec["state"], rec["source"], rec["rule"], rec["evidence_ref"]) == \
        ("certified", "silent", "medical_settlement", f"HOSP-{100 if url.startswith('sqlite') else 200}")
    assert sscard("cert", "show", "--year", str(Y), "--ssn", idle_ssn, "--db", url)["state"] == "due"

    until = (TODAY + dt.timedelta(days=365)).isoformat()
    bound = sscard("proxy", "bind", "--officer", "王科员", "--holder", idle_ssn, "--proxy", daughter.ssn,
                   "--scope", "certification", "--scope", "view_benefits", "--until", until, "--db", url)
    assert bound["state"] == "pending_proxy" and bound["principal_consent"] == "officer"
    assert daughter.ssn not in json.dumps(bound)  # masked
    bid = bound["binding_id"]
    with live.client() as c:
        fam = dev.request(c, "GET", "/v1/family").json()
        assert [b["binding_id"] for b in fam["principals"]] == [bid] and fam["proxies"] == []
        r = dev.request(c, "POST", f"/v1/family/bindings/{bid}/certify", {"year": Y})
        assert r.status_code == 403 and "pending proxy" in r.json()["detail"]  # she has not accepted yet
        r = dev.request(c, "POST", f"/v1/family/bindings/{bid}/consent", {})
        assert r.status_code == 200 and r.json()["state"] == "active", r.text
        r = dev.request(c, "POST", f"/v1/family/bindings/{bid}/certify", {"year": Y})
        assert r.status_code == 200, r.text
        assert (r.json()["source"], r.json()["rule"], r.json()["proxy"]["name"]) == ("proxy", "proxy_ecard",
                                                                                     daughter.name)
        r = dev.request(c, "GET", f"/v1/family/bindings/{bid}/benefits")
        assert r.status_code == 200 and r.json()["entitlements"][0]["period"] == LAST_DEC
        assert idle_ssn not in r.text
    rec = sscard("cert", "show", "--year", str(Y), "--ssn", idle_ssn, "--db", url)
    assert (rec["source"], rec["proxy"]["name"], rec["actor"]) == ("proxy", daughter.name, f"device:{dev.device_id}")
    acts = sscard("proxy", "list", "--ssn", idle_ssn, "--db", url)["acts"]
    assert [a["act"] for a in acts] == ["view_benefits", "certification"] and all(a["for_me"] for a in acts)

    out = sscard("terminal", "pay", "--period", LAST_DEC, "--db", url, "--receipts", str(tmp_path / "r"))
    held = {h["entitlement_id"]: h["reasons"] for h in out["held"]}
    paid = {p["entitlement_id"] for p in out["paid"]}
    base = 100 if url.startswith("sqlite") else 200
    assert held[f"PEN-{base + 3}"] == ["not_certified"]
    assert {f"PEN-{base + 1}", f"PEN-{base + 2}"} <= paid  # certified this year: last year's pension is paid
    with db.get_engine(url).connect() as conn:
        status = conn.execute(select(models.Entitlement.status).where(
            models.Entitlement.entitlement_id == f"PEN-{base + 3}")).scalar_one()
    assert status == "held"


def test_self_certification_with_the_e_card(live, story):
    with live.client() as c:
        granny = live.fresh_holder()
        dev = activate(live, c, granny)
        r = dev.request(c, "POST", "/v1/me/certify", {"year": Y})
        assert r.status_code == 409 and "no pension" in r.json()["detail"]  # she draws no pension
        with db.get_engine(live.db_url).begin() as conn:
            conn.execute(insert(models.Entitlement.__table__).values(
                entitlement_id=f"SELF-{granny.card_no}", ssn=granny.ssn, benefit="subsidy", period=f"{Y}-01",
                amount=1, bank_account="6222000011112222", status="due", created_at=models.utcnow()))
        assert dev.request(c, "POST", "/v1/me/certify", {"year": Y}).status_code == 409  # a subsidy is no pension
        with db.get_engine(live.db_url).begin() as conn:
            conn.execute(update(models.Entitlement.__table__).where(
                models.Entitlement.entitlement_id == f"SELF-{granny.card_no}").values(benefit="resident_pension"))
        assert dev.request(c, "GET", f"/v1/me/certification/{Y}").json()["state"] == "due"
        r = dev.request(c, "POST", "/v1/me/certify", {"year": Y})
        assert r.status_code == 200 and (r.json()["source"], r.json()["rule"], r.json()["created"]) == \
            ("self", "ecard_device", True)
        again = dev.request(c, "POST", "/v1/me/certify", {"year": Y}).json()
        assert again["created"] is False and again["certified_at"] == r.json()["certified_at"]


def _binding(url: str, principal: int, proxy_id: int, scopes: str, ends_on: dt.date, revoked: bool = False) -> int:
    now = models.utcnow()
    with db.get_engine(url).begin() as conn:
        return conn.execute(insert(models.ProxyBinding.__table__).values(
            principal_id=principal, proxy_id=proxy_id, scopes=scopes, ends_on=ends_on, created_at=now,
            principal_consent="card_pin", principal_consent_by="counter", principal_consent_at=now,
            proxy_consent_by="device", proxy_consent_at=now, revoked_at=now if revoked else None)
        ).inserted_primary_key[0]


def test_bad_requests_are_4xx(live, story):
    dev, (late_id, late_ssn) = story["dev"], story["late"]
    daughter_id = None
    with db.get_engine(live.db_url).connect() as conn:
        daughter_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == story["daughter"].ssn)).scalar_one()
    expired = _binding(live.db_url, late_id, daughter_id, "certification", TODAY - dt.timedelta(days=1))
    revoked = _binding(live.db_url, late_id, daughter_id, "certification", TODAY + dt.timedelta(days=9), True)
    no_scope = _binding(live.db_url, late_id, daughter_id, "view_benefits", TODAY + dt.timedelta(days=9))
    with live.client() as c:
        cases = [
            ("POST", "/v1/me/certify", {"year": 1800}, 422, "year"),
            ("POST", "/v1/me/certify", {"year": Y + 1}, 400, "year must be"),
            ("POST", "/v1/me/certify", {"year": "this one"}, 422, "year"),
            ("POST", "/v1/me/certify", {"year": Y, "extra": 1}, 422, "extra"),
            ("GET", "/v1/me/certification/3000", None, 422, "year"),
            ("GET", f"/v1/me/certification/{Y + 1}", None, 400, "year must be"),
            ("POST", f"/v1/family/bindings/{expired}/certify", {"year": Y}, 403, "expired"),
            ("POST", f"/v1/family/bindings/{revoked}/certify", {"year": Y}, 403, "revoked"),
            ("POST", f"/v1/family/bindings/{no_scope}/certify", {"year": Y}, 403, "does not grant"),
            ("POST", f"/v1/family/bindings/{no_scope}/certify", {"year": 1999}, 422, "year"),
            ("POST", "/v1/family/bindings/2147483000/certify", {"year": Y}, 404, "no such proxy binding"),
            ("POST", "/v1/family/bindings/0/certify", {"year": Y}, 422, "binding_id"),
            ("POST", "/v1/family/bindings/99999999999/consent", {}, 422, "binding_id"),
            ("POST", f"/v1/family/bindings/{revoked}/revoke", {}, 409, "already revoked"),
            ("POST", f"/v1/family/bindings/{expired}/consent", {}, 409, "expired"),
            ("POST", "/v1/family/requests", {"principal_ssn": "123", "scopes": ["certification"],
                                             "ends_on": "2030-01-01"}, 422, "principal_ssn"),
            ("POST", "/v1/family/requests", {"principal_ssn": late_ssn, "scopes": ["everything"],
                                             "ends_on": "2030-01-01"}, 422, "scopes"),
            ("POST", "/v1/family/requests", {"principal_ssn": late_ssn, "scopes": ["certification"],
                                             "ends_on": "1999-01-01"}, 400, "end date"),
        ]
        for method, path, body, status, words in cases:
            r = dev.request(c, method, path, body)
            assert r.status_code == status and words in r.text, (path, body, r.status_code, r.text)
        assert c.post("/v1/me/certify", json={"year": Y}).status_code == 401
        # someone else's binding: the same 404 as one that does not exist
        stranger = activate(live, c, live.fresh_holder())
        r = stranger.request(c, "POST", f"/v1/family/bindings/{no_scope}/certify", {"year": Y})
        assert (r.status_code, r.json()) == (404, {"detail": "no such proxy binding"})
        # asking for an unknown ID number is answered exactly like asking for a known one
        body = {"scopes": ["show_code"], "ends_on": (TODAY + dt.timedelta(days=30)).isoformat()}
        unknown = "110101190001010019"
        unknown = unknown[:17] + check_char(unknown[:17])
        known = stranger.request(c, "POST", "/v1/family/requests", {**body, "principal_ssn": late_ssn})
        nobody = stranger.request(c, "POST", "/v1/family/requests", {**body, "principal_ssn": unknown})
        assert (known.status_code, known.json()) == (nobody.status_code, nobody.json()) == \
            (202, {"status": "requested", "next": "the holder consents at a counter with their card and PIN"})
    assert sscard_fails("cert", "run", "--year", str(Y + 5), "--db", live.db_url)["error"].startswith("year must be")
    assert "not on record" in sscard_fails("cert", "show", "--year", str(Y), "--ssn", unknown, "--db",
                                           live.db_url)["error"]
    until = (TODAY + dt.timedelta(days=30)).isoformat()
    assert "own proxy" in sscard_fails("proxy", "bind", "--officer", "x", "--holder", late_ssn, "--proxy", late_ssn,
                                       "--scope", "certification", "--until", until, "--db", live.db_url)["error"]
    assert "end date" in sscard_fails("proxy", "bind", "--officer", "x", "--holder", late_ssn, "--proxy", unknown,
                                      "--scope", "certification", "--until", "2099-01-01", "--db",
                                      live.db_url)["error"]


def test_a_proxy_shows_the_principals_code_at_a_hospital(live, story):
    """Scope show_code: the daughter's phone shows a code of her mother's; the hospital's terminal resolves it to
    the mother, told the daughter showed it; the act is on record; the code dies with the binding."""
    dev, (mum_id, mum_ssn) = story["dev"], story["hosp"]
    with db.get_engine(live.db_url).connect() as conn:
        daughter_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == story["daughter"].ssn)).scalar_one()
    shows = _binding(live.db_url, mum_id, daughter_id, "show_code", TODAY + dt.timedelta(days=30))
    certifies = _binding(live.db_url, mum_id, daughter_id, "certification", TODAY + dt.timedelta(days=30))
    term = {"X-Terminal-Key": live.terminal_key}
    with live.client() as c:
        r = dev.request(c, "POST", f"/v1/family/bindings/{shows}/token", {"ttl": 60})
        assert r.status_code == 200, r.text
        tok = r.json()["token"]
        mine = dev.request(c, "POST", "/v1/token", {"ttl": 60}).json()["token"]
        assert tok != mine
        r = c.post("/v1/codes/resolve", json={"token": tok, "purpose": "hospital registration"}, headers=term)
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["name"] == "王秀英" and seen["id_number_masked"] != "" and mum_ssn not in r.text
        assert seen["shown_by_proxy"].startswith(story["daughter"].name) and story["daughter"].ssn not in r.text
        r = c.post("/v1/codes/resolve", json={"token": mine}, headers=term)
        assert r.json()["shown_by_proxy"] is None and r.json()["name"] == story["daughter"].name
        r = dev.request(c, "POST", f"/v1/family/bindings/{certifies}/token", {"ttl": 60})
        assert r.status_code == 403 and "does not grant 'show_code'" in r.json()["detail"]
        assert dev.request(c, "POST", "/v1/family/bindings/2147483000/token", {"ttl": 60}).status_code == 404
        acts = [a for a in dev.request(c, "GET", "/v1/family").json()["acts"] if a["binding_id"] == shows]
        assert [a["act"] for a in acts] == ["show_code"], acts
        assert dev.request(c, "POST", f"/v1/family/bindings/{shows}/revoke", {}).status_code == 200
        r = c.post("/v1/codes/resolve", json={"token": tok}, headers=term)
        assert r.status_code == 403 and "revoked" in r.json()["detail"], r.text
        r = dev.request(c, "POST", f"/v1/family/bindings/{shows}/token", {"ttl": 60})
        assert r.status_code == 403 and "revoked" in r.json()["detail"]
