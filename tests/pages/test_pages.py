"""Every page on first load, in both modes and both languages: axe-core finds no serious or critical violation,
the page and everything it loads stays under 300 KB on the wire, nothing comes from another origin."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .conftest import PHONE, axe_check, screenshot

BUDGET = 300 * 1024
FIRST_SCREEN = {"holder": "#activate:not([hidden])", "verifier": "#trust:not(:empty)",
                "counter": "#signin:not([hidden])", "kiosk": "#setup:not([hidden])"}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("mode", ["standard", "elder"])
@pytest.mark.parametrize("name", ["holder", "verifier", "counter", "kiosk"])
def test_first_load(browser, server, name, mode, lang):
    context = browser.new_context(**(PHONE if name == "holder" else {"viewport": {"width": 1024, "height": 768}}))
    page = context.new_page()
    responses = []
    page.on("requestfinished", lambda req: responses.append(req))
    query = f"?lang={lang}&elder={'1' if mode == 'elder' else '0'}" + ("&camera=0" if name == "verifier" else "")
    page.goto(server.url + f"/pages/{name}.html" + query)
    page.wait_for_selector(FIRST_SCREEN[name])
    page.wait_for_load_state("networkidle")
    assert axe_check(page) == []
    wire = 0
    for req in responses:
        assert urlsplit(req.url).netloc == urlsplit(server.url).netloc, req.url
        sizes = req.sizes()
        wire += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    print(f"\n{name} ({mode}, {lang}): {len(responses)} requests, {wire / 1024:.1f} KB on first load")
    assert 0 < wire < BUDGET
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    if name != "holder":
        screenshot(page, f"{name}-first-{mode}-{lang}")
    context.close()
