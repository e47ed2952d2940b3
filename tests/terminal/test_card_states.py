"""One holder, one answer: for each set of cards a holder may have, payment, settlement, the identity check and the
e-card server agree on whether the holder may be served (holder_db.standing), on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from holder_db import store
from holder_db.ecard import EcardStore, StoreError
from holder_db.models import Card, Holder, SharedRecord
from terminal import identify, payment
from terminal import settle as flow
from terminal.dbstore import DbStore
from terminal.risk import Entitlement
from terminal.settlement import parse_bill, parse_policy

from .conftest import add_holder
from .ids import ssn
from .test_settlement import POLICY_TOML

TODAY = dt.date(2026, 6, 1)

# cards, oldest first -> may the holder be served (and, when not, a word the refusal must contain)
TABLE = [
    (["active"], True, ""),
    (["lost"], False, "lost"),
    (["cancelled"], False, "cancelled"),
    (["applied"], False, "applied"),
    (["produced"], False, "produced"),
    (["issued"], False, "issued"),
    (["active", "applied"], True, ""),  # the replacement is on its way: the card in use still speaks
    (["replaced", "active"], True, ""),
    (["replaced", "issued"], False, "issued"),
    (["lost", "applied"], False, "applied"),  # a replacement for a lost card, not produced yet
    (["active", "cancelled"], True, ""),
    (["replaced"], False, "replaced"),
    ([], False, "no card"),
]


def _holder_with(url: str, who: str, statuses: list[str]) -> None:
    add_holder(url, who)
    with store.session(url) as s:
        holder_id = s.exec(select(Holder.id).where(Holder.ssn == who)).one()
        for i, status in enumerate(statuses):
            s.add(Card(holder_id=holder_id, card_no=f"{who[-6:]}{i:03d}", region=who[:6], status=status))


def answers(url: str, who: str) -> dict[str, tuple[bool, str]]:
    db = DbStore(url)
    out: dict[str, tuple[bool, str]] = {}

    e = Entitlement(f"E-{who}", who, "unemployment", "2026-05", 100, "6222000000000001")
    decision = payment.plan([e], already_paid=set(), records=db.records({who}), card_status=db.card_status({who}),
                            holders_of_account={})[0]
    out["payment"] = (decision.action == "pay", " ".join(decision.reasons))

    policy = parse_policy(POLICY_TOML)
    bill = parse_bill({"level": "1", "items": [{"code": "A", "category": "A", "amount": 1000}]}, policy)
    try:
        flow.settle_db(db, who, policy, bill, year=2026)
        out["settlement"] = (True, "")
    except flow.SettleError as exc:
        out["settlement"] = (False, str(exc))

    answer = identify.judge(identify.Presented("card", ssn=who), identify.record_of(db.on_record(ssn=who)), TODAY)
    out["identity"] = (answer.ok, " ".join(c.why for c in answer.checks if not c.ok))

    try:
        EcardStore(url).holder_for_activation(ssn=who)
        out["ecard"] = (True, "")
    except StoreError as exc:
        out["ecard"] = (False, str(exc))
    return out


@pytest.mark.parametrize("statuses,served,word", TABLE, ids=["+".join(t[0]) or "none" for t in TABLE])
def test_every_flow_gives_the_same_answer(db_url, statuses, served, word):
    who = ssn("19700101", "321")
    _holder_with(db_url, who, statuses)
    got = answers(db_url, who)
    assert {k: v[0] for k, v in got.items()} == dict.fromkeys(got, served), got
    if not served:
        for flow_name in ("settlement", "identity", "ecard"):
            assert word in got[flow_name][1], (flow_name, got[flow_name])
        assert got["payment"][1] == "card_not_active"


def test_a_death_on_record_refuses_everywhere(db_url):
    who = ssn("19700101", "321")
    _holder_with(db_url, who, ["active"])
    with store.session(db_url) as s:
        s.add(SharedRecord(ssn=who, kind="death", date=dt.date(2026, 1, 2), source="civil affairs"))
    got = answers(db_url, who)
    assert not any(v[0] for v in got.values()), got
    assert "deceased" in got["settlement"][1] and "deceased" in got["ecard"][1]
    assert "deceased" in got["payment"][1] and "death" in got["identity"][1]


def test_settlement_needs_medical_enrolment(db_url):
    who = ssn("19700101", "321")
    add_holder(db_url, who, card_no="B00000001", enrolments=("pension",))
    got = answers(db_url, who)
    assert got["settlement"] == (False, "the holder has no active medical enrolment")
    assert got["ecard"][0] and got["identity"][0] and got["payment"][0]
