"""What a new user does, as real processes: `sscard db init`, `import`, `show` with the default database file
(var/sscard.db under the working directory) and with SSCARD_DB."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.holder_db.test_bulk import A, B, C, mistakes_file

SSCARD = [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())"]
ROOT = Path(__file__).resolve().parents[2]


def sscard(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SSCARD_DB"}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    return subprocess.run([*SSCARD, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def test_default_database_file(tmp_path: Path) -> None:
    first = sscard(tmp_path, "db", "init", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["revision"]
    assert (tmp_path / "var" / "sscard.db").exists()
    mistakes_file(tmp_path / "holders.csv")
    imported = sscard(tmp_path, "db", "import", "holders.csv", "--json")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["imported"], summary["skipped"], len(summary["rejected"])) == (3, 1, 10)
    assert "importing holders" in imported.stderr
    for ssn in (A, B, C):
        shown = sscard(tmp_path, "db", "show", ssn)
        assert shown.returncode == 0 and ssn not in shown.stdout + shown.stderr
        assert ssn[:6] + "********" + ssn[-4:] in shown.stdout
    again = json.loads(sscard(tmp_path, "db", "import", "holders.csv", "--json").stdout)
    assert again["imported"] == 0


def test_sscard_db_environment_variable(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "h.db"
    env = {"SSCARD_DB": f"sqlite:///{target}"}
    assert sscard(tmp_path, "db", "seed", "--holders", "20", "--json", env=env).returncode == 0
    assert target.exists() and not (tmp_path / "var").exists()
    missing = sscard(tmp_path, "db", "show", A, env=env)
    assert missing.returncode == 1 and "no holder" in missing.stderr and A not in missing.stderr
