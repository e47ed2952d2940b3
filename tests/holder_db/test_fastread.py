"""`sscard db show` takes a short road on SQLite (no SQLAlchemy); it must answer and audit exactly as the full one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli import main
from holder_db import bulk, cli as db_cli, fastread, migrate, queries, seed, store
from holder_db.models import AuditEntry

ROOT = Path(__file__).resolve().parents[2]


def test_the_short_road_answers_and_audits_like_the_full_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.init(url)
    rows = list(seed.holders(5, seed=3))
    seed.seed(store.get_engine(url), 5, seed=3)
    seed.cards_and_enrolments(store.get_engine(url), [rows[1]["ssn"]], 3)
    for row in rows[:2]:
        fast = fastread.holder_view(fastread.sqlite_path(url), row["ssn"].lower(), actor="clerk-1")
        with store.session(url) as s:
            full = queries.holder_view(s, row["ssn"].lower(), actor="clerk-1")
        assert fast == full and fast is not None
    assert fastread.holder_view(fastread.sqlite_path(url), "110101198001010010", actor="x") is None
    with store.session(url) as s:
        audit = [(a.actor, a.action, a.subject, a.holder_id, a.sensitive, a.detail, a.at.year)
                 for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert audit[0] == audit[1] and audit[2] == audit[3] and len(audit) == 4


def test_the_short_road_steps_aside(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    migrate.upgrade(store.get_engine(f"sqlite:///{old}"), "0001")
    with pytest.raises(fastread.NotFast, match="newest migration"):
        fastread.holder_view(fastread.sqlite_path(str(old)), "x", actor="a")
    assert not fastread.at_head(str(old)) and not fastread.at_head(str(tmp_path / "none.db"))
    for url in ("postgresql://h/db", f"sqlite:///{tmp_path / 'none.db'}", f"sqlite:///{old}?mode=ro"):
        with pytest.raises(fastread.NotFast):
            fastread.sqlite_path(url)
    # the command still works on the old file: the full road migrates it
    out = CliRunner().invoke(main, ["db", "show", "110101198001010010", "--db", str(old)])
    assert out.exit_code == 1 and "no holder" in out.output
    assert store.revision(f"sqlite:///{old}") == migrate.head() == fastread.head()
    assert fastread.at_head(str(old))


def test_the_light_copies_agree_with_their_sources(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert db_cli.ENV == store.ENV and db_cli.ENCODINGS == bulk.ENCODINGS
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    for given in (None, "plain.db", "sqlite:///abs.db", "sub/dir.db"):
        path = Path(store.resolve_url(given)[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        assert fastread.sqlite_path(given) == str(path)
    monkeypatch.setenv("SSCARD_DB", "env.db")
    (tmp_path / "env.db").touch()
    assert fastread.sqlite_path(None) == "env.db" == store.resolve_url(None)[len("sqlite:///"):]


def test_show_and_help_load_no_sqlalchemy_nor_the_card_stack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.init(url)
    seed.seed(store.get_engine(url), 1, seed=2)
    row = next(iter(seed.holders(1, seed=2)))
    probe = ("import sys, json; from cli import main\n"
             "sys.argv = ['sscard', *json.loads(sys.argv[1])]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "heavy = [m for m in ('sqlalchemy', 'cardlib.ssapp', 'cardlib.cli') if m in sys.modules]\n"
             "print(' '.join(heavy) or 'LIGHT', file=sys.stderr)")
    for args in (["db", "show", row["ssn"], "--db", url, "--json"], ["--help"]):
        done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
        assert done.stderr.strip().endswith("LIGHT"), done.stderr
        if args[0] == "db":
            assert json.loads(done.stdout)["name"] == row["name"]


def test_bench_startup_prints_its_ratios() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_startup.py"), "--repeat", "1", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["db_show_ratio"] > 0 and figures["help_ratio"] > 0
    assert (figures["db_show_goal"], figures["help_goal"]) == (4.0, 3.0)
