"""Shared fixtures: a real pcscd with the vpcd virtual reader, and real PostgreSQL and Valkey/Redis servers.

The session also checks that the tests wrote nothing into the checkout's var/ (the main job's folder, where a
user's keys, card and store live): a test that needs such files makes them under its own tmp_path."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.plugins.pcsc", "tests.plugins.postgres", "tests.plugins.redis"]

VAR = Path(__file__).resolve().parents[1] / "var"
_before: set[str] = set()


def _var_files() -> set[str]:
    return {str(p.relative_to(VAR)) for p in VAR.rglob("*")} if VAR.exists() else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _before.update(_var_files())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    new = sorted(_var_files() - _before)
    if new:
        session.config.get_terminal_writer().line(
            f"the tests wrote into the checkout's var/: {', '.join(new[:10])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
