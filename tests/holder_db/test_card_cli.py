"""`sscard db card-add` and `card-status`: a card recorded for a holder walks only legal lifecycle steps."""
import json

from click.testing import CliRunner

from cli import main

SSN = "11010519491231002X"
CARD = ["--card-no", "A00000001", "--card-id", "110100D156000005A1B2C3D4E5F60718"]


def _run(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", db])
    return result.exit_code, result.output


def test_card_lifecycle_from_the_cli(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    csv = tmp_path / "h.csv"
    csv.write_text(f"ssn,name,gender,nation,birth_date,birthplace,region\n{SSN},张丽华,2,01,19491231,110105,110105\n")
    assert _run(db, "db", "import", str(csv))[0] == 0

    code, out = _run(db, "db", "card-add", "--ssn", SSN, *CARD, "--json")
    assert code == 0 and json.loads(out)["status"] == "applied"
    assert SSN not in out

    code, out = _run(db, "db", "card-status", "A00000001", "active")
    assert code != 0 and "cannot become active" in out

    for status in ("produced", "issued", "active"):
        code, out = _run(db, "db", "card-status", "A00000001", status, "--json")
        assert code == 0 and json.loads(out)["status"] == status

    code, out = _run(db, "db", "show", SSN, "--json")
    assert json.loads(out)["cards"][0]["status"] == "active"

    assert "already recorded" in _run(db, "db", "card-add", "--ssn", SSN, *CARD)[1]
    assert _run(db, "db", "card-status", "NOSUCHCRD", "lost")[0] != 0


def test_card_add_refuses_bad_input_without_a_traceback(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    code, out = _run(db, "db", "card-add", "--ssn", SSN, "--card-no", "A1", "--card-id", "00")
    assert code == 2 and "--card-no" in out and "Traceback" not in out
    code, out = _run(db, "db", "card-add", "--ssn", SSN, *CARD)
    assert code == 1 and "no holder" in out
