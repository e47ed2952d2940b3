"""SSC1 QR tokens and the offline verifier: every algorithm, both kinds, and every way a code can be bad."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecard import keys, status_list, tokens
from ecard.keys import Jwks, b64u, b64u_decode
from ecard.verify import REASONS, ReplayCache, verify

NOW = 1_800_000_000
SUB = bytes(range(10))


@pytest.fixture(scope="module", params=keys.ALGS)
def issuer(request):
    key = keys.generate(request.param)
    return key, Jwks({key.kid: key.public()})


@pytest.fixture(scope="module")
def device(issuer):
    return keys.generate(issuer[0].alg)


def online(issuer, **kw):
    args = {"sub": SUB, "status_idx": 7, "now": NOW, "ttl": 60}
    args.update(kw)
    return tokens.issue_online(issuer[0], **args)


def offline(issuer, device, now=NOW, cred_now=NOW - 3600, lifetime=7 * 86400, ttl=60):
    cred = tokens.issue_credential(issuer[0], SUB, 7, device.public(), cred_now, lifetime)
    return tokens.present(cred, device, now, ttl)


def check(token, jwks, now=NOW, sl=None, cache=None):
    return verify(token, jwks, sl, now, cache)


def body(token):
    return bytearray(b64u_decode(token[len(tokens.PREFIX):]))


def rebuild(raw):
    return tokens.PREFIX + b64u(bytes(raw))


def test_online_and_offline_codes_verify_and_fit_the_qr_budget(issuer, device):
    on, off = online(issuer), offline(issuer, device)
    assert len(on) <= 140 and len(off) <= 281 and max(len(on), len(off)) <= tokens.MAX_CHARS
    r_on, r_off = check(on, issuer[1]), check(off, issuer[1])
    assert (r_on.valid, r_on.kind, r_on.sub, r_on.status_idx) == (True, "online", SUB.hex(), 7)
    assert (r_off.valid, r_off.kind, r_off.exp) == (True, "offline", NOW + 60)


def test_no_id_number_or_name_in_a_code(issuer, device):
    raw = bytes(body(online(issuer))) + bytes(body(offline(issuer, device)))
    for secret in (b"110101199003077777", "张三".encode(), "张三".encode("gbk")):
        assert secret not in raw


@pytest.mark.parametrize("now,reason", [
    (NOW - 11, "not_yet_valid"), (NOW + 10, "ok"), (NOW - 10, "ok"), (NOW + 69, "ok"), (NOW + 70, "expired"), (NOW + 10**6, "expired"),
])
def test_validity_window_with_leeway(issuer, device, now, reason):
    assert check(online(issuer), issuer[1], now=now).reason == reason
    assert check(offline(issuer, device), issuer[1], now=now).reason == reason


def test_offline_credential_lifetime(issuer, device):
    tok = offline(issuer, device, now=NOW, cred_now=NOW - 7 * 86400, lifetime=7 * 86400)
    assert check(tok, issuer[1]).reason == "expired"
    tok = offline(issuer, device, now=NOW, cred_now=NOW + 3600)
    assert check(tok, issuer[1]).reason == "not_yet_valid"


def test_forged_with_another_key_under_the_same_kid(issuer):
    forger = keys.generate(issuer[0].alg)
    forged = tokens.issue_online(keys.SigningKey(forger.alg, forger.key, issuer[0].kid), SUB, 7, NOW)
    assert check(forged, issuer[1]).reason == "bad_signature"


def test_unknown_key_and_rotation(issuer):
    other = keys.generate(issuer[0].alg)
    assert check(online(issuer), Jwks({other.kid: other.public()})).reason == "unknown_key"
    both = Jwks({other.kid: other.public(), issuer[0].kid: issuer[0].public()})
    assert check(online(issuer), both).valid


def test_alg_id_must_match_the_jwks_key(issuer):
    raw = body(online(issuer))
    raw[1] = next(i for a, i in keys.ALG_IDS.items() if a != issuer[0].alg)
    assert check(rebuild(raw), issuer[1]).reason == "alg_mismatch"


def test_alg_none_and_hs256_with_the_public_key_are_refused(issuer):
    pub = issuer[0].public()
    head = tokens.ONLINE.pack(tokens.TYPE_ONLINE, 0, b64u_decode(pub.kid), NOW, 60, b"j" * 8, SUB, 7)
    assert check(rebuild(head), issuer[1]).reason == "unsupported_alg"
    assert check(rebuild(head + b"\0" * 64), issuer[1]).reason == "unsupported_alg"
    for alg_id in (4, 0x10, 255):
        head = tokens.ONLINE.pack(tokens.TYPE_ONLINE, alg_id, b64u_decode(pub.kid), NOW, 60, b"j" * 8, SUB, 7)
        mac = hmac.new(pub.compact(), tokens.DOMAIN + head, hashlib.sha256).digest() * 2
        assert check(rebuild(head + mac), issuer[1]).reason == "unsupported_alg"
    # the JOSE forms of both attacks are not SSC1 codes at all
    hdr = b64u(json.dumps({"alg": "none", "kid": pub.kid}).encode())
    claims = b64u(json.dumps({"sub": SUB.hex(), "iat": NOW, "exp": NOW + 60}).encode())
    assert check(f"{hdr}.{claims}.", issuer[1]).reason == "malformed"
    hs = b64u(json.dumps({"alg": "HS256", "kid": pub.kid}).encode())
    sig = b64u(hmac.new(json.dumps(pub.jwk()).encode(), f"{hs}.{claims}".encode(), hashlib.sha256).digest())
    assert check(f"{hs}.{claims}.{sig}", issuer[1]).reason == "malformed"


def test_every_single_byte_tamper_is_refused(issuer, device):
    for tok in (online(issuer), offline(issuer, device)):
        raw = body(tok)
        for i in range(len(raw)):
            bad = bytearray(raw)
            bad[i] ^= 0x01
            result = check(rebuild(bad), issuer[1])
            assert not result.valid, (i, result)
            assert result.reason in REASONS


def test_offline_credential_presented_with_another_device_key(issuer, device):
    cred = tokens.issue_credential(issuer[0], SUB, 7, device.public(), NOW - 60, 86400)
    thief = keys.generate(device.alg)
    assert check(tokens.present(cred, thief, NOW), issuer[1]).reason == "bad_signature"
    assert check(tokens.present(cred, device, NOW), issuer[1]).valid


def test_oversized_and_truncated(issuer, device):
    tok = offline(issuer, device)
    assert check(tok + "A" * (501 - len(tok)), issuer[1]).reason == "oversized"
    assert check("x" * 10_000_000, issuer[1]).reason == "oversized"
    for cut in (1, 5, 40, 100):
        assert check(tok[:-cut], issuer[1]).reason == "malformed"
    assert check(tok + "=", issuer[1]).reason == "malformed"
    assert check(tok.replace("SSC1:", "SSC2:"), issuer[1]).reason == "malformed"


def test_replay_within_the_window_is_refused(issuer, device):
    cache = ReplayCache()
    for tok in (online(issuer), offline(issuer, device)):
        assert check(tok, issuer[1], cache=cache).valid
        assert check(tok, issuer[1], now=NOW + 30, cache=cache).reason == "replayed"
    # a fresh code from the same device is not a replay
    assert check(offline(issuer, device), issuer[1], cache=cache).valid


def test_failed_codes_do_not_enter_the_replay_cache(issuer):
    cache = ReplayCache()
    tok = online(issuer)
    assert check(tok, issuer[1], now=NOW - 100, cache=cache).reason == "not_yet_valid"
    assert len(cache) == 0
    assert check(tok, issuer[1], cache=cache).valid


def test_replay_cache_is_bounded_and_expires():
    cache = ReplayCache(max_entries=100)
    for i in range(1000):
        assert not cache.seen(i.to_bytes(4, "big"), NOW + 60 + i, NOW)
        assert len(cache) <= 100
    assert cache.seen((999).to_bytes(4, "big"), NOW + 1059, NOW)
    assert not cache.seen((999).to_bytes(4, "big"), NOW + 2000, NOW + 1060)  # expired entry forgotten
    assert len(cache) == 1


def test_status_list_revocation(issuer, device):
    sl = status_list.load(status_list.sign({7}, 64, issuer[0], "https://issuer/status", NOW - 10), issuer[1], NOW)
    assert check(online(issuer), issuer[1], sl=sl).reason == "revoked"
    assert check(offline(issuer, device), issuer[1], sl=sl).reason == "revoked"
    sl = status_list.load(status_list.sign({6, 8}, 64, issuer[0], "https://issuer/status", NOW - 10), issuer[1], NOW)
    result = check(online(issuer), issuer[1], sl=sl)
    assert result.valid and result.status_checked
    small = status_list.load(status_list.sign(set(), 4, issuer[0], "u", NOW - 10), issuer[1], NOW)
    assert check(online(issuer, status_idx=20), issuer[1], sl=small).reason == "status_unknown"
    assert check(online(issuer), issuer[1], now=NOW + 40, sl=status_list.StatusList(sl.bits, "u", 0, NOW + 30)
                 ).reason == "status_list_expired"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=600), st.binary(max_size=600).map(lambda b: "SSC1:" + b64u(b)),
                 st.binary(max_size=400).map(lambda b: "SSC1:" + base64.b64encode(b).decode()), st.none(),
                 st.integers(), st.binary(max_size=50)))
def test_garbage_never_raises_and_never_passes(garbage):
    key = keys.generate("EdDSA")
    result = verify(garbage, Jwks({key.kid: key.public()}), None, NOW, ReplayCache())
    assert not result.valid and result.reason in REASONS


def test_status_list_bits_are_lsb_first_and_compressed():
    lst = status_list.encode_bits({0, 9, 1000}, 100_000)
    bits = status_list.decode_bits(lst)
    assert bits[0] == 0x01 and bits[1] == 0x02 and len(bits) == 12_500
    assert len(lst) < 200  # 100,000 cards, three revoked: a few dozen bytes on the wire


@settings(max_examples=100, deadline=None)
@given(alg=st.sampled_from(keys.ALGS), sig=st.binary(min_size=60, max_size=70), point=st.binary(min_size=31, max_size=34))
def test_random_signatures_and_points_are_refused_not_raised(alg, sig, point):
    pub = keys.generate(alg).public()
    assert pub.verify(sig, b"data") is False
    try:
        other = keys.verify_key_from_compact(alg, point)
    except keys.BadKeyError:
        return
    assert other.verify(sig, b"data") is False


@pytest.mark.parametrize("jwk", [
    {}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"}, {"kty": "OKP", "crv": "Ed25519", "x": "!!"},
    {"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}, {"kty": "EC", "crv": "SM2", "x": "A" * 43},
    {"kty": "OKP", "crv": "Ed25519", "x": b64u(bytes(32)), "alg": "ES256"}, "not a dict", None,
])
def test_bad_jwks_are_refused_with_a_message(jwk):
    with pytest.raises(keys.BadKeyError):
        keys.verify_key_from_jwk(jwk)


def test_rotation_retires_then_drops_old_keys(tmp_path):
    first = keys.new_key(tmp_path, "EdDSA", now=NOW)
    second = keys.new_key(tmp_path, "ES256", now=NOW + 10)
    assert [k.kid for k in second.published(NOW + 20)] == [second.current.kid, first.current.kid]
    assert [k.kid for k in second.published(NOW + 10 + keys.MAX_TOKEN_LIFETIME)] == [second.current.kid]
    third = keys.new_key(tmp_path, "SM2", now=NOW + 20 + keys.MAX_TOKEN_LIFETIME)
    assert not (tmp_path / f"{first.current.kid}.pem").exists()
    assert {k.kid for k in third.published(NOW + 20 + keys.MAX_TOKEN_LIFETIME)} == {third.current.kid, second.current.kid}
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    assert [k["alg"] for k in jwks["keys"]] == ["SM2", "ES256"]
