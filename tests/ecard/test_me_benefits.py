"""`GET /v1/me/benefits`: the holder's own payments, read through holder_db after a real `sscard terminal pay` run,
newest first, only theirs, bank account masked and no ID number in the answer; device-signed like /v1/me, so no
proof (or another's) is a 401, not a 500. On SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from ecard.device import Device, sign_request
from tests.ecard.test_server import activate


def run(*args: object):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def pay(live, tmp_path, rows: list[tuple[str, str, str, str, int, str]], periods: list[str]) -> list[dict]:
    """Entitlements imported with `sscard db import-entitlements`, then each period paid by `sscard terminal pay`."""
    csv = tmp_path / "entitlements.csv"
    csv.write_text("entitlement_id,ssn,benefit,period,amount,bank_account\n"
                   + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    run("db", "import-entitlements", csv, "--db", live.db_url)
    out = []
    for period in periods:
        result = run("terminal", "pay", "--period", period, "--db", live.db_url, "--receipts", tmp_path / "rc", "--json")
        out.append(json.loads(result.output.splitlines()[-1]))
    return out


def device_of(live, holder) -> Device:
    with live.client() as c:
        return activate(live, c, holder)


def test_the_holders_own_payments_masked_newest_first(live, tmp_path):
    me, other = live.fresh_holder(), live.fresh_holder()
    tag = me.card_no  # entitlement ids unique per engine run
    done = pay(live, tmp_path, [
        (f"{tag}-U1", me.ssn, "unemployment", "2025-01", 150000, "6222020000001234"),
        (f"{tag}-W2", me.ssn, "work_injury", "2025-02", 88800, "6222020000001234"),
        (f"{tag}-U3", me.ssn, "unemployment", "2025-03", 150000, "6222020000001234"),  # due, not paid yet
        (f"{tag}-O1", other.ssn, "unemployment", "2025-01", 99900, "6222020000009999"),
    ], ["2025-01", "2025-02"])
    assert [len(d["paid"]) for d in done] == [2, 1], done
    dev = device_of(live, me)
    with live.client() as c:
        r = dev.request(c, "GET", "/v1/me/benefits")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(b["benefit"], b["period"], b["amount"]) for b in body["benefits"]] == [
        ("work_injury", "2025-02", 88800), ("unemployment", "2025-01", 150000)]
    assert body["total"] == 238800
    assert body["benefits"][1]["benefit_name"].startswith("失业保险金")
    assert {b["bank_account_masked"] for b in body["benefits"]} == {"622202******1234"}
    assert me.ssn not in r.text and "6222020000001234" not in r.text and other.ssn not in r.text

    stranger = device_of(live, other)  # the other holder sees only their own
    with live.client() as c:
        theirs = stranger.request(c, "GET", "/v1/me/benefits").json()
    assert [(b["period"], b["amount"]) for b in theirs["benefits"]] == [("2025-01", 99900)]


def test_a_holder_with_no_payments_gets_an_empty_list(live):
    dev = device_of(live, live.fresh_holder())
    with live.client() as c:
        r = dev.request(c, "GET", "/v1/me/benefits")
    assert r.status_code == 200 and r.json() == {"benefits": [], "total": 0}


@pytest.mark.parametrize(("auth", "status"), [(None, 401), ("Device x.y.z", 401), ("Bearer abc", 401),
                                              ("Device " + "A" * 5000, 422)])
def test_without_a_device_proof_it_is_a_4xx(live, auth, status):
    with live.client() as c:
        r = c.get("/v1/me/benefits", headers={"Authorization": auth} if auth else {})
    assert r.status_code == status, r.text


def test_a_proof_for_another_path_is_refused(live):
    dev = device_of(live, live.fresh_holder())
    proof = sign_request(dev.key, "GET", "/v1/me", b"", kid=dev.device_id)  # signed for /v1/me, sent here
    with live.client() as c:
        r = c.get("/v1/me/benefits", headers={"Authorization": "Device " + proof})
    assert r.status_code == 401, r.text
