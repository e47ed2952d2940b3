"""Throughput of the QR token endpoint (device-signed request checked, binding and card looked up in holder_db,
token signed) against a bare FastAPI endpoint taking the same JSON body, in the same uvicorn process under the same
load. Goal: ratio >= 0.5. The server runs in a child process on loopback; the load comes from concurrent httpx
clients with the device proofs made before the clock starts, so client-side signing does not steal the server's CPU.

    .venv/bin/python bench/bench_token_endpoint.py [--json] [--requests N] [--concurrency C]
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

GOAL = 0.5
ROOT = Path(__file__).resolve().parent.parent


def serve(workdir: str, port: int) -> None:
    import uvicorn

    from ecard_server.app import TokenRequest, create_app
    from sscard_settings import Settings

    app = create_app(Settings(db=f"sqlite:///{workdir}/holders.db", ecard_keys=f"{workdir}/keys",
                              limits={"activation": (6000, 100)}))

    @app.post("/bench/bare")
    def bare(req: TokenRequest) -> dict[str, int]:
        return {"ttl": req.ttl}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def setup(workdir: str) -> str:
    sys.path.insert(0, str(ROOT))
    from ecard.keys import new_key
    from ecard_server.terminals import add_terminal
    from tests.ecard.conftest import make_holders

    new_key(f"{workdir}/keys")
    api_key = add_terminal(f"{workdir}/keys", "bench")
    make_holders(f"sqlite:///{workdir}/holders.db", 1)
    return api_key


async def blast(url: str, requests: list[tuple[str, dict[str, str], bytes]], concurrency: int) -> tuple[float, int]:
    queue = list(reversed(requests))
    bad = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal bad
            while queue:
                path, headers, body = queue.pop()
                r = await client.post(path, content=body, headers=headers)
                if r.status_code != 200:
                    bad += 1
                    if bad == 1:
                        print(path, r.status_code, r.text[:200], file=sys.stderr)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, bad


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from ecard.device import Device, sign_request

    with tempfile.TemporaryDirectory() as workdir:
        from tests.ecard.conftest import sample_ssn

        api_key = setup(workdir)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, __file__, "--serve", workdir, str(port)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(url + "/.well-known/jwks.json", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            with httpx.Client(base_url=url) as c:
                code = c.post("/v1/activation-codes", json={"ssn": sample_ssn(0)},
                              headers={"X-Terminal-Key": api_key}).json()["code"]
                dev = Device()
                c.post("/v1/activate", json={"code": code, "device_jwk": dev.jwk()}).raise_for_status()
            body = json.dumps({"ttl": 60}).encode()
            base = {"Content-Type": "application/json"}
            results: dict[str, list[float]] = {"token": [], "bare": []}
            for _ in range(2):
                bare_reqs = [("/bench/bare", {**base, "Authorization": "Device x"}, body)] * args.requests
                el, bad = asyncio.run(blast(url, bare_reqs, args.concurrency))
                assert bad == 0, f"{bad} bare requests failed"
                results["bare"].append(args.requests / el)
                token_reqs = [("/v1/token", {**base, "Authorization": "Device " +
                                             sign_request(dev.key, "POST", "/v1/token", body)}, body)
                              for _ in range(args.requests)]
                el, bad = asyncio.run(blast(url, token_reqs, args.concurrency))
                assert bad == 0, f"{bad} token requests failed"
                results["token"].append(args.requests / el)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    token_rps, bare_rps = max(results["token"]), max(results["bare"])
    res = {"requests": args.requests, "concurrency": args.concurrency, "token_rps": token_rps, "bare_rps": bare_rps,
           "ratio": token_rps / bare_rps, "goal_ratio_min": GOAL}
    res["meets_goal"] = res["ratio"] >= GOAL
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"token endpoint {token_rps:.0f} req/s, bare FastAPI endpoint {bare_rps:.0f} req/s, "
              f"ratio {res['ratio']:.2f} (goal >= {GOAL}) {'OK' if res['meets_goal'] else 'MISSED'}")


if __name__ == "__main__":
    main()
