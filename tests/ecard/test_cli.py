"""The CLI contract other tools script: keys new, qr issue / verify / show, card loss."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

from cli import main
from tests.ecard.conftest import start_server

SSCARD = str(Path(sys.executable).with_name("sscard"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SSCARD, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("cli"), n_holders=6)
    yield s
    s.stop()


def test_keys_new_writes_private_keys_0600_and_a_jwks(tmp_path):
    out = tmp_path / "ks"
    r = run("keys", "new", "--out", str(out), "--alg", "SM2", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    pem = out / f"{info['current']}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "pseudonym.key").st_mode) == 0o600
    jwks = json.loads((out / "jwks.json").read_text())
    assert [k["crv"] for k in jwks["keys"]] == ["SM2"] and "d" not in jwks["keys"][0]
    r = run("keys", "new", "--out", str(out), "--json")
    assert r.returncode == 0
    assert len(json.loads((out / "jwks.json").read_text())["keys"]) == 2  # the SM2 key stays published
    assert run("keys", "new", "--out", str(out), "--alg", "RS256").returncode == 2


def test_issue_verify_loss_refused(srv, tmp_path):
    """The done-when flow from the shell: issue a code, verify offline, report the card lost, same code refused."""
    h = srv.holders[0]
    r = run("qr", "issue", "--keys", str(srv.keys_dir), "--db", srv.db_url, "--ssn", h.ssn, "--ttl", "120")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("SSC1:") and len(token) <= 500 and h.ssn not in token
    jwks, status = tmp_path / "jwks.json", tmp_path / "status.jwt"
    jwks.write_text(httpx.get(srv.url + "/.well-known/jwks.json").text)
    status.write_text(httpx.get(srv.url + "/status-list").text)
    r = run("qr", "verify", token, "--jwks", str(jwks), "--status-list", str(status))
    assert r.returncode == 0 and r.stdout.startswith("valid:"), r.stdout + r.stderr
    r = run("card", "loss", h.ssn, "--db", srv.db_url, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["card_status"] == "lost" and h.ssn not in r.stdout
    status.write_text(httpx.get(srv.url + "/status-list").text)
    r = run("qr", "verify", token, "--jwks", str(jwks), "--status-list", str(status), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "revoked"
    r = run("qr", "issue", "--keys", str(srv.keys_dir), "--db", srv.db_url, "--ssn", h.ssn)
    assert r.returncode != 0 and "lost" in r.stderr and h.ssn not in r.stderr
    r = run("card", "loss", "--card-no", srv.holders[1].card_no, "--db", srv.db_url)
    assert r.returncode == 0 and "lost" in r.stdout


def test_verify_reasons_and_exit_codes(srv, tmp_path):
    h = srv.holders[2]
    token = run("qr", "issue", "--keys", str(srv.keys_dir), "--db", srv.db_url, "--ssn", h.ssn).stdout.strip()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(httpx.get(srv.url + "/.well-known/jwks.json").text)
    now = time.time()
    cases = [
        ((token, "--now", str(now + 3600)), 1, "expired"),
        ((token, "--now", str(now - 3600)), 1, "not_yet_valid"),
        ((token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),), 1, "bad_signature"),
        (("SSC1:" + "A" * 600,), 1, "oversized"),
        (("hello",), 1, "malformed"),
    ]
    for args, code, reason in cases:
        r = run("qr", "verify", *args, "--jwks", str(jwks))
        assert r.returncode == code and r.stdout.startswith(f"invalid: {reason}"), (reason, r.stdout, r.stderr)
        assert len(r.stdout.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    other = tmp_path / "other"
    run("keys", "new", "--out", str(other))
    r = run("qr", "verify", token, "--jwks", str(other / "jwks.json"))
    assert r.returncode == 1 and "unknown_key" in r.stdout
    (tmp_path / "bad.json").write_text("{nope")
    r = run("qr", "verify", token, "--jwks", str(tmp_path / "bad.json"))
    assert r.returncode == 3 and "Traceback" not in r.stderr
    piped = subprocess.run([SSCARD, "qr", "verify", "-", "--jwks", str(jwks)], input=token + "\n",
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stdout.startswith("valid:")
    cache = tmp_path / "seen.json"
    assert run("qr", "verify", token, "--jwks", str(jwks), "--replay-cache", str(cache)).returncode == 0
    r = run("qr", "verify", token, "--jwks", str(jwks), "--replay-cache", str(cache))
    assert r.returncode == 1 and "replayed" in r.stdout


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(garbage=st.one_of(st.text(min_size=1, max_size=700).filter(lambda s: not s.startswith("-")),
                         st.binary(min_size=1, max_size=300).map(lambda b: "SSC1:" + b.hex())))
def test_verify_never_tracebacks_on_garbage(garbage, tmp_path_factory):
    jwks = tmp_path_factory.getbasetemp() / "garbage-jwks.json"
    if not jwks.exists():
        CliRunner().invoke(main, ["keys", "new", "--out", str(jwks.parent / "garbage-keys")])
        jwks.write_text((jwks.parent / "garbage-keys" / "jwks.json").read_text())
    result = CliRunner().invoke(main, ["qr", "verify", garbage, "--jwks", str(jwks)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("invalid: ") and len(result.output.strip().splitlines()) == 1


def test_show_renders_terminal_png_and_svg(srv, tmp_path):
    token = run("qr", "issue", "--keys", str(srv.keys_dir), "--db", srv.db_url, "--ssn", srv.holders[3].ssn).stdout.strip()
    png, svg = tmp_path / "code.png", tmp_path / "code.svg"
    r = run("qr", "show", token, "--png", str(png), "--svg", str(svg))
    assert r.returncode == 0, r.stderr
    assert set(r.stdout) <= set("█▀▄ \n") and r.stdout.count("\n") > 20
    assert [d.data.decode() for d in pyzbar.decode(Image.open(png), symbols=[ZBarSymbol.QRCODE])] == [token]
    assert "<svg" in svg.read_text()
    r = run("qr", "show", "x" * 8000)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_issue_errors_are_one_line(srv, tmp_path):
    r = run("qr", "issue", "--keys", str(tmp_path / "none"), "--db", srv.db_url, "--ssn", srv.holders[4].ssn)
    assert r.returncode == 1 and "keys new" in r.stderr and "Traceback" not in r.stderr
    r = run("qr", "issue", "--keys", str(srv.keys_dir), "--db", srv.db_url, "--ssn", "110101199001011237")
    assert r.returncode == 1 and "no holder" in r.stderr and "110101199001011237" not in r.stderr


def test_sscard_serve_starts_the_server(srv, tmp_path):
    from tests.ecard.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([SSCARD, "serve", "--db", srv.db_url, "--keys", str(srv.keys_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("sscard serve did not answer")
        assert r.status_code == 200 and r.json()["keys"]
        assert httpx.get(f"http://127.0.0.1:{port}/status-list").text.count(".") == 2
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    r = run("serve", "--keys", str(tmp_path / "missing"), "--port", str(free_port()))
    assert r.returncode != 0 and "keys new" in (r.stderr + r.stdout) and "Traceback" not in r.stderr


def test_the_whole_flow_from_a_shell(srv, tmp_path):
    """Terminal code -> device activation -> online and offline codes -> offline verification -> the holder reports
    the card lost -> the same codes are refused. Only `sscard` commands and the server's two public files."""
    h = srv.holders[5]
    r = run("ecard", "activation-code", "--server", srv.url, "--terminal-key", srv.terminal_key, "--ssn", h.ssn,
            "--json")
    assert r.returncode == 0, r.stderr
    code = json.loads(r.stdout)["code"]
    device = tmp_path / "phone.json"
    r = run("ecard", "activate", code, "--server", srv.url, "--device", str(device), "--alg", "SM2")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(device).st_mode) == 0o600
    assert run("ecard", "activate", code, "--server", srv.url, "--device", str(tmp_path / "p2.json")).returncode == 1
    online = run("ecard", "code", "--device", str(device)).stdout.strip()
    offline = run("ecard", "code", "--device", str(device), "--offline", "--png", str(tmp_path / "c.png")).stdout.strip()
    assert [d.data.decode() for d in pyzbar.decode(Image.open(tmp_path / "c.png"), symbols=[ZBarSymbol.QRCODE])] == [offline]
    jwks, status = tmp_path / "jwks.json", tmp_path / "status.jwt"
    jwks.write_text(httpx.get(srv.url + "/.well-known/jwks.json").text)
    status.write_text(httpx.get(srv.url + "/status-list").text)
    for tok in (online, offline):
        r = run("qr", "verify", tok, "--jwks", str(jwks), "--status-list", str(status))
        assert r.returncode == 0, r.stdout
    r = run("ecard", "loss", "--device", str(device))
    assert r.returncode == 0 and "lost" in r.stdout
    status.write_text(httpx.get(srv.url + "/status-list").text)
    for tok in (online, offline):
        r = run("qr", "verify", tok, "--jwks", str(jwks), "--status-list", str(status))
        assert r.returncode == 1 and "revoked" in r.stdout
    r = run("ecard", "code", "--device", str(device))
    assert r.returncode == 1 and "401" in r.stderr


def test_sample_holder_for_demos(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run("ecard", "sample", "--db", url, "--json")
    assert first.returncode == 0, first.stderr
    again = json.loads(run("ecard", "sample", "--db", url, "--json").stdout)
    info = json.loads(first.stdout)
    assert info == again and info["card_status"] == "active" and "*" in info["holder"]
    from holder_db.ecard import EcardStore

    assert EcardStore(url).holder_for_activation(card_no=info["card_no"]).card_status == "active"
