"""Browser tests of the pages: Playwright driving Debian's chromium (/usr/bin/chromium; Playwright's own browser
download is not used), against a real e-card server (tests/ecard/conftest.start_server) on a free port."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ecard.conftest import LiveServer, start_server

CHROMIUM = os.environ.get("SSCARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SHOTS_ENV = "SSCARD_SCREENSHOTS"  # a folder to write the screenshots to, e.g. docs/screenshots; else each test's tmp_path
_shots: list[Path] = []
AXE = Path(__file__).with_name("data") / "axe.min.js"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: run scripts/bootstrap.sh (Debian package chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("pages"), n_holders=12)
    yield srv
    srv.stop()


def axe_check(page: Any) -> list[dict[str, Any]]:
    """axe-core (vendored from npm into tests/pages/data) on the page as it stands: serious and critical findings."""
    page.evaluate(AXE.read_text() + "\n;true")  # through the debugger protocol: the pages' CSP forbids injected scripts
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                           ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.fixture(autouse=True)
def _screenshot_dir(tmp_path: Path) -> Iterator[None]:
    """Where `screenshot` writes during this test: SSCARD_SCREENSHOTS=DIR, else the test's tmp_path (so a run does
    not rewrite the committed docs/screenshots)."""
    _shots[:] = [Path(os.environ[SHOTS_ENV]) if os.environ.get(SHOTS_ENV) else tmp_path]
    yield
    _shots.clear()


def screenshot(page: Any, name: str) -> Path:
    folder = _shots[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
