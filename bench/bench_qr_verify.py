"""Offline verification of an offline e-card QR (issuer signature, device signature, status list, replay cache)
against two bare verifications of the same two signatures in the same run: `cryptography`'s Ed25519 verify for
EdDSA (the default); for ES256 and SM2 the library's verify through sscard's r||s-to-DER wrapper. Goal: ratio <= 2.5.

    .venv/bin/python bench/bench_qr_verify.py [--json] [--n N] [--alg EdDSA|ES256|SM2]
"""
from __future__ import annotations

import argparse
import json
import time

from ecard import keys, status_list, tokens
from ecard.tokens import DOMAIN
from ecard.verify import ReplayCache, verify

GOAL = 2.5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--alg", choices=keys.ALGS, default="EdDSA")
    args = ap.parse_args()
    now = int(time.time())
    issuer, device = keys.generate(args.alg), keys.generate(args.alg)
    jwks = keys.Jwks({issuer.kid: issuer.public()})
    sl = status_list.load(status_list.sign(set(range(0, 100_000, 7)), 100_000, issuer, "u", now), jwks, now)
    cred = tokens.issue_credential(issuer, bytes(10), 12_345, device.public(), now - 60, 86400)
    codes = [tokens.present(cred, device, now) for _ in range(args.n)]
    parsed = tokens.parse(codes[0])
    ipub, dpub = issuer.public(), device.public()
    i_msg, i_sig = DOMAIN + parsed.issuer_signed, parsed.issuer_sig
    d_msg, d_sig = DOMAIN + parsed.device_signed, parsed.device_sig

    def bare() -> None:
        for _ in range(args.n):
            if not (ipub.verify(i_sig, i_msg) and dpub.verify(d_sig, d_msg)):
                raise SystemExit("bare verification failed")

    if args.alg == "EdDSA":  # the baseline is cryptography itself, without sscard's wrapper
        ik, dk = ipub.key, dpub.key

        def bare() -> None:  # noqa: F811
            for _ in range(args.n):
                ik.verify(i_sig, i_msg)
                dk.verify(d_sig, d_msg)

    def ours() -> None:
        cache = ReplayCache()
        for code in codes:
            r = verify(code, jwks, sl, now, cache)
            if not r.valid:
                raise SystemExit(f"verification failed: {r.reason}")

    best_bare = best_ours = float("inf")
    for _ in range(3):
        t0 = time.perf_counter(); bare(); best_bare = min(best_bare, time.perf_counter() - t0)
        t0 = time.perf_counter(); ours(); best_ours = min(best_ours, time.perf_counter() - t0)
    res = {
        "alg": args.alg, "n": args.n, "token_chars": len(codes[0]),
        "verify_us": best_ours / args.n * 1e6, "bare_two_verifies_us": best_bare / args.n * 1e6,
        "verifies_per_s": args.n / best_ours, "ratio": best_ours / best_bare, "goal_ratio_max": GOAL,
    }
    res["meets_goal"] = res["ratio"] <= GOAL
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"offline QR verify ({args.alg}, {res['token_chars']} chars): {res['verify_us']:.1f} us "
              f"({res['verifies_per_s']:.0f}/s); two bare verifications: {res['bare_two_verifies_us']:.1f} us; "
              f"ratio {res['ratio']:.2f} (goal <= {GOAL}) {'OK' if res['meets_goal'] else 'MISSED'}")


if __name__ == "__main__":
    main()
