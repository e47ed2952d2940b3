"""Batch personalization on the hopper through the real pcscd + vpcd, and the station's crash recovery."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cardlib import issuer_keys
from cardlib.idnumber import check_char
from cardlib.psam import Psam
from cardlib.transport import LoopbackTransport
from simulators.cardos import build_card
from simulators.hopper import Hopper
from simulators.personalization import new_blank, write_json_atomic
from simulators.psam import Psam as SimulatedPsam
from terminal import personalize as station
from tests.plugins.pcsc import reader_states, wait_for
from tests.services.conftest import sscard


def ssn(first17: str) -> str:
    return first17 + check_char(first17)


HOLDERS = [
    {"ssn": ssn("11010519800101001"), "name": "赵一", "gender": "1", "nation": "01", "birthplace": "110105",
     "birth_date": "1980-01-01", "pin": "135790"},
    {"ssn": ssn("41160019900202002"), "name": "钱二", "gender": "2", "nation": "01", "birthplace": "411600",
     "birth_date": "1990-02-02"},
    {"ssn": ssn("33030019850303003"), "name": "孙三", "gender": "1", "nation": "02", "birthplace": "330300",
     "birth_date": "1985-03-03"},
]


def _csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["ssn", "name", "gender", "nation", "birthplace", "birth_date", "pin"])
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.pcsc
def test_a_batch_on_the_hopper_comes_out_personalized_and_verifiable(tmp_path: Path, issuer_dirs: dict,
                                                                    sim_server, virtual_card) -> None:
    keys, hopper = issuer_dirs["ours"], tmp_path / "hopper"
    made = sscard("sim", "blanks", "--keys", str(keys), "--alg", "sm4", "--count", "3", "--out", str(hopper), "--json")
    assert made.returncode == 0, made.stderr
    assert len(json.loads(made.stdout)["blanks"]) == 3
    bad = {**HOLDERS[0], "ssn": HOLDERS[0]["ssn"][:17] + ("0" if HOLDERS[0]["ssn"][17] != "0" else "1")}
    holders = _csv(tmp_path / "holders.csv", [HOLDERS[0], bad, HOLDERS[1], HOLDERS[0], HOLDERS[2]])
    server = sim_server(["sim", "serve", "--hopper", str(hopper)], slot=0)
    report = tmp_path / "issued.json"
    r = sscard("personalize", "--holders", str(holders), "--keys", str(keys), "--reader", server.reader,
               "--report", str(report), "--bank-bin", "622848", "--wait", "3", "--json")
    assert r.returncode == 1, r.stderr  # the two bad rows are reported; every good holder got a card
    out = json.loads(r.stdout)
    assert out == json.loads(report.read_text(encoding="utf-8"))
    assert [i["name"] for i in out["issued"]] == ["赵一", "钱二", "孙三"]
    assert [f["line"] for f in out["failed"]] == [3, 5] and "check" in out["failed"][0]["reason"].lower()
    assert "twice" in out["failed"][1]["reason"]
    assert len({i["card_id"] for i in out["issued"]}) == 3 and out["holders_waiting"] == 0
    assert HOLDERS[0]["ssn"] not in r.stdout + report.read_text() + (tmp_path / "issued.json.journal").read_text()
    assert wait_for(lambda: server.proc.poll() is not None, 10)  # hopper empty: the printer lets go of the slot
    assert wait_for(lambda: not reader_states().get(server.reader, False), 10)

    for issued, card in zip(out["issued"], sorted(hopper.glob("*.json"))):
        reader = virtual_card(card)
        read = sscard("card", "read", "--verify", "--keys", str(keys), "--reader", reader, "--json")
        assert read.returncode == 0, read.stderr
        info = json.loads(read.stdout)
        assert (info["name"], info["card_no"], info["card_id"]) == (issued["name"], issued["card_no"], issued["card_id"])
        pin = "135790" if issued["name"] == "赵一" else station.DEFAULT_PIN
        assert sscard("card", "pin", "verify", "--reader", reader, "--pin-stdin", stdin=pin + "\n").returncode == 0
        bank = sscard("card", "bank", "--reader", reader, "--amount", "100", "--issuer-keys", str(keys), "--json")
        assert json.loads(bank.stdout)["pan"] == issued["pan"]
        assert json.loads(bank.stdout)["issuer"]["approved"] is True
        break  # one card read through the reader here; the other two below, in process, to keep the test short
    key_sets = issuer_keys.load(keys)
    for issued, card in list(zip(out["issued"], sorted(hopper.glob("*.json"))))[1:]:
        from cardlib import security
        from simulators import image

        t = LoopbackTransport(build_card(image.load(card)))
        t.connect()
        session = security.authenticate(t, _psam(key_sets), t.atr)
        assert session.card_id.hex().upper() == issued["card_id"]

    again = sscard("personalize", "--holders", str(_csv(tmp_path / "again.csv", HOLDERS)), "--keys", str(keys),
                   "--reader", server.reader, "--report", str(report), "--wait", "1", "--json")
    assert again.returncode == 0, again.stderr  # resumed from the journal: nobody gets a second card
    assert json.loads(again.stdout)["issued"] == [] and len(json.loads(again.stdout)["skipped"]) == 3


def _psam(key_sets: dict) -> Psam:
    loop = LoopbackTransport(SimulatedPsam(key_sets))
    loop.connect()
    return Psam(loop)


class _Reader(LoopbackTransport):
    """The hopper in process (the crash tests need to stop the station between two APDUs)."""

    def reconnect(self, *, reset: bool = False) -> None:
        self.connect()


def _holders() -> list[station.Holder]:
    return [station.Holder(line=i + 1, data=station.check_holder(h)) for i, h in enumerate(HOLDERS)]


@pytest.mark.parametrize("crash_after", ["begin", "card_written"])
def test_crash_mid_card_resumes_without_double_issue(crash_after: str, tmp_path: Path) -> None:
    key_sets = {"3des": issuer_keys.new_key_set("3des")}
    for i in range(4):
        write_json_atomic(tmp_path / f"c{i}.json", new_blank(key_sets["3des"]))
    hopper = Hopper(tmp_path, build_card)
    journal_path = tmp_path / "j.journal"
    holders = _holders()

    class Crash(BaseException):  # like a kill: nothing in the station catches it
        pass

    real_write, real_finish = station.write_card, station.Journal.finish

    def crashing_write(card, psam, alg, entry, holder):  # type: ignore[no-untyped-def]
        if crash_after == "card_written":
            real_write(card, psam, alg, entry, holder)
        raise Crash

    station.write_card = crashing_write
    try:
        with pytest.raises(Crash):
            station.run_batch(holders, station.hopper_cards(_Reader(hopper), 0.2), _psam(key_sets),
                              station.Journal(journal_path), station.Options())
    finally:
        station.write_card = real_write
    assert station.Journal.finish is real_finish
    hopper_after_restart = Hopper(tmp_path, build_card)  # the printer is reloaded; the first chip comes back
    journal = station.Journal(journal_path)
    assert len(journal.pending()) == 1
    result = station.run_batch(holders, station.hopper_cards(_Reader(hopper_after_restart), 0.2), _psam(key_sets),
                               journal, station.Options())
    assert [i["name"] for i in result.issued] == ["赵一", "钱二", "孙三"]
    final = station.Journal(journal_path)
    assert len(final.done) == 3 and not final.pending()
    serials = [e["serial"] for e in final.begun.values()]
    assert len(set(serials)) == 3  # no chip has two holders; no holder two chips
    first_chip = json.loads((tmp_path / "c0.json").read_text())
    assert first_chip.get("format") == "sscard-card-image/1"  # the interrupted holder was finished on the same chip
    assert result.issued[0]["serial"] == first_chip["atr_historical"][-16:]
    assert json.loads((tmp_path / "c3.json").read_text())["format"] == "sscard-blank/1"  # the spare stays blank


def test_holder_files_report_bad_rows_by_line_and_never_echo_the_id(tmp_path: Path) -> None:
    rows = [HOLDERS[0], {**HOLDERS[1], "birth_date": "1990-02-30"}, {**HOLDERS[2], "name": ""}, "nonsense",
            {**HOLDERS[2], "gender": "3"}, HOLDERS[2]]
    path = tmp_path / "holders.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    good, bad = station.load_holders(path)
    assert [h.data["name"] for h in good] == ["赵一", "孙三"]
    assert [b["line"] for b in bad] == [2, 3, 4, 5]
    assert "出生日期" in bad[0]["reason"] and "name" in bad[1]["reason"] and "gender" in bad[3]["reason"]
    assert not any(h["ssn"] in json.dumps(bad, ensure_ascii=False) for h in HOLDERS)
    assert HOLDERS[0]["ssn"] not in repr(good)


def test_journal_ignores_a_torn_last_line_and_refuses_double_pairing(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = station.Journal(path)
    journal.begin("h1", "SERIAL1", card_no="A00000001", card_id="00")
    journal.finish("h1", "SERIAL1")
    journal.begin("h2", "SERIAL2", card_no="A00000002", card_id="01")
    with path.open("a") as fh:
        fh.write('{"op": "done", "holder": "h2", "ser')  # the crash came mid-write
    again = station.Journal(path)
    assert set(again.done) == {"h1"} and again.pending() == {"SERIAL2": "h2"} and again.sequence == 2
    with pytest.raises(station.StationError):
        again.begin("h3", "SERIAL1")  # a chip never gets a second holder
    with pytest.raises(station.StationError):
        again.begin("h1", "SERIAL9")  # a holder never gets a second chip
    again.finish("h2", "SERIAL2")
    assert set(station.Journal(path).done) == {"h1", "h2"}  # the entry after the torn line is not lost
    assert oct(path.stat().st_mode & 0o777) == "0o600"
