"""The e-card server over real HTTP (uvicorn on loopback, httpx): activation, tokens, credentials, loss, login."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from ecard import keys, sdjwt, status_list
from ecard.device import Device, sign_request
from ecard.keys import Jwks
from ecard.verify import ReplayCache, verify

from tests.ecard.conftest import start_server

def holder(live):
    return live.fresh_holder()


def activation_code(live, c, h, **body):
    r = c.post("/v1/activation-codes", json=body or {"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def activate(live, c, h, alg="EdDSA"):
    dev = Device(keys.generate(alg))
    r = c.post("/v1/activate", json={"code": activation_code(live, c, h), "device_jwk": dev.jwk()})
    assert r.status_code == 201, r.text
    dev.device_id = r.json()["device_id"]  # the server names the device
    assert dev.device_id != dev.key.kid
    return dev


def fetch_verifier(c):
    jwks = Jwks.from_json(c.get("/.well-known/jwks.json").json())
    r = c.get("/status-list")
    assert r.headers["content-type"].startswith("application/statuslist+jwt")
    return jwks, status_list.load(r.text, jwks)


@pytest.mark.parametrize("alg", keys.ALGS)
def test_end_to_end_over_http(live, alg):
    """Activate, show online and offline codes, verify offline, report the card lost, same codes refused."""
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h, alg)
        r = dev.request(c, "POST", "/v1/token", {"ttl": 60})
        assert r.status_code == 200, r.text
        online = r.json()["token"]
        dev.fetch_offline_credential(c)
        offline = dev.offline_code()
        assert len(online) <= 500 and len(offline) <= 500
        jwks, sl = fetch_verifier(c)
        for tok in (online, offline):
            res = verify(tok, jwks, sl, time.time(), ReplayCache())
            assert res.valid and res.status_checked, res
        r = c.post("/v1/cards/loss", json={"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
        assert r.status_code == 200, r.text
        assert r.json()["card_status"] == "lost" and r.json()["revoked_indices"]
        jwks, sl = fetch_verifier(c)
        for tok in (online, offline):
            assert verify(tok, jwks, sl, time.time(), ReplayCache()).reason == "revoked"
        assert dev.request(c, "POST", "/v1/token", {}).status_code == 401  # binding revoked with the card
        r = c.post("/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
        assert r.status_code == 409 and "lost" in r.json()["detail"]


def test_activation_code_is_single_use_and_terminal_only(live):
    h = holder(live)
    with live.client() as c:
        code = activation_code(live, c, h)
        d1, d2 = Device(), Device()
        assert c.post("/v1/activate", json={"code": code, "device_jwk": d1.jwk()}).status_code == 201
        r = c.post("/v1/activate", json={"code": code, "device_jwk": d2.jwk()})
        assert r.status_code == 400 and "used" in r.json()["detail"]
        for hdr in ({}, {"X-Terminal-Key": "counter-01.wrong"}, {"X-Terminal-Key": "nobody.x"}):
            assert c.post("/v1/activation-codes", json={"ssn": h.ssn}, headers=hdr).status_code == 401
        r = c.post("/v1/activation-codes", json={"card_no": h.card_no}, headers={"X-Terminal-Key": live.terminal_key})
        assert r.status_code == 201


def test_expired_activation_code_refused(live):
    import datetime as dt

    from holder_db.ecard import EcardStore

    h = holder(live)
    store = EcardStore(live.db_url)
    hid = store.find_holder(ssn=h.ssn).holder_id
    store.add_activation_code(hid, "ABCDEFGH23", dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    with live.client() as c:
        r = c.post("/v1/activate", json={"code": "ABCDEFGH23", "device_jwk": Device().jwk()})
        assert r.status_code == 400 and "expired" in r.json()["detail"]


def test_device_requests_must_be_signed_fresh_and_for_this_request(live):
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        assert dev.request(c, "GET", "/v1/me").json()["name"] == h.name
        assert c.get("/v1/me").status_code == 401
        proof = sign_request(dev.key, "GET", "/v1/me", b"", kid=dev.device_id)
        assert c.get("/v1/me", headers={"Authorization": "Device " + proof}).status_code == 200
        assert c.get("/v1/me", headers={"Authorization": "Device " + proof}).status_code == 401  # replay
        wrong_path = sign_request(dev.key, "GET", "/v1/token", b"", kid=dev.device_id)
        assert c.get("/v1/me", headers={"Authorization": "Device " + wrong_path}).status_code == 401
        stale = sign_request(dev.key, "GET", "/v1/me", b"", now=time.time() - 600, kid=dev.device_id)
        assert c.get("/v1/me", headers={"Authorization": "Device " + stale}).status_code == 401
        body = json.dumps({"ttl": 60}).encode()
        proof = sign_request(dev.key, "POST", "/v1/token", body, kid=dev.device_id)
        r = c.post("/v1/token", content=json.dumps({"ttl": 300}),
                   headers={"Authorization": "Device " + proof, "Content-Type": "application/json"})
        assert r.status_code == 401 and "body" in r.json()["detail"]
        # a stranger's key presented under this device's kid
        thief = keys.SigningKey("EdDSA", keys.generate().key, dev.device_id)
        forged = sign_request(thief, "GET", "/v1/me", b"", kid=dev.device_id)
        assert c.get("/v1/me", headers={"Authorization": "Device " + forged}).status_code == 401
        assert c.get("/v1/me", headers={"Authorization": "Device garbage"}).status_code == 401
        # alg none, and HS256 keyed with the device's public key (the classic JOSE confusions)
        import hashlib
        import hmac as hmac_

        from ecard.keys import b64u

        claims = {"htm": "GET", "htu": "/v1/me", "iat": int(time.time()), "jti": "x1", "bh": b64u(hashlib.sha256(b"").digest())}
        p = b64u(json.dumps(claims).encode())
        none = b64u(json.dumps({"alg": "none", "typ": "sscard-req+jwt", "kid": dev.device_id}).encode())
        assert c.get("/v1/me", headers={"Authorization": f"Device {none}.{p}."}).status_code == 401
        for secret in (json.dumps(dev.jwk()).encode(), dev.key.public().compact()):
            h = b64u(json.dumps({"alg": "HS256", "typ": "sscard-req+jwt", "kid": dev.device_id}).encode())
            sig = b64u(hmac_.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest())
            assert c.get("/v1/me", headers={"Authorization": f"Device {h}.{p}.{sig}"}).status_code == 401


def test_a_holder_reaches_only_their_own_data(live):
    a, b = holder(live), holder(live)
    with live.client() as c:
        da, db_ = activate(live, c, a), activate(live, c, b)
        me_a, me_b = da.request(c, "GET", "/v1/me").json(), db_.request(c, "GET", "/v1/me").json()
        assert me_a["name"] == a.name and me_b["name"] == b.name
        assert a.ssn not in json.dumps(me_a) and me_a["id_number_masked"] == a.ssn[:6] + "********" + a.ssn[-4:]
        ta = da.request(c, "POST", "/v1/token", {}).json()["token"]
        tb = db_.request(c, "POST", "/v1/token", {}).json()["token"]
        jwks, sl = fetch_verifier(c)
        ra, rb = (verify(t, jwks, sl, time.time(), None) for t in (ta, tb))
        assert ra.sub != rb.sub and ra.status_idx != rb.status_idx


def test_sd_jwt_over_http(live):
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h, "ES256")
        r = dev.request(c, "POST", "/v1/credentials/sd-jwt", {})
        assert r.status_code == 200, r.text
        dev.sd_jwt = r.json()["sd_jwt"]
        jwks, sl = fetch_verifier(c)
        merchant = sdjwt.verify(dev.present_sd_jwt([], "shop-1", "n1"), jwks, "shop-1", "n1", time.time(), sl)
        assert "name" not in merchant and "id_number" not in merchant
        hospital = sdjwt.verify(dev.present_sd_jwt(["name", "insurance"], "hosp-1", "n2"), jwks, "hosp-1", "n2",
                                time.time(), sl)
        assert hospital["name"] == h.name and hospital["insurance"] == {"medical": "active", "pension": "active"}
        assert "id_number" not in hospital


def test_holder_reports_own_card_lost(live):
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        tok = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        r = dev.request(c, "POST", "/v1/me/loss", {})
        assert r.status_code == 200 and r.json()["card_status"] == "lost"
        jwks, sl = fetch_verifier(c)
        assert verify(tok, jwks, sl, time.time(), None).reason == "revoked"


def test_scan_to_login(live):
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        portal, tax = live.relying_party("city-portal"), live.relying_party("tax-office")
        r = portal.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]})
        assert r.status_code == 201, r.text
        s = r.json()
        assert s["qr"] == "SSCL1:" + s["session_id"]
        poll = {"X-Poll-Secret": s["poll_secret"]}
        assert c.get(f"/v1/login-sessions/{s['session_id']}", headers=poll).json()["status"] == "pending"
        assert c.get(f"/v1/login-sessions/{s['session_id']}", headers={"X-Poll-Secret": "x"}).status_code == 403
        r = dev.request(c, "POST", f"/v1/login-sessions/{s['session_id']}/approve", {"consent": ["name", "masked_id"]})
        assert r.status_code == 200, r.text
        got = c.get(f"/v1/login-sessions/{s['session_id']}", headers=poll).json()
        assert got["status"] == "approved" and got["name"] == h.name
        assert got["masked_id"] is None  # not in the relying party's scope, so not released
        assert len(got["subject"]) == 32 and h.ssn not in json.dumps(got)
        r = dev.request(c, "POST", f"/v1/login-sessions/{s['session_id']}/approve", {"consent": []})
        assert r.status_code == 409
        s2 = tax.request(c, "POST", "/v1/login-sessions", {"scope": []}).json()
        dev.request(c, "POST", f"/v1/login-sessions/{s2['session_id']}/approve", {"consent": ["name"]})
        got2 = c.get(f"/v1/login-sessions/{s2['session_id']}", headers={"X-Poll-Secret": s2["poll_secret"]}).json()
        assert got2["subject"] != got["subject"] and got2["name"] is None  # pairwise subjects
        assert c.get("/v1/login-sessions/nope", headers=poll).status_code == 404


def test_bad_requests_are_4xx_with_a_message(live):
    with live.client() as c:
        cases = [
            c.post("/v1/activate", content=b"{not json", headers={"Content-Type": "application/json"}),
            c.post("/v1/activate", json={"code": "x" * 5000, "device_jwk": {}}),
            c.post("/v1/activate", json={"code": "ABCDEFGH23", "device_jwk": {"kty": "OKP", "crv": "Ed25519",
                                                                             "x": "A" * 43}}),
            c.post("/v1/activate", json=[1, 2, 3]),
            c.post("/v1/activation-codes", json={"ssn": "1" * 18}, headers={"X-Terminal-Key": live.terminal_key}),
            c.post("/v1/activation-codes", json={}, headers={"X-Terminal-Key": live.terminal_key}),
            c.post("/v1/login-sessions", json={"scope": ["everything"]}),
            c.get("/v1/login-sessions/" + "x" * 500),
            c.post("/v1/token", json={"ttl": 10**9}),
            c.get("/nowhere"),
        ]
        for r in cases:
            assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]


def test_activation_and_login_are_rate_limited(tmp_path):
    srv = start_server(tmp_path, limits={"activation": (6, 3), "login_create": (6, 3)}, n_holders=1)
    try:
        with srv.client() as c:
            codes = [c.post("/v1/activate", json={"code": "ABCDEFGH23", "device_jwk": Device().jwk()}).status_code
                     for _ in range(5)]
            assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]
            r = c.post("/v1/activate", json={"code": "ABCDEFGH23", "device_jwk": Device().jwk()})
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            rp = srv.relying_party("rp")
            logins = [rp.request(c, "POST", "/v1/login-sessions", {}).status_code for _ in range(4)]
            assert logins == [201, 201, 201, 429]
            h = srv.holders[0]
            codes = [c.post("/v1/activation-codes", json={"ssn": h.ssn},
                            headers={"X-Terminal-Key": srv.terminal_key}).status_code for _ in range(7)]
            assert codes == [201] * 5 + [429, 429]  # per holder, whichever terminal asks
    finally:
        srv.stop()


def test_openapi_docs_served(live):
    with live.client() as c:
        spec = c.get("/openapi.json").json()
        assert {"/v1/token", "/v1/activate", "/status-list", "/.well-known/jwks.json"} <= set(spec["paths"])
        assert c.get("/docs").status_code == 200


def test_key_rotation_keeps_old_codes_verifiable(live):
    """A code signed before `sscard keys new` rotates the key still verifies against the JWKS published after."""
    from ecard.keys import load_keyset, new_key
    from ecard.tokens import issue_online

    old = load_keyset(live.keys_dir).current
    tok = issue_online(old, bytes(10), 0, int(time.time()))
    rotated = new_key(live.keys_dir, "SM2")
    assert rotated.current.kid != old.kid
    published = Jwks.from_file(live.keys_dir / "jwks.json")
    assert set(published.keys) == {old.kid, rotated.current.kid}
    assert verify(tok, published, None, time.time(), None).valid
    later = Jwks.from_json(rotated.jwks(time.time() + keys.MAX_TOKEN_LIFETIME + 1))
    assert verify(tok, later, None, time.time(), None).reason == "unknown_key"
    with live.client() as c:  # the server re-reads the key set when the JWKS is fetched: no restart, no wait
        served = Jwks.from_json(c.get("/.well-known/jwks.json").json())
        assert set(served.keys) == {old.kid, rotated.current.kid}
        dev = activate(live, c, holder(live))
        fresh = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        res = verify(fresh, served, None, time.time(), None)
        assert res.valid and res.kid == rotated.current.kid and res.alg == "SM2"


def test_terminals_added_while_running(live):
    from ecard_server.terminals import add_terminal

    key = add_terminal(live.keys_dir, "kiosk-07")  # known at once (tests/ecard/test_attacks.py: five in a row)
    with live.client() as c:
        r = c.post("/v1/activation-codes", json={"ssn": holder(live).ssn}, headers={"X-Terminal-Key": key})
        assert r.status_code == 201, r.text


def test_http_smoke_without_content_type(live):
    with httpx.Client(base_url=live.url) as c:
        r = c.post("/v1/activate", content=b"code=1")
        assert 400 <= r.status_code < 500


def test_loss_is_recorded_in_holder_db_and_audit_never_holds_an_id_number(live):
    from sqlmodel import select

    from holder_db import store as db
    from holder_db.models import AuditEntry, Card, CardEvent, Revocation

    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        dev.request(c, "GET", "/v1/me")
        r = c.post("/v1/cards/loss", json={"card_no": h.card_no}, headers={"X-Terminal-Key": live.terminal_key})
        assert r.status_code == 200 and h.card_no not in r.text
        again = c.post("/v1/cards/loss", json={"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
        assert again.status_code == 200 and again.json()["revoked_indices"] == []
    with db.session(live.db_url) as s:
        card = s.exec(select(Card).where(Card.card_no == h.card_no)).one()
        events = s.exec(select(CardEvent).where(CardEvent.card_pk == card.id)).all()
        assert card.status == "lost" and [(e.from_status, e.to_status) for e in events] == [("active", "lost")]
        revs = s.exec(select(Revocation).where(Revocation.holder_id == card.holder_id)).all()
        assert {r.subject for r in revs} == {"card", "ecard"}
        rows = s.exec(select(AuditEntry).where(AuditEntry.holder_id == card.holder_id)).all()
        actions = {a.action for a in rows}
        assert {"ecard.activation_code", "ecard.activate", "ecard.me", "card.loss"} <= actions
        assert all(h.ssn not in f"{a.subject}{a.detail}{a.actor}" for a in rows)
        assert any(a.sensitive for a in rows if a.action == "ecard.me")


def test_status_list_covers_new_bindings_and_has_headroom(live):
    with live.client() as c:
        _, before = fetch_verifier(c)
        dev = activate(live, c, holder(live))
        tok = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        jwks, after = fetch_verifier(c)
        idx = verify(tok, jwks, None, time.time(), None).status_idx
        assert after.size() >= idx + 16_384 and before.size() > idx  # an older cached list still covers it
        assert verify(tok, jwks, before, time.time(), None).valid
        assert verify(tok, jwks, after, time.time(), None).valid


def test_device_deactivation_revokes_only_that_e_card(live):
    from holder_db.ecard import EcardStore

    h = holder(live)
    with live.client() as c:
        phone, tablet = activate(live, c, h), activate(live, c, h)
        old = phone.request(c, "POST", "/v1/token", {}).json()["token"]
        r = phone.request(c, "POST", "/v1/me/deactivate", {})
        assert r.status_code == 200, r.text
        jwks, sl = fetch_verifier(c)
        assert verify(old, jwks, sl, time.time(), None).reason == "revoked"
        assert phone.request(c, "POST", "/v1/token", {}).status_code == 401
        fresh = tablet.request(c, "POST", "/v1/token", {}).json()["token"]
        res = verify(fresh, jwks, sl, time.time(), None)
        assert res.valid
        binding = EcardStore(live.db_url).binding_by_status_index(res.status_idx)
        assert binding.kid == tablet.device_id and binding.active
        assert EcardStore(live.db_url).holder(binding.holder_id).card_status == "active"


def test_a_recorded_death_revokes_the_e_card(live):
    import datetime as dt

    from holder_db import store as db
    from holder_db.models import SharedRecord

    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        tok = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        jwks, sl = fetch_verifier(c)
        assert verify(tok, jwks, sl, time.time(), None).valid
        with db.session(live.db_url) as s:
            s.add(SharedRecord(ssn=h.ssn, kind="death", date=dt.date(2026, 1, 1), source="civil affairs"))
        jwks, sl = fetch_verifier(c)
        assert verify(tok, jwks, sl, time.time(), None).reason == "revoked"
        r = dev.request(c, "POST", "/v1/token", {})
        assert r.status_code == 403 and "deceased" in r.json()["detail"]
        assert dev.request(c, "POST", "/v1/credentials/sd-jwt", {}).status_code == 403
        r = c.post("/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
        assert r.status_code == 409 and "death" in r.json()["detail"]
