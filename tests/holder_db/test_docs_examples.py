"""The docs' examples are run: in docs/holder_db.md and docs/terminal.md every `$ sscard ...` line of a ```console
block is run in a fresh directory (files given by `<!-- file: NAME [encoding=E] -->` blocks written first) and its
output must be what the doc shows (compared as JSON when it is JSON)."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from holder_db import store

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILE = re.compile(r"<!-- file: (\S+)(?: encoding=(\S+))? -->\n```[a-z]*\n(.*?)```", re.S)
CONSOLE = re.compile(r"```console\n(.*?)```", re.S)


def examples(text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for block in CONSOLE.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def _same(shown: str, got: str) -> bool:
    try:
        return json.loads(shown) == json.loads(got)
    except ValueError:
        return shown.strip() == got.strip()


@pytest.mark.parametrize("doc", ["holder_db.md", "terminal.md"])
def test_the_examples_print_what_the_doc_shows(doc: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = (DOCS / doc).read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SSCARD_DB", raising=False)
    for name, encoding, body in FILE.findall(text):
        (tmp_path / name).write_bytes(body.encode(encoding or "utf-8"))
    runs = examples(text)
    assert runs, f"{doc} has no console examples"
    try:
        for command, shown in runs:
            argv = shlex.split(command)
            assert argv[0] == "sscard", command
            result = CliRunner().invoke(main, argv[1:])
            assert result.exit_code == 0, (command, result.output)
            if shown:
                assert _same("\n".join(shown), result.stdout), (command, result.stdout)
    finally:
        store.dispose()
