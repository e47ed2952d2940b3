"""The whole story in browsers, through the real PC/SC stack: the counter page reads the software card (vpcd) and
checks it against the store, hands out an activation code; the holder page activates with it and shows a QR; the
verifier page scans that QR through the camera and admits it; after the counter reports the card lost, it refuses.
Then the kiosk: card in, PIN on the pad, benefits and medical account, receipt, card out and nothing left."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from holder_db import store as db
from holder_db.models import Card, Enrolment, Entitlement, Holder
from terminal.dbstore import DbStore
from tests.plugins.pcsc import sample_holder, start_card_server

from .camera import camera_args, image_video
from .conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, axe_check, screenshot

pytestmark = pytest.mark.pcsc


@pytest.fixture(scope="module")
def sample(server):
    """docs/sample-holder.json in the store, with the card the software card carries, an account and benefits."""
    h = sample_holder()
    with db.session(server.db_url) as s:
        row = Holder(ssn=h["ssn"], name=h["name"], gender=h["gender"], nation=h["nation"],
                     birth_date=dt.date.fromisoformat(h["birth_date"]), region=h["ssn"][:6])
        s.add(row)
        s.flush()
        s.add(Card(holder_id=row.id, card_no=h["card_no"], card_id=h["card_id"], region=h["card_id"][:6],
                   status="active"))
        s.add(Enrolment(holder_id=row.id, insurance="medical", region="110105", status="active",
                        start_date=dt.date(2020, 1, 1)))
        s.add(Entitlement(entitlement_id="E-2026-01", ssn=h["ssn"], benefit="pension", period="2026-01",
                          amount=312000, bank_account="6222020000000001", status="paid"))
    DbStore(server.db_url).credit_medical(h["ssn"], 123456, "allocation:2026")
    return h


def page_text(page) -> str:
    return page.evaluate("() => document.body.innerText")


def test_counter_holder_verifier_loss(browser, playwright, server, sample, sample_card, virtual_card, tmp_path):
    reader = virtual_card(sample_card)
    desk = browser.new_context(viewport={"width": 1100, "height": 900})
    counter = desk.new_page()
    counter.goto(server.url + "/pages/counter.html")
    counter.fill("#key", server.terminal_key)
    counter.click("#signin-form button")
    counter.wait_for_selector("#desk:not([hidden])")
    counter.select_option("#reader", reader)
    counter.fill("#pin", sample["pin"])
    counter.click("#read")
    counter.wait_for_selector("#card:not([hidden])")
    assert counter.locator("#v-name").inner_text() == sample["name"]
    assert counter.locator("#v-id_number").inner_text() == sample["ssn"][:6] + "********" + sample["ssn"][-4:]
    assert sample["ssn"] not in page_text(counter)
    assert "不通过" not in counter.locator("#checks").inner_text()
    assert axe_check(counter) == []
    counter.click("#issue")
    counter.wait_for_selector("#activation:not(:empty)")
    code = counter.locator("#activation").inner_text()
    screenshot(counter, "counter-standard-zh")

    phone = browser.new_context(**PHONE)
    holder = phone.new_page()
    holder.goto(server.url + "/pages/holder.html")
    holder.fill("#code", code)
    holder.click("#activate-form button[type=submit]")
    holder.wait_for_selector("#qr svg")
    token = holder.locator("#qr").get_attribute("data-token")

    video = image_video(holder.locator("#qr svg").screenshot(), tmp_path / "holder.y4m")  # the phone's own screen
    gate = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera_args(video))
    try:
        ctx = gate.new_context()
        ctx.grant_permissions(["camera"])
        verifier = ctx.new_page()
        verifier.goto(server.url + "/pages/verifier.html")
        verifier.wait_for_selector("#decision[data-reason]", timeout=30000)
        first = verifier.evaluate("() => window.lastDecision")
        assert first["reason"] == "ok", first
        print(f"\nverifier: {first['reason']} {first['latency_ms']:.2f} ms after decoding")

        counter.click("#loss")
        counter.wait_for_selector("#status.ok:has-text('已挂失')")
        assert counter.locator("#v-card_status").inner_text() == "挂失"

        later = gate.new_context()  # another gate, or this one after its next trust refresh
        later.grant_permissions(["camera"])
        v2 = later.new_page()
        v2.goto(server.url + "/pages/verifier.html")
        v2.wait_for_selector("#decision[data-reason]", timeout=30000)
        assert v2.evaluate("() => window.lastDecision.reason") == "revoked"
        assert v2.locator("#decision").inner_text().startswith("拒绝")
        screenshot(v2, "verifier-refuse-standard-zh")
    finally:
        gate.close()
    holder.click("#refresh")
    holder.wait_for_selector("#stopped:not([hidden])")
    counter.click("#elder")
    counter.click("#lang")
    assert axe_check(counter) == []
    screenshot(counter, "counter-elder-en")
    desk.close()
    phone.close()


def test_kiosk_card_pin_account_receipt_and_reset(browser, server, sample, sample_card, pcsc, virtual_card):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    kiosk = ctx.new_page()
    kiosk.goto(server.url + "/pages/kiosk.html?idle=4")
    kiosk.fill("#key", server.terminal_key)
    kiosk.click("#setup-form button")
    kiosk.wait_for_selector("#insert:not([hidden])")
    assert axe_check(kiosk) == []
    screenshot(kiosk, "kiosk-insert-standard-zh")

    card = start_card_server(sample_card)
    kiosk.wait_for_selector("#pin:not([hidden])", timeout=10000)
    for digit in "999999":
        kiosk.click(f".pad button[data-k='{digit}']")
    kiosk.click(".pad button[data-k=ok]")
    kiosk.wait_for_selector("#status.bad")
    assert "wrong PIN" in kiosk.locator("#status").inner_text()
    for digit in sample["pin"]:
        kiosk.click(f".pad button[data-k='{digit}']")
    assert kiosk.locator("#dots").inner_text() == "●" * len(sample["pin"])
    assert axe_check(kiosk) == []
    kiosk.click(".pad button[data-k=ok]")
    kiosk.wait_for_selector("#account:not([hidden])")
    assert kiosk.locator("#balance").inner_text() == "¥1234.56"
    assert "3120.00" in kiosk.locator("#benefits").inner_text()
    assert axe_check(kiosk) == []
    screenshot(kiosk, "kiosk-account-standard-zh")
    kiosk.click("#print")
    receipt = kiosk.locator("#receipt-text").inner_text()
    assert sample["ssn"][:6] + "********" + sample["ssn"][-4:] in receipt and "张**" in receipt
    assert sample["ssn"] not in page_text(kiosk) and sample["name"] not in page_text(kiosk)
    kiosk.click("#elder")
    screenshot(kiosk, "kiosk-receipt-elder-zh")

    card.stop()  # the card is pulled: the kiosk forgets everything and waits for the next one
    kiosk.wait_for_selector("#insert:not([hidden])", timeout=10000)
    left = kiosk.evaluate("() => ({text: document.body.innerText, html: document.body.innerHTML,"
                          " local: JSON.stringify(localStorage), session: Object.keys(sessionStorage)})")
    for secret in ("张", "1234.56", sample["card_no"][-4:], sample["ssn"][-4:]):
        assert secret not in left["html"], secret
    assert left["local"] == "{}" and left["session"] == ["sscard.kiosk.key"]

    # inactivity: a holder who walks away leaves the card in; the screen clears itself
    virtual_card(sample_card)
    kiosk.wait_for_selector("#pin:not([hidden])", timeout=10000)
    kiosk.click(".pad button[data-k='1']")
    kiosk.wait_for_selector("#insert:not([hidden])", timeout=10000)
    assert kiosk.locator("#dots").inner_text() == ""
    ctx.close()
