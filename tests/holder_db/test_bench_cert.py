"""bench/bench_cert.py runs at a small size on both engines and reports what it should: the silent pass certifies
the holders with evidence (not the dead), the payment pays them and holds the rest, each phase with its rows/s and
peak memory. (No timing is asserted; the 1,000,000-holder figures are in docs/certification.md.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_bench_cert_small(postgres_db):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_cert.py"), "--holders", "300", "--sample", "50",
                        "--batch", "100", "--postgres", postgres_db, "--json"], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    for engine in ("sqlite", "postgres"):
        silent, pay = out[engine]["silent"], out[engine]["pay"]
        assert (silent["certified"], silent["due"], silent["deceased"]) == (210, 87, 3)
        assert silent["loop_found"] == 35 and silent["rows_per_s"] > 0 and silent["ratio"] > 0
        assert pay["finished"] and (pay["paid"], pay["held"], pay["skipped"]) == (210, 90, 0) and pay["ledger_balanced"]
        assert pay["batches_done"] == 3 and pay["rows_per_s"] > 0 and pay["peak_rss_mb"] >= pay["base_rss_mb"] > 0
