"""Entitlement ids as the holder ID number: the same id with other data is a conflict naming the fields; --update
corrects it, audited, unless it is already paid; benefit codes come from the benefit-kinds table."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from cli import main
from holder_db import store
from holder_db.models import AuditEntry, Entitlement
from tests.terminal.conftest import add_holder
from tests.terminal.ids import ssn

OLD = ssn("19500101", "111")
HEADER = "entitlement_id,ssn,benefit,period,amount,bank_account\n"


def run(*args: object) -> dict:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return json.loads(r.stdout.splitlines()[-1])


def stored(url: str) -> dict[str, tuple]:
    with store.session(url) as s:
        return {e.entitlement_id: (e.benefit, e.amount, e.status) for e in s.scalars(select(Entitlement))}


def test_entitlement_conflicts_corrections_and_paid_ones(db_url: str, tmp_path: Path) -> None:
    add_holder(db_url, OLD, card_no="A00000001")
    path = tmp_path / "e.csv"
    path.write_text(HEADER + f"E1,{OLD},pension,2026-01,250000,6222000000000001\n"
                             f"E2,{OLD},pension,2026-02,250000,6222000000000001\n"
                             f"E2,{OLD},pension,2026-02,260000,6222000000000001\n"   # same id, other amount
                             f"E3,{OLD},养老金,2026-03,1,6222000000000001\n", encoding="utf-8")
    first = run("db", "import-entitlements", path, "--db", db_url, "--json")
    assert (first["imported"], first["accounted"]) == (2, True)
    reasons = {r["line"]: r["reason"] for r in first["rejected"]}
    assert reasons[4].startswith("conflict: the same entitlement is on line 3 with a different amount")
    assert reasons[5].startswith("benefit: must be a code of the benefit-kinds table (pension,")
    assert run("terminal", "pay", "--period", "2026-01", "--db", db_url, "--json")["total_paid"] == 250000

    path.write_text(HEADER + f"E1,{OLD},pension,2026-01,300000,6222000000000001\n"
                             f"E2,{OLD},pension,2026-02,260000,6222000000000001\n", encoding="utf-8")
    conflicted = run("db", "import-entitlements", path, "--db", db_url, "--json")
    assert [(r["line"], r["reason"].split(" (")[0]) for r in conflicted["rejected"]] == [
        (2, "conflict: the stored entitlement differs in amount but is paid and cannot be corrected"),
        (3, "conflict: the stored entitlement has a different amount")]
    corrected = run("db", "import-entitlements", path, "--db", db_url, "--update", "--actor", "clerk-9", "--json")
    assert corrected["updated"] == 1 and [r["line"] for r in corrected["rejected"]] == [2]
    assert stored(db_url) == {"E1": ("pension", 250000, "paid"), "E2": ("pension", 260000, "due")}
    with store.session(db_url) as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "entitlement.corrected"))
    assert (entry.actor, entry.detail) == ("clerk-9", "amount: 250000 -> 260000 (import line 3)")
    assert entry.subject == OLD[:6] + "*" * 8 + OLD[-4:]
