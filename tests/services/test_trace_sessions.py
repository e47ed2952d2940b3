"""Every APDU of a verified read, a PIN change, a bank read and a personalization reaches the redacting trace
(`sscard --trace`), through the real pcscd + vpcd; the verified read is one session of the published length."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.plugins.pcsc import sample_holder
from tests.services.conftest import card_image, sscard

pytestmark = pytest.mark.pcsc


def _commands(stderr: str) -> list[str]:
    """The command names of the trace lines ("> header ... (NAME)"), in order."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("> "):
            found = re.search(r"\(([^()]+)\)$", line)
            out.append(found.group(1) if found else line[2:10])
    return out


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_verified_read_is_one_session_and_says_by_which_keys(alg: str, tmp_path: Path, issuer_dirs: dict,
                                                            virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], alg))
    r = sscard("--trace", "card", "read", "--verify", "--psam", str(issuer_dirs["ours"]), "--reader", reader, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] == {"verified": True, "alg": alg, "keys": ["internal_auth", "external_auth"],
                               "psam": f"software PSAM {issuer_dirs['ours']}"}
    names = _commands(r.stderr)
    card = [n for n in names if not n.startswith("PSAM")]
    assert card.count("SELECT") == 2  # the SSSE once, and the PSAM's own application once
    assert card.count("READ RECORD") == 14  # each EF05/EF06 record once
    assert [n for n in card if n not in ("SELECT", "READ RECORD", "GET RESPONSE")] == [
        "INTERNAL AUTHENTICATE", "GET CHALLENGE", "EXTERNAL AUTHENTICATE"]
    on_card = len(card) - 1  # less the PSAM's SELECT
    assert on_card <= 19, names  # 1 SELECT (+1 GET RESPONSE) + 14 READ RECORD + 3 (docs/services.md)
    ssn = sample_holder()["ssn"]
    masked = (ssn[:6] + "********" + ssn[-4:]).encode().hex().upper()
    assert ssn.encode().hex().upper() not in r.stderr and masked in r.stderr  # masked in the trace

    text = sscard("card", "read", "--verify", "--psam", str(issuer_dirs["ours"]), "--reader", reader)
    line, verified = text.stdout.splitlines()
    assert line.count("|") == 11
    assert verified == (f"verified: genuine card, {alg.upper()} keys internal_auth + external_auth through "
                        f"software PSAM {issuer_dirs['ours']}")
    plain = json.loads(sscard("card", "read", "--reader", reader, "--json").stdout)
    assert plain["verified"] is False


def test_pin_change_and_a_wrong_pin_reach_the_trace_redacted(tmp_path: Path, issuer_dirs: dict,
                                                             virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "sm4"))
    r = sscard("--trace", "card", "pin", "change", "--reader", reader, "--pin-stdin", stdin="123456\n97531086\n")
    assert r.returncode == 0, r.stderr
    assert _commands(r.stderr)[-1] == "CHANGE PIN" and "<8 bytes redacted>" in r.stderr
    wrong = sscard("--trace", "card", "pin", "verify", "--reader", reader, "--pin-stdin", stdin="123456\n")
    assert wrong.returncode == 1 and "63C2" in wrong.stderr
    assert "123456" not in r.stderr + wrong.stderr and "97531086" not in r.stderr


def test_bank_read_reaches_the_trace(tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "sm4"))  # `sim new` carries the debit app
    r = sscard("--trace", "card", "bank", "--reader", reader, "--amount", "100", "--json")
    assert r.returncode == 0, r.stderr
    names = _commands(r.stderr)
    assert names[:3] == ["SELECT", "SELECT", "GET PROCESSING OPTIONS"]
    assert "GENERATE AC" in names and names.count("GET DATA") == 2
    assert len([line for line in r.stderr.splitlines() if line.startswith("< ")]) == len(names)


def test_personalization_reaches_the_trace(tmp_path: Path, issuer_dirs: dict, sim_server) -> None:
    from cardlib.idnumber import check_char

    keys, hopper = issuer_dirs["ours"], tmp_path / "hopper"
    assert sscard("sim", "blanks", "--keys", str(keys), "--alg", "sm4", "--count", "1", "--out", str(hopper)).returncode == 0
    first17 = "11010519800101001"
    holders = tmp_path / "h.csv"
    with holders.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["ssn", "name", "gender", "nation", "birthplace", "birth_date", "pin"])
        w.writeheader()
        w.writerow({"ssn": first17 + check_char(first17), "name": "赵一", "gender": "1", "nation": "01",
                    "birthplace": "110105", "birth_date": "1980-01-01", "pin": "135790"})
    server = sim_server(["sim", "serve", "--hopper", str(hopper)], slot=0)
    r = sscard("--trace", "personalize", "--holders", str(holders), "--psam", str(keys), "--reader", server.reader,
               "--report", str(tmp_path / "r.json"), "--wait", "2", "--json")
    assert r.returncode == 0, r.stderr
    names = _commands(r.stderr)
    assert names.count("STORE DATA") == 4 and "EJECT" in names and names[0] == "SELECT"  # the PSAM, then the chip
    assert "GET DATA" in names and "PSAM WRAP KEY" in names
    assert "135790" not in r.stderr and first17 not in r.stderr
