"""SM2 (SM3withSM2) sign and verify per library, to choose the one sscard uses: tongsuopy (Tongsuo, OpenSSL-based,
a dependency), gmssl-fast (GmSSL extension) and gmssl (pure Python) when installed. Verify is what gates do most.
Baseline in the same run: Ed25519 verify with cryptography. Each library's signature is checked by tongsuopy too
(same default ID 1234567812345678), so the figures compare like with like.

    .venv/bin/python bench/bench_sm2.py [--json] [--seconds S]
"""
from __future__ import annotations

import argparse
import json
import time


def rate(fn, seconds: float) -> float:
    """Mean seconds per call over about `seconds` of wall time."""
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(10):
            fn()
        n += 10
        el = time.perf_counter() - t0
        if el >= seconds:
            return el / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=0.5)
    args = ap.parse_args()
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from ecard import keys

    msg = b"SSC1" + bytes(range(200))
    results: dict[str, dict[str, float | str]] = {}
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_sig, ed_pub = ed.sign(msg), ed.public_key()
    results["ed25519 (cryptography, baseline)"] = {
        "sign_ms": rate(lambda: ed.sign(msg), args.seconds) * 1e3,
        "verify_ms": rate(lambda: ed_pub.verify(ed_sig, msg), args.seconds) * 1e3,
    }
    sk = keys.generate("SM2")
    pk = sk.public()
    sig = sk.sign(msg)
    assert pk.verify(sig, msg)
    results["tongsuopy"] = {
        "sign_ms": rate(lambda: sk.sign(msg), args.seconds) * 1e3,
        "verify_ms": rate(lambda: pk.verify(sig, msg), args.seconds) * 1e3,
    }
    nums = pk.key.public_numbers()
    pub_hex = "04" + nums.x.to_bytes(32, "big").hex() + nums.y.to_bytes(32, "big").hex()
    priv_hex = sk.key.private_numbers().private_value.to_bytes(32, "big").hex()
    try:
        import gmssl_fast

        g = gmssl_fast.SM2(private_key=priv_hex, public_key=pub_hex)
        gsig = g.sign(msg)
        assert pk.verify(gsig, msg), "gmssl-fast signature not accepted by tongsuopy"
        assert g.verify(msg, sig), "tongsuopy signature not accepted by gmssl-fast"
        results["gmssl-fast"] = {
            "sign_ms": rate(lambda: g.sign(msg), args.seconds) * 1e3,
            "verify_ms": rate(lambda: g.verify(msg, gsig), args.seconds) * 1e3,
        }
    except ImportError:
        results["gmssl-fast"] = {"status": "not installed"}
    try:
        from gmssl import func, sm2

        c = sm2.CryptSM2(private_key=priv_hex, public_key=pub_hex[2:])
        k = func.random_hex(c.para_len)
        psig = c.sign_with_sm3(msg, k)
        assert pk.verify(bytes.fromhex(psig), msg), "gmssl signature not accepted by tongsuopy"
        assert c.verify_with_sm3(sig.hex(), msg), "tongsuopy signature not accepted by gmssl"
        secs = max(args.seconds, 1.0)
        results["gmssl (pure Python)"] = {
            "sign_ms": rate(lambda: c.sign_with_sm3(msg, func.random_hex(c.para_len)), secs) * 1e3,
            "verify_ms": rate(lambda: c.verify_with_sm3(psig, msg), secs) * 1e3,
        }
    except ImportError:
        results["gmssl (pure Python)"] = {"status": "not installed"}
    base = results["tongsuopy"]["verify_ms"]
    for name, r in results.items():
        if "verify_ms" in r:
            r["verify_vs_tongsuopy"] = r["verify_ms"] / base
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        if "verify_ms" not in r:
            print(f"{name:34s} {r['status']}")
            continue
        print(f"{name:34s} sign {r['sign_ms']:7.3f} ms   verify {r['verify_ms']:7.3f} ms   "
              f"({r['verify_vs_tongsuopy']:.2f}x tongsuopy)")


if __name__ == "__main__":
    main()
