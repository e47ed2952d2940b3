"""The SQLite short road of `sscard db import` (holder_db.fastimport) against the SQLAlchemy road (holder_db.bulk):
the same files give the same rows, the same reports and the same audit rows; and the short road loads no
SQLAlchemy at all."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from holder_db import bulk, fastimport, fastread, seed, store
from tests.holder_db.test_import_files import holders_csv

ROWS = [dict(r) for r in seed.holders(400, seed=13)]
ROWS[3]["name"] = "吉𠮷"  # a warning: not in GBK
ROWS[4]["name"] = "娜" * 26  # a warning: over 姓名 + 姓名扩展
BAD = [dict(r) for r in ROWS[:40]]
BAD[1]["ssn"] = BAD[1]["ssn"][:17] + ("0" if BAD[1]["ssn"][17] != "0" else "1")  # check digit
BAD[2]["gender"] = "3"
BAD[5]["nation"] = "77"
BAD[7]["birth_date"] = "19990230"
BAD[9]["region"] = "12345"
BAD[11]["name"] = "张\t伟"
BAD.append({**BAD[20], "name": "另一个"})  # the same ID later in the file, other data: a conflict
BAD.append(dict(BAD[21]))  # an exact repeat: skipped
FIXED = [dict(r) for r in ROWS]
FIXED[10]["name"] = "王小明"
FIXED[12]["name"], FIXED[12]["region"] = "赵敏", "310101"
FIXED[14]["nation"] = "03"


def _csv(rows: list[dict[str, str]]) -> str:
    return holders_csv(rows)


FILES = {
    "good": [(_csv(ROWS).encode("utf-8"), None, False)],
    "bad": [(_csv(BAD).encode("utf-8"), None, False)],
    "gb18030": [(_csv(ROWS).encode("gb18030"), None, False)],
    "bom-forced": [(b"\xef\xbb\xbf" + _csv(ROWS).encode("utf-8"), "utf-8", False)],
    "unclosed-quote": [((_csv(ROWS[:30]) + '110101198001010011,"open,1,01,19800101,,110101\r\n'
                         + _csv(ROWS[30:60]).split("\r\n", 1)[1]).encode("utf-8"), None, False)],
    "conflicts": [(_csv(ROWS).encode("utf-8"), None, False), (_csv(FIXED).encode("gb18030"), None, False)],
    "update": [(_csv(ROWS).encode("utf-8"), None, False), (_csv(FIXED).encode("utf-8"), None, True),
               (_csv(FIXED).encode("utf-8"), None, True)],
}


def _state(path: Path) -> tuple[list[tuple], list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        holders = conn.execute("SELECT id, ssn, name, gender, nation, birth_date, birthplace, region, "
                               "length(created_at) FROM holders ORDER BY id").fetchall()
        audit = conn.execute("SELECT actor, action, subject, holder_id, sensitive, detail, purpose, fields, "
                             "length(at) FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()
    return holders, audit


@pytest.mark.parametrize("case", list(FILES))
def test_both_roads_give_identical_rows_reports_and_audit(tmp_path: Path, case: str) -> None:
    fast_db, slow_db = tmp_path / "fast.db", tmp_path / "slow.db"
    for db in (fast_db, slow_db):
        store.init(f"sqlite:///{db}")
    assert fastread.at_head(str(fast_db))
    engine = store.get_engine(f"sqlite:///{slow_db}")
    for i, (data, encoding, update) in enumerate(FILES[case]):
        path = tmp_path / f"{i}.csv"
        path.write_bytes(data)
        ticks: list[int] = []
        fast = fastimport.import_holders(str(fast_db), path, encoding=encoding, update=update, actor="clerk-9",
                                         progress=ticks.append, batch_size=150)
        slow = bulk.import_csv(engine, path, bulk.HOLDER_IMPORT, encoding=encoding, update=update,
                               actor="clerk-9", batch_size=150)
        assert fast.as_dict() == slow.as_dict()
        assert fast.accounted and sum(ticks) > 0
    store.dispose(f"sqlite:///{slow_db}")
    fast_state, slow_state = _state(fast_db), _state(slow_db)
    assert fast_state == slow_state
    assert fast_state[0]  # something was stored
    if case == "update":
        assert sorted(a[5].split(":")[0] for a in fast_state[1]) == ["name", "name", "nation", "region"]
    if case in ("bad", "conflicts", "unclosed-quote"):
        assert fast.rejected


def test_the_reports_say_what_the_case_is_about(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store.init(f"sqlite:///{db}")
    store.dispose(f"sqlite:///{db}")
    path = tmp_path / "h.csv"
    path.write_bytes(FILES["bad"][0][0])
    result = fastimport.import_holders(str(db), path)
    reasons = {r.line: r.reason.split(":")[0] for r in result.rejected}
    assert reasons == {3: "ssn", 4: "gender", 7: "nation", 9: "birth_date", 11: "region", 13: "name", 42: "conflict"}
    assert (result.imported, result.skipped) == (34, 1)
    assert [w.line for w in result.warnings] == [5, 6]
    path.write_bytes(FILES["conflicts"][1][0])
    again = fastimport.import_holders(str(db), path)
    assert [(r.line, r.reason.split(" (")[0]) for r in again.rejected][:2] == [
        (12, "conflict: the stored holder has a different name"),
        (14, "conflict: the stored holder has a different name, region")]


def test_an_older_schema_or_another_engine_takes_the_full_road(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
    conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    conn.commit()
    conn.close()
    path = tmp_path / "h.csv"
    path.write_bytes(FILES["good"][0][0])
    with pytest.raises(fastread.NotFast):
        fastimport.import_holders(str(db), path)
    with pytest.raises(fastread.NotFast):
        fastread.sqlite_path("postgresql://u@localhost/x")


def test_a_sqlite_import_at_the_newest_schema_loads_no_sqlalchemy(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store.init(f"sqlite:///{db}")
    store.dispose(f"sqlite:///{db}")
    path = tmp_path / "h.csv"
    path.write_bytes(FILES["bad"][0][0])
    script = ("import sys\nfrom click.testing import CliRunner\nfrom cli import main\n"
              f"out = CliRunner().invoke(main, ['db', 'import', {str(path)!r}, '--db', {str(db)!r}, '--json'])\n"
              "print(out.stdout)\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel', 'alembic'}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    report, loaded = proc.stdout.strip().rsplit("\n", 1)
    assert json.loads(report.strip())["imported"] == 34
    assert loaded == "[]"
