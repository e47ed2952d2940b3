"""scripts/start.sh, the README's main job: it makes the sample card, serves it, reads it back through PC/SC with
verification, records the holder in the holder store, starts the e-card server, and stops both on Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from simulators.image import load
from tests.plugins.pcsc import ROOT, reader_name, reader_states, wait_for

pytestmark = pytest.mark.pcsc


def test_start_script_serves_and_reads_the_sample_card(tmp_path: Path, pcsc: None) -> None:
    card = tmp_path / "sample-card.json"
    log = tmp_path / "start.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'sscard.db'}"
    env = {**os.environ, "SSCARD_CARD": str(card), "SSCARD_PCSC_LOCK_HELD": "1", "SSCARD_DB": db,
           "SSCARD_ISSUER_KEYS": str(tmp_path / "issuer-keys"), "SSCARD_ECARD_KEYS": str(tmp_path / "ecard-keys"),
           "SSCARD_PORT": str(port)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(["scripts/start.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: "Serving the card and the e-card server until Ctrl-C." in log.read_text(errors="replace")
                        or proc.poll() is not None, 300, 0.2)
        text = log.read_text(errors="replace")
        assert proc.poll() is None, text
        historical = load(card).historical.hex().upper()
        line = next(ln for ln in text.splitlines() if ln.count("|") == 11)
        assert line.split("|")[1:6] == ["11010519491231002X", "A00000001", "110100D156000005A1B2C3D4E5F60718",
                                        "张丽华", historical]
        assert reader_states().get(reader_name(0))
        jwks = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=5).json()
        assert jwks["keys"] and all("d" not in k for k in jwks["keys"])
        shown = subprocess.run([str(ROOT / ".venv/bin/sscard"), "db", "show", "11010519491231002X", "--json"],
                               env=env, capture_output=True, text=True, check=True)
        assert [c["status"] for c in json.loads(shown.stdout)["cards"]] == ["active"]
        bank = subprocess.run([str(ROOT / ".venv/bin/sscard"), "card", "bank", "--reader", reader_name(0), "--json"],
                              env=env, capture_output=True, text=True)
        assert bank.returncode == 0, bank.stderr  # the card start.sh serves carries the debit application
        assert json.loads(bank.stdout)["aid"] == "A000000333010101"
        verified = subprocess.run([str(ROOT / ".venv/bin/sscard"), "card", "read", "--verify", "--psam",
                                   str(tmp_path / "issuer-keys"), "--reader", reader_name(0), "--json"],
                                  env=env, capture_output=True, text=True)
        assert verified.returncode == 0 and json.loads(verified.stdout)["verified"]["verified"] is True, verified.stderr
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 130  # Ctrl-C (SIGINT to the foreground process group), as in a terminal
    assert wait_for(lambda: not reader_states().get(reader_name(0), False), 15)  # its card server is gone
    with pytest.raises(httpx.TransportError):  # and so is its e-card server
        httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=2)
