"""Settlement records on the card's medical DF: encoding round trip, append under MAC, PIN needed to read,
refused without secure messaging (in-process software card and PSAM)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from cardlib import medical, security
from cardlib.channel import Channel
from cardlib.psam import Psam
from cardlib.transport import LoopbackTransport
from simulators import image
from simulators.cardos import build_card
from simulators.psam import Psam as SimulatedPsam
from tests.plugins.pcsc import ROOT, sample_holder, sscard_command

REC = medical.SettlementRecord("S1234567890ABCDE", dt.datetime(2026, 1, 2, 3, 4, 5), "settlement",
                               170000, 52000, 10000, 108000, "3")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("med")
    run = lambda *a: subprocess.run([*sscard_command(), *a], capture_output=True, text=True, cwd=ROOT, check=True)
    run("keys", "new-issuer", "--out", str(d / "keys"), "--alg", "sm4", "--json")
    (d / "holder.json").write_text(json.dumps(sample_holder(), ensure_ascii=False), encoding="utf-8")
    run("sim", "new", "--holder", str(d / "holder.json"), "--out", str(d / "card.json"), "--keys", str(d / "keys"),
        "--alg", "sm4")
    return d


def open_card(made):
    t = LoopbackTransport(build_card(image.load(made / "card.json")))
    t.connect()
    p = LoopbackTransport(SimulatedPsam.from_dir(made / "keys"))
    p.connect()
    return t, Channel(t), Psam(p)


def test_round_trip():
    assert medical.decode(medical.encode(REC)) == REC
    assert len(medical.encode(REC)) == 48


@pytest.mark.parametrize("bad", [REC.__class__("", REC.when, "settlement", 1, 1, 1, 1, "1"),
                                 REC.__class__("X" * 17, REC.when, "settlement", 1, 1, 1, 1, "1"),
                                 REC.__class__("S", REC.when, "other", 1, 1, 1, 1, "1"),
                                 REC.__class__("S", REC.when, "refund", 2**32, 1, 1, 1, "1")])
def test_bad_records_refused(bad):
    with pytest.raises(medical.MedicalRecordError):
        medical.encode(bad)


def test_append_then_read_newest_first(made):
    t, card, psam = open_card(made)
    session = security.authenticate(card, psam, t.atr)
    second = REC.__class__("S2", REC.when, "refund", 1, 2, 3, 4, "1")
    medical.append(card, psam, session, REC)
    medical.append(card, psam, session, second)
    with pytest.raises(security.CardError) as refused:
        medical.read_all(card)  # reading needs the PIN
    assert refused.value.sw == 0x6982
    security.verify_pin(card, "123456")
    assert medical.read_all(card)[:2] == [second, REC]


def test_append_needs_the_issuers_keys(made, tmp_path):
    subprocess.run([*sscard_command(), "keys", "new-issuer", "--out", str(tmp_path / "other"), "--alg", "sm4"],
                   capture_output=True, cwd=ROOT, check=True)
    t, card, psam = open_card(made)
    session = security.authenticate(card, psam, t.atr)
    p = LoopbackTransport(SimulatedPsam.from_dir(tmp_path / "other"))
    p.connect()
    with pytest.raises(security.CardError, match="APPEND RECORD"):
        medical.append(card, Psam(p), session, REC)  # a MAC under the wrong keys
