"""The software card through the real PC/SC stack: pcscd + vpcd, read with pyscard, opensc-tool and `sscard card
read`; the bridge's clean stop on SIGTERM."""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from smartcard.System import readers

from simulators.image import load
from tests.plugins.pcsc import ROOT, make_card_image, reader_states, sscard_command, start_card_server, wait_for

from .helpers import SELECT_SSSE

pytestmark = pytest.mark.pcsc


def _connect(reader: str):  # type: ignore[no-untyped-def]
    conn = next(r for r in readers() if str(r) == reader).createConnection()
    conn.connect()
    return conn


def _tx(conn, apdu: bytes) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    data, sw1, sw2 = conn.transmit(list(apdu))
    return bytes(data), (sw1 << 8) | sw2


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_pyscard_selects_and_reads(alg: str, tmp_path: Path, virtual_card) -> None:  # type: ignore[no-untyped-def]
    image_path = make_card_image(tmp_path, alg=alg)
    reader = virtual_card(image_path)
    conn = _connect(reader)
    try:
        assert bytes(conn.getATR()) == load(image_path).atr
        data, sw = _tx(conn, SELECT_SSSE)
        assert data == b"" and sw >> 8 == 0x61
        fci, sw = _tx(conn, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
        assert sw == 0x9000 and fci[:2] == bytes([0x6F, len(fci) - 2])
        rec, sw = _tx(conn, bytes.fromhex("00B2012C00"))
        assert sw == 0x9000 and rec == load(image_path).files["EF05"][0]
        assert _tx(conn, bytes.fromhex("0020000003999999"))[1] == 0x63C2
        assert _tx(conn, bytes.fromhex("00FF"))[1] == 0x6700  # garbage gets a status word, over the wire too
        assert _tx(conn, bytes.fromhex("00B2083000"))[1] == 0x9000  # and the card goes on
    finally:
        conn.disconnect()
    assert load(image_path).pin_tries_left == 2  # the counter reached the image


def test_two_cards_in_two_slots(tmp_path: Path, virtual_card) -> None:  # type: ignore[no-untyped-def]
    first = virtual_card(make_card_image(tmp_path, "a.json"), 0)
    second = virtual_card(make_card_image(tmp_path, "b.json", card_no="B00000002"), 1)
    numbers = []
    for reader in (first, second):
        conn = _connect(reader)
        _tx(conn, bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"))
        numbers.append(_tx(conn, bytes.fromhex("00B2072C00"))[0][2:])
        conn.disconnect()
    assert numbers == [b"A00000001", b"B00000002"]


def _opensc_index(reader: str) -> str:
    listing = subprocess.run(["opensc-tool", "-l"], capture_output=True, text=True, timeout=30).stdout
    for line in listing.splitlines():
        m = re.match(r"\s*(\d+)\s+.*\b" + re.escape(reader) + r"\s*$", line)
        if m:
            return m.group(1)
    raise AssertionError(f"opensc-tool -l does not list {reader!r}:\n{listing}")


def test_opensc_tool_selects_ssse_and_reads_ef05(sample_card: Path, virtual_card) -> None:  # type: ignore[no-untyped-def]
    reader = virtual_card(sample_card)
    done = subprocess.run(["opensc-tool", "-r", _opensc_index(reader), "-s", SELECT_SSSE.hex().upper(),
                           "-s", "00B2012C00"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    hex_out = re.sub(r"[^0-9A-F ]", " ", done.stdout).split()
    joined = "".join(h for h in hex_out if len(h) == 2)
    assert "9F0C03860104" in joined  # FCI after opensc's own GET RESPONSE
    assert load(sample_card).files["EF05"][0].hex().upper() in joined
    assert done.stdout.count("SW1=0x90, SW2=0x00") == 2


def test_sscard_card_read(sample_card: Path, virtual_card) -> None:  # type: ignore[no-untyped-def]
    reader = virtual_card(sample_card)
    done = subprocess.run([*sscard_command(), "card", "read", "--reader", reader, "--json"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    text = json.dumps(json.loads(done.stdout), ensure_ascii=False)
    assert "张丽华" in text and "A00000001" in text and "110100D156000005A1B2C3D4E5F60718" in text


def test_sigterm_stops_the_server_cleanly(tmp_path: Path, pcsc: None) -> None:
    image_path = make_card_image(tmp_path)
    before = load(image_path).to_json()
    server = start_card_server(image_path, 0)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert wait_for(lambda: not reader_states().get(server.reader, False), 10.0)
    output = server.log.read_text()
    assert "stopped after" in output and "Traceback" not in output
    server.stop()
    assert load(image_path).to_json() == before


def test_serve_refuses_a_bad_image(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"format": "nope"}')
    done = subprocess.run([*sscard_command(), "sim", "serve", "--card", str(tmp_path / "bad.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert done.returncode != 0 and "not an sscard card image" in done.stderr and "Traceback" not in done.stderr


def test_random_apdus_over_the_wire(sample_card: Path, virtual_card) -> None:  # type: ignore[no-untyped-def]
    """Random APDUs through pcscd and vpcd all get a status word and the card keeps answering. Lengths start at 2:
    vpcd's protocol reads any 1-byte message as a control (power off / on / reset / ATR), not as an APDU."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    conn = _connect(virtual_card(sample_card))
    good = load(sample_card).files["EF05"][0]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.binary(min_size=2, max_size=261))
    def check(raw: bytes) -> None:
        data, sw = _tx(conn, raw)
        assert 0x6000 <= sw <= 0x9FFF
        _tx(conn, bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"))
        assert _tx(conn, bytes.fromhex("00B2012C00")) == (good, 0x9000)

    try:
        check()
    finally:
        conn.disconnect()
