"""The kiosk card monitor through the real pcscd + vpcd: insert/remove drive the flow, a card pulled mid-flow gives
the flow a clean error and the monitor goes on, and a pcscd restart is survived."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from cardlib.pcsc import PcscTransport
from cardlib.ssapp import SocialSecurityApp
from cardlib.transport import TransportError
from terminal.monitor import Monitor, wait_for
from tests.plugins.pcsc import ensure_pcscd, make_card_image, reader_name, start_card_server

pytestmark = pytest.mark.pcsc
READER = reader_name(0)


def read_card_no(reader: str, atr: bytes) -> str:
    with PcscTransport(reader) as t:
        return SocialSecurityApp(t).read_card_info().card_no


@pytest.fixture
def image(tmp_path):
    return make_card_image(tmp_path)


def test_insert_remove_and_pull_mid_flow(pcsc, image):
    release, reading = threading.Event(), threading.Event()
    mode = {"slow": False}

    def flow(reader: str, atr: bytes) -> str:
        with PcscTransport(reader) as t:
            app = SocialSecurityApp(t)
            first = app.read_card_info().card_no
            if mode["slow"]:
                reading.set()
                release.wait(20)
                app.read_card_info()  # the card is gone by now
            return first

    monitor = Monitor(flow, reader=READER, timeout=0.3)
    monitor.start()
    try:
        server = start_card_server(image)
        assert wait_for(monitor, "flow_done", timeout=20).result == "A00000001"
        mark = len(monitor.events)
        server.stop()
        wait_for(monitor, "removed", reader=READER, after=mark)

        mode["slow"] = True
        mark = len(monitor.events)
        server = start_card_server(image)
        assert reading.wait(20)
        server.stop()  # the holder pulls the card while the flow is still using it
        release.set()
        error = wait_for(monitor, "flow_error", after=mark, timeout=20).error
        assert isinstance(error, TransportError)

        mode["slow"] = False
        mark = len(monitor.events)
        server = start_card_server(image)  # the monitor serves the next holder
        assert wait_for(monitor, "flow_done", after=mark, timeout=20).result == "A00000001"
        server.stop()
    finally:
        monitor.stop()
        monitor.join(5)
    assert not any(e.kind == "flow_error" for e in monitor.events[mark:])


def test_survives_a_pcscd_restart(pcsc, image):
    monitor = Monitor(read_card_no, reader=READER, timeout=0.3, retry=0.2)
    monitor.start()
    server = start_card_server(image)
    try:
        assert wait_for(monitor, "flow_done", timeout=20).result == "A00000001"
        mark = len(monitor.events)
        pid = int(subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-x", "pcscd"]).returncode == 0:
            time.sleep(0.1)
        wait_for(monitor, "service_lost", after=mark, timeout=10)
        server.stop()
        ensure_pcscd()  # started again the way the fixture starts it
        wait_for(monitor, "service_back", after=mark, timeout=20)
        mark = len(monitor.events)
        server = start_card_server(image)
        assert wait_for(monitor, "flow_done", after=mark, timeout=30).result == "A00000001"
    finally:
        server.stop()
        monitor.stop()
        monitor.join(5)
