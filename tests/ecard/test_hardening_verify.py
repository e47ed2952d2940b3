"""Never a traceback, whatever the input, through the real CLI: bytes that are not UTF-8 on standard input (under a
UTF-8 locale whose decoding is strict, and under the default surrogate-escaping one), and key or status files nested
too deeply for Python's JSON parser."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecard import tokens
from ecard.keys import b64u

SSCARD = str(Path(sys.executable).with_name("sscard"))
# PYTHONIOENCODING=utf-8 makes stdin decode strictly, as a UTF-8 locale that is not C.UTF-8 does; the second
# environment is C.UTF-8 as it is (Python escapes undecodable bytes there).
LOCALES = {"strict": {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}, "c_utf8": {"LC_ALL": "C.UTF-8"}}
NOT_UTF8 = b"\xff\xfe\xc3(SSC1:\x80\n"
DEEP = "[" * 100_000 + "]" * 100_000


def sscard(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONIOENCODING"}
    return subprocess.run([SSCARD, *args], input=stdin, capture_output=True, timeout=60, env={**base, **(env or {})})


@pytest.fixture(scope="module")
def site(site):
    """The shared site plus key and status files nested too deeply for Python's JSON parser."""
    _, root = site
    (root / "deep.json").write_text(DEEP, encoding="utf-8")
    # a status list whose (unsigned) header is nested too deeply: it is read before any signature is checked
    (root / "deep.jwt").write_text(b64u(DEEP.encode()) + ".e30.AA", encoding="utf-8")
    return site


def code(keys) -> str:
    return tokens.issue_online(keys.current, os.urandom(10), 1, int(time.time()))


@pytest.mark.parametrize("locale", sorted(LOCALES))
def test_qr_verify_stdin_not_utf8_is_malformed_exit_1(site, locale):
    _, root = site
    r = sscard("qr", "verify", "-", "--jwks", str(root / "jwks.json"), stdin=NOT_UTF8, env=LOCALES[locale])
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    assert r.returncode == 1 and r.stdout.startswith(b"invalid: malformed:")
    r = sscard("qr", "verify", "-", "--jwks", str(root / "jwks.json"), "--json", stdin=NOT_UTF8,
               env=LOCALES[locale])
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "malformed"


@pytest.mark.parametrize("locale", sorted(LOCALES))
def test_gate_answers_a_line_not_utf8_and_goes_on(site, tmp_path, locale):
    keys, root = site
    first, second = code(keys), code(keys)
    lines = first.encode() + b"\n" + NOT_UTF8 + second.encode() + b"\n" + b"\x80" * 100_000 + b"\n" + first.encode()
    r = sscard("terminal", "gate", "--jwks", str(root / "jwks.json"), "--status-list", str(root / "status.jwt"),
               "--cache", str(tmp_path / "cache"), stdin=lines, env=LOCALES[locale])
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    answers = r.stdout.decode("ascii").splitlines()
    assert r.returncode == 0
    assert [a.split(":")[0] for a in answers] == ["ADMIT online", "REFUSE malformed", "ADMIT online",
                                                  "REFUSE malformed", "REFUSE replayed"]


def test_deeply_nested_jwks_is_the_documented_exit_3(site, tmp_path):
    keys, root = site
    r = sscard("qr", "verify", code(keys), "--jwks", str(root / "deep.json"))
    assert b"Traceback" not in r.stderr and b"RecursionError" not in r.stdout
    assert r.returncode == 3 and r.stdout.startswith(b"invalid: bad_key:")
    r = sscard("qr", "verify", code(keys), "--jwks", str(root / "jwks.json"), "--status-list", str(root / "deep.jwt"))
    assert r.returncode == 3 and r.stdout.startswith(b"invalid: malformed:"), r.stdout
    gate = sscard("terminal", "gate", "--jwks", str(root / "deep.json"), "--cache", str(tmp_path / "c"))
    assert gate.returncode == 1 and b"no issuer keys" in gate.stdout + gate.stderr and b"Traceback" not in gate.stderr
