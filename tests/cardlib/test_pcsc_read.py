"""cardlib through the real PC/SC stack: pcscd + vpcd + `sscard sim serve`, read with pyscard and the CLI."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cardlib import (
    CardRemovedError, Channel, LoopbackTransport, NoCardError, NoReaderError, PcscTransport, SocialSecurityApp,
    Trace, basic_info_line, historical_bytes, list_readers,
)
from simulators.cardos import build_card
from simulators.image import load
from simulators.issue import issue
from tests.plugins.pcsc import make_card_image, reader_name, sample_holder, sscard_command

pytestmark = pytest.mark.pcsc


def sscard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sscard_command(), *args], capture_output=True, text=True, timeout=60)


def expected_line(image_path: Path, **holder: str) -> str:
    h = sample_holder(**holder)
    with LoopbackTransport(build_card(load(image_path))) as t:  # the same image, read in process
        hist = historical_bytes(t.atr).hex().upper()
    return (f"{h['card_id'][:6]}|{h['ssn']}|{h['card_no']}|{h['card_id']}|{h['name']}|{hist}|3.00|"
            f"20211203|20311202|")


def test_cli_reads_the_software_card(virtual_card: Callable[..., str], sample_card: Path) -> None:
    reader = virtual_card(sample_card)
    line = expected_line(sample_card)
    out = sscard("card", "read", "--reader", reader, "--terminal-no", "T01", "--device-no", "D02")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == line + "T01|D02|"
    js = sscard("card", "read", "--json")  # no reader named: the first one with a card
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    h = sample_holder()
    assert (data["ssn"], data["name"], data["card_no"], data["gender"], data["birth_date"]) == \
        (h["ssn"], h["name"], h["card_no"], h["gender"], "19491231")
    assert "|".join(data[k] for k in ("region", "ssn", "card_no", "card_id", "name", "historical_bytes",
                                     "version", "issue_date", "expiry")) + "|" == line


def test_pcsc_transport_reads_and_traces(virtual_card: Callable[..., str], tmp_path: Path) -> None:
    name = "欧阳娜娜" * 4  # 32 GBK bytes: the last character lives in 姓名扩展
    card = issue(sample_holder(name=name), alg="3des")
    card.path = image = tmp_path / "long-name.json"
    card.save()
    reader = virtual_card(image)
    trace = Trace(logger=None)
    with PcscTransport(reader) as t:
        info = SocialSecurityApp(Channel(t, trace)).read_card_info()
        assert t.atr == load(image).atr
    assert info.name == name and info.algorithm_id == 0x01
    assert basic_info_line(info) == expected_line(image, name=name) + "||"
    assert sample_holder()["ssn"].encode().hex().upper() not in trace.text()


def test_readers_shows_the_card(virtual_card: Callable[..., str], sample_card: Path) -> None:
    reader = virtual_card(sample_card)
    assert (reader, True) in list_readers()
    out = sscard("readers", "--json")
    assert out.returncode == 0, out.stderr
    assert {"reader": reader, "card_present": True} in json.loads(out.stdout)
    text = sscard("readers")
    assert f"{reader}\tcard" in text.stdout.splitlines()


def test_errors_without_a_card(pcsc: None) -> None:
    empty = reader_name(1)
    assert (empty, False) in list_readers()
    with pytest.raises(NoCardError, match="no card in reader"):
        PcscTransport(empty).connect()
    with pytest.raises(NoReaderError, match="no reader named"):
        PcscTransport("No Such Reader 99").connect()
    out = sscard("card", "read", "--reader", empty)
    assert out.returncode == 1 and out.stderr.startswith("error -1: no card in reader")
    assert "Traceback" not in out.stderr and out.stdout == ""
    js = sscard("card", "read", "--reader", "No Such Reader 99", "--json")
    assert js.returncode == 1 and json.loads(js.stderr)["code"] == -1


def test_card_pulled_mid_session(pcsc: None, tmp_path: Path) -> None:
    from tests.plugins.pcsc import start_card_server

    image = make_card_image(tmp_path)
    server = start_card_server(image)
    try:
        with PcscTransport(server.reader) as t:
            app = SocialSecurityApp(t)
            app.select()
            server.stop()
            with pytest.raises((CardRemovedError, NoCardError)):
                app.read_field("ssn")
    finally:
        server.stop()
    server = start_card_server(image)  # a new card in the same reader: a fresh transport recovers
    try:
        with PcscTransport(server.reader) as t:
            assert SocialSecurityApp(t).read_card_info().card_no == sample_holder()["card_no"]
    finally:
        server.stop()


def test_docs_example_runs(virtual_card: Callable[..., str], sample_card: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    virtual_card(sample_card)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cardlib.md").read_text(encoding="utf-8")
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/cardlib.md", "exec"), {})
    assert capsys.readouterr().out.strip() == expected_line(sample_card) + "T01||"


def test_reset_by_another_application_then_reconnect(virtual_card: Callable[..., str], sample_card: Path) -> None:
    reader = virtual_card(sample_card)
    with PcscTransport(reader) as kiosk, PcscTransport(reader) as other:
        app = SocialSecurityApp(kiosk)
        app.select()
        other.reconnect(reset=True)
        with pytest.raises(CardRemovedError, match="reset"):
            app.read_field("card_no")
        kiosk.reconnect()
        app.select()
        assert app.read_field("card_no") == sample_holder()["card_no"]
