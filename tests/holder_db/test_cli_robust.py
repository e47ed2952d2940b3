"""The db commands on bad input: a message and a non-zero exit, never a traceback, never a full ID number."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from tests.holder_db.test_validate import MALE

HEADER = b"ssn,name,gender,nation,birth_date,birthplace,region\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.one_of(st.binary(max_size=60),
                               st.just(f"{MALE},张三,1,01,19800101,110101,110101".encode()),
                               st.just(b'"unterminated,quote')), max_size=12),
       with_header=st.booleans())
def test_import_of_any_bytes_never_crashes(tmp_path: Path, body: list[bytes], with_header: bool) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes((HEADER if with_header else b"") + b"\n".join(body))
    url = f"sqlite:///{tmp_path / 'any.db'}"
    out = CliRunner().invoke(main, ["db", "import", str(path), "--db", url, "--json"])
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    if out.exit_code == 0:
        summary = json.loads(out.stdout)
        assert summary["imported"] <= 1
        assert all(MALE not in r["reason"] for r in summary["rejected"])
    else:
        assert out.exit_code == 1 and "Error:" in out.output
    assert MALE not in out.output


def test_unreachable_database_is_a_message(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(HEADER)
    url = f"postgresql+psycopg://nobody@/nothing?host={tmp_path}/no-such-dir&port=1"
    for args in (["db", "import", str(path)], ["db", "show", MALE], ["db", "seed", "--holders", "1"], ["db", "init"]):
        out = CliRunner().invoke(main, [*args, "--db", url])
        assert out.exit_code == 1, (args, out.output)
        assert "the database cannot be reached" in out.output and "Traceback" not in out.output
        assert MALE not in out.output


def test_show_with_garbage_is_a_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    for value in ("", "x" * 5000, "'; DROP TABLE holders; --", MALE):
        out = CliRunner().invoke(main, ["db", "show", value, "--db", url])
        assert out.exit_code == 1 and "no holder" in out.output
        assert MALE not in out.output


def _cases(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(what, URL, the words the message must have)."""
    import sqlite3

    (tmp_path / "notes.db").write_text("shopping list\n", encoding="utf-8")
    ready = tmp_path / "ready.db"
    sqlite3.connect(ready).close()
    from holder_db import store

    store.init(f"sqlite:///{ready}")
    store.dispose(f"sqlite:///{ready}")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be", encoding="utf-8")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.commit()
    return [
        ("not a database", f"sqlite:///{tmp_path / 'notes.db'}", "not an sscard database"),
        ("read-only", f"sqlite:///file:{ready}?mode=ro&uri=true", "the database is read-only"),
        ("unreachable", f"postgresql+psycopg://nobody:secret@127.0.0.1:1/x", "the database cannot be reached"),
        ("folder cannot be created", f"sqlite:///{blocked}/sub/h.db", "folder"),
        ("not initialised", f"sqlite:///{empty}", "not initialised"),
    ]


COMMANDS = [
    ["db", "seed", "--holders", "1"],
    ["db", "fund", "--ssn", MALE, "--amount", "100", "--period", "2026-01"],
    ["db", "ledger", "check"],
    ["terminal", "pay", "--period", "2026-01"],
    ["terminal", "refund", "S-NONE"],
]


def test_every_database_error_says_what_it_is(tmp_path: Path) -> None:
    for what, url, words in _cases(tmp_path):
        for args in COMMANDS:
            if what == "not initialised" and args[0] == "db":
                continue  # the db commands initialise a database on the way (`_ready`)
            if what == "read-only" and args[:2] != ["db", "seed"]:
                continue  # the others read first and find nothing to write (no holder, nothing due...)
            out = CliRunner().invoke(main, [*args, "--db", url])
            assert out.exit_code == 1, (what, args, out.output)
            assert words in out.output, (what, args, out.output)
            assert "Traceback" not in out.output and "secret" not in out.output and MALE not in out.output
            assert "is it initialised" not in out.output
