"""Unlinkable codes: two codes of one holder (online, offline, SD-JWT) share nothing a verifier sees but what every
holder's codes share; revoking the card reaches every member of a batch; the server still resolves a code."""
from __future__ import annotations

import json
import time

import pytest

from ecard import jws, keys, sdjwt, tokens
from ecard.keys import b64u_decode
from ecard.verify import ReplayCache, verify
from tests.ecard.conftest import start_server
from tests.ecard.test_server import activate, fetch_verifier

# what the codes of every holder share by design (issuer, algorithm, format, coarse issue time): no identifier
POPULATION = {
    "online": {"kind", "alg", "kid", "ttl"},
    "offline": {"kind", "alg", "kid", "cred_iat", "cred_exp", "device_alg", "ttl"},
    "sd-jwt": {"issuer.header.alg", "issuer.header.typ", "issuer.header.kid", "issuer.iss", "issuer.iat",
               "issuer.exp", "issuer.vct", "issuer._sd_alg", "issuer.cnf.jwk.kty", "issuer.cnf.jwk.crv",
               "issuer.status.status_list.uri", "kb.header.alg", "kb.header.typ", "kb.aud"},
}


def seen_in_qr(token: str) -> dict[str, object]:
    """Every field a verifier decodes from an SSC1 code (times of the scan itself left out: they tell when, not
    who), signatures included."""
    t = tokens.parse(token)
    out = {"kind": t.kind, "alg": t.alg, "kid": t.kid, "sub": t.sub, "status_idx": t.status_idx, "jti": t.jti,
           "ttl": t.exp - t.iat, "issuer_sig": t.issuer_sig}
    if t.kind == "offline":
        out.update(device_alg=t.device_alg, device_key=t.device_key, cred_iat=t.cred_iat, cred_exp=t.cred_exp,
                   device_sig=t.device_sig)
    return out


def _flat(prefix: str, value: object, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True)


def seen_in_sd_jwt(presentation: str) -> dict[str, object]:
    """Every header and claim of the issuer JWT and of the key binding JWT, and the signatures."""
    parts = presentation.split("~")
    out: dict[str, object] = {}
    for name, compact in (("issuer", parts[0]), ("kb", parts[-1])):
        head, body, sig = compact.split(".")
        _flat(f"{name}.header", json.loads(b64u_decode(head)), out)
        _flat(name, json.loads(b64u_decode(body)), out)
        out[f"{name}.sig"] = sig
    del out["kb.iat"], out["kb.nonce"]  # when it was shown and the verifier's own nonce
    return out


def assert_unlinkable(a1: dict, a2: dict, b: dict, population: set[str]) -> None:
    """Two codes of holder A share only what holder B's code shares with them too, and that is `population`."""
    assert a1.keys() == a2.keys() == b.keys()
    common = {k for k in a1 if a1[k] == a2[k]}
    assert common == population, common ^ population
    assert all(b[k] == a1[k] for k in common), {k for k in common if b[k] != a1[k]}


@pytest.fixture(scope="module")
def pair(live):
    with live.client() as c:
        yield c, activate(live, c, live.fresh_holder()), activate(live, c, live.fresh_holder())


def test_online_codes_share_no_identifier(live, pair):
    c, a, b = pair
    codes = [d.request(c, "POST", "/v1/token", {"ttl": 60}).json()["token"] for d in (a, a, b)]
    jwks, sl = fetch_verifier(c)
    assert all(verify(t, jwks, sl, time.time(), ReplayCache()).valid for t in codes)
    assert_unlinkable(*(seen_in_qr(t) for t in codes), POPULATION["online"])


def test_offline_codes_of_a_batch_share_no_identifier_and_each_is_used_once(live, pair):
    c, a, b = pair
    assert a.fetch_offline_batch(c, 5) == 5 and b.fetch_offline_batch(c, 5) == 5
    codes = [a.offline_code(), a.offline_code(), b.offline_code()]
    assert len(a.batch) == 3  # each code spent a member
    jwks, sl = fetch_verifier(c)
    assert all(verify(t, jwks, sl, time.time(), ReplayCache()).valid for t in codes)
    assert_unlinkable(*(seen_in_qr(t) for t in codes), POPULATION["offline"])
    a.batch.clear()
    with pytest.raises(ValueError, match="fetch a new batch"):
        a.offline_code()


def test_sd_jwt_presentations_share_no_identifier(live, pair):
    c, a, b = pair
    assert a.fetch_sd_jwt_batch(c, 3) == 3 and b.fetch_sd_jwt_batch(c, 3) == 3
    jwks, sl = fetch_verifier(c)
    shown = [d.present_sd_jwt([], "shop-1", f"n{i}") for i, d in enumerate((a, a, b))]
    for i, p in enumerate(shown):
        claims = sdjwt.verify(p, jwks, "shop-1", f"n{i}", time.time(), sl)
        assert "name" not in claims and "id_number" not in claims
    assert_unlinkable(*(seen_in_sd_jwt(p) for p in shown), POPULATION["sd-jwt"])


