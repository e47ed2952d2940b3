"""The card lifecycle (a table of every pair) and the lookups terminals make, on both engines."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from holder_db import audit, cards, ledger, queries, store
from holder_db.models import CARD_STATES, Card, CardEvent, Enrolment, Holder, MedicalAccount, SharedRecord
from tests.holder_db.test_validate import ssn

LEGAL = {
    ("applied", "produced"), ("applied", "cancelled"),
    ("produced", "issued"), ("produced", "cancelled"),
    ("issued", "active"), ("issued", "lost"), ("issued", "cancelled"),
    ("active", "lost"), ("active", "replaced"), ("active", "cancelled"),
    ("lost", "active"), ("lost", "replaced"), ("lost", "cancelled"),
}


@pytest.mark.parametrize("current, new", list(itertools.product(CARD_STATES, CARD_STATES)))
def test_every_transition(current: str, new: str) -> None:
    if (current, new) in LEGAL:
        cards.check_transition(current, new)
    else:
        with pytest.raises(cards.TransitionError, match=f"{current} cannot become {new}"):
            cards.check_transition(current, new)


@pytest.mark.parametrize("current, new", [("applied", "flying"), ("melted", "active")])
def test_unknown_states(current: str, new: str) -> None:
    with pytest.raises(cards.TransitionError, match="unknown card status"):
        cards.check_transition(current, new)


SSN = ssn("440305", "19700707", "015")


def make_holder(url: str) -> int:
    with store.session(url) as s:
        h = Holder(ssn=SSN, name="陈明", gender="1", nation="01", birth_date=dt.date(1970, 7, 7), region="440305")
        s.add(h)
        s.flush()
        s.add(Card(holder_id=h.id, card_no="A12345678", card_id="440305D15600000500000000AB12CD34", region="440305"))
        s.add(Enrolment(holder_id=h.id, insurance="medical", region="440305", start_date=dt.date(2000, 1, 1)))
        s.add(Enrolment(holder_id=h.id, insurance="pension", region="440305", start_date=dt.date(1995, 3, 1),
                        end_date=dt.date(2020, 1, 1), status="terminated"))
        return h.id  # type: ignore[return-value]


def test_card_through_its_life(db_url: str) -> None:
    make_holder(db_url)
    with store.session(db_url) as s:
        card = queries.card_by_no(s, "A12345678")
        for status in ("produced", "issued", "active", "lost"):
            cards.transition(s, card, status, actor="counter-3", reason="test")
        with pytest.raises(cards.TransitionError):
            cards.transition(s, card, "produced")
    with store.session(db_url) as s:
        assert queries.card_status(s, "A12345678") == "lost"
        events = list(s.scalars(select(CardEvent).order_by(CardEvent.id)))
        assert [(e.from_status, e.to_status) for e in events] == [
            ("applied", "produced"), ("produced", "issued"), ("issued", "active"), ("active", "lost")]
        holder = queries.holder_by_ssn(s, SSN)
        replacement = Card(holder_id=holder.id, card_no="A12345679", region="440305", status="active",
                           replaces_id=queries.card_by_no(s, "A12345678").id)
        s.add(replacement)
        cards.transition(s, queries.card_by_no(s, "A12345678"), "replaced")
    with store.session(db_url) as s:
        assert queries.current_card(s, holder.id).card_no == "A12345679"
        assert queries.card_status_by_ssn(s, [SSN, ssn()]) == {SSN: "active", ssn(): None}


def test_the_database_refuses_an_unknown_status_and_a_second_holder_with_one_ssn(db_url: str) -> None:
    make_holder(db_url)
    with pytest.raises(IntegrityError):
        with store.session(db_url) as s:
            card = queries.card_by_no(s, "A12345678")
            card.status = "melted"
            s.add(card)
    with pytest.raises(IntegrityError):
        with store.session(db_url) as s:
            s.add(Holder(ssn=SSN, name="x", gender="1", nation="01", birth_date=dt.date(1970, 7, 7), region="440305"))


def test_lookups(db_url: str) -> None:
    holder_id = make_holder(db_url)
    with store.session(db_url) as s:
        assert queries.holder_by_ssn(s, SSN.lower()).id == holder_id
        assert queries.holder_by_card_no(s, "A12345678").id == holder_id
        assert queries.holder_by_card_id(s, "440305d15600000500000000ab12cd34").id == holder_id
        assert queries.holder_by_ssn(s, ssn()) is None
        row = queries.holder_row_by_ssn(s.connection(), SSN)
        assert (row["id"], row["name"], row["birth_date"], row["region"]) == (holder_id, "陈明", dt.date(1970, 7, 7),
                                                                             "440305")
        assert queries.holder_row_by_ssn(s.connection(), ssn()) is None
        assert queries.holder_by_card_no(s, "Z00000000") is None
        assert [e.insurance for e in queries.enrolments_of(s, holder_id)] == ["medical", "pension"]
        s.add(SharedRecord(ssn=SSN, kind="death", date=dt.date(2024, 5, 1), source="civil affairs"))
    with store.session(db_url) as s:
        assert queries.death_date(s, SSN) == dt.date(2024, 5, 1)
        assert [r.kind for r in queries.shared_records(s, [SSN])] == ["death"]


def test_medical_usage_reads_counters_and_the_ledger_balance(db_url: str) -> None:
    holder_id = make_holder(db_url)
    account = ledger.open_account(db_url, "medical", f"medical:{holder_id}", holder_id)
    ledger.post(db_url, account, 250_00, "annual_credit", "credit-2026")
    with store.session(db_url) as s:
        assert queries.medical_usage(s, holder_id, 2026) == {"year": 2026, "balance": 25000, "deductible_used": 0,
                                                             "fund_paid": 0}
        s.add(MedicalAccount(holder_id=holder_id, year=2026, deductible_used=800_00, fund_paid=1234, account_id=account))
    with store.session(db_url) as s:
        assert queries.medical_usage(s, holder_id, 2026)["deductible_used"] == 80000


def test_holder_view_masks_and_audits(db_url: str) -> None:
    holder_id = make_holder(db_url)
    with store.session(db_url) as s:
        view = queries.holder_view(s, SSN, actor="terminal:T-9")
    assert view["ssn"] == "440305********" + SSN[-4:]
    assert [c["card_no"] for c in view["cards"]] == ["A12345678"]
    assert SSN not in repr(view)
    with store.session(db_url) as s:
        audit.record(s, "ops", "holder.update", ssn=SSN, detail="address changed")
        rows = audit.entries(s)
    assert [(r.actor, r.sensitive, r.subject) for r in rows] == [("ops", False, view["ssn"]),
                                                                ("terminal:T-9", True, view["ssn"])]
    assert all(SSN not in (r.subject + r.detail) for r in rows)
    assert [r.holder_id for r in rows] == [holder_id, holder_id]
    with store.session(db_url) as s:
        assert audit.entries(s, holder_id=holder_id + 1) == []


@pytest.mark.parametrize("change, field", [
    ({"ssn": SSN[:-1] + ("0" if SSN[-1] != "0" else "1")}, "ssn"),
    ({"birth_date": dt.date(1970, 7, 8)}, "birth_date"),
    ({"gender": "2"}, "gender"),
    ({"ssn": ssn("110199", "19700707", "015")}, "ssn"),
])
def test_holders_written_through_the_orm_are_checked(db_url: str, change: dict, field: str) -> None:
    from holder_db.validate import FieldError

    values = {"ssn": SSN, "name": "陈明", "gender": "1", "nation": "01", "birth_date": dt.date(1970, 7, 7),
              "region": "440305", **change}
    with pytest.raises(FieldError) as info:
        with store.session(db_url) as s:
            s.add(Holder(**values))
    assert info.value.field == field
    with store.session(db_url) as s:
        assert queries.holder_by_ssn(s, values["ssn"]) is None
