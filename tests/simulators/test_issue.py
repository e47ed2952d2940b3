"""`sscard sim new`: a holder file in, a card image out; bad holders refused with the field named, no traceback."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from simulators.image import load
from simulators.issue import HolderError, issue
from tests.plugins.pcsc import ROOT, sample_holder, sscard_command


def sim_new(tmp_path: Path, holder: dict, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[type-arg]
    hp = tmp_path / "holder.json"
    hp.write_text(json.dumps(holder, ensure_ascii=False), encoding="utf-8")
    return subprocess.run([*sscard_command(), "sim", "new", "--holder", str(hp), "--out", str(tmp_path / "card.json"),
                           *extra], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_sample_holder_makes_a_card(tmp_path: Path) -> None:
    done = sim_new(tmp_path, sample_holder(), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ssn"] == "110105********002X" and out["algorithm"] == "sm4"
    image = load(tmp_path / "card.json")
    assert image.files["EF06"][0] == b"\x08\x12" + b"11010519491231002X"
    assert image.files["EF05"][4] == bytes.fromhex("050420211203")
    assert "11010519491231002X" not in done.stdout + done.stderr
    again = sim_new(tmp_path, sample_holder())
    assert again.returncode != 0 and "exists" in again.stderr
    assert sim_new(tmp_path, sample_holder(), "--force", "--alg", "3des").returncode == 0
    assert load(tmp_path / "card.json").alg == "3des"


def test_name_over_30_bytes_continues_in_the_extension() -> None:
    name = "欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜娜丽丽"  # 18 characters, 36 GBK bytes
    image = issue(sample_holder(name=name))
    main, ext = image.files["EF06"][1], image.files["EF06"][2]
    assert main[2:].decode("gbk") == name[:15] and ext[2:].rstrip(b"\xff").decode("gbk") == name[15:]


@pytest.mark.parametrize("change,field", [
    ({"name": "欧" * 26}, "name"),
    ({"ssn": "110105194912310021"}, "ssn"),
    ({"ssn": "11010519491331002X"}, "ssn"),
    ({"birth_date": "1949-02-30"}, "birth_date"),
    ({"expiry": "20311302"}, "expiry"),
    ({"issue_date": "yesterday"}, "issue_date"),
    ({"card_id": "1101"}, "card_id"),
    ({"card_id": "ABCDEF" + "0" * 26}, "card_id"),
    ({"gender": "M"}, "gender"),
    ({"card_no": "A0000000001"}, "card_no"),
    ({"card_no": "卡号"}, "card_no"),
    ({"nation": "1a"}, "nation"),
    ({"pin": "12"}, "pin"),
    ({"pin": 123456}, "pin"),
    ({"version": "3.000"}, "version"),
    ({"gender": "1"}, "gender"),  # the sample ID number's 17th digit (2) says female
    ({"birth_date": "1949-12-30"}, "birth_date"),  # the ID number says 1949-12-31
    ({"bank": {"pan": "6228480000000000001"}}, "bank.pan"),  # a wrong Luhn digit
    ({"name_latin": "张丽华"}, "bank.name"),
])
def test_bad_holders_are_refused_naming_the_field(change: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(HolderError) as refused:
        issue(sample_holder(**change))
    assert field in str(refused.value)
    assert "11010519491231002X" not in str(refused.value)


def test_a_new_card_carries_the_debit_application_with_a_real_name() -> None:
    from cardlib.pboc import luhn_complete

    state = issue(sample_holder()).applets["pboc_debit"]
    assert state["name"] == "ZHANG/LIHUA" and luhn_complete(state["pan"][:-1]) == state["pan"]
    assert state["pan"].startswith("622848") and state["expiry"] == "311202"
    assert issue(sample_holder(bank={"pan": luhn_complete("621700123456789012")})).applets["pboc_debit"]["pan"] \
        == luhn_complete("621700123456789012")


def test_missing_field_is_named() -> None:
    holder = sample_holder()
    del holder["birthplace"]
    with pytest.raises(HolderError, match="birthplace"):
        issue(holder)


@pytest.mark.parametrize("change,field", [({"name": "欧" * 26}, "name"), ({"ssn": "110105194912310021"}, "ssn"),
                                          ({"birth_date": "19491232"}, "birth_date")])
def test_cli_refuses_without_a_traceback(tmp_path: Path, change: dict, field: str) -> None:  # type: ignore[type-arg]
    done = sim_new(tmp_path, sample_holder(**change))
    assert done.returncode != 0
    assert field in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "card.json").exists()


def test_cli_refuses_a_holder_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "holder.json").write_text("{", encoding="utf-8")
    done = subprocess.run([*sscard_command(), "sim", "new", "--holder", str(tmp_path / "holder.json"), "--out",
                           str(tmp_path / "c.json")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0 and "not JSON" in done.stderr and "Traceback" not in done.stderr
