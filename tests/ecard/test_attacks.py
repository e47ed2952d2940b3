"""The attack suite of issue 12, over real HTTP against the server on SQLite and on PostgreSQL (`live`): each hole
that got through once, and the classic JOSE and input attacks that never did. Whatever is sent, the answer is
never a 5xx (every request goes through `send`)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecard import jws, keys, status_list
from ecard.device import RP_TYP, Device, RelyingParty, body_hash, sign_request
from ecard.keys import Jwks, b64u
from ecard.tokens import issue_online
from ecard.verify import verify
from ecard_server.terminals import add_terminal
from holder_db.ecard import EcardStore

from .conftest import slowest_jwks_under_big_bodies


def send(c: httpx.Client, method: str, path: str, **kw) -> httpx.Response:
    r = c.request(method, path, **kw)
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    return r


def code_for(live, c, h) -> str:
    r = send(c, "POST", "/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": live.terminal_key})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def activate(live, c, h, dev: Device | None = None, jwk: dict | None = None) -> tuple[Device, httpx.Response]:
    dev = dev or Device()
    r = send(c, "POST", "/v1/activate", json={"code": code_for(live, c, h), "device_jwk": jwk or dev.jwk()})
    if r.status_code == 201:
        dev.device_id = r.json()["device_id"]
    return dev, r


def unsigned_claims(method: str, path: str, body: bytes = b"") -> str:
    claims = {"htm": method, "htu": path, "iat": int(time.time()), "jti": b64u(bytes(12)), "bh": body_hash(body)}
    return b64u(json.dumps(claims).encode())


def jose_confusions(kid: str, typ: str, public_jwk: dict, public_raw: bytes, method: str, path: str) -> list[str]:
    """alg none, and HS256 keyed with the signer's public key (as JWK text and as raw bytes)."""
    p = unsigned_claims(method, path)
    out = [f"{b64u(json.dumps({'alg': 'none', 'typ': typ, 'kid': kid}).encode())}.{p}."]
    for secret in (json.dumps(public_jwk).encode(), public_raw):
        h = b64u(json.dumps({"alg": "HS256", "typ": typ, "kid": kid}).encode())
        out.append(f"{h}.{p}.{b64u(hmac.new(secret, f'{h}.{p}'.encode(), hashlib.sha256).digest())}")
    return out


# ---- 3. identity of devices and relying parties ------------------------------------------------------------

def test_the_server_names_devices_so_no_one_takes_another_id(live):
    """A client's kid was kept as the device id: a holder could claim another device's id, or the issuing desk's
    `desk-<holder id>`, and so block the desk (`sscard qr issue`) for that holder with a 409."""
    attacker, victim = live.fresh_holder(), live.fresh_holder()
    store = EcardStore(live.db_url)
    victim_id = store.find_holder(ssn=victim.ssn).holder_id
    with live.client() as c:
        first, r = activate(live, c, attacker)
        assert r.status_code == 201 and first.device_id != first.key.kid
        for claimed in (f"desk-{victim_id}", first.device_id):
            dev = Device()
            dev_, r = activate(live, c, attacker, dev, {**dev.jwk(), "kid": claimed})
            assert r.status_code == 201, r.text
            assert r.json()["device_id"] not in (claimed, dev.key.kid)
            assert send(c, "GET", "/v1/me", headers={"Authorization": "Device " + sign_request(
                dev.key, "GET", "/v1/me", b"", kid=dev_.device_id)}).json()["name"] == attacker.name
        # the desk still prints codes for the victim, and the first device still is the attacker's own
        assert store.desk_binding(victim_id) >= 0
        assert store.binding(first.device_id).holder_id == store.find_holder(ssn=attacker.ssn).holder_id


def test_a_refused_activation_leaves_the_code_usable(live):
    """A 409 (this key is bound already) used up the code; now redeeming and binding are one transaction."""
    a, b = live.fresh_holder(), live.fresh_holder()
    with live.client() as c:
        dev_a, r = activate(live, c, a)
        assert r.status_code == 201
        code = code_for(live, c, b)
        r = send(c, "POST", "/v1/activate", json={"code": code, "device_jwk": dev_a.jwk()})
        assert r.status_code == 409 and "already bound" in r.json()["detail"]
        dev_b = Device()
        r = send(c, "POST", "/v1/activate", json={"code": code, "device_jwk": dev_b.jwk()})
        assert r.status_code == 201, r.text
        dev_b.device_id = r.json()["device_id"]
        assert dev_b.request(c, "GET", "/v1/me").json()["name"] == b.name
        r = send(c, "POST", "/v1/activate", json={"code": code, "device_jwk": Device().jwk()})
        assert r.status_code == 400 and "used" in r.json()["detail"]


