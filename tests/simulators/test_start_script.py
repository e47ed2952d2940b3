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
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'sscard.db'}"
    var_before = _tracked_var()
    env = {**os.environ, "SSCARD_VAR": str(tmp_path / "var"), "SSCARD_CARD": str(card), "SSCARD_PCSC_LOCK_HELD": "1",
           "SSCARD_DB": db,
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
        assert f"holder store {db}" in text  # the banner names the store it really uses
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
        returncode = _ctrl_c(proc)
    assert returncode == 130  # Ctrl-C (SIGINT to the foreground process group), as in a terminal
    assert wait_for(lambda: not reader_states().get(reader_name(0), False), 15)  # its card server is gone
    with pytest.raises(httpx.TransportError):  # and so is its e-card server
        httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=2)
    assert _tracked_var() == var_before  # SSCARD_VAR took every file it writes: nothing went into the checkout
    assert (tmp_path / "var" / "log" / "card.log").exists() and (tmp_path / "var" / "sample-holder.csv").exists()


def _tracked_var() -> dict[str, int]:
    var = ROOT / "var"
    return {str(p.relative_to(var)): p.stat().st_mtime_ns for p in var.rglob("*")} if var.exists() else {}


def _start(tmp_path: Path, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SSCARD_VAR": str(tmp_path / "var"), "SSCARD_PCSC_LOCK_HELD": "1",
           "SSCARD_PORT": str(_free_port()), **extra}
    env.pop("SSCARD_DB", None)
    out = open(log, "ab")
    return subprocess.Popen(["scripts/start.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    """SIGINT to the job's process group, as a terminal's Ctrl-C; SIGKILL if it is not gone in 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(10)


@pytest.mark.parametrize("interrupt_at", ["issuer key set", "recorded for", "applied -> produced"])
def test_an_interrupted_first_run_is_completed_by_the_next(tmp_path: Path, pcsc: None, interrupt_at: str) -> None:
    """Ctrl-C as soon as a step has printed (keys being made; the card recorded but not yet active): the next run
    serves, with the sample card active and an activation code to be had for it (a card left `applied` gave 409)."""
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start(tmp_path, first_log)
    try:
        assert wait_for(lambda: interrupt_at in first_log.read_text(errors="replace") or first.poll() is not None,
                        300, 0.01), first_log.read_text(errors="replace")
    finally:
        _ctrl_c(first)
    assert wait_for(lambda: not reader_states().get(reader_name(0), False), 15)
    second = _start(tmp_path, second_log)
    try:
        assert wait_for(lambda: "until Ctrl-C." in second_log.read_text(errors="replace") or second.poll() is not None,
                        300, 0.2)
        assert second.poll() is None, second_log.read_text(errors="replace")
        env = {**os.environ, "SSCARD_DB": f"sqlite:///{tmp_path / 'var' / 'sscard.db'}"}
        shown = subprocess.run([str(ROOT / ".venv/bin/sscard"), "db", "show", "11010519491231002X", "--json"],
                               env=env, capture_output=True, text=True, check=True)
        assert [c["status"] for c in json.loads(shown.stdout)["cards"]] == ["active"]
        assert not list((tmp_path / "var").glob("*.partial"))
    finally:
        assert _ctrl_c(second) == 130


def test_a_held_lock_is_named_with_its_holder(tmp_path: Path, pcsc: None) -> None:
    """This session holds the readers' lock; start.sh waits for it and says who holds it."""
    log = tmp_path / "start.log"
    env = {k: v for k, v in os.environ.items() if k not in ("SSCARD_PCSC_LOCK_HELD", "SSCARD_DB")}
    with open(log, "wb") as out:
        waiting = subprocess.Popen(["scripts/start.sh"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**env, "SSCARD_VAR": str(tmp_path / "var"), "SSCARD_PORT": str(_free_port())})
    try:
        assert wait_for(lambda: "held by" in log.read_text(errors="replace") or waiting.poll() is not None, 120, 0.2)
        assert f"held by a pytest session in {ROOT} (pid {os.getpid()})" in log.read_text(), log.read_text()
    finally:
        _ctrl_c(waiting)
