"""The holder's e-card page in a real chromium: activation with a counter code, a device key made in the browser
(non-extractable, in IndexedDB), online and offline codes that the Python verifier accepts, the page working with no
network (service worker), elder mode and English, and the holder's own loss report."""
from __future__ import annotations

import io
import time

import httpx
import zxingcpp
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
import pytest

from ecard import status_list
from ecard.keys import Jwks
from ecard.replay import ReplayCache
from ecard.verify import verify

from .conftest import PHONE, axe_check, screenshot


def activation_code(server, card_no: str) -> str:
    r = httpx.post(server.url + "/v1/activation-codes", json={"card_no": card_no},
                   headers={"X-Terminal-Key": server.terminal_key})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def python_verify(server, token: str, cache: ReplayCache | None = None):
    jwks = Jwks.from_json(httpx.get(server.url + "/.well-known/jwks.json").json())
    sl = status_list.load(httpx.get(server.url + "/status-list").text, jwks)
    return verify(token, jwks, sl, time.time(), cache or ReplayCache())


def shown_token(page, pixels: bool = True) -> tuple[str, str]:
    """The code on screen, read from the pixels with zxing-cpp (and checked against the page's own record of it).
    The page may redraw meanwhile (a refresh, the network coming or going): then read it again."""
    page.wait_for_selector("#qr svg", timeout=15000)
    box = page.locator("#qr")
    if not pixels:  # under Playwright's fake clock nothing is painted, so nothing can be captured
        return box.get_attribute("data-token"), box.get_attribute("data-mode")
    for _ in range(5):
        token = box.get_attribute("data-token")
        try:
            image = Image.open(io.BytesIO(page.locator("#qr svg").screenshot()))
        except PlaywrightError:  # the element was replaced while being captured
            continue
        if box.get_attribute("data-token") != token:
            continue
        seen = [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
        assert seen == [token], seen
        return token, box.get_attribute("data-mode")
    raise AssertionError("the code kept changing")


def activate(page, server, holder) -> None:
    page.goto(server.url + "/pages/holder.html")
    page.wait_for_selector("#activate:not([hidden])")
    page.fill("#code", activation_code(server, holder.card_no))
    page.click("#activate-form button[type=submit]")


@pytest.fixture()
def phone(browser):
    context = browser.new_context(**PHONE)
    yield context
    context.close()


def test_activate_show_code_go_offline_and_report_loss(phone, server):
    holder = server.fresh_holder()
    page = phone.new_page()
    logs = []
    page.on("console", lambda m: logs.append(m.text))
    activate(page, server, holder)
    token, mode = shown_token(page)
    assert mode == "online", logs
    result = python_verify(server, token)
    assert result.valid and result.kind == "online", result

    key = page.evaluate("""() => new Promise((res) => { const r = indexedDB.open('sscard-holder');
        r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('device');
        g.onsuccess = async () => { const d = g.result; let exported = true;
          try { await crypto.subtle.exportKey('pkcs8', d.privateKey); } catch (e) { exported = false; }
          res({extractable: d.privateKey.extractable, alg: d.privateKey.algorithm.name, exported, id: d.deviceId}); }; }; })""")
    assert key["extractable"] is False and key["exported"] is False and key["alg"] == "Ed25519", key

    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = phone.new_cdp_session(page)
    errors = [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]
    assert [e for e in errors if e != "in-incognito"] == [], errors  # installable but for Playwright's profile
    phone.set_offline(True)
    page.click("#refresh")
    page.wait_for_selector("#qr[data-mode=offline]")
    token, mode = shown_token(page)
    result = python_verify(server, token)
    assert result.valid and result.kind == "offline", result

    page.reload()  # no network: the service worker serves the page, the code is made in the browser
    page.wait_for_selector("#qr[data-mode=offline]")
    again, _ = shown_token(page)
    assert again != token and python_verify(server, again).valid
    assert page.locator("#mode").inner_text() == "离线码（无网络）"
    phone.set_offline(False)

    page.click("#refresh")
    page.wait_for_selector("#qr[data-mode=online]")  # back online: server-signed codes again
    page.click("#to-more")
    page.click("#loss")
    page.click("#loss-yes")
    page.wait_for_selector("#stopped:not([hidden])")
    assert python_verify(server, again).reason == "revoked"


def test_offline_codes_each_spend_a_credential_of_the_batch(phone, server):
    """Offline, each code is made under its own credential of the batch fetched at activation (its own handle,
    status index and key), so a gate and a shop comparing scans find nothing in common; a spent credential is never
    used again, the automatic refresh spends none, and when the batch is used up the page says to go online."""
    page = phone.new_page()
    activate(page, server, server.fresh_holder())
    shown_token(page)
    phone.set_offline(True)
    cache, seen = ReplayCache(), []
    for _ in range(5):
        previous = page.locator("#qr").get_attribute("data-token") or ""
        page.click("#refresh")
        page.wait_for_function("(p) => { const b = document.querySelector('#qr');"
                               " return b.dataset.mode === 'offline' && b.dataset.token && b.dataset.token !== p; }",
                               arg=previous)
        token, mode = shown_token(page)
        result = python_verify(server, token, cache)
        assert mode == "offline" and result.valid, result
        seen.append(result)
    assert len({r.sub for r in seen}) == 5 and len({r.status_idx for r in seen}) == 5, seen
    page.click("#refresh")
    page.wait_for_function("() => !document.querySelector('#qr').dataset.token")
    assert page.locator("#status").inner_text() == "无网络，且离线码已用完：请联网一次"
    left = page.evaluate("""() => new Promise((res) => { const r = indexedDB.open('sscard-holder');
        r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('device');
        g.onsuccess = () => res([g.result.offline.length, 'credential' in g.result]); }; })""")
    assert left == [0, False], left
    phone.set_offline(False)
    page.click("#refresh")
    page.wait_for_selector("#qr[data-mode=online]")  # online again, and a new batch fetched behind the code
    page.wait_for_function("""() => new Promise((res) => { const r = indexedDB.open('sscard-holder');
        r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('device');
        g.onsuccess = () => res(g.result.offline.length === 5); }; })""")


def test_code_refreshes_before_it_expires(phone, server):
    holder = server.fresh_holder()
    page = phone.new_page()
    page.clock.install()
    activate(page, server, holder)
    first, _ = shown_token(page, pixels=False)
    page.clock.run_for(51_000)  # 60 s codes are replaced 10 s before they expire
    page.wait_for_selector(f'#qr[data-token]:not([data-token="{first}"])')
    second, _ = shown_token(page, pixels=False)
    assert second != first


@pytest.mark.parametrize("mode", ["standard", "elder"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_modes_accessible_and_screenshots(phone, server, mode, lang):
    page = phone.new_page()
    q = f"?lang={lang}&elder={'1' if mode == 'elder' else '0'}"
    page.goto(server.url + "/pages/holder.html" + q)
    page.wait_for_selector("#activate:not([hidden])")
    assert axe_check(page) == []
    screenshot(page, f"holder-activate-{mode}-{lang}")
    page.fill("#code", activation_code(server, server.fresh_holder().card_no))
    page.click("#activate-form button[type=submit]")
    shown_token(page)
    assert axe_check(page) == []
    screenshot(page, f"holder-code-{mode}-{lang}")
    if mode == "elder":
        assert page.locator("#to-more").is_visible() and page.locator("#elder").is_visible()
        assert not page.locator("#refresh").is_visible()  # one action per screen: the code refreshes itself
        size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 22


def test_offline_with_an_expired_credential_shows_no_code(phone, server):
    page = phone.new_page()
    activate(page, server, server.fresh_holder())
    shown_token(page)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.set_offline(True)  # online, the page would renew the credential itself
    page.evaluate("""() => new Promise((res) => { const r = indexedDB.open('sscard-holder');
        r.onsuccess = () => { const st = r.result.transaction('kv', 'readwrite').objectStore('kv');
        const g = st.get('device'); g.onsuccess = () => { const d = g.result; d.credentialExp = 1;
        st.put(d, 'device').onsuccess = () => res(true); }; }; })""")
    page.reload()
    page.wait_for_selector("#status.bad:has-text('离线凭证已过期')")
    assert page.locator("#qr svg").count() == 0
    phone.set_offline(False)


def test_benefits_paid_after_a_payment_run(phone, server, tmp_path):
    """`sscard terminal pay` pays the holder; the page lists it (GET /v1/me/benefits, device-signed) in Chinese and
    English, standard and elder mode, bank account masked and no ID number on screen; with no network it says so."""
    from click.testing import CliRunner

    from cli import main

    holder, other = server.fresh_holder(), server.fresh_holder()
    csv = tmp_path / "e.csv"
    csv.write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                   f"PG-{holder.card_no}-1,{holder.ssn},unemployment,2025-04,150000,6222020000004321\n"
                   f"PG-{holder.card_no}-2,{holder.ssn},work_injury,2025-05,88850,6222020000004321\n"
                   f"PG-{holder.card_no}-3,{other.ssn},unemployment,2025-04,99900,6222020000009999\n", encoding="utf-8")
    cli = CliRunner()
    assert cli.invoke(main, ["db", "import-entitlements", str(csv), "--db", server.db_url]).exit_code == 0
    for period in ("2025-04", "2025-05"):
        paid = cli.invoke(main, ["terminal", "pay", "--period", period, "--db", server.db_url,
                                 "--receipts", str(tmp_path / "rc"), "--json"])
        assert paid.exit_code == 0 and '"paid": [{' in paid.output, paid.output

    page = phone.new_page()
    activate(page, server, holder)
    shown_token(page, pixels=False)
    page.click("#to-more")
    page.click("#to-benefits")
    page.wait_for_selector("#benefits-list li")
    items = page.locator("#benefits-list li").all_inner_texts()
    assert len(items) == 2, items
    assert "工伤保险待遇" in items[0] and "888.50 元" in items[0] and "2025-05" in items[0]
    assert "失业保险金" in items[1] and "1500.00 元" in items[1] and "622202******4321" in items[1]
    assert page.locator("#benefits-total").inner_text() == "共 2 笔，合计 2388.50 元"
    text = page.evaluate("document.body.innerText")
    assert holder.ssn not in text and "6222020000004321" not in text and "999.00" not in text
    assert axe_check(page) == []
    screenshot(page, "holder-benefits-standard-zh")
    page.click("#lang")
    assert "work-injury benefit" in page.locator("#benefits-list li").first.inner_text()
    assert page.locator("#benefits-total").inner_text() == "2 payments, 2388.50 yuan in all"
    assert axe_check(page) == []
    page.click("#elder")
    assert page.locator("#benefits-back").is_visible()
    assert axe_check(page) == []
    screenshot(page, "holder-benefits-elder-en")
    page.click("#lang")
    assert axe_check(page) == []

    page.click("#benefits-back")
    assert page.locator("#benefits-list li").count() == 0  # read when opened, not kept
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.set_offline(True)
    page.click("#to-benefits")
    page.wait_for_selector("#benefits-total:has-text('需要联网')")
    assert page.locator("#benefits-list li").count() == 0
    phone.set_offline(False)
