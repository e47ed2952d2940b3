"""Fixtures for tests that go through a real pcscd and the vpcd virtual reader.

- `pcsc`: a running pcscd (the system one, or one started here) with the vpcd readers listed, and an exclusive lock
  (/tmp/sscard-pcsc.lock) held for the whole test session, so concurrent pytest runs do not fight over the one
  pcscd and its two vpcd ports;
- `virtual_card(image_path, slot=0)`: serves a card image with `sscard sim serve` in vpcd slot `slot` (port
  35963 + slot) until the test ends; returns the reader name ("Virtual PCD 00 0<slot>") once pyscard sees the card;
- `make_card_image(directory, **holder_overrides)` and the `sample_card` fixture: a card image from
  docs/sample-holder.json.
Mark tests that use them with @pytest.mark.pcsc.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from smartcard import scard

ROOT = Path(__file__).resolve().parents[2]
LOCK_PATH = "/tmp/sscard-pcsc.lock"
LOCK_WAIT = 1200.0
VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963
READER_WAIT = 30.0
SLOT_FREE_WAIT = 60.0


def reader_name(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02d}"


def _context() -> int | None:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    return context if hresult == scard.SCARD_S_SUCCESS else None


def reader_states() -> dict[str, bool]:
    """Every reader pcscd lists, with whether a card is present; empty when pcscd is not answering."""
    context = _context()
    if context is None:
        return {}
    try:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult != scard.SCARD_S_SUCCESS or not names:
            return {}
        hresult, states = scard.SCardGetStatusChange(context, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names])
        if hresult != scard.SCARD_S_SUCCESS:
            return {}
        return {name: bool(state & scard.SCARD_STATE_PRESENT) for name, state, _atr in states}
    finally:
        scard.SCardReleaseContext(context)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def _pcscd_running() -> bool:
    """`pgrep -x pcscd` without needing procps: a process whose command name is pcscd."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "pcscd":
                return True
        except OSError:
            continue
    return False


def ensure_pcscd() -> None:
    """Start pcscd if none runs, then wait until the vpcd readers are listed."""
    if not _pcscd_running():
        pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
        command = [pcscd] if os.geteuid() == 0 else ["sudo", "-n", pcscd]
        started = subprocess.run(command, capture_output=True, text=True)
        if started.returncode != 0 and not _pcscd_running():
            pytest.fail(f"could not start pcscd ({' '.join(command)}): {started.stderr.strip()}")
    if not wait_for(lambda: reader_name(0) in reader_states(), READER_WAIT, 0.2):
        pytest.fail(f"pcscd runs but lists no {reader_name(0)!r} (is vsmartcard-vpcd installed? readers: "
                    f"{sorted(reader_states())})")


def _lock_holder(lock: Any) -> str:
    lock.seek(0)
    return lock.readline(200).strip() or "another process"


@pytest.fixture(scope="session")
def pcsc() -> Iterator[None]:
    """A pcscd with the vpcd readers, and this session's exclusive hold on them."""
    with open(LOCK_PATH, "a+") as lock:
        end = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    pytest.fail(f"{_lock_holder(lock)} held {LOCK_PATH} for {LOCK_WAIT:.0f}s")
                time.sleep(0.5)
        lock.truncate(0)  # who holds it, for scripts/start.sh and other sessions that wait
        lock.write(f"a pytest session in {ROOT} (pid {os.getpid()})\n")
        lock.flush()
        try:
            ensure_pcscd()
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sscard_command() -> list[str]:
    script = Path(sys.executable).with_name("sscard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


class _Server:
    def __init__(self, proc: subprocess.Popen[bytes], reader: str, log: Path) -> None:
        self.proc, self.reader, self.log = proc, reader, log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        wait_for(lambda: not reader_states().get(self.reader, False), 10.0)
        self.log.unlink(missing_ok=True)


def start_card_server(image_path: Path, slot: int = 0) -> _Server:
    """`sscard sim serve` for an image in a vpcd slot, returned once pyscard sees its card."""
    reader = reader_name(slot)
    if not wait_for(lambda: not reader_states().get(reader, False), SLOT_FREE_WAIT, 0.2):
        pytest.fail(f"{reader!r} still holds a card after {SLOT_FREE_WAIT:.0f}s: another card server is connected "
                    f"to vpcd port {VPCD_PORT + slot}")
    fd, log_name = tempfile.mkstemp(prefix="sscard-serve-", suffix=".log")
    log = Path(log_name)
    proc = subprocess.Popen(
        [*sscard_command(), "sim", "serve", "--card", str(image_path), "--vpcd", f"{VPCD_HOST}:{VPCD_PORT + slot}"],
        stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=ROOT)
    os.close(fd)
    server = _Server(proc, reader, log)
    seen = wait_for(lambda: proc.poll() is not None or reader_states().get(reader, False), READER_WAIT)
    if proc.poll() is not None or not seen:
        server.stop()
        output = log.read_text(errors="replace") if log.exists() else ""
        pytest.fail(f"card server for {image_path} did not come up in {reader!r}: {output[-2000:]}")
    return server


@pytest.fixture
def virtual_card(pcsc: None) -> Iterator[Callable[..., str]]:
    """Factory: virtual_card(image_path, slot=0) -> reader name; every server started is stopped after the test."""
    servers: list[_Server] = []

    def start(image_path: Path, slot: int = 0) -> str:
        server = start_card_server(Path(image_path), slot)
        servers.append(server)
        return server.reader

    yield start
    for server in reversed(servers):
        server.stop()


def sample_holder(**overrides: Any) -> dict[str, Any]:
    holder = json.loads((ROOT / "docs" / "sample-holder.json").read_text(encoding="utf-8"))
    holder.update(overrides)
    return holder


def make_card_image(directory: Path, name: str = "card.json", *, alg: str | None = None,
                    **holder_overrides: Any) -> Path:
    """A card image for the sample holder (with overrides) in `directory`."""
    from simulators.issue import issue

    image = issue(sample_holder(**holder_overrides), alg=alg)  # type: ignore[arg-type]
    image.path = Path(directory) / name
    image.save()
    return image.path


@pytest.fixture
def sample_card(tmp_path: Path) -> Path:
    return make_card_image(tmp_path)
