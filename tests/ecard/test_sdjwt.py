"""SD-JWT credentials and the signed status list: selective disclosure, holder binding, JOSE attacks."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from ecard import jws, keys, sdjwt, status_list
from ecard.keys import Jwks, b64u

NOW = 1_800_000_000
CLAIMS = {
    "name": "张三", "id_number": "110101199003077777", "birth_date": "1990-03-07", "gender": "1",
    "insurance": {"pension": "active", "medical": "active"}, "card_status": "active",
}


@pytest.fixture(scope="module", params=keys.ALGS)
def setup(request):
    issuer, holder = keys.generate(request.param), keys.generate(request.param)
    cred = sdjwt.issue(CLAIMS, issuer, holder.public().jwk(), 7, "https://issuer/status", NOW - 60, 30 * 86400)
    return issuer, holder, Jwks({issuer.kid: issuer.public()}), cred


def test_merchant_learns_only_validity(setup):
    issuer, holder, jwks, cred = setup
    pres = sdjwt.present(cred, [], holder, "merchant-1", "n-1", NOW)
    out = sdjwt.verify(pres, jwks, "merchant-1", "n-1", NOW)
    assert not set(out) & set(CLAIMS)
    assert out["status_idx"] == 7 and out["vct"] == sdjwt.VCT
    assert "110101199003077777" not in pres and "张三" not in json.dumps(pres)


def test_hospital_learns_name_and_insurance_only(setup):
    issuer, holder, jwks, cred = setup
    pres = sdjwt.present(cred, ["name", "insurance"], holder, "hospital-1", "n-2", NOW)
    out = sdjwt.verify(pres, jwks, "hospital-1", "n-2", NOW)
    assert {k: out[k] for k in ("name", "insurance")} == {"name": "张三", "insurance": CLAIMS["insurance"]}
    assert not {"id_number", "birth_date", "gender", "card_status"} & set(out)


def test_issued_credential_hides_claims_in_the_signed_part(setup):
    cred = setup[3]
    assert "110101199003077777" not in cred.split("~")[0]


@pytest.mark.parametrize("case", ["aud", "nonce", "old_kb", "future_kb", "other_holder", "expired", "revoked",
                                  "added_disclosure", "forged_disclosure", "no_kb", "dup"])
def test_bad_presentations(setup, case):
    issuer, holder, jwks, cred = setup
    aud, nonce, now, sl = "hospital-1", "n-3", NOW, None
    pres = sdjwt.present(cred, ["name"], holder, aud, nonce, NOW)
    if case == "aud":
        aud = "hospital-2"
    elif case == "nonce":
        nonce = "n-4"
    elif case == "old_kb":
        now = NOW + 3600
    elif case == "future_kb":
        pres = sdjwt.present(cred, ["name"], holder, aud, nonce, NOW + 3600)
    elif case == "other_holder":
        pres = sdjwt.present(cred, ["name"], keys.generate(holder.alg), aud, nonce, NOW)
    elif case == "expired":
        now = NOW + 31 * 86400
    elif case == "revoked":
        sl = status_list.load(status_list.sign({7}, 16, issuer, "https://issuer/status", NOW), jwks, NOW)
    elif case == "added_disclosure":  # a verifier-side attacker appends a disclosure after the holder signed
        extra = [d for d in cred.split("~")[1:-1] if "id_number" in str(sdjwt._decode_disclosure(d))][0]
        head, kb = pres.rsplit("~", 1)
        pres = f"{head}~{extra}~{kb}"
    elif case == "forged_disclosure":
        head, kb = pres.rsplit("~", 1)
        pres = f"{head}~{sdjwt.disclosure('card_status', 'active')}~{kb}"
    elif case == "no_kb":
        pres = pres.rsplit("~", 1)[0] + "~"
    elif case == "dup":
        parts = pres.split("~")
        pres = "~".join(parts[:2] + parts[1:])
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, aud, nonce, now, sl)
    assert err.value.reason in {"replayed", "expired", "not_yet_valid", "bad_signature", "revoked", "malformed"}


STATUS_URI = "https://issuer/status"


def _reissued(setup, change, disclose=("name",)):
    """A credential the issuer really signed, with its payload changed by `change(payload, disclosures)` first."""
    issuer, holder, _, cred = setup
    issuer_jwt, *discs = cred.split("~")[:-1]
    payload = json.loads(keys.b64u_decode(issuer_jwt.split(".")[1]))
    change(payload, discs)
    signed = jws.sign(payload, issuer, sdjwt.TYP) + "~" + "".join(d + "~" for d in discs)
    return sdjwt.present(signed, disclose, holder, "a", "n", NOW)


def _name_digest(discs):
    return next(sdjwt._digest(d) for d in discs if sdjwt._decode_disclosure(d)[0] == "name")


# Each row is a hole `sdjwt.verify` let through (or crashed on) before; (case, reason it must now give).
RFC_CASES = {
    # draft-ietf-oauth-status-list: a list past its exp does not answer; nor does one for another list (sub != uri)
    "status_list_past_exp": "status_list_expired",
    "status_list_other_sub": "status_unknown",
    # RFC 9901 s7.1: a digest in _sd at most once; no claim both disclosed and in plain; _sd holds strings
    "digest_listed_twice": "malformed",
    "plain_claim_beside_disclosure": "malformed",
    "non_string_sd_entry": "malformed",
    # the status claim must be an object {status_list: {idx, uri}}
    "status_not_an_object": "malformed",
    "status_list_not_an_object": "malformed",
    "nested_json_disclosure": "malformed",
}


@pytest.mark.parametrize("case", sorted(RFC_CASES))
def test_rfc9901_and_status_list_rules(setup, case):
    issuer, holder, jwks, cred = setup
    sl, pres = None, sdjwt.present(cred, ["name"], holder, "a", "n", NOW)
    if case == "status_list_past_exp":  # loaded while fresh, used after its exp
        sl = status_list.load(status_list.sign(set(), 16, issuer, STATUS_URI, NOW - 120, ttl=60), jwks, NOW - 100)
    elif case == "status_list_other_sub":
        sl = status_list.load(status_list.sign(set(), 16, issuer, "https://other/status", NOW), jwks, NOW)
    elif case == "digest_listed_twice":
        pres = _reissued(setup, lambda p, discs: p["_sd"].append(_name_digest(discs)))
    elif case == "plain_claim_beside_disclosure":
        pres = _reissued(setup, lambda p, discs: p.update(name="李四"))
    elif case == "non_string_sd_entry":
        pres = _reissued(setup, lambda p, discs: p["_sd"].append(["not", "a", "digest"]))
    elif case == "status_not_an_object":
        pres = _reissued(setup, lambda p, discs: p.update(status="revoked?"))
    elif case == "status_list_not_an_object":
        pres = _reissued(setup, lambda p, discs: p.update(status={"status_list": 7}))
    elif case == "nested_json_disclosure":  # signed by the issuer, so only the JSON depth is wrong
        deep = b64u(b"[" * 5000)
        issuer_jwt = _reissued(setup, lambda p, discs: p["_sd"].append(sdjwt._digest(deep)), ()).split("~")[0]
        prefix = f"{issuer_jwt}~{deep}~"
        kb = jws.sign({"iat": NOW, "aud": "a", "nonce": "n", "sd_hash": sdjwt._digest(prefix)}, holder, sdjwt.KB_TYP)
        pres = prefix + kb
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, "a", "n", NOW, sl)
    assert err.value.reason == RFC_CASES[case], err.value.detail


def test_right_status_list_still_answers(setup):
    issuer, holder, jwks, cred = setup
    pres = sdjwt.present(cred, ["name"], holder, "a", "n", NOW)
    fresh = status_list.load(status_list.sign({3}, 16, issuer, STATUS_URI, NOW), jwks, NOW)
    assert sdjwt.verify(pres, jwks, "a", "n", NOW, fresh)["name"] == "张三"


def _jose(header: dict, payload: dict, sig: bytes = b"") -> str:
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(payload).encode())
    return f"{h}.{p}.{b64u(sig)}"


def test_alg_none_and_hs256_public_key_confusion_rejected(setup):
    issuer, holder, jwks, cred = setup
    pub = issuer.public()
    payload = {"sub": "u", "iat": NOW, "exp": NOW + 60, "status_list": {"bits": 1, "lst": status_list.encode_bits(set(), 8)}}
    none_tok = _jose({"alg": "none", "typ": status_list.TYP, "kid": pub.kid}, payload)
    with pytest.raises(status_list.StatusListError) as err:
        status_list.load(none_tok, jwks, NOW)
    assert err.value.reason == "unsupported_alg"
    for secret in (json.dumps(pub.jwk()).encode(), pub.compact()):
        h = b64u(json.dumps({"alg": "HS256", "typ": status_list.TYP, "kid": pub.kid}).encode())
        p = b64u(json.dumps(payload).encode())
        sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
        with pytest.raises(status_list.StatusListError) as err:
            status_list.load(f"{h}.{p}.{b64u(sig)}", jwks, NOW)
        assert err.value.reason == "unsupported_alg"
    # the same attacks on the SD-JWT issuer part
    issuer_jwt, rest = cred.split("~", 1)
    claims = json.loads(keys.b64u_decode(issuer_jwt.split(".")[1]))
    claims["_sd"] = claims["_sd"]
    forged = _jose({"alg": "none", "typ": sdjwt.TYP, "kid": pub.kid}, claims)
    pres = sdjwt.present(forged + "~" + rest, ["name"], holder, "a", "n", NOW)
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, "a", "n", NOW)
    assert err.value.reason == "unsupported_alg"


def test_status_list_signature_tamper_and_expiry(setup):
    issuer, _, jwks, _ = setup
    tok = status_list.sign({1, 2}, 64, issuer, "https://issuer/status", NOW, ttl=600)
    sl = status_list.load(tok, jwks, NOW)
    assert [sl.status(i) for i in range(4)] == [0, 1, 1, 0] and sl.status(64) is None
    h, p, s = tok.split(".")
    payload = json.loads(keys.b64u_decode(p))
    payload["status_list"]["lst"] = status_list.encode_bits(set(), 64)
    with pytest.raises(status_list.StatusListError) as err:
        status_list.load(f"{h}.{b64u(json.dumps(payload).encode())}.{s}", jwks, NOW)
    assert err.value.reason == "bad_signature"
    with pytest.raises(status_list.StatusListError) as err:
        status_list.load(tok, jwks, NOW + 601)
    assert err.value.reason == "status_list_expired"
    with pytest.raises(status_list.StatusListError) as err:
        status_list.load(tok, Jwks({}), NOW)
    assert err.value.reason == "unknown_key"


def test_zip_bomb_status_list_is_refused(setup):
    issuer, _, jwks, _ = setup
    import zlib

    bomb = b64u(zlib.compress(b"\0" * (status_list.MAX_BITS // 8 + 1), 9))
    tok = jws.sign({"sub": "u", "iat": NOW, "exp": NOW + 60, "status_list": {"bits": 1, "lst": bomb}}, issuer,
                   status_list.TYP)
    with pytest.raises(status_list.StatusListError) as err:
        status_list.load(tok, jwks, NOW)
    assert err.value.reason == "malformed"


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_garbage_presentations_raise_only_sd_jwt_errors(setup, data):
    issuer, holder, jwks, cred = setup
    good = sdjwt.present(cred, ["name"], holder, "a", "n", NOW)
    parts = good.split("~")
    choice = data.draw(st.sampled_from(["text", "mutate", "splice"]))
    if choice == "text":
        pres = data.draw(st.text(max_size=400))
    elif choice == "mutate":
        i = data.draw(st.integers(0, len(good) - 1))
        pres = good[:i] + data.draw(st.characters(codec="ascii")) + good[i + 1:]
    else:
        pres = "~".join(data.draw(st.lists(st.sampled_from(parts + ["", "e30", "W10"]), max_size=6)))
    try:
        out = sdjwt.verify(pres, jwks, "a", "n", NOW)
    except sdjwt.SdJwtError as exc:
        assert exc.reason in {"malformed", "oversized", "unsupported_alg", "unknown_key", "alg_mismatch",
                              "bad_signature", "expired", "not_yet_valid", "replayed", "revoked", "status_unknown"}
    else:  # only the same presentation (or a non-canonical base64 spelling of a signature) may pass
        assert out == sdjwt.verify(good, jwks, "a", "n", NOW)
