"""Certification (holder_db.certification) and family proxy (holder_db.proxy) on SQLite and PostgreSQL: the silent
pass per rule with its evidence, the report, self and proxy certification, the proxy binding's life, and the
pure rules as tables of cases."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError

from cardlib.idnumber import check_char
from holder_db import certification as cert
from holder_db import models, proxy, store

TODAY = dt.date(2026, 6, 15)
YEAR = 2026


def ssn(i: int, birth: str = "19550101") -> str:
    body = f"110101{birth}{i:03d}"
    return body + check_char(body)


def add(conn, i: int, *, pension: bool = True, benefit: str = "pension") -> tuple[int, str]:
    s = ssn(i)
    hid = conn.execute(insert(models.Holder.__table__).values(
        ssn=s, name=f"人{i}", gender="1" if int(s[16]) % 2 else "2", nation="01", birth_date=dt.date(1955, 1, 1),
        region="110101", created_at=models.utcnow())).inserted_primary_key[0]
    if pension:
        conn.execute(insert(models.Entitlement.__table__).values(
            entitlement_id=f"E{i}", ssn=s, benefit=benefit, period="2026-01", amount=100, bank_account="6222" + "0" * 8
            + f"{i:04d}", status="due", created_at=models.utcnow()))
    return hid, s


def at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.timezone.utc)


def run_all(engine, year=YEAR, today=TODAY, chunk=2):
    counts: dict[str, int] = {}
    for step in cert.steps(engine, chunk=chunk):
        counts[step.rule.id] = counts.get(step.rule.id, 0) + cert.run_step(engine, step, year, today)
    return counts


def test_silent_pass_each_rule_with_its_evidence(db_url):
    engine = store.get_engine(db_url)
    with engine.begin() as conn:
        hosp, _ = add(conn, 1)
        conn.execute(insert(models.Settlement.__table__).values(
            settlement_id="S-HOSP-1", holder_id=hosp, year=YEAR, status="settled", created_at=at(dt.date(2026, 3, 4))))
        kiosk, _ = add(conn, 2)
        conn.execute(insert(models.AuditEntry.__table__).values(at=at(dt.date(2026, 5, 1)), actor="terminal:k1",
                                                                action="pages.kiosk_visit", holder_id=kiosk))
        ride, ride_ssn = add(conn, 3)
        conn.execute(insert(models.SharedRecord.__table__).values(ssn=ride_ssn, kind="activity",
                                                                  date=dt.date(2026, 6, 1), source="transit"))
        other, other_ssn = add(conn, 4)
        conn.execute(insert(models.SharedRecord.__table__).values(ssn=other_ssn, kind="activity",
                                                                  date=dt.date(2026, 2, 1), source="import"))
        idle, _ = add(conn, 5)
        old, _ = add(conn, 6)  # evidence from last year only: not this year's
        conn.execute(insert(models.Settlement.__table__).values(
            settlement_id="S-OLD", holder_id=old, year=2025, status="settled", created_at=at(dt.date(2025, 12, 30))))
        dead, dead_ssn = add(conn, 7)  # a settlement, but a death on record: never certified
        conn.execute(insert(models.Settlement.__table__).values(
            settlement_id="S-DEAD", holder_id=dead, year=YEAR, status="settled", created_at=at(dt.date(2026, 2, 2))))
        conn.execute(insert(models.SharedRecord.__table__).values(ssn=dead_ssn, kind="death", date=dt.date(2026, 4, 1)))
        young, _ = add(conn, 8, pension=False)  # no pension: nothing to certify
        conn.execute(insert(models.Settlement.__table__).values(
            settlement_id="S-YOUNG", holder_id=young, year=YEAR, status="settled", created_at=at(dt.date(2026, 2, 2))))
    counts = run_all(engine)
    assert counts == {"medical_settlement": 1, "card_pin_use": 1, "transit": 1, "shared_activity": 1}
    with engine.connect() as conn:
        rec = cert.record_of(conn, hosp, YEAR, TODAY)
        assert (rec["source"], rec["rule"], rec["evidence_ref"], rec["evidence_date"]) == \
            ("silent", "medical_settlement", "S-HOSP-1", "2026-03-04")
        assert "medical settlement" in rec["explain"]
        assert cert.record_of(conn, kiosk, YEAR, TODAY)["rule"] == "card_pin_use"
        assert cert.record_of(conn, ride, YEAR, TODAY)["rule"] == "transit"
        assert cert.record_of(conn, other, YEAR, TODAY)["rule"] == "shared_activity"
        assert cert.record_of(conn, idle, YEAR, TODAY) == {"year": YEAR, "state": "due"}
        assert cert.record_of(conn, old, YEAR, TODAY)["state"] == "due"
        assert cert.record_of(conn, dead, YEAR, TODAY)["state"] == "deceased"
        assert cert.record_of(conn, young, YEAR, TODAY)["state"] == "not_required"
    assert run_all(engine) == {"medical_settlement": 0, "card_pin_use": 0, "transit": 0, "shared_activity": 0}
    rep = cert.report(engine, YEAR, TODAY).as_dict()
    assert (rep["pensioners"], rep["certified_total"], rep["due"], rep["overdue"], rep["deceased"]) == (7, 4, 2, 0, 1)
    assert rep["certified"]["silent"] == {"medical_settlement": 1, "card_pin_use": 1, "transit": 1,
                                          "shared_activity": 1}
    late = cert.report(engine, YEAR, dt.date(2027, 2, 1)).as_dict()  # the year is over: the uncertified are overdue
    assert (late["overdue"], late["due"]) == (2, 0)
    assert len(late["uncertified_sample"]) == 2 and all("*" in s["holder"] for s in late["uncertified_sample"])
    assert cert.report(engine, 2025, TODAY).as_dict()["pensioners"] == 0  # their pensions began in 2026


def test_self_and_proxy_certification_and_the_binding_life(db_url):
    engine = store.get_engine(db_url)
    with engine.begin() as conn:
        mother, _ = add(conn, 11)
        daughter, d_ssn = add(conn, 12, pension=False)
        me, _ = add(conn, 13)
    with store.write_connection(engine) as conn:
        rec, made = cert.certify(conn, me, YEAR, "card_pin", actor="counter:c1", today=TODAY)
        assert made and rec["source"] == "self" and rec["rule"] == "card_pin"
        again, made = cert.certify(conn, me, YEAR, "ecard_device", actor="device:x", today=TODAY)
        assert not made and again["rule"] == "card_pin"  # the first of the year stands
        with pytest.raises(cert.CertError) as e:
            cert.certify(conn, daughter, YEAR, "card_pin", actor="c", today=TODAY)
        assert e.value.status == 409
        for year in (1999, 2027, "2026"):
            with pytest.raises(cert.CertError) as e:
                cert.certify(conn, me, year, "card_pin", actor="c", today=TODAY)
            assert e.value.status == 400
        b = proxy.bind_by_principal(conn, mother, d_ssn, ["certification"], dt.date(2027, 1, 1), "officer",
                                    "officer:王 for a holder who cannot sign", today=TODAY)
        assert b["state"] == "pending_proxy" and b["principal_consent"] == "officer"
        with pytest.raises(proxy.ProxyError) as e:  # not yet consented by the proxy
            proxy.certify_for(conn, b["binding_id"], daughter, YEAR, "proxy_ecard", "device:d", today=TODAY)
        assert e.value.status == 403
        with pytest.raises(proxy.ProxyError) as e:  # only the proxy accepts
            proxy.consent_by_proxy(conn, b["binding_id"], mother, "device:m", today=TODAY)
        assert e.value.status == 404
        assert proxy.consent_by_proxy(conn, b["binding_id"], daughter, "device:d", today=TODAY)["state"] == "active"
        with pytest.raises(proxy.ProxyError) as e:
            proxy.benefits_for(conn, b["binding_id"], daughter, "device:d", today=TODAY)
        assert e.value.status == 403 and "view_benefits" in str(e.value)
        out = proxy.certify_for(conn, b["binding_id"], daughter, YEAR, "proxy_ecard", "device:d", today=TODAY)
        assert out["source"] == "proxy" and out["proxy"]["name"] == "人12" and out["created"]
        assert [a["act"] for a in proxy.acts_of(conn, mother)] == ["certification"]
        with pytest.raises(proxy.ProxyError) as e:  # expired
            proxy.certify_for(conn, b["binding_id"], daughter, YEAR, "proxy_ecard", "d", today=dt.date(2027, 1, 2))
        assert e.value.status == 403 and "expired" in str(e.value)
        proxy.revoke(conn, b["binding_id"], mother, "counter:c1", today=TODAY)
        with pytest.raises(proxy.ProxyError) as e:
            proxy.certify_for(conn, b["binding_id"], daughter, YEAR, "proxy_ecard", "device:d", today=TODAY)
        assert e.value.status == 403 and "revoked" in str(e.value)
        with pytest.raises(proxy.ProxyError):
            proxy.revoke(conn, b["binding_id"], daughter, "device:d", today=TODAY)  # already revoked: 409
        # the proxy asks first; an unknown ID number is answered alike and leaves nothing
        before = conn.execute(select(models.ProxyBinding.__table__.c.id)).all()
        assert proxy.request_by_proxy(conn, daughter, ssn(99), ["show_code"], dt.date(2027, 1, 1), "d",
                                      today=TODAY) is None
        assert conn.execute(select(models.ProxyBinding.__table__.c.id)).all() == before
        proxy.request_by_proxy(conn, daughter, ssn(11), ["view_benefits"], dt.date(2027, 1, 1), "d", today=TODAY)
        done = proxy.bind_by_principal(conn, mother, d_ssn, ["view_benefits"], dt.date(2027, 1, 1), "card_pin",
                                       "counter:c1", today=TODAY)
        assert done["state"] == "active"
        assert proxy.benefits_for(conn, done["binding_id"], daughter, "d", today=TODAY)["entitlements"][0]["amount"] == 100
    with engine.connect() as conn:
        listed = proxy.bindings_of(conn, daughter, TODAY)
        assert [b["state"] for b in listed["principals"]] == ["revoked", "active"] and listed["proxies"] == []


def test_proxy_acts_are_append_only(db_url):
    engine = store.get_engine(db_url)
    with engine.begin() as conn:
        a, _ = add(conn, 21)
        b_id, b_ssn = add(conn, 22)
    with store.write_connection(engine) as conn:
        b = proxy.bind_by_principal(conn, a, b_ssn, ["certification"], dt.date(2027, 1, 1), "card_pin", "c", today=TODAY)
        proxy.consent_by_proxy(conn, b["binding_id"], b_id, "d", today=TODAY)
        proxy.certify_for(conn, b["binding_id"], b_id, YEAR, "proxy_card_pin", "counter:c1", today=TODAY)
    with pytest.raises(DBAPIError):
        with engine.begin() as conn:
            conn.execute(update(models.ProxyAct.__table__).values(actor="someone else"))


@pytest.mark.parametrize("years, on, grace, held", [
    ({2026}, dt.date(2026, 6, 30), 90, False),
    ({2025}, dt.date(2026, 6, 30), 90, False),
    (set(), dt.date(2026, 3, 31), 90, False),   # within the grace period after last year's deadline
    (set(), dt.date(2026, 4, 1), 90, True),
    (set(), dt.date(2026, 4, 1), 120, False),
    ({2024}, dt.date(2026, 12, 31), 0, True),
    (set(), dt.date(2026, 1, 1), 0, True),
])
def test_overdue_past_grace(years, on, grace, held):
    assert cert.overdue_past_grace(years, on, grace) is held


@pytest.mark.parametrize("text, words", [
    ("", "no [[rule]]"),
    ("[[rule]]\nid='x'\nevidence='phone'\nwindow_days=3", "evidence must be"),
    ("[[rule]]\nid='x'\nevidence='audit'\nwindow_days=3", "needs `actions`"),
    ("[[rule]]\nid='x'\nevidence='settlement'\nwindow_days=0", "window_days"),
    ("[[rule]]\nid='x y'\nevidence='settlement'\nwindow_days=3", "id must be"),
    ("[[rule]]\nid='x'\nevidence='shared_record'\nrecord_kind='death'\nwindow_days=3", "never evidence"),
    ("[[rule]]\nid='card_pin'\nevidence='settlement'\nwindow_days=3", "used twice"),
    ("[[rule]\n", "not TOML"),
])
def test_bad_rules_are_named(text, words):
    with pytest.raises(cert.RuleError) as e:
        cert.parse_rules(text)
    assert words in str(e.value)


def test_the_shipped_rules_cover_every_evidence_kind():
    assert {r.evidence for r in cert.rules()} == set(cert.EVIDENCE_KINDS)
    assert cert.window(cert.rules()[0], 2025, TODAY) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
