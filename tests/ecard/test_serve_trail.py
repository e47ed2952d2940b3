"""`sscard serve` as an operator runs it: rate limits keyed on the peer address (a rotating X-Forwarded-For from
loopback is one client unless a trusted proxy is configured), and the trail of failed authentications in the
JSON log (`--log-format json`), with masked identifiers and no secrets. Over HTTP, on SQLite and PostgreSQL."""
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
from hypothesis import given
from hypothesis import strategies as st

from ecard.device import Device, RelyingParty, sign_request
from ecard.keys import new_key
from ecard_server.terminals import add_terminal
from ecard_server.trail import masked
from holder_db import store
from holder_db.ecard import EcardStore

from .conftest import free_port, make_holders, slowest_jwks_under_big_bodies, start_server

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """`sscard serve --log-format json` in its own process, its log (stderr) in a file."""

    def __init__(self, tmp: Path, db_url: str) -> None:
        self.keys = tmp / "keys"
        new_key(self.keys)
        self.terminal_key = add_terminal(self.keys, "counter-01")
        self.db_url = db_url
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = tmp / "server.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SSCARD_LIMITS": json.dumps({"activation": [6, 3]})}
        args = [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())", "serve", "--port",
                self.url.rsplit(":", 1)[1], "--keys", str(self.keys), "--db", db_url, "--log-format", "json"]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"),
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(self.url + "/.well-known/jwks.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("sscard serve did not start")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        return self.log.read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    db_url = request.getfixturevalue("postgres_module_db") if request.param == "postgres" else \
        f"sqlite:///{tmp / 'holders.db'}"
    store.init(db_url)
    holders = make_holders(db_url, 3)
    store.dispose(db_url)
    srv = Served(tmp, db_url)
    srv.holders = holders
    yield srv
    srv.stop()


def test_failed_authentications_leave_a_trail_without_secrets(served):
    h = served.holders[0]
    with httpx.Client(base_url=served.url, timeout=10) as c:
        code = c.post("/v1/activation-codes", json={"ssn": h.ssn}, headers={"X-Terminal-Key": served.terminal_key})
        assert code.status_code == 201
        dev = Device()
        r = c.post("/v1/activate", json={"code": code.json()["code"], "device_jwk": dev.jwk()})
        assert r.status_code == 201
        dev.device_id = r.json()["device_id"]
        bank = RelyingParty("bank.example")
        EcardStore(served.db_url).register_relying_party("bank.example", bank.key.public().jwk(), "EdDSA", "test")
        session = bank.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]}).json()

        guessed = "QQQQQQQQQQ"
        assert c.post("/v1/activate", json={"code": guessed, "device_jwk": Device().jwk()}).status_code == 400
        wrong_terminal = "counter-01.Sup3rSecretTerminalPart"
        assert c.post("/v1/activation-codes", json={"ssn": h.ssn},
                      headers={"X-Terminal-Key": wrong_terminal}).status_code == 401
        thief = Device(device_id=dev.device_id)  # another key under the device's id
        forged = sign_request(thief.key, "GET", "/v1/me", b"", kid=dev.device_id)
        assert c.get("/v1/me", headers={"Authorization": "Device " + forged}).status_code == 401
        wrong_poll = "guessed-poll-secret-0123456789"
        assert c.get(f"/v1/login-sessions/{session['session_id']}",
                     headers={"X-Poll-Secret": wrong_poll}).status_code == 403
        impostor = RelyingParty("bank.example")  # not the registered key
        assert impostor.request(c, "POST", "/v1/login-sessions", {"scope": ["name"]}).status_code == 401
        forged_line = "/v1/login-sessions/x%0A%7B%22event%22%3A%22forged%22%7D/approve"
        assert c.post(forged_line, json={"consent": []}).status_code == 401
        assert c.get("/v1/me", headers={"Authorization": "Device x"}).status_code == 401
        assert dev.request(c, "GET", "/v1/me").status_code == 200  # and a good request leaves no trail
    time.sleep(0.3)
    text = served.log.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line one JSON object
    assert all(isinstance(r, dict) and {"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not any(r.get("event") == "forged" for r in records)
    trail = [r for r in records if r.get("event") == "auth_failed"]
    kinds: dict = {}
    for r in trail:
        kinds.setdefault(r["kind"], r)  # the first of each kind
    assert set(kinds) == {"terminal", "device", "login_poll", "relying_party", "activation_code"}, trail
    assert all(r["peer"] == "127.0.0.1" and r["logger"] == "sscard.trail" and r["level"] == "warning" for r in trail)
    assert kinds["terminal"]["who"] == "counte…(10)"
    assert kinds["device"]["who"].startswith(dev.device_id[:6]) and kinds["device"]["who"] != dev.device_id
    assert "verify" in kinds["device"]["reason"] and "poll" in kinds["login_poll"]["reason"].lower()
    for secret in ("Sup3rSecretTerminalPart", served.terminal_key.split(".", 1)[1], forged, forged.split(".")[2],
                   wrong_poll, session["poll_secret"], session["session_id"], dev.device_id, h.ssn, h.ssn[6:14],
                   code.json()["code"], guessed, dev.key.pem().decode().splitlines()[1]):
        assert secret not in text, secret


def test_a_rotating_forwarded_for_is_still_one_client(served):
    """uvicorn's default trusted X-Forwarded-For from loopback, so each request with a new one was a new client."""
    with httpx.Client(base_url=served.url, timeout=10) as c:
        codes = [c.post("/v1/activate", json={"code": "ABCDEFGH23", "device_jwk": Device().jwk()},
                        headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)]
    # the burst of 3 is the peer's, whatever the header says (the trail test above took one of it)
    assert codes.count(400) <= 3 and codes[-2:] == [429, 429], codes


def test_a_trusted_proxy_names_the_client(tmp_path):
    srv = start_server(tmp_path, limits={"activation": (6, 3)}, n_holders=1, trusted_proxies=["127.0.0.0/8"])
    bogus = {"code": "ABCDEFGH23", "device_jwk": Device().jwk()}
    try:
        with srv.client() as c:
            each = [c.post("/v1/activate", json=bogus, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                    for i in range(5)]
            assert each == [400] * 5  # five clients behind the proxy
            one = [c.post("/v1/activate", json=bogus,  # the client's own claim is left of what the proxy saw
                          headers={"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.7, 127.0.0.1"}).status_code
                   for i in range(5)]
            assert one == [400, 400, 400, 429, 429]
    finally:
        srv.stop()


@given(st.text(min_size=7, max_size=300))
def test_a_masked_identifier_never_holds_the_identifier(ident):
    out = masked(ident)
    assert ident not in out and len(out) < 6 + 12


@given(st.text(max_size=6))
def test_a_short_identifier_is_masked_whole(ident):
    assert set(masked(ident)) <= {"*"}


def test_a_bad_trusted_proxy_is_a_usage_error():
    import click

    from sscard_settings import load

    with pytest.raises(click.UsageError, match="trusted|not a valid|does not appear"):
        load(trusted_proxies=["not-an-address"])
    assert load(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]


def _rss(served: Served) -> int:
    """The server process's resident memory. Found by its command line (its key folder is this test's own): in
    a PID namespace, /proc may number processes otherwise than Popen does."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"serve" not in cmd or str(served.keys).encode() not in cmd:
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
    raise AssertionError("the server process is not in /proc")


def test_twelve_big_bodies_cost_the_server_nothing(served):
    """12 concurrent 10 MB bodies stalled a JWKS GET for 8.6 s and left the process 60 MiB larger."""
    before = _rss(served)
    worst = slowest_jwks_under_big_bodies(lambda: httpx.Client(base_url=served.url, timeout=30),
                                          "/v1/activation-codes")
    grown = _rss(served) - before
    assert worst < 2.0, worst
    assert grown < 20 * 2**20, f"the server grew {grown / 2**20:.1f} MiB"


def test_a_request_cannot_forge_a_text_log_line(caplog):
    from ecard_server import trail

    with caplog.at_level("WARNING", logger="sscard.trail"):
        trail.auth_failed("device", "request proof does not verify", "10.0.0.1\nINFO fake", "/v1/x\nWARNING forged",
                          "kid\r\nforged")
    (record,) = caplog.records
    assert "\n" not in record.getMessage() and "\r" not in record.getMessage()
    assert record.path == "/v1/x?WARNING forged" and record.peer == "10.0.0.1?INFO fake"
