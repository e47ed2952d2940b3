"""/docs works with no internet: the Swagger UI page names no other host and every asset it loads is served by
the e-card server itself (kiosks and counters are often offline)."""
from __future__ import annotations

import re

import httpx

from tests.ecard.conftest import start_server


def test_docs_page_and_its_assets_are_served_locally(tmp_path):
    srv = start_server(tmp_path, n_holders=1)
    try:
        with srv.client() as c:
            page = c.get("/docs")
            assert page.status_code == 200 and "swagger" in page.text.lower()
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *["']([^"']+)["']""", page.text)
            urls = [a or b for a, b in urls]
            assert urls, page.text
            assert not [u for u in urls if re.match(r"https?://", u)], urls  # no CDN, no other host
            for url in urls:
                got = c.get(url)
                assert got.status_code == 200, (url, got.status_code)
            assert c.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith(
                ("application/javascript", "text/javascript"))
            assert c.get("/openapi.json").json()["openapi"].startswith("3.")
            assert c.get("/redoc").status_code == 404  # ReDoc only comes from a CDN: not offered
    finally:
        srv.stop()
