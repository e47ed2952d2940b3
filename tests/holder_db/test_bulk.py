"""Bulk import on both engines: every good row in, every bad row named by line, nothing twice."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cli import main
from holder_db import bulk, seed, store
from holder_db.models import AuditEntry, Holder
from holder_db.validate import holder_row
from tests.holder_db.test_validate import ssn

HEADER = "ssn,name,gender,nation,birth_date,birthplace,region"
A, B, C = ssn(seq="011"), ssn("440305", "19900515", "022"), ssn("310101", "19551231", "034")
FULL_ID = re.compile(r"\d{17}[\dXx]")


def mistakes_file(path: Path) -> dict[int, str]:
    """A file with good rows, duplicates and one of each mistake; returns line -> the field the reason names."""
    lines = [
        "\ufeff" + HEADER,                                          # 1
        f"{A},张伟,1,01,19800101,110101,110101",                     # 2 good
        f"{B},李娜,2,01,19900515,440305,440305",                     # 3 good
        f"{A},张伟,1,01,19800101,110101,110101",                     # 4 duplicate of line 2: skipped
        f"{A[:17]}{'1' if A[17] != '1' else '2'},王强,1,01,19800101,110101,110101",  # 5 check digit
        f"{C},赵敏,1,01,19551231,310101,310101",                     # 6 gender vs 17th digit
        f"{C},赵敏,2,60,19551231,310101,310101",                     # 7 nation
        f"{C},赵敏,2,01,1955-12-31,310101,310101",                   # 8 birth_date format
        f"{C},赵敏,2,01,19551230,310101,310101",                     # 9 birth_date vs ID
        f"{C},赵敏,2,01,19551231,310101,31010",                      # 10 region
        f"{C},赵敏,2,01,19551231,310101,310199",                     # 11 region unknown
        f"{C},,2,01,19551231,310101,310101",                         # 12 name
        f"{C},赵敏,2,01,19551231",                                   # 13 too few fields
        "",                                                          # 14 blank: ignored
        f'{C},"赵\n敏",2,01,19551231,310101,310101',                  # 15-16 a quoted line break: one row, 2 lines
        f"{C},赵敏,2,01,19551231,310101,310101",                     # 17 good
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {5: "ssn", 6: "gender", 7: "nation", 8: "birth_date", 9: "birth_date", 10: "region", 11: "region",
            12: "name", 13: "row", 15: "row"}


def test_import_a_file_full_of_mistakes_twice(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "holders.csv"
    expected = mistakes_file(path)
    engine = store.get_engine(db_url)
    result = bulk.import_csv(engine, path, bulk.HOLDER_IMPORT, batch_size=3)
    assert (result.imported, result.skipped) == (3, 1)
    assert {r.line: r.reason.split(":")[0] for r in result.rejected} == expected
    assert result.rows == 16 - 1 and result.accounted  # 16 data lines, one of them blank
    assert "line 15 runs to line 16" in next(r.reason for r in result.rejected if r.line == 15)
    for r in result.rejected:
        assert not FULL_ID.search(r.reason), r.reason
    with store.session(db_url) as s:
        assert sorted(s.scalars(select(Holder.ssn))) == sorted([A, B, C])
        assert s.scalars(select(Holder.name).where(Holder.ssn == B)).one() == "李娜"
    again = bulk.import_csv(engine, path, bulk.HOLDER_IMPORT)
    assert (again.imported, again.skipped) == (0, 4)
    assert [r.line for r in again.rejected] == [r.line for r in result.rejected]
    with store.session(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Holder)) == 3


def test_cli_import_prints_the_json_summary(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "holders.csv"
    expected = mistakes_file(path)
    runner = CliRunner()
    out = runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)  # stdout is only the JSON: the progress bar is on stderr
    assert "importing holders" in out.stderr
    assert summary["imported"] == 3 and summary["skipped"] == 1
    assert [r["line"] for r in summary["rejected"]] == sorted(expected)
    assert all(set(r) == {"line", "lines", "reason"} for r in summary["rejected"])
    assert summary["rows"] == 15 and summary["accounted"] is True and summary["encoding"] == "utf-8"
    again = json.loads(runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--json"]).stdout)
    assert again["imported"] == 0 and again["skipped"] == 4


def test_a_utf8_file_with_a_gbk_line_pasted_in_is_refused_whole(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes((HEADER + "\n").encode() + f"{A},张伟,1,01,19800101,110101,110101\n".encode()
                     + f"{B},".encode() + "李娜".encode("gbk") + b",2,01,19900515,440305,440305\n"
                     + f"{C},赵敏,2,01,19551231,310101,310101\n".encode())
    with pytest.raises(bulk.ImportFileError, match="mixes encodings: line 2 is UTF-8, line 3 is not"):
        bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    with store.session(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Holder)) == 0


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"ssn,name\n1,2\n", "header must be"),
    (b"\xff\xfe" + HEADER.encode("utf-16-le"), "neither UTF-8"),
])
def test_a_file_that_cannot_be_imported_inserts_nothing(db_url: str, tmp_path: Path, content: bytes,
                                                       words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(bulk.ImportFileError, match=words):
        bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    runner = CliRunner()
    out = runner.invoke(main, ["db", "import", str(path), "--db", db_url])
    assert out.exit_code == 1 and words in out.output
    with store.session(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Holder)) == 0


def test_header_columns_in_any_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.init(url)
    path = tmp_path / "h.csv"
    path.write_text("region,ssn,name,gender,nation,birth_date,birthplace\n"
                    f"110101,{A},张伟,1,01,19800101,\n", encoding="utf-8")
    result = bulk.import_csv(store.get_engine(url), path, bulk.HOLDER_IMPORT)
    assert (result.imported, result.rejected) == (1, [])
    store.dispose(url)


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
rows = st.lists(st.one_of(
    st.builds(lambda r: r, st.sampled_from(list(seed.holders(20, seed=9)))),
    st.fixed_dictionaries({k: st.one_of(cells, st.sampled_from([A, B, C, "1", "2", "01", "19800101", "110101"]))
                           for k in HEADER.split(",")}),
), max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows)
@example([{k: "a\rb" for k in HEADER.split(",")}, {k: "c\nd" for k in HEADER.split(",")}])  # CR and LF in cells
def test_any_rows_are_accounted_for_and_never_leak_an_id(tmp_path_factory, data: list[dict]) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'h.db'}"
    store.create_all(url)
    buf = io.StringIO()
    # CRLF, as spreadsheets write CSV: the writer then quotes a cell holding a lone CR too (with "\n" alone it
    # would leave it bare, and a bare CR ends a line: the file would hold more rows than `data`)
    w = csv.DictWriter(buf, fieldnames=HEADER.split(","), lineterminator="\r\n")
    w.writeheader()
    w.writerows(data)
    buf.seek(0)
    result = bulk.import_csv(store.get_engine(url), buf, bulk.HOLDER_IMPORT, batch_size=7)
    valid = set()
    for row in data:
        try:
            valid.add(holder_row({k: str(v) for k, v in row.items()})["ssn"])
        except ValueError:
            pass
    assert result.imported == len(valid)
    assert result.imported + result.skipped + len(result.rejected) == len(data)
    for r in result.rejected:
        for row in data:
            if len(row["ssn"]) == 18 and row["ssn"].isdigit():
                assert row["ssn"] not in r.reason
    store.dispose(url)


def test_seed_is_deterministic_and_valid() -> None:
    first = list(seed.holders(300, seed=5))
    assert first == list(seed.holders(300, seed=5))
    assert first != list(seed.holders(300, seed=6))
    assert len({r["ssn"] for r in first}) == 300
    for row in first:
        holder_row(row)
    assert len({r["name"][0] for r in first}) > 20


def test_cli_seed_then_show_masks_and_audits(db_url: str) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["db", "seed", "--holders", "50", "--seed", "1", "--db", db_url, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"holders": 50, "seed": 1, "imported": 50, "skipped": 0}
    assert json.loads(runner.invoke(main, ["db", "seed", "--holders", "50", "--seed", "1", "--db", db_url,
                                           "--json"]).stdout)["imported"] == 0
    target = list(seed.holders(50, seed=1))[7]
    shown = runner.invoke(main, ["db", "show", target["ssn"], "--db", db_url, "--json", "--actor", "clerk-7"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["ssn"] == target["ssn"][:6] + "*" * 8 + target["ssn"][-4:]
    assert view["name"] == target["name"]
    assert target["ssn"] not in shown.output
    text = runner.invoke(main, ["db", "show", target["ssn"], "--db", db_url])
    assert text.exit_code == 0 and target["ssn"] not in text.output and view["ssn"] in text.output
    with store.session(db_url) as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(r.actor, r.action, r.sensitive, r.subject) for r in rows] == [
        ("clerk-7", "holder.show", True, view["ssn"]), ("cli", "holder.show", True, view["ssn"])]
    missing = runner.invoke(main, ["db", "show", A, "--db", db_url])
    assert missing.exit_code == 1 and A not in missing.output


@pytest.mark.parametrize("constants", [{"created_at": None}, {"nation": "01", "region": "110101"}])
def test_insert_batch_with_constants_anywhere(db_url: str, constants: dict) -> None:
    from holder_db import models

    constants = {k: (models.utcnow() if k == "created_at" else v) for k, v in constants.items()}
    rows = [holder_row(r) for r in seed.holders(5, seed=3)]
    for r in rows:
        for k in constants:
            r.pop(k, None)
        if "created_at" not in constants:
            r["created_at"] = models.utcnow()
    engine = store.get_engine(db_url)
    with engine.begin() as conn:
        assert bulk.insert_batch(conn, bulk.HOLDER_IMPORT.table, [dict(r) for r in rows], ("ssn",), constants) == 5
    with engine.begin() as conn:
        assert bulk.insert_batch(conn, bulk.HOLDER_IMPORT.table, [dict(r) for r in rows], ("ssn",), constants) == 0
    with store.session(db_url) as s:
        got = {h.ssn: h for h in s.scalars(select(Holder))}
    assert set(got) == {r["ssn"] for r in rows}
    for r in rows:
        h = got[r["ssn"]]
        assert (h.name, h.birth_date) == (r["name"], r["birth_date"])
        if "nation" in constants:
            assert (h.nation, h.region) == ("01", "110101")


def test_cli_seed_with_cards(db_url: str) -> None:
    from holder_db import queries

    runner = CliRunner()
    out = runner.invoke(main, ["db", "seed", "--holders", "30", "--seed", "4", "--cards", "--db", db_url, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["cards"] == 30
    again = runner.invoke(main, ["db", "seed", "--holders", "30", "--seed", "4", "--cards", "--db", db_url, "--json"])
    assert json.loads(again.stdout)["cards"] == 0
    with store.session(db_url) as s:
        for row in list(seed.holders(30, seed=4))[:5]:
            holder = queries.holder_by_ssn(s, row["ssn"])
            [card] = queries.cards_of(s, holder.id)
            assert card.status == "active" and len(card.card_no) == 9 and len(card.card_id) == 32
            assert card.card_id.startswith(holder.region + "D156000005")
            assert queries.holder_by_card_no(s, card.card_no).id == holder.id
            assert queries.holder_by_card_id(s, card.card_id).id == holder.id
            assert sorted(e.insurance for e in queries.enrolments_of(s, holder.id)) == ["medical", "pension"]


def test_two_importers_of_one_file_at_once(db_url: str, tmp_path: Path) -> None:
    """Concurrent imports of the same rows collide on nothing: each row goes in once, the other importer skips it."""
    import threading

    path = tmp_path / "many.csv"
    rows = list(seed.holders(3000, seed=11))
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER.split(","))
        w.writeheader()
        w.writerows(rows)
    engine = store.get_engine(db_url)
    results: list[bulk.ImportResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(bulk.import_csv(engine, path, bulk.HOLDER_IMPORT, batch_size=500))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(r.imported for r in results) == 3000
    assert sum(r.skipped for r in results) == 3000
    with store.session(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Holder)) == 3000
