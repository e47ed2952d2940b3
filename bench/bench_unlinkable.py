"""What unlinkable codes cost: credential bytes and issuing time of a batch (one credential per device key, each
with its own handle and status index, a row each in ecard_codes) against a single credential bound to the device
key, and an online code now (a row per code) against /v1/me (one device request with one audit row), all through
the real app (FastAPI, device request proofs, holder_db on SQLite) in the same run.

    .venv/bin/python bench/bench_unlinkable.py [--json] [--n N] [--batch B]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from ecard.device import Device
from ecard.keys import b64u_decode, new_key
from sscard_app import create_app
from holder_db import store
from holder_db.ecard import EcardStore
from sscard_settings import Settings

UNLIMITED = {name: (10**9, 10**6) for name in ("activation", "token", "terminal_limit")}


def timed(fns: list, n: int) -> list[tuple[float, object]]:
    """Median seconds of `n` calls of each function, taken in turns (so a busy machine slows each alike), and each
    one's last answer."""
    times: list[list[float]] = [[] for _ in fns]
    outs: list[object] = [None] * len(fns)
    for _ in range(n):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), o) for t, o in zip(times, outs)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--batch", type=int, default=Settings().ecard_batch)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'h.db'}"
        store.init(url)
        new_key(Path(tmp) / "keys")
        es = EcardStore(url)
        holder = es.add_sample_holder(1)
        es.add_activation_code(holder.holder_id, "ABCDEFGHIJ",
                               dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
        app = create_app(Settings(db=url, ecard_keys=Path(tmp) / "keys", limits=UNLIMITED,
                                  ecard_batch=max(args.batch, 1)))
        with TestClient(app) as c:
            dev = Device()
            r = c.post("/v1/activate", json={"code": "ABCDEFGHIJ", "device_jwk": dev.jwk()})
            r.raise_for_status()
            dev.device_id = r.json()["device_id"]

            def single(path: str) -> dict:
                r = dev.request(c, "POST", path, {})
                r.raise_for_status()
                return r.json()

            def batch(path: str) -> dict:
                member_keys = dev.batch_keys(args.batch)  # the device's part: a key per member
                r = dev.request(c, "POST", path, {"device_keys": [k.public().jwk() for k in member_keys]})
                r.raise_for_status()
                return r.json()

            rows = {}
            for kind, path, one, many in (("offline", "/v1/credentials/offline", "credential", "credentials"),
                                          ("sd-jwt", "/v1/credentials/sd-jwt", "sd_jwt", "sd_jwts")):
                (t1, d1), (tb, db) = timed([lambda: single(path), lambda: batch(path)], args.n)
                size = (lambda s: len(b64u_decode(s))) if kind == "offline" else len
                b1, bb = size(d1[one]), sum(size(x) for x in db[many])
                rows[kind] = {"single_bytes": b1, "batch_bytes": bb, "bytes_ratio": bb / b1,
                              "single_ms": t1 * 1e3, "batch_ms": tb * 1e3, "time_ratio": tb / t1,
                              "ms_per_member": tb * 1e3 / args.batch, "per_member_time_ratio": tb / args.batch / t1}
            (tt, tok), (tm, _) = timed([lambda: single("/v1/token"),
                                        lambda: dev.request(c, "GET", "/v1/me").raise_for_status()], args.n)
            rows["online"] = {"token_chars": len(tok["token"]), "token_ms": tt * 1e3, "me_ms": tm * 1e3,
                              "time_ratio": tt / tm}
    res = {"batch": args.batch, "n": args.n, **rows}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    for kind in ("offline", "sd-jwt"):
        r = rows[kind]
        print(f"{kind}: batch of {args.batch} {r['batch_bytes']} bytes vs single {r['single_bytes']} "
              f"(x{r['bytes_ratio']:.2f}); issuing {r['batch_ms']:.1f} ms vs {r['single_ms']:.1f} ms "
              f"(x{r['time_ratio']:.2f}, x{r['per_member_time_ratio']:.2f} per credential)")
    o = rows["online"]
    print(f"online code ({o['token_chars']} chars, own handle and index, one row): {o['token_ms']:.2f} ms vs "
          f"GET /v1/me {o['me_ms']:.2f} ms (x{o['time_ratio']:.2f})")


if __name__ == "__main__":
    main()
