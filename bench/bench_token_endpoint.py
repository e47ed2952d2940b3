"""Throughput of the e-card server under a real load generator (wrk), each endpoint against a bare FastAPI endpoint
in the same app, server and load, so the ratio is what sscard's own work costs:

- POST /v1/token (device proof verified, its jti recorded in the shared state, binding and holder standing read
  from holder_db, token signed) against a bare POST taking the same JSON body and headers; goal ratio >= 0.8;
- GET /status-list and GET /.well-known/jwks.json against a bare GET; goal ratio >= 0.9;
- then the token endpoint's requests/s with 1, 2 and 4 workers (`sscard serve --workers N` runs the same way).

Every token request carries its own device proof, made before the clock starts (wrk reads them from a file), so
no request is a replay and the client does not sign on the server's CPU.

Each of the five runs is repeated --rounds times, alternating, and the best of each kept (the machine is shared).

    .venv/bin/python bench/bench_token_endpoint.py [--json] [--seconds S] [--connections C] [--workers 1,2,4]
                                                   [--rounds R]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TOKEN_GOAL = 0.8
READ_GOAL = 0.9
ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_report.lua"
BODY = json.dumps({"ttl": 60})


def bench_app():  # type: ignore[no-untyped-def]
    """The server's app (settings from SSCARD_ variables) with the bare baselines added."""
    from fastapi.responses import PlainTextResponse

    from ecard_server.schemas import TokenRequest
    from sscard_app import create_app
    from sscard_settings import Settings

    app = create_app(Settings())

    @app.post("/bench/bare")
    def bare(req: TokenRequest) -> dict[str, int]:
        return {"ttl": req.ttl}

    @app.get("/bench/bare-get", response_class=PlainTextResponse)
    def bare_get() -> str:
        return "ok"

    return app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(workdir: str) -> tuple[str, dict[str, str]]:
    sys.path.insert(0, str(ROOT))
    from ecard.keys import new_key
    from ecard_server.terminals import add_terminal
    from holder_db import store
    from tests.ecard.conftest import make_holders

    db = f"sqlite:///{workdir}/holders.db"
    new_key(f"{workdir}/keys")
    api_key = add_terminal(f"{workdir}/keys", "bench")
    store.init(db)
    make_holders(db, 1)
    store.dispose(db)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}", "SSCARD_DB": db,
           "SSCARD_ECARD_KEYS": f"{workdir}/keys", "SSCARD_LIMITS": json.dumps({"activation": [6000, 100],
                                                                                       "token": [10**9, 10**6]})}
    env.pop("SSCARD_KEYS", None)
    return api_key, env


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import uvicorn, sys; uvicorn.run('bench_token_endpoint:bench_app', factory=True,"
             f" host='127.0.0.1', port={self.port}, workers={workers}, log_level='warning', access_log=False)"],
            cwd=ROOT, env=env, start_new_session=True)
        for _ in range(600):
            try:
                httpx.get(self.url + "/bench/bare-get", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError("the benchmark server exited")
                time.sleep(0.05)
        else:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.5 if workers > 1 else 0)  # let the other workers finish importing

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


def wrk(url: str, method: str, path: str, seconds: float, connections: int, threads: int,
        proofs: Path | None = None) -> dict[str, float]:
    args = [method, path] + ([str(proofs), BODY, str(threads)] if proofs else [])
    r = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                        "--latency", "-s", str(LUA), url, "--", *args], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed: {r.stderr[-500:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["non2xx"] or out["socket_errors"]:
        raise RuntimeError(f"{path}: {out['non2xx']} non-2xx answers, {out['socket_errors']} socket errors")
    out["rps"] = out["requests"] / out["seconds"]
    return out


def proofs_file(workdir: str, dev, n: int) -> Path:  # type: ignore[no-untyped-def]
    from ecard.device import sign_request

    path = Path(workdir) / f"proofs-{time.monotonic_ns()}.txt"
    now = time.time()
    path.write_text("\n".join(sign_request(dev.key, "POST", "/v1/token", BODY.encode(), now, kid=dev.device_id)
                              for _ in range(n)) + "\n",
                    encoding="ascii")
    return path


def activate(url: str, api_key: str):  # type: ignore[no-untyped-def]
    from ecard.client import EcardClient
    from ecard.device import Device
    from tests.ecard.conftest import sample_ssn

    dev = Device()
    with EcardClient(url) as c:
        c.activate(c.activation_code(api_key, ssn=sample_ssn(0)).code, dev)
    return dev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (the server has the other core)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts to measure the token endpoint with")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the five runs, alternating; the best of each kept")
    ap.add_argument("--proofs-per-second", type=int, default=3000, help="device proofs made per second of load")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; run scripts/bootstrap.sh")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    n_proofs = int(args.proofs_per_second * max(1, round(args.seconds)))
    res: dict[str, object] = {"seconds": args.seconds, "connections": args.connections, "threads": args.threads,
                              "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as workdir:
        api_key, env = setup(workdir)
        srv = Server(env, 1)
        try:
            dev = activate(srv.url, api_key)
            run = lambda method, path, proofs=None: wrk(srv.url, method, path, args.seconds,  # noqa: E731
                                                        args.connections, args.threads, proofs)
            run("GET", "/bench/bare-get")  # warm-up
            bare_post = token = bare_get = status = jwks = 0.0
            for _ in range(args.rounds):  # alternating, best of each: the machine is shared
                bare_post = max(bare_post, run("POST", "/bench/bare", proofs_file(workdir, dev, n_proofs))["rps"])
                token = max(token, run("POST", "/v1/token", proofs_file(workdir, dev, n_proofs))["rps"])
                bare_get = max(bare_get, run("GET", "/bench/bare-get")["rps"])
                status = max(status, run("GET", "/status-list")["rps"])
                jwks = max(jwks, run("GET", "/.well-known/jwks.json")["rps"])
        finally:
            srv.stop()
        res.update({"token_rps": token, "bare_post_rps": bare_post, "ratio": token / bare_post,
                    "status_list_rps": status, "jwks_rps": jwks, "bare_get_rps": bare_get,
                    "status_list_ratio": status / bare_get, "jwks_ratio": jwks / bare_get,
                    "goal_ratio_min": TOKEN_GOAL, "goal_read_ratio_min": READ_GOAL})
        per_workers: dict[str, float] = {}
        for n in [int(w) for w in args.workers.split(",") if w]:
            srv = Server(env, n)
            try:
                dev = activate(srv.url, api_key)
                per_workers[str(n)] = wrk(srv.url, "POST", "/v1/token", args.seconds, args.connections,
                                          args.threads, proofs_file(workdir, dev, n_proofs))["rps"]
            finally:
                srv.stop()
        res["token_rps_by_workers"] = per_workers
    res["meets_goal"] = bool(res["ratio"] >= TOKEN_GOAL and res["status_list_ratio"] >= READ_GOAL  # type: ignore[operator]
                             and res["jwks_ratio"] >= READ_GOAL)  # type: ignore[operator]
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"token {token:.0f} req/s vs bare POST {bare_post:.0f}: ratio {res['ratio']:.2f} (goal >= {TOKEN_GOAL})")
        print(f"status-list {status:.0f} req/s, JWKS {jwks:.0f} req/s vs bare GET {bare_get:.0f}: ratios "
              f"{res['status_list_ratio']:.2f}, {res['jwks_ratio']:.2f} (goal >= {READ_GOAL})")
        print("token req/s by workers: " + ", ".join(f"{k}: {v:.0f}" for k, v in per_workers.items()))
        print("OK" if res["meets_goal"] else "MISSED")


if __name__ == "__main__":
    main()
