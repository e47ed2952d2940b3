"""Verified reading through the real pcscd + vpcd: a genuine card passes, a counterfeit is caught (-21)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.services.conftest import card_image, sscard

pytestmark = pytest.mark.pcsc


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_genuine_card_reads_verified_with_in_process_psam(alg: str, tmp_path: Path, issuer_dirs: dict, virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], alg))
    r = sscard("card", "read", "--verify", "--keys", str(issuer_dirs["ours"]), "--reader", reader, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["name"] == "张丽华" and out["algorithm_id"] == (1 if alg == "3des" else 4)


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_counterfeit_is_caught_with_the_internal_auth_code(alg: str, tmp_path: Path, issuer_dirs: dict,
                                                           virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["other"], alg))
    r = sscard("card", "read", "--verify", "--keys", str(issuer_dirs["ours"]), "--reader", reader, "--json")
    assert r.returncode == 1
    err = json.loads(r.stderr.strip().splitlines()[-1])
    assert err["code"] == -21 and "not genuine" in err["error"]
    assert "张丽华" not in r.stdout  # nothing is printed about a card that failed authentication
    plain = sscard("card", "read", "--reader", reader, "--json")  # without --verify the counterfeit reads fine
    assert plain.returncode == 0 and json.loads(plain.stdout)["name"] == "张丽华"


def test_verified_read_with_the_psam_in_its_own_reader(tmp_path: Path, issuer_dirs: dict, virtual_card,
                                                       sim_server) -> None:
    psam = sim_server(["sim", "psam", "--keys", str(issuer_dirs["ours"])], slot=1)
    genuine = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "sm4"))
    r = sscard("card", "read", "--verify", "--psam", psam.reader, "--reader", genuine)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("|")[4] == "张丽华"


def test_psam_without_the_cards_algorithm_fails_at_psam_level(tmp_path: Path, issuer_dirs: dict,
                                                             virtual_card) -> None:
    only_sm4 = tmp_path / "sm4only"
    only_sm4.mkdir()
    (only_sm4 / "issuer-sm4.json").write_bytes((issuer_dirs["ours"] / "issuer-sm4.json").read_bytes())
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des"))
    r = sscard("card", "read", "--verify", "--keys", str(only_sm4), "--reader", reader, "--json")
    assert r.returncode == 1
    assert json.loads(r.stderr.strip().splitlines()[-1])["code"] == -23


def test_second_generation_card_skips_external_authentication(tmp_path: Path, issuer_dirs: dict,
                                                              virtual_card) -> None:
    from cardlib import security
    from cardlib.pcsc import PcscTransport
    from cardlib.psam import Psam
    from cardlib.transport import LoopbackTransport
    from simulators.psam import Psam as SimulatedPsam

    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des", version="2.00"))
    loop = LoopbackTransport(SimulatedPsam.from_dir(issuer_dirs["ours"]))
    loop.connect()
    with PcscTransport(reader) as card:
        session = security.authenticate(card, Psam(loop), card.atr)
    assert (session.version, session.external_auth, session.alg) == ("2.00", False, "3des")
