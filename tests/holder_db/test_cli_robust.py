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
        assert "database error" in out.output and "Traceback" not in out.output
        assert MALE not in out.output


def test_show_with_garbage_is_a_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    for value in ("", "x" * 5000, "'; DROP TABLE holders; --", MALE):
        out = CliRunner().invoke(main, ["db", "show", value, "--db", url])
        assert out.exit_code == 1 and "no holder" in out.output
        assert MALE not in out.output
