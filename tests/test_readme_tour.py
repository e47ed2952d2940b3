"""README's tour, run as written: its code blocks are read from README.md itself, so the two cannot drift apart.

The main job (scripts/start.sh) serves the sample card and the e-card server with its var folder in a scratch
checkout (docs and .venv linked in); each line of the tour then runs there in one shell, and must exit 0 unless
its comment says `exit N`. The tour may write only into var/: a file it leaves anywhere else in the checkout (a
device key in the repository root, say) fails the test."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.plugins.pcsc import ROOT, reader_name, reader_states, wait_for

pytestmark = pytest.mark.pcsc

SERVING = "Serving the card and the e-card server until Ctrl-C."


def tour_lines(readme: str) -> list[tuple[str, int]]:
    """Each command of the tour's sh blocks with the exit status its comment promises (0 unless `exit N`)."""
    section = readme.split("## A tour", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            comment = re.search(r"\s#\s.*$", line)
            expected = re.search(r"\bexit (\d+)", comment.group(0)) if comment else None
            lines.append((line, int(expected.group(1)) if expected else 0))
    return lines


def test_tour_lines_are_found_with_their_expectations() -> None:
    lines = tour_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(lines) > 30
    assert [e for _, e in lines].count(1) == 2  # a wrong PIN and a revoked code
    assert not [cmd for cmd, _ in lines if "[--" in cmd or re.search(r"\b(SSN|HEX|DIR|URL)\b", cmd)]  # runnable


def test_readme_tour_runs_as_written(tmp_path: Path, pcsc: None) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("docs", ".venv"):
        (checkout / name).symlink_to(ROOT / name)
    var = checkout / "var"
    log = tmp_path / "start.log"
    env = {**os.environ, "SSCARD_VAR": str(var), "SSCARD_PCSC_LOCK_HELD": "1"}
    env.pop("SSCARD_DB", None)
    with open(log, "wb") as out:
        job = subprocess.Popen(["scripts/start.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: SERVING in log.read_text(errors="replace") or job.poll() is not None, 300, 0.2)
        assert job.poll() is None, log.read_text(errors="replace")
        lines = tour_lines((ROOT / "README.md").read_text(encoding="utf-8"))
        script = ["cd " + str(checkout)]
        for i, (line, _) in enumerate(lines):
            script.append(f"{{ {line}\n}} >{tmp_path}/out.{i} 2>&1 </dev/null; echo $? >{tmp_path}/rc.{i}")
        tour_env = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
        subprocess.run(["bash", "-c", "\n".join(script)], env=tour_env, timeout=600, check=True)
        for i, (line, expected) in enumerate(lines):
            output = (tmp_path / f"out.{i}").read_text(errors="replace")
            rc = int((tmp_path / f"rc.{i}").read_text())
            assert rc == expected, f"README tour line {line!r} exited {rc}, not {expected}:\n{output[-2000:]}"
        outputs = {line: (tmp_path / f"out.{i}").read_text(errors="replace") for i, (line, _) in enumerate(lines)}
        said = "\n".join(outputs.values())
        assert "PIN correct" in said and "error -51" in said
        assert "IDENTIFIED" in said
        assert "verified: genuine card" in said  # card read --verify says so
        assert re.search(r"^PAN +\d{6}\*+\d{4}$", said, re.M) and "ARPC" in said.upper()  # the sample card's debit app
        assert re.search(r"^ADMIT", next(o for c, o in outputs.items() if "terminal gate" in c), re.M)
        assert "revoked" in said
        assert (var / "tour" / "phone.json").exists() and (var / "tour" / "code.png").exists()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGINT)
        try:
            job.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(10)
    assert job.returncode == 130, log.read_text(errors="replace")
    assert wait_for(lambda: not reader_states().get(reader_name(0), False), 15)
    assert sorted(p.name for p in checkout.iterdir()) == [".venv", "docs", "var"]  # it wrote only into var/
