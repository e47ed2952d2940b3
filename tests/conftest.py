"""Shared fixtures: a real pcscd with the vpcd virtual reader, and real PostgreSQL and Valkey/Redis servers.

The tests never write into the checkout's var/ (the main job's folder, where a user's keys, card and store live):
the session runs with no SSCARD_ setting of the user's and with SSCARD_VAR in a folder of its own, so a command
left on its defaults writes there; and it fails if anything appeared in var/ all the same."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.plugins.pcsc", "tests.plugins.postgres", "tests.plugins.redis"]

VAR = Path(__file__).resolve().parents[1] / "var"
_before: set[str] = set()
TEST_SETTINGS = {"SSCARD_SCREENSHOTS", "SSCARD_CHROMIUM"}  # the tests' own (tests/pages), not a user's setting


def _var_files() -> set[str]:
    return {str(p.relative_to(VAR)) for p in VAR.rglob("*")} if VAR.exists() else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _before.update(_var_files())
    for name in [n for n in os.environ if n.startswith("SSCARD_") and n not in TEST_SETTINGS]:
        del os.environ[name]
    os.environ["SSCARD_VAR"] = tempfile.mkdtemp(prefix="sscard-test-var-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    new = sorted(_var_files() - _before)
    if new:
        session.config.get_terminal_writer().line(
            f"the tests wrote into the checkout's var/: {', '.join(new[:10])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
