"""The pages' own endpoints answer bad requests with a 4xx, never a 500, and never serve files outside the package."""
from __future__ import annotations

import httpx
import pytest


def test_assets_served_gzip_and_nothing_outside(server):
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/pages/vendor/jsQR.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and "jsQR" in r.text
        assert c.get("/pages/vendor/jsQR.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        assert c.get("/pages/holder").headers["location"] == "/pages/holder.html"
        html = c.get("/pages/holder.html")
        assert "default-src 'self'" in html.headers["content-security-policy"]
        for bad in ("/pages/%2e%2e/router.py", "/pages/%2e%2e/%2e%2e/%2e%2e/pyproject.toml", "/pages/nope.js",
                    "/pages/" + "a" * 300, "/pages/static/../router.py"):
            assert c.get(bad).status_code == 404, bad


def test_terminal_endpoints_need_a_key_and_valid_input(server):
    key = {"X-Terminal-Key": server.terminal_key}
    with httpx.Client(base_url=server.url) as c:
        for path in ("/pages/api/terminal", "/pages/api/readers", "/pages/api/kiosk/card"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"X-Terminal-Key": "counter-01.wrong"}).status_code == 401
        assert c.get("/pages/api/terminal", headers=key).json() == {"terminal_id": "counter-01"}
        for body in ({"pin": "12ab"}, {"reader": "x" * 200}, {"extra": 1}, {"pin": "1" * 13}):
            assert c.post("/pages/api/counter/read", json=body, headers=key).status_code == 422, body
        assert c.post("/pages/api/kiosk/visit", json={}, headers=key).status_code == 400
        assert c.get("/pages/api/counter/batches/current", headers=key).status_code == 404
        for body in ({}, {"reader": "a"}, {"reader": "a", "psam_reader": "b", "wait": 0}):
            assert c.post("/pages/api/counter/batches", json=body, headers=key).status_code == 422, body
        assert c.post("/pages/api/counter/batches", json={"reader": "a", "psam_reader": "b"}).status_code == 401
        h = server.fresh_holder()
        r = c.post("/pages/api/counter/card-status", json={"card_no": h.card_no, "status": "applied"}, headers=key)
        assert r.status_code == 409 and "cannot become applied" in r.json()["detail"]
        r = c.post("/pages/api/counter/card-status", json={"card_no": "NOSUCH1", "status": "lost"}, headers=key)
        assert r.status_code == 404
        assert c.post("/pages/api/counter/card-status", json={"card_no": h.card_no, "status": "gone"},
                      headers=key).status_code == 422


def test_terminal_endpoints_share_the_per_terminal_rate_limit(tmp_path):
    """The pages' terminal endpoints count against the app's terminal_limit, like /v1/activation-codes: 429 with
    Retry-After once a terminal's burst is used up, whichever endpoint it called."""
    from tests.ecard.conftest import start_server

    srv = start_server(tmp_path, limits={"terminal_limit": (1, 3)}, n_holders=1)
    try:
        key = {"X-Terminal-Key": srv.terminal_key}
        with srv.client() as c:
            answers = [c.get(p, headers=key) for p in ("/pages/api/terminal", "/pages/api/kiosk/card",
                                                        "/pages/api/terminal", "/pages/api/readers")]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        assert answers[3].status_code == 429 and int(answers[3].headers["retry-after"]) >= 1
    finally:
        srv.stop()


def test_lifecycle_loss_revokes_and_found_again(server):
    """lost through the lifecycle route revokes the e-cards like /v1/cards/loss; found again (lost -> active)."""
    from ecard.device import Device

    key = {"X-Terminal-Key": server.terminal_key}
    h = server.fresh_holder()
    with server.client() as c:
        code = c.post("/v1/activation-codes", json={"card_no": h.card_no}, headers=key).json()["code"]
        dev = Device()
        act = c.post("/v1/activate", json={"code": code, "device_jwk": dev.jwk()})
        assert act.status_code == 201
        dev.device_id = act.json()["device_id"]  # the server names the device
        r = c.post("/pages/api/counter/card-status", json={"card_no": h.card_no, "status": "lost"}, headers=key)
        assert r.status_code == 200 and r.json()["card_status"] == "lost" and r.json()["revoked_indices"]
        assert dev.request(c, "POST", "/v1/token", {}).status_code == 401
        r = c.post("/pages/api/counter/card-status", json={"card_no": h.card_no, "status": "active"}, headers=key)
        assert r.status_code == 200 and r.json()["card_status"] == "active"
        assert c.post("/v1/activation-codes", json={"card_no": h.card_no}, headers=key).status_code == 201


@pytest.mark.pcsc
def test_no_card_in_the_reader_is_a_409(server, pcsc):
    key = {"X-Terminal-Key": server.terminal_key}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/pages/api/kiosk/card", headers=key).json()["present"] is False
        for path, body in (("/pages/api/counter/read", {}), ("/pages/api/kiosk/visit", {"pin": "123456"})):
            r = c.post(path, json=body, headers=key)
            assert r.status_code == 409 and "insert" in r.json()["detail"], r.text