def test_revoking_the_card_reaches_every_member_of_every_batch(live):
    h = live.fresh_holder()
    with live.client() as c:
        dev = activate(live, c, h)
        dev.fetch_offline_batch(c, 5)
        dev.fetch_sd_jwt_batch(c, 2)
        online = dev.request(c, "POST", "/v1/token", {"ttl": 300}).json()["token"]
        offline = [dev.offline_code() for _ in range(5)]
        sds = [dev.present_sd_jwt([], "gate", f"n{i}") for i in range(2)]
        jwks, sl = fetch_verifier(c)
        assert all(verify(t, jwks, sl, time.time(), ReplayCache()).valid for t in [online, *offline])
        assert dev.request(c, "POST", "/v1/me/loss", {}).status_code == 200
        jwks, sl = fetch_verifier(c)
        assert [verify(t, jwks, sl, time.time(), ReplayCache()).reason for t in [online, *offline]] == ["revoked"] * 6
        for i, p in enumerate(sds):
            with pytest.raises(sdjwt.SdJwtError, match="revoked"):
                sdjwt.verify(p, jwks, "gate", f"n{i}", time.time(), sl)


def test_status_indices_are_random_in_a_large_space_covered_by_the_list(live, pair):
    from holder_db.ecard import CODE_BASE, CODE_SPACE

    c, a, _ = pair
    jwks, sl = fetch_verifier(c)
    idx = [verify(a.request(c, "POST", "/v1/token", {}).json()["token"], jwks, None, time.time(), None).status_idx
           for _ in range(8)]
    assert all(CODE_BASE <= i < CODE_BASE + CODE_SPACE for i in idx) and len(set(idx)) == 8
    assert sl.size() >= CODE_BASE + CODE_SPACE and len(c.get("/status-list").text) < 8000  # sparse: compresses


def test_a_terminal_resolves_a_code_and_the_holder_sees_it(live):
    h = live.fresh_holder()
    term = {"X-Terminal-Key": live.terminal_key}
    with live.client() as c:
        dev = activate(live, c, h)
        online = dev.request(c, "POST", "/v1/token", {}).json()["token"]
        dev.fetch_offline_batch(c, 2)
        for tok, kind in ((online, "online"), (dev.offline_code(), "offline")):
            r = c.post("/v1/codes/resolve", json={"token": tok, "purpose": "hospital registration"}, headers=term)
            assert r.status_code == 200, r.text
            got = r.json()
            assert got["kind"] == kind and got["name"] == h.name and got["binding_active"]
            assert got["id_number_masked"] != h.ssn and h.ssn[-4:] == got["id_number_masked"][-4:]
        log = dev.request(c, "GET", "/v1/me/access-log").json()["entries"]
        resolved = [e for e in log if e["action"] == "ecard.code_resolve"]
        assert len(resolved) == 2 and all(e["who"] == "terminal:counter-01" and e["why"] == "hospital registration"
                                          and e["fields"] == ["name", "id_number_masked", "card_status"]
                                          for e in resolved)
        assert c.post("/v1/codes/resolve", json={"token": online}).status_code == 401  # terminals only
        for bad in ({"token": "SSC1:AAAA"}, {"token": online[:-4] + "AAAA"}, {"token": "x" * 501},
                    {"token": online, "purpose": ""}, {"token": online, "extra": 1}, {}):
            r = c.post("/v1/codes/resolve", json=bad, headers=term)
            assert 400 <= r.status_code < 500, (bad, r.status_code)
            assert "detail" in r.json()


def test_batch_requests_are_checked(live, pair):
    c, a, _ = pair
    k = keys.generate().public().jwk()
    for body in ({"device_keys": [keys.generate().public().jwk() for _ in range(6)]},  # over Settings.ecard_batch
                 {"device_keys": [k, k]},
                 {"device_keys": [{"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}]},  # not on the curve
                 {"device_keys": [{"kty": "RSA"}]},
                 {"device_keys": "no"}):
        for path in ("/v1/credentials/offline", "/v1/credentials/sd-jwt"):
            r = a.request(c, "POST", path, body)
            assert 400 <= r.status_code < 500, (path, body, r.text)
    single = a.request(c, "POST", "/v1/credentials/offline", {}).json()  # no keys: one bound to the device key
    assert single["credentials"] == [] and tokens.parse(
        tokens.present(b64u_decode(single["credential"]), a.key, int(time.time()))).device_key == a.key.public().compact()


def test_token_is_rate_limited_per_device(tmp_path):
    srv = start_server(tmp_path, limits={"activation": (6000, 1000), "token": (1, 3)}, n_holders=2)
    try:
        with srv.client() as c:
            a, b = activate(srv, c, srv.holders[0]), activate(srv, c, srv.holders[1])
            got = [a.request(c, "POST", "/v1/token", {}).status_code for _ in range(4)]
            assert got == [200, 200, 200, 429]
            r = a.request(c, "POST", "/v1/credentials/offline", {})
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            assert b.request(c, "POST", "/v1/token", {}).status_code == 200  # another device is not held back
    finally:
        srv.stop()


def test_two_codes_of_a_holder_have_two_rows_resolving_to_one_binding(live, pair):
    from holder_db.ecard import EcardStore

    c, a, _ = pair
    jwks, _ = fetch_verifier(c)
    es = EcardStore(live.db_url)
    subs = [bytes.fromhex(verify(a.request(c, "POST", "/v1/token", {}).json()["token"], jwks, None, time.time(),
                                 None).sub) for _ in range(2)]
    found = [es.resolve_code(s) for s in subs]
    assert subs[0] != subs[1] and found[0].device_id == found[1].device_id == a.device_id
    assert es.resolve_code(b"\0" * 10) is None
    # a code's own status index names its binding for a terminal that checks the records (terminal identify)
    idx = verify(a.request(c, "POST", "/v1/token", {}).json()["token"], jwks, None, time.time(), None).status_idx
    assert es.binding_by_status_index(idx).kid == a.device_id
    assert jws.header(a.request(c, "POST", "/v1/credentials/sd-jwt", {}).json()["sd_jwt"].split("~")[0])["typ"] \
        == sdjwt.TYP
