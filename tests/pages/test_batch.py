"""The counter page starts a personalization batch on the hopper (the simulated card printer in vpcd slot 0, the
PSAM in slot 1, both through pcscd) for the cards due in holder_db, and watches its progress to the end."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from holder_db import store as db
from holder_db.models import Card, Holder
from tests.services.conftest import sscard, start_server
from tests.services.test_personalize import HOLDERS

from .conftest import axe_check, screenshot

pytestmark = pytest.mark.pcsc


def test_batch_from_the_counter_page(browser, server, pcsc, tmp_path, monkeypatch):
    monkeypatch.setenv("SSCARD_BATCHES", str(tmp_path / "batches"))
    with db.session(server.db_url) as s:
        for i, h in enumerate(HOLDERS[:2]):
            row = Holder(ssn=h["ssn"], name=h["name"], gender=h["gender"], nation=h["nation"],
                         birth_date=dt.date.fromisoformat(h["birth_date"]), birthplace=h["birthplace"],
                         region="110100")
            s.add(row)
            s.flush()
            s.add(Card(holder_id=row.id, card_no=f"P{i + 1:08d}", region="110100", status="applied"))
    keys, hopper = tmp_path / "issuer", tmp_path / "hopper"
    assert sscard("keys", "new-issuer", "--out", str(keys), "--alg", "sm4").returncode == 0
    made = sscard("sim", "blanks", "--keys", str(keys), "--alg", "sm4", "--count", "2", "--out", str(hopper), "--json")
    assert made.returncode == 0 and len(json.loads(made.stdout)["blanks"]) == 2, made.stderr
    printer = start_server(["sim", "serve", "--hopper", str(hopper)], slot=0)
    psam = start_server(["sim", "psam", "--keys", str(keys)], slot=1)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 1100})
        page.goto(server.url + "/pages/counter.html")
        page.fill("#key", server.terminal_key)
        page.click("#signin-form button")
        page.wait_for_selector("#batch:not([hidden])")
        page.select_option("#hopper", printer.reader)
        page.select_option("#psam", psam.reader)
        page.click("#batch-start")
        page.wait_for_selector("#batch-state[data-state]:not([data-state=running])", timeout=120000)
        assert page.locator("#batch-state").get_attribute("data-state") == "done", page.locator("#batch-state").inner_text()
        assert page.locator("#batch-state").inner_text() == "完成：制卡 2 张，失败 0，等待 0"
        assert page.evaluate("document.getElementById('batch-progress').value") == 2
        assert axe_check(page) == []
        screenshot(page, "counter-batch-standard-zh")
    finally:
        printer.stop()
        psam.stop()
    with db.session(server.db_url) as s:
        cards = {c.card_no: c for c in s.exec(select(Card).where(Card.card_no.in_(["P00000001", "P00000002"])))}
    assert {c.status for c in cards.values()} == {"produced"} and all(c.card_id for c in cards.values())
