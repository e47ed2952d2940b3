"""`sscard serve --workers 4` behaves as one server, and keeps its word across a restart: a device proof used on
one worker is refused on every other, a rate limit counts across workers, a login approved on one worker is seen
on another. Shared state in holder_db (SQLite, PostgreSQL) and in a real redis-server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ecard.device import Device, RelyingParty, sign_request
from ecard.keys import new_key
from ecard_server.terminals import add_terminal
from holder_db.ecard import EcardStore

from .conftest import free_port, make_holders

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
LIMIT_BURST = 3


class Server:
    def __init__(self, tmp: Path, db_url: str, redis_url: str | None) -> None:
        self.keys = tmp / "keys"
        new_key(self.keys)
        self.terminal_key = add_terminal(self.keys, "counter-01")
        self.db_url, self.redis_url = db_url, redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "SSCARD_WORKER_HEADER": "1", "PYTHONPATH": str(ROOT),
               "SSCARD_LIMITS": json.dumps({"activation": [1, LIMIT_BURST]})}
        args = [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", "serve", "--workers",
                str(WORKERS), "--port", str(self.port), "--keys", str(self.keys), "--db", self.db_url]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while time.monotonic() < deadline and len(seen) < WORKERS:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                seen.add(httpx.get(self.url + "/.well-known/jwks.json", timeout=2).headers["X-Sscard-Worker"])
            except httpx.TransportError:
                time.sleep(0.1)
        assert len(seen) >= 2, f"only workers {seen} answered"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def send(self, method: str, path: str, **kw) -> httpx.Response:
        """One request on a fresh connection, so the kernel hands it to whichever worker accepts next."""
        return httpx.request(method, self.url + path, timeout=10, **kw)


def _until_other_worker(send, not_worker: str, tries: int = 200) -> list[httpx.Response]:
    """Send until a response comes from a worker other than `not_worker`; all responses sent."""
    out = []
    for _ in range(tries):
        r = send()
        out.append(r)
        if r.headers["X-Sscard-Worker"] != not_worker:
            return out
    raise AssertionError(f"every one of {tries} requests went to worker {not_worker}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def server(request, tmp_path):
    if request.param == "postgres":
        db_url = request.getfixturevalue("postgres_db")
    else:
        db_url = f"sqlite:///{tmp_path / 'holders.db'}"
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    from holder_db import store

    store.init(db_url)
    srv = Server(tmp_path, db_url, redis_url)
    srv.holders = make_holders(db_url, 3)
    store.dispose(db_url)
    srv.start()
    yield srv
    srv.stop()


def test_four_workers_are_one_server_across_a_restart(server):
    h = server.holders[0]
    code = server.send("POST", "/v1/activation-codes", json={"card_no": h.card_no},
                       headers={"X-Terminal-Key": server.terminal_key})
    assert code.status_code == 201, code.text
    dev = Device()
    r = server.send("POST", "/v1/activate", json={"code": code.json()["code"], "device_jwk": dev.jwk()})
    assert r.status_code == 201, r.text
    dev.device_id = r.json()["device_id"]

    # a device proof used once is refused by every worker
    body = json.dumps({"ttl": 30}).encode()
    proof = {"Authorization": "Device " + sign_request(dev.key, "POST", "/v1/token", body, kid=dev.device_id),
             "Content-Type": "application/json"}
    first = server.send("POST", "/v1/token", content=body, headers=proof)
    assert first.status_code == 200, first.text
    replays = _until_other_worker(lambda: server.send("POST", "/v1/token", content=body, headers=proof),
                                  first.headers["X-Sscard-Worker"])
    assert all(r.status_code == 401 and "already used" in r.json()["detail"] for r in replays)

    # the activation limit (burst 3, 1 a minute) is counted once for all workers: the activation above used one
    bogus = {"code": "AAAAAAAAAA", "device_jwk": Device().jwk()}
    answers = [server.send("POST", "/v1/activate", json=bogus) for _ in range(8)]
    assert [a.status_code for a in answers] == [400] * (LIMIT_BURST - 1) + [429] * (8 - LIMIT_BURST + 1)
    assert len({a.headers["X-Sscard-Worker"] for a in answers}) >= 2

    # a login approved on one worker is seen approved on another
    bank = RelyingParty("bank.example")
    EcardStore(server.db_url).register_relying_party("bank.example", bank.key.public().jwk(), "EdDSA", "test")
    with httpx.Client(base_url=server.url, timeout=10) as c:
        login = bank.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]})
    assert login.status_code == 201, login.text
    sid, poll = login.json()["session_id"], login.json()["poll_secret"]
    path = f"/v1/login-sessions/{sid}/approve"
    ok_body = json.dumps({"consent": ["name"]}).encode()
    approved = server.send("POST", path, content=ok_body, headers={
        "Authorization": "Device " + sign_request(dev.key, "POST", path, ok_body, kid=dev.device_id), "Content-Type": "application/json"})
    assert approved.status_code == 200, approved.text
    polls = _until_other_worker(lambda: server.send("GET", f"/v1/login-sessions/{sid}",
                                                    headers={"X-Poll-Secret": poll}),
                                approved.headers["X-Sscard-Worker"])
    # handed out once, whichever worker answers first; the others know it was
    assert polls[0].json()["status"] == "approved" and polls[0].json()["name"] == h.name
    assert all(p.status_code == 410 for p in polls[1:])

    # all of it survives a restart of the whole server
    server.stop()
    server.start()
    again = server.send("POST", "/v1/token", content=body, headers=proof)
    assert again.status_code == 401 and "already used" in again.json()["detail"]
    assert server.send("POST", "/v1/activate", json=bogus).status_code == 429
    p = server.send("GET", f"/v1/login-sessions/{sid}", headers={"X-Poll-Secret": poll})
    assert p.status_code == 410  # collected before the restart, and still
    fresh = json.dumps({"ttl": 30}).encode()
    r = server.send("POST", "/v1/token", content=fresh, headers={
        "Authorization": "Device " + sign_request(dev.key, "POST", "/v1/token", fresh, kid=dev.device_id),
        "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
