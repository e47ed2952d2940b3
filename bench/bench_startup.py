"""Start-up of the commands a counter runs once each, whole process, against bare interpreters in the same run:
`sscard db show` against `python -c "import sqlite3"` (goal <= 4x) and `sscard --help` against `python -c pass`
(goal <= 3x). Each is run --repeat times, alternating, and the best of each kept (the machine is shared); the
first round, not counted, writes the bytecode caches as an installed package has them.

    .venv/bin/python bench/bench_startup.py [--repeat 15] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOALS = {"db_show": 4.0, "help": 3.0}


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    python = sys.executable
    sscard = [python, "-c", "import sys; from cli import main; sys.argv[0] = 'sscard'; main()"]
    script = Path(python).with_name("sscard")
    if script.exists():
        sscard = [str(script)]  # the console script a user runs
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.db"
        # as installed: bytecode cached (a shell with PYTHONDONTWRITEBYTECODE would compile every module each run)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"SSCARD_DB": str(db)}
        from holder_db import seed, store

        store.init(f"sqlite:///{db}")
        seed.seed(store.get_engine(f"sqlite:///{db}"), 100, seed=1)
        store.dispose(f"sqlite:///{db}")
        ssn = next(iter(seed.holders(100, seed=1)))["ssn"]
        runs = {
            "sqlite3": [python, "-c", "import sqlite3"],
            "db_show": [*sscard, "db", "show", ssn],
            "pass": [python, "-c", "pass"],
            "help": [*sscard, "--help"],
        }
        best = {k: float("inf") for k in runs}
        for argv in runs.values():  # warm the file cache once
            timed(argv, env)
        for _ in range(args.repeat):
            for name, argv in runs.items():
                best[name] = min(best[name], timed(argv, env))
    figures = {
        "db_show_s": round(best["db_show"], 4), "import_sqlite3_s": round(best["sqlite3"], 4),
        "db_show_ratio": round(best["db_show"] / best["sqlite3"], 2), "db_show_goal": GOALS["db_show"],
        "help_s": round(best["help"], 4), "python_pass_s": round(best["pass"], 4),
        "help_ratio": round(best["help"] / best["pass"], 2), "help_goal": GOALS["help"],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"sscard db show        {figures['db_show_s']:.3f} s   python -c 'import sqlite3' "
              f"{figures['import_sqlite3_s']:.3f} s   ratio {figures['db_show_ratio']}  (goal <= 4)")
        print(f"sscard --help         {figures['help_s']:.3f} s   python -c pass             "
              f"{figures['python_pass_s']:.3f} s   ratio {figures['help_ratio']}  (goal <= 3)")


if __name__ == "__main__":
    main()
