"""Gate throughput: sustained offline verifications of online e-card QR codes per second on one core, through
terminal.gate (parse, issuer signature, time, status list, replay cache), against bare Ed25519 verifications of
the same signed bytes in the same run. Goal: at least 1,000 codes a second.

    .venv/bin/python bench/bench_gate.py [--codes N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecard import status_list as sl  # noqa: E402
from ecard import tokens  # noqa: E402
from ecard.keys import new_key  # noqa: E402
from terminal.gate import Gate  # noqa: E402

GOAL = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=20000, help="distinct codes to verify (each once)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    with tempfile.TemporaryDirectory() as tmp:
        keys = new_key(Path(tmp) / "keys")
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "jwks.json").write_text(json.dumps(keys.jwks()), encoding="utf-8")
        (site / "status.jwt").write_text(sl.sign(set(range(0, 100_000, 7)), 100_000, keys.current, "bench"),
                                         encoding="utf-8")
        gate = Gate(Path(tmp) / "cache", jwks_file=site / "jwks.json", status_file=site / "status.jwt")
        gate.start()
        now = int(time.time())
        codes = [tokens.issue_online(keys.current, os.urandom(10), 1 + (i % 6), now) for i in range(args.codes)]

        public = keys.current.public()
        signed = []
        for c in codes[:2000]:
            t = tokens.parse(c)
            signed.append((t.issuer_sig, tokens.DOMAIN + t.issuer_signed))

        start = time.perf_counter()
        n_bare = 0
        while time.perf_counter() - start < 1.0:
            for sig, msg in signed:
                if not public.verify(sig, msg):
                    raise SystemExit("bare verification failed")
            n_bare += len(signed)
        bare_rate = n_bare / (time.perf_counter() - start)

        start = time.perf_counter()
        for c in codes:
            result = gate.decide(c, now=now)
            if not result.valid:
                raise SystemExit(f"gate refused a valid code: {result.reason}")
        gate_rate = len(codes) / (time.perf_counter() - start)

    figures = {"gate_per_second": round(gate_rate), "bare_ed25519_verify_per_second": round(bare_rate),
               "ratio_gate_to_bare": round(gate_rate / bare_rate, 3), "goal_per_second": GOAL,
               "meets_goal": gate_rate >= GOAL, "codes": len(codes)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"gate: {gate_rate:,.0f} codes/s on one core (goal {GOAL:,}/s: {'met' if gate_rate >= GOAL else 'MISSED'})")
        print(f"bare Ed25519 verify (cryptography): {bare_rate:,.0f}/s")
        print(f"ratio gate/bare: {gate_rate / bare_rate:.3f} (1.0 would be the bare signature check alone)")


if __name__ == "__main__":
    main()