def test_one_code_activates_one_device_under_a_race(live):
    h = live.fresh_holder()
    with live.client() as c:
        code = code_for(live, c, h)

    def one(_: int) -> int:
        with live.client() as c:
            return send(c, "POST", "/v1/activate", json={"code": code, "device_jwk": Device().jwk()}).status_code

    with ThreadPoolExecutor(6) as pool:
        got = sorted(pool.map(one, range(6)))
    assert got == [201] + [400] * 5


def test_a_relying_party_cannot_be_self_declared(live):
    """Anyone opening a session as `bank.example` got the bank's pairwise subject for the holder; now only a
    request signed by the key registered for the name opens a session in it."""
    bank = live.relying_party("bank.example")
    evil = live.relying_party("evil.example")
    pub = bank.key.public()
    with live.client() as c:
        assert send(c, "POST", "/v1/login-sessions",
                    json={"relying_party": "bank.example", "scope": ["name"]}).status_code in (401, 422)
        assert send(c, "POST", "/v1/login-sessions", json={"scope": ["name"]}).status_code == 401
        # evil's own key, claiming to be the bank
        forged = RelyingParty("bank.example", evil.key)
        assert forged.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]}).status_code == 401
        unknown = RelyingParty("nobody.example")
        assert unknown.request(c, "POST", "/v1/login-sessions", {}).status_code == 401
        for proof in jose_confusions("bank.example", RP_TYP, pub.jwk(), pub.compact(), "POST", "/v1/login-sessions"):
            r = send(c, "POST", "/v1/login-sessions", content=b"", headers={"Authorization": "RP " + proof})
            assert r.status_code == 401, proof
        # a proof made for another request, and a replayed one
        body = json.dumps({"scope": []}).encode()
        proof = sign_request(bank.key, "POST", "/v1/login-sessions", body, kid="bank.example", typ=RP_TYP)
        hdrs = {"Authorization": "RP " + proof, "Content-Type": "application/json"}
        assert send(c, "POST", "/v1/login-sessions", content=b'{"scope": ["name"]}', headers=hdrs).status_code == 401
        assert send(c, "POST", "/v1/login-sessions", content=body, headers=hdrs).status_code == 201
        assert send(c, "POST", "/v1/login-sessions", content=body, headers=hdrs).status_code == 401
        # a device proof is not a relying party's (typ), even under the same key and name
        dev_typed = sign_request(bank.key, "POST", "/v1/login-sessions", b"", kid="bank.example")
        assert send(c, "POST", "/v1/login-sessions", headers={"Authorization": "RP " + dev_typed}).status_code == 401


def test_a_relying_party_registered_by_the_cli_opens_sessions(live, tmp_path):
    from click.testing import CliRunner

    from cli import main
    from ecard.keys import signing_key_from_pem

    key_file = tmp_path / "rp.json"
    out = CliRunner().invoke(main, ["keys", "rp", "clinic.example", "--out", str(key_file), "--db", live.db_url,
                                    "--alg", "ES256", "--json"])
    assert out.exit_code == 0, out.output
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and "PRIVATE" not in out.output
    saved = json.loads(key_file.read_text())
    rp = RelyingParty(saved["relying_party"], signing_key_from_pem(saved["key_pem"].encode(), saved["alg"]))
    with live.client() as c:
        assert rp.request(c, "POST", "/v1/login-sessions", {"scope": []}).status_code == 201
        # re-keyed: the old key no longer speaks for it
        other = tmp_path / "rp.jwk"
        fresh = keys.generate()
        other.write_text(json.dumps(fresh.public().jwk()))
        out = CliRunner().invoke(main, ["keys", "rp", "clinic.example", "--jwk", str(other), "--db", live.db_url])
        assert out.exit_code == 0, out.output
        assert rp.request(c, "POST", "/v1/login-sessions", {"scope": []}).status_code == 401
        assert RelyingParty("clinic.example", fresh).request(c, "POST", "/v1/login-sessions", {}).status_code == 201
    for bad in (["keys", "rp", "bad name!", "--out", str(tmp_path / "x")], ["keys", "rp", "a"],
                ["keys", "rp", "a", "--out", str(key_file)]):
        got = CliRunner().invoke(main, bad + ["--db", live.db_url])
        assert got.exit_code != 0 and "Traceback" not in got.output


def test_an_approved_login_is_read_once(live):
    h = live.fresh_holder()
    portal = live.relying_party("portal.example")
    with live.client() as c:
        dev, _ = activate(live, c, h)
        s = portal.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]}).json()
        poll = {"X-Poll-Secret": s["poll_secret"]}
        path = f"/v1/login-sessions/{s['session_id']}"
        assert send(c, "GET", path, headers=poll).json()["status"] == "pending"
        assert dev.request(c, "POST", path + "/approve", {"consent": ["name"]}).status_code == 200
        got = send(c, "GET", path, headers=poll)
        assert got.status_code == 200 and got.json()["status"] == "approved" and got.json()["name"] == h.name
        again = send(c, "GET", path, headers=poll)
        assert again.status_code == 410 and h.name not in again.text
        assert dev.request(c, "POST", path + "/approve", {"consent": ["name"]}).status_code == 409


