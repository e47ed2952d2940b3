"""Our SD-JWT against the OpenWallet Foundation's reference library (`sd-jwt` 0.10.4, jwcrypto underneath): what
it issues and presents verifies here, what we issue and present verifies there, and the RFC 9901 s7.1 cases that
`ecard.sdjwt.verify` once let through are refused by both. ES256 throughout: that library signs and checks the
key-binding JWT with ES256 only."""
from __future__ import annotations

import json
import time

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from ecard import keys, sdjwt, status_list
from ecard.keys import Jwks

URI = "https://issuer/status"
CLAIMS = {"name": "张三", "insurance": {"pension": "active", "medical": "active"}, "birth_date": "1990-03-07"}


@pytest.fixture(scope="module")
def parties():
    issuer, holder = keys.generate("ES256"), keys.generate("ES256")
    return issuer, holder, Jwks({issuer.kid: issuer.public()})


def _jwcrypto(key: keys.SigningKey) -> JWK:
    return JWK.from_pem(key.pem())


def _their_issuance(issuer: keys.SigningKey, holder: keys.SigningKey, now: int, **plain) -> str:
    user_claims = {SDObj(name): value for name, value in CLAIMS.items()}
    user_claims.update({"iss": "sscard", "iat": now - 60, "exp": now + 86400, "vct": sdjwt.VCT,
                        "status": {"status_list": {"idx": 7, "uri": URI}}, **plain})
    return SDJWTIssuer(user_claims, _jwcrypto(issuer), _jwcrypto(holder),
                       extra_header_parameters={"typ": sdjwt.TYP, "kid": issuer.kid}).sd_jwt_issuance


def _their_presentation(issuance: str, holder: keys.SigningKey, disclose: dict, aud: str, nonce: str) -> str:
    h = SDJWTHolder(issuance)
    h.create_presentation(disclose, nonce=nonce, aud=aud, holder_key=_jwcrypto(holder), sign_alg="ES256")
    return h.sd_jwt_presentation


def _their_verdict(presentation: str, issuer: keys.SigningKey, aud: str, nonce: str) -> dict:
    key = JWK(**issuer.public().jwk())
    return SDJWTVerifier(presentation, lambda iss, header: key, expected_aud=aud,
                         expected_nonce=nonce).get_verified_payload()


def test_their_presentation_verifies_here(parties):
    issuer, holder, jwks = parties
    now = int(time.time())  # the library dates its key-binding JWT by the clock
    pres = _their_presentation(_their_issuance(issuer, holder, now), holder, {"name": True, "insurance": True},
                               "hospital-1", "n-1")
    fresh = status_list.load(status_list.sign(set(), 16, issuer, URI, now), jwks, now)
    out = sdjwt.verify(pres, jwks, "hospital-1", "n-1", time.time(), fresh)
    assert {k: out[k] for k in ("name", "insurance")} == {k: CLAIMS[k] for k in ("name", "insurance")}
    assert "birth_date" not in out and out["status_idx"] == 7
    revoked = status_list.load(status_list.sign({7}, 16, issuer, URI, now), jwks, now)
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, "hospital-1", "n-1", time.time(), revoked)
    assert err.value.reason == "revoked"
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, "hospital-2", "n-1", time.time(), fresh)
    assert err.value.reason == "replayed"


def test_our_presentation_verifies_there(parties):
    issuer, holder, _ = parties
    now = int(time.time())
    cred = sdjwt.issue(CLAIMS, issuer, holder.public().jwk(), 7, URI, now - 60, 86400)
    out = _their_verdict(sdjwt.present(cred, ["name"], holder, "shop-1", "n-2", now), issuer, "shop-1", "n-2")
    assert out["name"] == CLAIMS["name"] and "insurance" not in out and "birth_date" not in out
    assert out["status"] == {"status_list": {"idx": 7, "uri": URI}} and out["vct"] == sdjwt.VCT
    with pytest.raises(Exception):  # the library too refuses a presentation bound to another nonce
        _their_verdict(sdjwt.present(cred, ["name"], holder, "shop-1", "n-3", now), issuer, "shop-1", "n-2")


def _resigned(issuance: str, issuer: keys.SigningKey, change) -> str:
    """The issuance with its payload changed by `change(payload, disclosures)` and signed again by the issuer."""
    jwt, *discs = issuance.split("~")[:-1]
    parsed = JWS()
    parsed.deserialize(jwt)
    payload = json.loads(parsed.objects["payload"])
    change(payload, discs)
    return sdjwt.jws.sign(payload, issuer, sdjwt.TYP) + "~" + "".join(d + "~" for d in discs)


def _digest_of(discs: list[str], name: str) -> str:
    return next(sdjwt._digest(d) for d in discs if sdjwt._decode_disclosure(d)[0] == name)


@pytest.mark.parametrize("case", ["digest_listed_twice", "plain_claim_beside_disclosure"])
def test_rfc9901_refusals_agree_with_theirs(parties, case):
    issuer, holder, jwks = parties
    now = int(time.time())
    issuance = _their_issuance(issuer, holder, now)
    if case == "digest_listed_twice":
        bad = _resigned(issuance, issuer, lambda p, discs: p["_sd"].append(_digest_of(discs, "name")))
    else:
        bad = _resigned(issuance, issuer, lambda p, discs: p.update(name="李四"))
    pres = _their_presentation(bad, holder, {"name": True}, "a", "n")
    with pytest.raises(ValueError, match="Duplicate"):
        _their_verdict(pres, issuer, "a", "n")
    with pytest.raises(sdjwt.SdJwtError) as err:
        sdjwt.verify(pres, jwks, "a", "n", time.time())
    assert err.value.reason == "malformed"
