"""Files as a bureau has them: GB18030 from Excel, a quote left open, a corrected re-import, rare characters."""
from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from holder_db import bulk, seed, store
from holder_db.models import AuditEntry, Holder
from tests.holder_db.test_validate import ssn

HEADER = "ssn,name,gender,nation,birth_date,birthplace,region"
A, B, C = ssn(seq="011"), ssn("440305", "19900515", "022"), ssn("310101", "19551231", "034")


def holders_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER.split(","), lineterminator="\r\n")  # as Excel writes it
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def stored(url: str) -> list[tuple]:
    with store.session(url) as s:
        return [(h.ssn, h.name, h.gender, h.nation, h.birth_date, h.birthplace, h.region)
                for h in s.scalars(select(Holder).order_by(Holder.ssn))]


def count(url: str) -> int:
    with store.session(url) as s:
        return s.scalar(select(func.count()).select_from(Holder))


RARE = [dict(r) for r in seed.holders(300, seed=21)]
for _i, _name in enumerate(["欧阳娜娜", "爨宝", "龘龘", "喆", "堃", "赟", "玥", "昇", "犇", "淼"]):
    RARE[_i]["name"] = _name  # names in GBK that are not in the common-character list


@pytest.mark.parametrize("encode, detected", [
    pytest.param(lambda t: t.encode("utf-8"), "utf-8", id="utf-8"),
    pytest.param(lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "utf-8", id="utf-8-bom"),
    pytest.param(lambda t: t.encode("gb18030"), "gb18030", id="gb18030"),
    pytest.param(lambda t: t.encode("gbk"), "gb18030", id="gbk"),
])
def test_the_same_holders_in_any_encoding_give_identical_rows(tmp_path: Path, encode, detected: str) -> None:  # type: ignore[no-untyped-def]
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.init(reference)
    store.init(url)
    text = holders_csv(RARE)
    (tmp_path / "ref.csv").write_text(text, encoding="utf-8")
    path = tmp_path / "h.csv"
    path.write_bytes(encode(text))
    bulk.import_csv(store.get_engine(reference), tmp_path / "ref.csv", bulk.HOLDER_IMPORT)
    result = bulk.import_csv(store.get_engine(url), path, bulk.HOLDER_IMPORT)
    assert (result.imported, result.rejected, result.accounted) == (300, [], True)
    assert result.encoding == detected
    rows = stored(url)
    assert rows == stored(reference)
    assert {r[1] for r in rows} >= {"欧阳娜娜", "爨宝", "龘龘"}
    store.dispose(url)
    store.dispose(reference)


def test_a_gb18030_file_with_characters_beyond_gbk(db_url: str, tmp_path: Path) -> None:
    rows = [dict(r) for r in seed.holders(3, seed=2)]
    rows[0]["name"], rows[1]["name"] = "吉𠮷", "王䶮"
    path = tmp_path / "h.csv"
    path.write_bytes(holders_csv(rows).encode("gb18030"))
    result = bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    assert (result.encoding, result.imported) == ("gb18030", 3)
    assert sorted(r[1] for r in stored(db_url)) == sorted(r["name"] for r in rows)
    assert [(w.line, w.reason.split(" ")[0]) for w in result.warnings] == [(2, "𠮷"), (3, "䶮")]


@pytest.mark.parametrize("data, forced, words", [
    (b"\xff\xfe" + HEADER.encode("utf-16-le"), None, "neither UTF-8 (line 1 is not) nor GB18030/GBK (line 1"),
    ((HEADER + "\n").encode() + b"\x80\x80\x80\n", None, "neither UTF-8 (line 2"),
    (codecs.BOM_UTF8 + (HEADER + "\n张伟\n").encode() + "李娜".encode("gbk"), None, "starts as UTF-8 (BOM) but line 3"),
    ((HEADER + "\n").encode() + "李娜".encode("gbk") + b"\n", "utf-8", "line 2 is not UTF-8 text (as --encoding"),
    ((HEADER + "\n").encode() + b"\xff\n", "gb18030", "line 2 is not GB18030 text"),
    ((HEADER + "\n").encode(), "latin-1", "encoding must be one of"),
])
def test_a_file_in_neither_encoding_is_refused_whole(db_url: str, tmp_path: Path, data: bytes, forced: str | None,
                                                    words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data + "\n".join(f"{r['ssn']},{r['name']},{r['gender']},{r['nation']},{r['birth_date']},"
                                      f"{r['birthplace']},{r['region']}" for r in seed.holders(3)).encode("ascii",
                                                                                                         "ignore"))
    with pytest.raises(bulk.ImportFileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT, encoding=forced)
    assert count(db_url) == 0


