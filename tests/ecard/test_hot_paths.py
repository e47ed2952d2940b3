"""The server's hot paths answer as the general ones do: the strict reader of request proofs refuses what pyjwt's
would and a little more (padding, extensions), the token's standing is read with its binding, and the JWKS and
status list come from a cache with an ETag that changes when what they say changes. (That the standing read with
the binding refuses a token is test_server's test_a_recorded_death_revokes_the_e_card.)"""
from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecard import jws, keys
from ecard.device import REQUEST_TYP, sign_request
from tests.ecard.test_server import activate, holder


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, payload: dict, key: keys.SigningKey) -> str:
    head, body = _b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode())
    return f"{head}.{body}.{_b64(key.sign(f'{head}.{body}'.encode()))}"


@pytest.mark.parametrize("alg", keys.ALGS)
def test_the_strict_reader_agrees_with_pyjwt_on_good_and_tampered_proofs(alg):
    key = keys.generate(alg)
    proof = sign_request(key, "POST", "/v1/token", b"{}", kid="dev1")
    assert jws.verify_compact(proof, key.public(), REQUEST_TYP) == jws.verify(proof, key.public(), REQUEST_TYP)
    assert jws.compact_header(proof) == jws.header(proof)
    head, body, sig = proof.split(".")
    other = keys.generate(alg)
    for bad, reason in [(f"{head}.{body}.{_b64(other.sign(f'{head}.{body}'.encode()))}", "bad_signature"),
                        (f"{head}.{_b64(b'{}')}.{sig}", "bad_signature"),
                        (f"{head}.{body}.{sig}=", "malformed"), (f"{head}.{body}", "malformed"),
                        (_forge({"alg": "HS256", "typ": REQUEST_TYP}, {}, key), "unsupported_alg"),
                        (_forge({"alg": "none", "typ": REQUEST_TYP}, {}, key), "unsupported_alg"),
                        (_forge({"alg": jws.JOSE_ALG[alg], "typ": "JWT"}, {}, key), "malformed"),
                        (_forge({"alg": jws.JOSE_ALG[alg], "typ": REQUEST_TYP, "crit": ["exp"]}, {}, key), "malformed"),
                        (_forge({"alg": jws.JOSE_ALG[alg], "typ": REQUEST_TYP}, [], key), "malformed")]:
        with pytest.raises(jws.JwsError) as got:
            jws.verify_compact(bad, key.public(), REQUEST_TYP)
        assert got.value.reason == reason, bad


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: ".".join([_b64(b)] * 3)))
def test_the_strict_reader_never_raises_anything_but_jws_error(token):
    key = keys.generate("EdDSA").public()
    try:
        jws.verify_compact(token, key, REQUEST_TYP)
    except jws.JwsError:
        pass


def test_a_padded_proof_is_refused_over_http(live):
    h = holder(live)
    with live.client() as c:
        dev = activate(live, c, h)
        body = json.dumps({"ttl": 30}).encode()
        proof = sign_request(dev.key, "POST", "/v1/token", body, kid=dev.device_id)
        head, rest = proof.split(".", 1)
        padded = head + "=" * (-len(head) % 4) + "." + rest
        if padded != proof:
            r = c.post("/v1/token", content=body, headers={"Authorization": "Device " + padded,
                                                           "Content-Type": "application/json"})
            assert r.status_code == 401, r.text
        r = c.post("/v1/token", content=body, headers={"Authorization": "Device " + proof,
                                                       "Content-Type": "application/json"})
        assert r.status_code == 200 and set(r.json()) == {"token", "expires_at", "chars"}
        assert r.json()["chars"] == len(r.json()["token"])


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/status-list"])
def test_an_etag_sent_back_gets_304_until_the_answer_changes(live, path):
    with live.client() as c:
        first = c.get(path)
        assert first.status_code == 200 and first.headers["etag"]
        again = c.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
        assert c.get(path, headers={"If-None-Match": '"other"'}).content == first.content
        if path == "/status-list":  # a revocation changes the list, so its ETag
            h = holder(live)
            dev = activate(live, c, h)
            assert dev.request(c, "POST", "/v1/me/deactivate", {}).status_code == 200
            changed = c.get(path, headers={"If-None-Match": first.headers["etag"]})
            assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]


def test_a_store_without_its_tables_answers_a_device_503_not_500(tmp_path):
    """The hot path runs on the driver's cursor; its errors still reach the server's handler as SQLAlchemy's."""
    import sqlite3

    import httpx

    from tests.ecard.conftest import start_server

    live = start_server(tmp_path, n_holders=1)
    try:
        with sqlite3.connect(live.db_url[len("sqlite:///"):]) as conn:  # as if the store was never migrated
            conn.execute("ALTER TABLE ecard_bindings RENAME TO gone_bindings")
            conn.execute("ALTER TABLE revocations RENAME TO gone_revocations")
        body = json.dumps({"ttl": 30}).encode()
        key = keys.generate("EdDSA")
        with httpx.Client(base_url=live.url, timeout=10) as c:
            r = c.post("/v1/token", content=body, headers={
                "Authorization": "Device " + sign_request(key, "POST", "/v1/token", body, kid="dev-1"),
                "Content-Type": "application/json"})
            assert r.status_code == 503 and "unavailable" in r.json()["detail"], r.text
            assert c.get("/status-list").status_code == 503
    finally:
        live.stop()
