"""The holder page's access log and family services in a real chromium, over the e-card API's device-signed routes
(GET /v1/me/access-log, GET /v1/family, consent, certify, revoke): bindings made at a counter with `sscard proxy
bind` are listed both ways; the proxy accepts one and certifies their mother for the year (the record names the
proxy), ends another; the access log shows the reads with why and which fields. No full ID number on screen; axe
finds nothing serious in both modes and languages."""
from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from cli import main

from .conftest import PHONE, axe_check, screenshot
from .test_holder import activate, shown_token

Y = dt.date.today().year


def sscard(*args: object) -> dict:
    r = CliRunner().invoke(main, [str(a) for a in args] + ["--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


def text(page) -> str:
    return page.evaluate("document.body.innerText")


def axe_all(page, name: str) -> None:
    """axe in the four combinations, leaving the page as it was (standard, Chinese)."""
    assert axe_check(page) == [], name
    for click in ("#elder", "#lang", "#elder", "#lang"):
        page.click(click)
        assert axe_check(page) == [], (name, click)


def test_family_proxies_certify_for_a_relative_and_the_access_log(browser, server, tmp_path):
    me, mother, son = server.fresh_holder(), server.fresh_holder(), server.fresh_holder()
    (tmp_path / "e.csv").write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                                    f"FAM-{mother.card_no},{mother.ssn},pension,{Y}-01,312000,6222020000000077\n",
                                    encoding="utf-8")
    sscard("db", "import-entitlements", tmp_path / "e.csv", "--db", server.db_url)
    until = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    for_mother = sscard("proxy", "bind", "--officer", "李科员", "--holder", mother.ssn, "--proxy", me.ssn,
                        "--scope", "certification", "--scope", "view_benefits", "--until", until, "--db", server.db_url)
    by_son = sscard("proxy", "bind", "--officer", "李科员", "--holder", me.ssn, "--proxy", son.ssn,
                    "--scope", "view_benefits", "--until", until, "--db", server.db_url)
    assert for_mother["state"] == by_son["state"] == "pending_proxy"

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    activate(page, server, me)
    shown_token(page, pixels=False)
    page.click("#to-more")
    page.click("#to-family")
    page.wait_for_selector("#principals button")
    mine = page.locator(f"#principals button[data-binding='{for_mother['binding_id']}']")
    assert mine.inner_text() == mother.name[0] + "*" * (len(mother.name) - 1) + " · 待代办人同意"
    assert page.locator(f"#proxies button[data-binding='{by_son['binding_id']}']").inner_text().endswith("待代办人同意")
    assert page.locator("#acts").inner_text() == "（无）"
    axe_all(page, "family")
    screenshot(page, "holder-family-standard-zh")

    mine.click()  # accept, then certify her for the year
    page.wait_for_selector("#binding:not([hidden])")
    assert not page.locator("#binding-certify").is_visible()
    page.click("#binding-consent")
    page.wait_for_selector("#binding-certify:not([hidden])")
    assert page.locator("#status").inner_text() == "已同意，代办关系生效"
    assert page.locator("#binding-certify").inner_text() == f"为其完成 {Y} 年度资格认证"
    page.click("#binding-certify")
    page.wait_for_selector("#status.ok:has-text('资格认证')")
    assert page.locator("#status").inner_text() == f"已为 {mother.name[0]}{'*' * (len(mother.name) - 1)} 完成 {Y} 年度资格认证"
    info = page.locator("#binding-info").inner_text()
    assert "生效中" in info and "资格认证" in info and "经办人确认" in info
    axe_all(page, "binding")
    screenshot(page, "holder-certify-relative-standard-zh")
    rec = sscard("cert", "show", "--year", Y, "--ssn", mother.ssn, "--db", server.db_url)
    assert (rec["state"], rec["source"], rec["rule"], rec["proxy"]["name"]) == ("certified", "proxy", "proxy_ecard",
                                                                               me.name)
    page.click("#binding-certify")  # a second time: already certified, said so
    page.wait_for_selector("#status.ok:has-text('认证过')")

    page.click("#binding-back")
    page.wait_for_selector("#acts li:has-text('资格认证')")
    assert f"year {Y}" in page.locator("#acts").inner_text()

    page.click(f"#proxies button[data-binding='{by_son['binding_id']}']")  # the son's binding: ended by me
    page.wait_for_selector("#binding-revoke:not([hidden])")
    assert not page.locator("#binding-consent").is_visible() and not page.locator("#binding-certify").is_visible()
    page.click("#binding-revoke")
    page.wait_for_selector("#confirm-revoke:not([hidden])")
    assert axe_check(page) == []
    page.click("#revoke-yes")
    page.wait_for_selector("#status.ok:has-text('已解除')")
    assert not page.locator("#binding-revoke").is_visible()
    listed = sscard("proxy", "list", "--ssn", me.ssn, "--db", server.db_url)
    assert [b["state"] for b in listed["proxies"]] == ["revoked"] and [b["state"] for b in listed["principals"]] == ["active"]
    for who in (me, mother, son):
        assert who.ssn not in text(page)

    page.click("#binding-back")
    page.click("#family-back")
    page.click("#to-access")  # the reads of my record, newest first, with why and which fields
    page.wait_for_selector("#access-list li")
    log = page.locator("#access-list").inner_text()
    assert "the holder viewed their own record" in log and "card_status" in log and "device:" in log
    assert me.ssn not in text(page)
    axe_all(page, "access log")
    screenshot(page, "holder-access-log-standard-zh")
    page.click("#elder")
    assert page.locator("#access-back").is_visible()
    screenshot(page, "holder-access-log-elder-zh")
    page.click("#access-back")
    assert page.locator("#access-list li").count() == 0  # read when opened, not kept
    phone.close()
