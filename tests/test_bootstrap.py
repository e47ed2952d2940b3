"""scripts/bootstrap.sh where it cannot install: not root and no sudo, it stops before doing anything, with one
line naming the packages to install."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_root_or_sudo_it_names_what_to_install_and_does_nothing() -> None:
    with tempfile.TemporaryDirectory() as scratch:  # not under pytest's tmp_path, which only root may enter
        _run_unprivileged(Path(scratch))


def _run_unprivileged(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "\ndebs=(\n" in script
    script = script.replace("\ndebs=(\n", "\ndebs=(\n  sscard-no-such-package\n", 1)  # one package missing for sure
    (checkout / "scripts" / "bootstrap.sh").write_text(script)
    checkout.chmod(0o777)
    tmp_path.chmod(0o755)
    tools = tmp_path / "bin"  # the commands it needs, and no sudo among them
    tools.mkdir()
    for name in ("bash", "dpkg-query", "grep", "id", "dirname", "cat"):
        (tools / name).symlink_to(shutil.which(name))
    command = [shutil.which("bash"), str(checkout / "scripts" / "bootstrap.sh")]
    if os.geteuid() == 0:
        command = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"PATH": str(tools), "HOME": str(tmp_path)})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "not root and no sudo" in lines[0] and "apt-get install" in lines[0]
    assert "sscard-no-such-package" in lines[0]
    assert not (checkout / ".venv").exists()  # it did nothing else
