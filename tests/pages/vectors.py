"""Test vectors for the two verifiers (terminal/qr_verify.py and the verifier page's sscard.js): tokens made with
the library for every reason code, at a fixed time, with their JWKS and status list."""
from __future__ import annotations

import json
import random
import secrets

from ecard import replay, status_list, tokens
from ecard.keys import b64u, b64u_decode, generate
from ecard.replay import ReplayCache
from ecard.tokens import parse
from ecard.verify import _holder

NOW = 1_790_000_000
SUB = bytes(range(10))


def _flip(token: str, at: int) -> str:
    body = bytearray(b64u_decode(token[5:]))
    body[at] ^= 0x01
    return "SSC1:" + b64u(bytes(body))


def _older_alg_name(jwt_text: str, key) -> str:  # type: ignore[no-untyped-def]
    """The same JWS re-signed under the header alg `EdDSA`, as made before RFC 9864's `Ed25519`."""
    h, p, _ = jwt_text.split(".")
    hdr = {**json.loads(b64u_decode(h)), "alg": "EdDSA"}
    h = b64u(json.dumps(hdr, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64u(key.sign(f'{h}.{p}'.encode()))}"


def build() -> dict:
    ed, es, sm2, stranger = generate("EdDSA"), generate("ES256"), generate("SM2"), generate("EdDSA")
    dev_ed, dev_es = generate("EdDSA"), generate("ES256")
    jwks = {"keys": [k.public().jwk() for k in (ed, es, sm2)]}
    revoked_idx, size = 7, 64
    sl = status_list.sign({revoked_idx}, size, ed, "https://issuer.example/status-list", now=NOW - 60, ttl=3600)
    stale_sl = status_list.sign(set(), size, ed, "https://issuer.example/status-list", now=NOW - 7200, ttl=3600)

    def online(key=ed, idx=1, iat=NOW - 5, ttl=60):
        return tokens.issue_online(key, SUB, idx, iat, ttl)

    def offline(key=ed, dev=dev_ed, idx=2, iat=NOW - 5, ttl=60, cred_iat=NOW - 3600, lifetime=7 * 86400):
        cred = tokens.issue_credential(key, SUB, idx, dev.public(), cred_iat, lifetime)
        return tokens.present(cred, dev, iat, ttl)

    valid = online(idx=3)
    wrong_alg = bytearray(b64u_decode(online()[5:]))
    wrong_alg[1] = 2  # says ES256, kid is the EdDSA key
    unsupported = bytearray(b64u_decode(online()[5:]))
    unsupported[1] = 9
    cases = [
        ("online EdDSA", online()), ("online ES256", online(key=es)), ("offline Ed25519 device", offline()),
        ("offline ES256 device", offline(dev=dev_es)), ("offline ES256 issuer", offline(key=es)),
        ("expired", online(iat=NOW - 200)), ("expired within leeway", online(iat=NOW - 65)),
        ("not yet valid", online(iat=NOW + 100)), ("credential expired", offline(cred_iat=NOW - 8 * 86400)),
        ("credential not yet valid", offline(cred_iat=NOW + 100)),
        ("issuer signature flipped", _flip(online(), 50)), ("device signature flipped", _flip(offline(), 200)),
        ("device-signed part altered", _flip(offline(), 96 + 32 + 2)),
        ("unknown key", online(key=stranger)), ("alg mismatch", "SSC1:" + b64u(bytes(wrong_alg))),
        ("unsupported alg", "SSC1:" + b64u(bytes(unsupported))), ("revoked", online(idx=revoked_idx)),
        ("status unknown", online(idx=size + 1000)), ("malformed text", "hello"), ("not base64url", "SSC1:!!!!"),
        ("padded", online() + "="), ("truncated", online()[:-4]), ("unknown type", "SSC1:" + b64u(b"\x13" + secrets.token_bytes(99))),
        ("oversized", "SSC1:" + "A" * 600), ("empty", ""), ("valid", valid), ("replayed", valid),
    ]
    keyed = [online(), offline(), offline(dev=dev_es), offline(key=es)]
    return {"now": NOW, "jwks": jwks, "status_list": sl, "stale_status_list": stale_sl, "cases": cases,
            "eddsa_status_list": _older_alg_name(sl, ed),
            "sm2": online(key=sm2), "valid_for_stale": online(idx=4),
            "replay_keys": [[t, replay.code_key(_holder(parse(t)), parse(t).jti).hex()] for t in keyed],
            "replay": replay_ops()}


def replay_ops(seed: int = 14, n: int = 600, max_entries: int = 12, per_owner: int = 3) -> dict:
    """The replay rule as a trace: `seen` calls on small bounds (six holders, one of them flooding, time moving
    on so entries expire) with ecard.replay's answers and the cache left at the end, for the browser's copy."""
    rng, cache = random.Random(seed), ReplayCache(max_entries, per_owner)
    ops, now = [], NOW
    for i in range(n):
        owner = b"flood" if rng.random() < 0.5 else b"holder%d" % rng.randrange(5)
        nonce = rng.randbytes(8) if rng.random() < 0.6 else b"%08d" % rng.randrange(3)  # some come again
        now += rng.choice((0, 0, 0, 1, 7))
        key, exp = replay.code_key(owner, nonce), now + rng.randrange(1, 120)
        ops.append([key.hex(), exp, now, cache.seen(key, exp, now)])
    return {"max_entries": max_entries, "per_owner": per_owner, "ops": ops,
            "final": {k.hex(): e for k, e in cache.snapshot().items()},
            "defaults": [replay.MAX_ENTRIES, replay.PER_OWNER]}


def as_json(v: dict) -> str:
    return json.dumps({**v, "cases": [list(c) for c in v["cases"]]})
