"""scripts/start.sh, the README's main job: it makes the sample card, serves it, reads it back through PC/SC, and
stops its card server on Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from simulators.image import load
from tests.plugins.pcsc import ROOT, reader_name, reader_states, wait_for

pytestmark = pytest.mark.pcsc


def test_start_script_serves_and_reads_the_sample_card(tmp_path: Path, pcsc: None) -> None:
    card = tmp_path / "sample-card.json"
    log = tmp_path / "start.log"
    env = {**os.environ, "SSCARD_CARD": str(card), "SSCARD_PCSC_LOCK_HELD": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(["scripts/start.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: "Serving the card until Ctrl-C." in log.read_text(errors="replace")
                        or proc.poll() is not None, 300, 0.2)
        text = log.read_text(errors="replace")
        assert proc.poll() is None, text
        historical = load(card).historical.hex().upper()
        line = next(ln for ln in text.splitlines() if ln.count("|") == 11)
        assert line.split("|")[1:6] == ["11010519491231002X", "A00000001", "110100D156000005A1B2C3D4E5F60718",
                                        "张丽华", historical]
        assert reader_states().get(reader_name(0))
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 130  # Ctrl-C (SIGINT to the foreground process group), as in a terminal
    assert wait_for(lambda: not reader_states().get(reader_name(0), False), 15)  # its card server is gone