def test_cli_encoding_can_be_forced(db_url: str, tmp_path: Path) -> None:
    rows = [dict(r) for r in seed.holders(5, seed=8)]
    path = tmp_path / "h.csv"
    path.write_bytes(holders_csv(rows).encode("gbk"))
    runner = CliRunner()
    refused = runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--encoding", "utf-8"])
    assert refused.exit_code == 1 and "is not UTF-8 text" in refused.output and count(db_url) == 0
    out = runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--encoding", "gb18030", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["encoding"] == "gb18030"
    assert sorted(r[1] for r in stored(db_url)) == sorted(r["name"] for r in rows)


def test_an_unclosed_quote_names_the_line_and_every_row_is_accounted_for(db_url: str, tmp_path: Path) -> None:
    rows = [dict(r) for r in seed.holders(400, seed=3)]
    lines = holders_csv(rows).split("\r\n")
    lines[200] = lines[200].replace(",", ',"', 1)  # line 201: a quote opened in the name, closed never
    path = tmp_path / "h.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    result = bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT, batch_size=64)
    assert result.rows == 400 and result.accounted
    assert result.broken_at == 201
    [r] = result.rejected
    assert (r.line, r.lines) == (201, 201) and "runs to line 401" in r.reason and "never closed" in r.reason
    assert result.imported == 199 == count(db_url)
    out = CliRunner().invoke(main, ["db", "import", str(path), "--db", db_url, "--json"])
    assert out.exit_code == 1
    summary = json.loads(out.stdout)
    assert summary["broken_at"] == 201 and summary["skipped"] == 199 and summary["rows"] == 400
    assert "structure broke at line 201" in out.stderr


def test_a_quote_closed_lines_later_swallows_those_lines_and_says_so(db_url: str, tmp_path: Path) -> None:
    rows = [dict(r) for r in seed.holders(10, seed=4)]
    lines = holders_csv(rows).split("\r\n")
    lines[3] = lines[3].replace(",", ',"', 1)   # line 4 opens a quote
    lines[6] = lines[6].replace(",", '",', 1)   # line 7 closes it
    path = tmp_path / "h.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    result = bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    assert (result.rows, result.imported, result.rejected_lines, result.accounted) == (10, 6, 4, True)
    [r] = result.rejected
    assert (r.line, r.lines) == (4, 4) and "runs to line 7" in r.reason and "reading went on" in r.reason
    assert result.broken_at == 4


CONFLICTS = [
    # (field changed, value, fields named)
    ("name", "李四", "name"),
    ("region", "440305", "region"),
    ("nation", "03", "nation"),
    ("birthplace", "", "birthplace"),
]


@pytest.mark.parametrize("column, value, named", CONFLICTS)
def test_a_repeated_id_with_other_data_in_one_file_is_a_conflict(db_url: str, tmp_path: Path, column: str,
                                                                value: str, named: str) -> None:
    first = {"ssn": A, "name": "张伟", "gender": "1", "nation": "01", "birth_date": "19800101",
             "birthplace": "110101", "region": "110101"}
    path = tmp_path / "h.csv"
    path.write_text(holders_csv([first, dict(first), {**first, column: value}]), encoding="utf-8")
    result = bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    assert (result.imported, result.skipped, result.accounted) == (1, 1, True)
    [r] = result.rejected
    assert r.line == 4 and r.reason.startswith("conflict:") and "line 2" in r.reason and named in r.reason
    assert A not in r.reason
    assert stored(db_url)[0][1] == "张伟"


