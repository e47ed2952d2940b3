"""The kiosk's yearly self-certification (年度资格认证) in a real chromium, through pcscd + vpcd: the software card
is read and verified through the kiosk's PSAM (Settings.kiosk_psam, a software PSAM folder here) and its PIN is
typed again on the pad; the year's record then says self, card_pin, by this kiosk. A wrong PIN certifies nobody;
a second visit finds the year already certified; a kiosk with no PSAM says it cannot certify."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import click
import httpx
import pytest
from click.testing import CliRunner

from cardlib.cli import install_psam_opener
from cli import main, open_psam
from holder_db import store as db
from holder_db.models import Card, Enrolment, Holder
from tests.ecard.conftest import start_server
from tests.plugins.pcsc import ROOT, sample_holder, sscard_command

from .conftest import axe_check, screenshot

pytestmark = pytest.mark.pcsc
Y = dt.date.today().year


def sscard(*args: object, input: str | None = None) -> dict:
    r = CliRunner().invoke(main, [str(a) for a in args], input=input)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1]) if "--json" in args else {}


@pytest.fixture(scope="module")
def kiosk_site(tmp_path_factory):
    """A server whose kiosk has a software PSAM, the card it can verify, and its holder on record as a pensioner."""
    tmp = tmp_path_factory.mktemp("kiosk-cert")
    keys = tmp / "issuer-keys"
    run = lambda *a: subprocess.run([*sscard_command(), *map(str, a)], cwd=ROOT, check=True, capture_output=True)
    run("keys", "new-issuer", "--out", keys, "--alg", "sm4")
    holder = sample_holder()
    (tmp / "holder.json").write_text(json.dumps(holder, ensure_ascii=False), encoding="utf-8")
    run("sim", "new", "--holder", tmp / "holder.json", "--out", tmp / "card.json", "--keys", keys, "--alg", "sm4")
    install_psam_opener(click.Context(main), open_psam)  # as `sscard serve` does: how a PSAM folder is opened
    srv = start_server(tmp, n_holders=2, kiosk_psam=str(keys))
    with db.session(srv.db_url) as s:
        row = Holder(ssn=holder["ssn"], name=holder["name"], gender=holder["gender"], nation=holder["nation"],
                     birth_date=dt.date.fromisoformat(holder["birth_date"]), region=holder["ssn"][:6])
        s.add(row)
        s.flush()
        s.add(Card(holder_id=row.id, card_no=holder["card_no"], card_id=holder["card_id"],
                   region=holder["card_id"][:6], status="active"))
        s.add(Enrolment(holder_id=row.id, insurance="pension", region="110105", status="active",
                        start_date=dt.date(2010, 1, 1)))
    (tmp / "e.csv").write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                               f"KC-1,{holder['ssn']},pension,{Y}-01,312000,6222020000000001\n", encoding="utf-8")
    sscard("db", "import-entitlements", tmp / "e.csv", "--db", srv.db_url)
    yield srv, holder, tmp / "card.json"
    srv.stop()


def type_pin(kiosk, pin: str) -> None:
    for digit in pin:
        kiosk.click(f".pad button[data-k='{digit}']")
    kiosk.click(".pad button[data-k=ok]")


def record(srv, ssn: str) -> dict:
    return sscard("cert", "show", "--year", Y, "--ssn", ssn, "--db", srv.db_url, "--json")


def test_self_certify_at_the_kiosk_with_card_and_pin(browser, kiosk_site, pcsc, virtual_card):
    srv, holder, card = kiosk_site
    assert record(srv, holder["ssn"])["state"] in ("due", "overdue")
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    kiosk = ctx.new_page()
    kiosk.goto(srv.url + "/pages/kiosk.html")
    kiosk.fill("#key", srv.terminal_key)
    kiosk.click("#setup-form button")
    kiosk.wait_for_selector("#insert:not([hidden])")
    virtual_card(card)
    kiosk.wait_for_selector("#pin:not([hidden])", timeout=10000)
    type_pin(kiosk, holder["pin"])
    kiosk.wait_for_selector("#account:not([hidden])")
    kiosk.click("#certify")
    kiosk.wait_for_selector("#pin:not([hidden])")
    assert kiosk.locator("#pin-h").inner_text() == "资格认证：请再次输入卡密码"
    type_pin(kiosk, "999999")  # a wrong PIN certifies nobody
    kiosk.wait_for_selector("#status.bad")
    assert "wrong PIN" in kiosk.locator("#status").inner_text()
    assert record(srv, holder["ssn"])["state"] != "certified"

    assert kiosk.locator("#pin-h").inner_text() == "资格认证：请再次输入卡密码"  # still certifying: try again
    type_pin(kiosk, holder["pin"])
    kiosk.wait_for_selector("#certified:not([hidden])")
    assert kiosk.locator("#certified-text").inner_text() == f"{Y} 年度资格认证成功"
    detail = kiosk.locator("#certified-detail").inner_text()
    assert holder["ssn"][:6] + "********" + holder["ssn"][-4:] in detail and "counter-01" in detail
    assert holder["ssn"] not in kiosk.evaluate("document.body.innerHTML")
    assert axe_check(kiosk) == []
    screenshot(kiosk, "kiosk-certified-standard-zh")
    kiosk.click("#elder")
    kiosk.click("#lang")
    assert kiosk.locator("#certified-text").inner_text() == f"Certified for {Y}"
    assert axe_check(kiosk) == []
    screenshot(kiosk, "kiosk-certified-elder-en")
    rec = record(srv, holder["ssn"])
    assert (rec["state"], rec["source"], rec["rule"], rec["actor"]) == ("certified", "self", "card_pin",
                                                                        "kiosk:counter-01")

    kiosk.click("#certified-done")  # the screen forgets, the card is still in: the next visit
    kiosk.wait_for_selector("#insert:not([hidden])")
    assert kiosk.locator("#certified-text").inner_text() == ""
    ctx.close()


def test_a_kiosk_without_a_psam_cannot_certify(server):
    r = httpx.post(server.url + "/pages/api/kiosk/certify", json={"pin": "123456"},
                   headers={"X-Terminal-Key": server.terminal_key})
    assert r.status_code == 503 and "PSAM" in r.json()["detail"]
    r = httpx.post(server.url + "/pages/api/kiosk/certify", json={"pin": "12"},
                   headers={"X-Terminal-Key": server.terminal_key})
    assert r.status_code == 422
    assert httpx.post(server.url + "/pages/api/kiosk/certify", json={"pin": "123456"}).status_code == 401
