"""The gate over a real HTTP server: fetches keys and status list, keeps deciding from its cache when the server is
gone (valid codes admitted, revoked and replayed ones refused), and starts offline from a warm cache."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecard import status_list as sl
from ecard import tokens
from ecard.keys import generate, new_key
from terminal.gate import Gate, GateError

ROOT = Path(__file__).resolve().parents[2]
SSCARD = [sys.executable, "-c", "import cli; cli.main()"]
VALID_IDX, REVOKED_IDX = 1, 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def issuer(tmp_path):
    keys = new_key(tmp_path / "keys")
    site = tmp_path / "site"
    site.mkdir()
    (site / "jwks.json").write_text(json.dumps(keys.jwks()), encoding="utf-8")
    (site / "status.jwt").write_text(sl.sign({REVOKED_IDX}, 64, keys.current, "http://issuer/status"),
                                     encoding="utf-8")
    return keys, site


def code(keys, idx: int = VALID_IDX) -> str:
    return tokens.issue_online(keys.current, os.urandom(10), idx, int(time.time()))


@pytest.fixture
def server(issuer):
    _, site = issuer
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield proc, f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


class GateProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*SSCARD, "terminal", "gate", *args, "--json"], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ask(self, token: str) -> dict:
        self.proc.stdin.write(token + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        return json.loads(line)

    def close(self) -> str:
        self.proc.stdin.close()
        self.proc.wait(10)
        return self.proc.stderr.read()


def test_gate_keeps_deciding_with_the_network_cut(issuer, server, tmp_path):
    keys, _ = issuer
    proc, url = server
    gate = GateProcess("--jwks-url", f"{url}/jwks.json", "--status-url", f"{url}/status.jwt",
                       "--cache", str(tmp_path / "cache"), "--refresh", "0.2")
    try:
        first = code(keys)
        assert gate.ask(first) == {"valid": True, "reason": "ok", "detail": "valid online code", "kind": "online",
                                   "status_checked": True}
        proc.terminate()
        proc.wait(5)
        time.sleep(0.5)  # background refreshes now fail against the dead server
        assert gate.ask(code(keys))["valid"] is True
        revoked = gate.ask(code(keys, REVOKED_IDX))
        assert (revoked["valid"], revoked["reason"]) == (False, "revoked")
        assert gate.ask(first)["reason"] == "replayed"
        assert gate.ask("SSC1:garbage!")["valid"] is False
        forged = tokens.issue_online(generate(), os.urandom(10), VALID_IDX, int(time.time()))
        assert gate.ask(forged)["reason"] == "unknown_key"
    finally:
        stderr = gate.close()
    assert "keys fetched, status list fetched" in stderr and "Traceback" not in stderr

    # A fresh gate with no network at all starts from the warm cache.
    offline = GateProcess("--jwks-url", "http://127.0.0.1:9/jwks.json", "--status-url",
                          "http://127.0.0.1:9/status.jwt", "--cache", str(tmp_path / "cache"))
    try:
        assert offline.ask(code(keys))["valid"] is True
        assert offline.ask(code(keys, REVOKED_IDX))["reason"] == "revoked"
    finally:
        assert "keys cached, status list cached" in offline.close()


def test_gate_with_nothing_cached_and_no_network_refuses_to_start(tmp_path):
    gate = GateProcess("--jwks-url", "http://127.0.0.1:9/jwks.json", "--cache", str(tmp_path / "empty"))
    gate.proc.stdin.close()
    assert gate.proc.wait(10) == 1
    assert "no issuer keys" in gate.proc.stdout.read()


def test_expired_status_list_refuses_instead_of_skipping(issuer, tmp_path):
    keys, site = issuer
    now = [time.time()]
    (site / "status.jwt").write_text(sl.sign({REVOKED_IDX}, 64, keys.current, "u", ttl=60), encoding="utf-8")
    g = Gate(tmp_path / "c", jwks_file=site / "jwks.json", status_file=site / "status.jwt", clock=lambda: now[0])
    g.start()
    assert g.decide(code(keys)).valid
    (site / "status.jwt").unlink()  # no newer list to be had
    now[0] += 120
    g.refresh()
    token = tokens.issue_online(keys.current, os.urandom(10), VALID_IDX, int(now[0]))
    assert g.decide(token).reason == "status_list_expired"


def test_tampered_status_list_is_not_cached(issuer, tmp_path):
    keys, site = issuer
    g = Gate(tmp_path / "c", jwks_file=site / "jwks.json", status_file=site / "status.jwt")
    g.start()
    good = (tmp_path / "c" / "status_list.jwt").read_text()
    other = sl.sign(set(), 64, generate(), "u")  # signed by a key the JWKS does not hold
    (site / "status.jwt").write_text(other, encoding="utf-8")
    result = g.refresh()
    assert result.status == "cached" and result.errors
    assert (tmp_path / "c" / "status_list.jwt").read_text() == good
    assert g.decide(code(keys, REVOKED_IDX)).reason == "revoked"


def test_gate_needs_one_key_source(tmp_path):
    with pytest.raises(GateError):
        Gate(tmp_path, jwks_url="http://x", jwks_file=tmp_path / "j")