# ---- 4. resource limits ------------------------------------------------------------------------------------

def _raw(live, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    u = urlsplit(live.url)
    with socket.create_connection((u.hostname, u.port), timeout=wait) as s:
        s.sendall(head + body)
        s.settimeout(wait)
        out = b""
        try:
            while not out.endswith(b"}") and len(out) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except TimeoutError:
            pass
    return out


def test_a_declared_oversize_body_is_refused_before_it_is_read(live):
    """50 MB announced, 100 bytes sent: the answer comes at once (it used to wait for the body)."""
    t0 = time.monotonic()
    out = _raw(live, b"POST /v1/activate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n", b"{" * 100)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert time.monotonic() - t0 < 3


def test_a_streamed_oversize_body_is_cut_off(live):
    """A chunked body with no Content-Length, never finished: refused as soon as it passes the cap, not read on."""
    chunk = b" " * 60_000
    t0 = time.monotonic()
    out = _raw(live, b"POST /v1/activate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n", (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert time.monotonic() - t0 < 3
    with live.client() as c:  # and the server is fine
        assert send(c, "GET", "/.well-known/jwks.json").status_code == 200
        small = (b"%x\r\n" % 5) + b"[1,2]\r\n0\r\n\r\n"
    out = _raw(live, b"POST /v1/activate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", small)
    assert out.startswith(b"HTTP/1.1 422"), out[:200]  # a small chunked body is read as before


def test_big_bodies_do_not_stall_the_jwks(live):
    """12 concurrent 10 MB bodies stalled a JWKS GET for 8.6 s; refused unread, they cost nothing."""
    assert slowest_jwks_under_big_bodies(live.client, "/v1/activate") < 2.0


@pytest.mark.parametrize("path", ["/v1/activate", "/v1/activation-codes", "/v1/login-sessions", "/v1/token",
                                  "/v1/me/loss", "/v1/cards/loss"])
def test_bad_bodies_are_4xx(live, path):
    headers = {"Content-Type": "application/json", "X-Terminal-Key": live.terminal_key}
    with live.client() as c:
        for body in (b"{not json", b"\xff\xfe\x00{", "{\"code\": \"\udcff\"}".encode("utf-8", "surrogatepass"),
                     b"[" * 5000, b"", b"null", b'{"ssn": ' + b'"1"' * 3 + b"}"):
            r = send(c, "POST", path, content=body, headers=headers)
            assert 400 <= r.status_code < 500, (path, body[:20], r.status_code)


# ---- classic attacks on device proofs ----------------------------------------------------------------------

def test_forged_and_confused_device_proofs_are_refused(live):
    h = live.fresh_holder()
    with live.client() as c:
        dev, _ = activate(live, c, h)
        pub = dev.key.public()
        thief = keys.generate()
        cases = [sign_request(thief, "GET", "/v1/me", b"", kid=dev.device_id)]  # forged signature
        good = sign_request(dev.key, "GET", "/v1/me", b"", kid=dev.device_id)
        head, payload, sig = good.split(".")
        cases.append(f"{head}.{payload}.{sig[:-4]}AAAA")  # signature altered
        cases.append(f"{head}.{unsigned_claims('GET', '/v1/me')}.{sig}")  # payload swapped
        cases += jose_confusions(dev.device_id, "sscard-req+jwt", pub.jwk(), pub.compact(), "GET", "/v1/me")
        cases += ["-", "a.b", "a.b.c", "\u00ff" * 10, "x" * 1990]
        for proof in cases:
            r = send(c, "GET", "/v1/me", headers={"Authorization": "Device " + proof} if proof.isascii() else {})
            assert r.status_code in (401, 422), (proof[:40], r.status_code)
        assert send(c, "GET", "/v1/me", headers={"Authorization": "Device " + good}).status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scheme=st.sampled_from(["Device", "RP", "Bearer", "device"]),
       head=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "jwk", "b64"]),
                            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=70),
                                      st.lists(st.text(max_size=5), max_size=3)), max_size=5),
       payload=st.binary(max_size=80), sig=st.binary(max_size=70))
