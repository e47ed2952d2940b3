"""Identity judging: every check listed with its reason, masked ID, a table of cases."""
from __future__ import annotations

import datetime as dt

import pytest

from terminal.identify import OnRecord, Presented, judge

from .ids import ssn

SSN, OTHER = ssn("19700101", "123"), ssn("19700101", "245")
TODAY = dt.date(2026, 1, 15)
GOOD = OnRecord(True, SSN, "active", "A12345678", "ABCD")
CARD = Presented("card", SSN, "A12345678", "abcd", genuine=True)


def failed(answer):
    return [c.name for c in answer.checks if not c.ok]


CASES = [
    ("all good", CARD, GOOD, []),
    ("counterfeit", Presented("card", SSN, "A12345678", "ABCD", genuine=False, genuine_why="internal auth -21"),
     GOOD, ["genuine"]),
    ("wrong pin", Presented("card", SSN, "A12345678", pin_ok=False, pin_why="wrong PIN, 2 tries left"), GOOD, ["pin"]),
    ("lost card", CARD, OnRecord(True, SSN, "lost", "A12345678", "ABCD"), ["card_status"]),
    ("no card on record", CARD, OnRecord(True, SSN, None, None, None), ["card_status", "card_no_matches"]),
    ("dead", CARD, OnRecord(True, SSN, "active", "A12345678", "ABCD", dt.date(2025, 3, 1)), ["alive"]),
    ("death recorded for a future date is not yet", CARD,
     OnRecord(True, SSN, "active", "A12345678", "ABCD", dt.date(2026, 2, 1)), []),
    ("card of someone else", Presented("card", OTHER, "A12345678", "ABCD"), GOOD, ["id_matches"]),
    ("replaced card", Presented("card", SSN, "A00000001", "ABCD"), GOOD, ["card_no_matches"]),
    ("card id differs", Presented("card", SSN, "A12345678", "FFFF"), GOOD, ["card_id_matches"]),
    ("unknown holder", CARD, OnRecord(False), ["holder_known"]),
    ("qr code, revoked", Presented("qr", genuine=False, genuine_why="revoked: card is revoked"), GOOD, ["genuine"]),
]


@pytest.mark.parametrize("name,presented,record,bad", CASES, ids=[c[0] for c in CASES])
def test_judge(name, presented, record, bad):
    answer = judge(presented, record, TODAY)
    assert failed(answer) == bad
    assert answer.ok is (not bad)
    data = answer.as_dict()
    assert all(r["why"] for r in data["reasons"])
    assert SSN not in str(data) and SSN not in answer.as_text()
    if record.found:
        assert data["holder"] == SSN[:6] + "*" * 8 + SSN[-4:]