def test_a_corrected_reimport_is_a_conflict_until_update_and_then_audited_field_by_field(db_url: str,
                                                                                        tmp_path: Path) -> None:
    rows = [dict(r) for r in seed.holders(6, seed=5)]
    path = tmp_path / "h.csv"
    path.write_text(holders_csv(rows), encoding="utf-8")
    bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    fixed = [dict(r) for r in rows]
    fixed[2]["name"] = "王小明"
    fixed[4]["name"], fixed[4]["region"] = "赵敏", "310101"
    path.write_text(holders_csv(fixed), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--json"])
    summary = json.loads(out.stdout)
    assert (summary["imported"], summary["skipped"], summary["updated"]) == (0, 4, 0)
    assert [(r["line"], r["reason"].split(" (")[0]) for r in summary["rejected"]] == [
        (4, "conflict: the stored holder has a different name"),
        (6, "conflict: the stored holder has a different name, region")]
    assert stored(db_url) == sorted(stored(db_url))  # nothing changed yet
    before = {r[0]: r for r in stored(db_url)}
    assert before[rows[2]["ssn"]][1] == rows[2]["name"]
    out = runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--update", "--actor", "clerk-3",
                               "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert (summary["imported"], summary["skipped"], summary["updated"], summary["rejected"]) == (0, 4, 2, [])
    after = {r[0]: r for r in stored(db_url)}
    assert after[rows[2]["ssn"]][1] == "王小明"
    assert (after[rows[4]["ssn"]][1], after[rows[4]["ssn"]][6]) == ("赵敏", "310101")
    with store.session(db_url) as s:
        audit = [(a.actor, a.action, a.detail.split(":")[0]) for a in
                 s.scalars(select(AuditEntry).where(AuditEntry.action == "holder.corrected").order_by(AuditEntry.id))]
        details = list(s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "holder.corrected")))
    assert sorted(audit) == [("clerk-3", "holder.corrected", "name"), ("clerk-3", "holder.corrected", "name"),
                             ("clerk-3", "holder.corrected", "region")]
    assert f"name: {rows[2]['name']} -> 王小明 (import line 4)" in details
    again = json.loads(runner.invoke(main, ["db", "import", str(path), "--db", db_url, "--update", "--json"]).stdout)
    assert (again["updated"], again["skipped"]) == (0, 6)


NAMES = [
    # (name, stored?, warning starts with / rejection field)
    ("张伟", True, None),
    ("吉𠮷", True, "𠮷 (U+20BB7) not in GBK"),
    ("䶮", True, "䶮 (U+4DAE) not in GBK"),
    ("𡒄𪚥", True, "𡒄𪚥 (U+21484, U+2A6A5) not in GBK"),
    ("娜" * 25, True, None),                 # 50 GBK bytes: 姓名 30 + 姓名扩展 20
    ("娜" * 26, True, "52 GBK bytes"),
    ("阿" * 50, True, "100 GBK bytes"),
    ("阿" * 51, False, "name: must be at most 50 characters"),
    ("张\t伟", False, "name: must not contain control characters"),
    ("张\u200b伟", False, "name: must not contain invisible or unassigned characters (U+200B)"),
    ("买买提·吐尔逊", True, None),
]


@pytest.mark.parametrize("name, kept, says", NAMES)
def test_names_the_store_takes_and_whether_the_card_can_carry_them(db_url: str, tmp_path: Path, name: str,
                                                                  kept: bool, says: str | None) -> None:
    row = {"ssn": A, "name": name, "gender": "1", "nation": "01", "birth_date": "19800101", "birthplace": "",
           "region": "110101"}
    path = tmp_path / "h.csv"
    path.write_bytes(holders_csv([row]).encode("gb18030"))
    result = bulk.import_csv(store.get_engine(db_url), path, bulk.HOLDER_IMPORT)
    assert result.imported == int(kept)
    if kept:
        assert stored(db_url)[0][1] == name
        assert [w.reason[:len(says)] for w in result.warnings] == ([says] if says else [])
        assert all(w.holder == A[:6] + "*" * 8 + A[-4:] for w in result.warnings)
    else:
        assert [r.reason for r in result.rejected][0].startswith(says)
