"""Servers for the card-services tests: any `sscard sim ...` server (a hopper, a PSAM) in a vpcd slot, on the
shared pcscd (the `pcsc` fixture holds the session lock), and issuer key sets made by `sscard keys new-issuer`."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.pcsc import (
    READER_WAIT, ROOT, SLOT_FREE_WAIT, VPCD_HOST, VPCD_PORT, _Server, reader_name, reader_states, sscard_command,
    sample_holder, wait_for,
)


def sscard(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sscard_command(), *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def start_server(args: list[str], slot: int) -> _Server:
    """`sscard <args> --vpcd ...` in vpcd slot `slot`, returned once pyscard sees its card."""
    reader = reader_name(slot)
    if not wait_for(lambda: not reader_states().get(reader, False), SLOT_FREE_WAIT, 0.2):
        pytest.fail(f"{reader!r} still holds a card after {SLOT_FREE_WAIT:.0f}s")
    fd, log_name = tempfile.mkstemp(prefix="sscard-services-", suffix=".log")
    proc = subprocess.Popen([*sscard_command(), *args, "--vpcd", f"{VPCD_HOST}:{VPCD_PORT + slot}"],
                            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=ROOT)
    os.close(fd)
    server = _Server(proc, reader, Path(log_name))
    seen = wait_for(lambda: proc.poll() is not None or reader_states().get(reader, False), READER_WAIT)
    if proc.poll() is not None or not seen:
        output = Path(log_name).read_text(errors="replace")
        server.stop()
        pytest.fail(f"`sscard {' '.join(args)}` did not come up in {reader!r}: {output[-2000:]}")
    return server


@pytest.fixture
def sim_server(pcsc: None) -> Iterator[Callable[..., _Server]]:
    """Factory: sim_server(args, slot) -> the running server; all are stopped after the test."""
    servers: list[_Server] = []

    def start(args: list[str], slot: int = 0) -> _Server:
        server = start_server(args, slot)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="module")
def issuer_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two issuers, each with a 3DES and an SM4 key set, made by the CLI: "ours" and "other" (a counterfeiter)."""
    out = {}
    for name in ("ours", "other"):
        d = tmp_path_factory.mktemp(name) / "keys"
        for alg in ("3des", "sm4"):
            r = sscard("keys", "new-issuer", "--out", str(d), "--alg", alg, "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["path"].endswith(f"issuer-{alg}.json")
        out[name] = d
    return out


def card_image(directory: Path, keys: Path, alg: str = "sm4", name: str = "card.json", *, bank: bool = False,
               **overrides: Any) -> Path:
    """A card for the sample holder made by `sscard sim new --keys`, optionally with the debit application."""
    holder = directory / f"{name}.holder.json"
    holder.write_text(json.dumps(sample_holder(**overrides), ensure_ascii=False), encoding="utf-8")
    out = directory / name
    r = sscard("sim", "new", "--holder", str(holder), "--out", str(out), "--alg", alg, "--keys", str(keys), "--json")
    assert r.returncode == 0, r.stderr
    if bank:
        from cardlib import issuer_keys
        from simulators import image
        from simulators.pboc import new_state

        img = image.load(out)
        img.applets["pboc_debit"] = new_state(alg, "6228480012345678901", "301231",  # type: ignore[arg-type]
                                              issuer_keys.load(keys)[alg].master("ac"), name="ZHANG LIHUA")  # type: ignore[index]
        img.save()
    return out
