"""The e-card benchmarks run in CI: each script, with small counts, prints its JSON with the figure and the ratio to
its same-run baseline. (No timing is asserted here; the scripts report whether the goals are met.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(name: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--json", *args], capture_output=True,
                       text=True, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("alg", ["EdDSA", "SM2"])
def test_bench_qr_verify(alg):
    out = bench("bench_qr_verify.py", "--n", "40", "--alg", alg)
    assert out["ratio"] > 0 and out["token_chars"] <= 500 and isinstance(out["meets_goal"], bool)


def test_bench_qr_render():
    out = bench("bench_qr_render.py", "--n", "20")
    assert out["zxing_png_ms"] > 0 and out["token_chars"] == 450
    assert out["segno_png_ms"] and out["qrcode_png_ms"]  # the pure-Python baselines are installed (dev extra)


def test_bench_sm2_compares_the_libraries():
    out = bench("bench_sm2.py", "--seconds", "0.05")
    assert {"tongsuopy", "gmssl-fast", "gmssl (pure Python)"} <= set(out)
    assert all("verify_ms" in out[k] for k in ("tongsuopy", "gmssl-fast", "gmssl (pure Python)"))


def test_bench_token_endpoint():
    out = bench("bench_token_endpoint.py", "--seconds", "1", "--connections", "4", "--workers", "1,2", "--rounds", "1",
                "--proofs-per-second", "1500")
    assert out["token_rps"] > 0 and out["bare_post_rps"] > 0 and out["ratio"] > 0
    assert out["status_list_ratio"] > 0 and out["jwks_ratio"] > 0 and isinstance(out["meets_goal"], bool)
    assert set(out["token_rps_by_workers"]) == {"1", "2"} and all(v > 0 for v in out["token_rps_by_workers"].values())


def test_bench_unlinkable():
    out = bench("bench_unlinkable.py", "--n", "3", "--batch", "5")
    assert out["offline"]["bytes_ratio"] == 5 and out["sd-jwt"]["bytes_ratio"] == 5  # a credential per member
    assert out["offline"]["time_ratio"] > 0 and out["online"]["token_chars"] == 139