def test_any_signed_looking_header_is_a_4xx(live, scheme, head, payload, sig):
    proof = ".".join([b64u(json.dumps(head).encode()), b64u(payload), b64u(sig)])
    with live.client() as c:
        for method, path in (("GET", "/v1/me"), ("POST", "/v1/login-sessions"), ("POST", "/v1/token")):
            r = send(c, method, path, headers={"Authorization": f"{scheme} {proof}"[:1990]},
                     **({"json": {}} if method == "POST" else {}))
            assert r.status_code in (401, 422, 429), (path, r.status_code, r.text[:200])


def test_a_proof_with_the_older_eddsa_alg_name_still_verifies(live):
    """Signing says `Ed25519` (RFC 9864); `EdDSA` from a device made before is still accepted."""
    h = live.fresh_holder()
    with live.client() as c:
        dev, _ = activate(live, c, h)
        claims = {"htm": "GET", "htu": "/v1/me", "iat": int(time.time()), "jti": "legacy-1", "bh": body_hash(b"")}
        legacy = jwt.PyJWS().encode(json.dumps(claims).encode(), dev.key.key, algorithm="EdDSA",
                                    headers={"typ": "sscard-req+jwt", "kid": dev.device_id})
        assert jws.header(legacy)["alg"] == "EdDSA"
        assert send(c, "GET", "/v1/me", headers={"Authorization": "Device " + legacy}).status_code == 200
        modern = sign_request(dev.key, "GET", "/v1/me", b"", kid=dev.device_id)
        assert jws.header(modern)["alg"] == "Ed25519"
        jwks = send(c, "GET", "/.well-known/jwks.json").json()
        assert {k["alg"] for k in jwks["keys"]} <= {"Ed25519", "ES256", "SM2"}
        assert jws.header(send(c, "GET", "/status-list").text)["alg"] in ("Ed25519", "ES256", "SM2")


# ---- 6. terminal keys --------------------------------------------------------------------------------------

def test_a_new_terminal_key_works_at_once(live):
    """`sscard keys terminal` then a request, back to back as the README does: refused 3 times in 5 before."""
    h = live.fresh_holder()
    with live.client() as c:
        for i in range(5):
            key = add_terminal(live.keys_dir, f"kiosk-new-{i}")
            r = send(c, "POST", "/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": key})
            assert r.status_code == 201, r.text
        for bad in ("kiosk-new-0.wrong", "nobody.x", "no-dot", "." * 199):
            r = send(c, "POST", "/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": bad})
            assert r.status_code == 401


# ---- 5. keys: rotation, withdrawal (last: they change the live server's key set) -----------------------------

def test_a_rotation_re_signs_the_status_list(live):
    with live.client() as c:
        before = jws.header(send(c, "GET", "/status-list").text)["kid"]
        rotated = keys.new_key(live.keys_dir, "ES256")
        assert rotated.current.kid != before
        text = send(c, "GET", "/status-list").text
        assert jws.header(text)["kid"] == rotated.current.kid
        jwks = Jwks.from_json(send(c, "GET", "/.well-known/jwks.json").json())
        assert status_list.load(text, jwks) is not None


def test_a_withdrawn_key_is_gone_at_once(live):
    from click.testing import CliRunner

    from cli import main

    h = live.fresh_holder()
    with live.client() as c:
        dev, _ = activate(live, c, h)
        compromised = keys.load_keyset(live.keys_dir).current
        online = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        forged = issue_online(compromised, bytes(10), 0, int(time.time()))  # what a thief of the key makes
        jwks = Jwks.from_json(send(c, "GET", "/.well-known/jwks.json").json())
        assert verify(forged, jwks, None, time.time(), None).valid
        # `--`: a kid is base64url and may begin with "-"
        out = CliRunner().invoke(main, ["keys", "withdraw", "--keys", str(live.keys_dir), "--json", "--",
                                        compromised.kid])
        assert out.exit_code == 0, out.output
        got = json.loads(out.output)
        assert got["withdrawn"] == compromised.kid and got["rotated"] and got["current"] != compromised.kid
        at_once = dev.request(c, "POST", "/v1/token", {}).json()["token"]  # before anything makes it look again
        served = send(c, "GET", "/.well-known/jwks.json").json()
        assert compromised.kid not in {k["kid"] for k in served["keys"]}
        fresh = Jwks.from_json(served)
        for tok in (online, forged):
            assert verify(tok, fresh, None, time.time(), None).reason == "unknown_key"
        assert verify(at_once, fresh, None, time.time(), None).kid == got["current"]
        text = send(c, "GET", "/status-list").text
        assert jws.header(text)["kid"] == got["current"]
        status_list.load(text, fresh)
        again = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        assert verify(again, fresh, status_list.load(text, fresh), time.time(), None).kid == got["current"]
        assert not (live.keys_dir / f"{compromised.kid}.pem").exists()
        assert not CliRunner().invoke(main, ["keys", "withdraw", "nosuchkid", "--keys", str(live.keys_dir)]).exit_code == 0
