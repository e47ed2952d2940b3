"""Replay at the gate: one holder's flood of their own codes cannot push out another holder's admitted code, the
cache stays bounded however many holders flood it, and a gate that restarts (cleanly, or killed) still refuses a
code it admitted, with the cache kept in its cache folder; a torn or garbled cache file is a warning, not a crash."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecard import keys, replay, tokens
from ecard.replay import ReplayCache
from terminal.gate import Gate

SSCARD = str(Path(sys.executable).with_name("sscard"))


def holder(ks, now: int, idx: int = 1):
    """A holder's phone: a device key and the issuer's credential binding it, to make offline codes with."""
    device = keys.generate()
    return device, tokens.issue_credential(ks.current, os.urandom(10), idx, device.public(), now - 10, 86400)


def test_one_holders_flood_does_not_readmit_another_holders_code(site, tmp_path):
    ks, root = site
    now = int(time.time())
    gate = Gate(tmp_path / "cache", jwks_file=root / "jwks.json", status_file=root / "status.jwt",
                clock=lambda: now)
    gate.start()
    victim_device, victim_cred = holder(ks, now)
    victim = tokens.present(victim_cred, victim_device, now, ttl=60)
    assert gate.decide(victim).valid
    attacker_device, attacker_cred = holder(ks, now, idx=2)
    flood = [tokens.present(attacker_cred, attacker_device, now, ttl=300) for _ in range(100_001)]
    assert all(gate.decide(code).valid for code in flood)  # all really admitted: each a fresh, valid code
    assert gate.decide(victim).reason == "replayed"
    assert len(gate.replay) <= replay.PER_OWNER + 1  # the flood pushed out only the attacker's own entries
    assert gate.decide(flood[-1]).reason == "replayed"
    gate.stop()


def test_many_holders_flooding_keep_the_cache_bounded_and_the_victim_remembered():
    cache, code_key = ReplayCache(max_entries=1000, per_owner=10), replay.code_key
    victim = code_key(b"victim", b"nonce-01")
    assert not cache.seen(victim, 2000, 0)
    for n in range(500):  # 500 holders, each past their own share: 5,000 codes for 1,000 places
        for i in range(20):
            assert not cache.seen(code_key(b"attacker%d" % n, b"%08d" % i), 1000 + i, 0)
            assert len(cache) <= 1000
    assert cache.seen(victim, 2000, 0)
    per_owner: dict[bytes, int] = {}
    for key in cache.snapshot():
        per_owner[key[:16]] = per_owner.get(key[:16], 0) + 1
    assert max(per_owner.values()) <= 10 and sum(per_owner.values()) == len(cache) <= 1000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 10**6), st.integers(1, 300)), max_size=400))
def test_whatever_others_do_a_light_holders_code_stays(ops):
    # 31 holders and 50 places: whenever the cache is full someone holds more than the victim's one entry
    cache, code_key = ReplayCache(max_entries=50, per_owner=5), replay.code_key
    victim = code_key(b"victim", b"v")
    assert not cache.seen(victim, 10_000, 0)
    for t, (who, nonce, ttl) in enumerate(ops):
        cache.seen(code_key(b"h%d" % who, nonce.to_bytes(4, "big")), t + ttl, t)
        assert len(cache) <= 50
    assert cache.seen(victim, 10_000, len(ops))


def test_replay_file_survives_restart_compaction_and_garbage(tmp_path):
    ReplayFile, code_key, path = replay.ReplayFile, replay.code_key, tmp_path / "replay.json"
    f = ReplayFile(path, 0)
    keys_ = [code_key(b"h%d" % (i % 40), b"%08d" % i) for i in range(6000)]
    assert not any(f.seen(k, 100, 0) for k in keys_)
    assert path.exists() and len(f.journal_path.read_bytes()) < 6000 * 50  # folded into the snapshot on the way
    with pytest.raises(replay.ReplayFileBusy):  # a second gate on the same folder would lose the first one's codes
        ReplayFile(path, 0, wait=False)
    f.close()
    again = ReplayFile(path, 0)
    remembered = len(again)
    assert remembered == 40 * replay.PER_OWNER and again.seen(keys_[-1], 100, 0) and not again.warnings
    assert not again.seen(code_key(b"h1", b"fresh"), 100, 0)
    again.close()
    # a torn snapshot (cut mid-way) and a garbled journal line: warnings, the rest of the journal still counts
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with open(f.journal_path, "ab") as j:
        j.write(b"\xff\xfe not a line\n")
    torn = ReplayFile(path, 0)
    assert len(torn.warnings) == 2 and "starting from empty" in torn.warnings[0]
    assert torn.seen(code_key(b"h1", b"fresh"), 100, 0)  # it was in the journal
    torn.close()
    # expired entries are not loaded back
    assert len(ReplayFile(path, 101)) == 0


def test_replay_file_on_a_full_disk_still_refuses_replays(tmp_path):
    f = replay.ReplayFile(tmp_path / "replay.json", 0)
    os.close(f._fd)
    f._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC, as on a full disk
    key = replay.code_key(b"h", b"n")
    assert not f.seen(key, 100, 0) and f.degraded and "cannot be written" in f.warnings[-1]
    assert f.seen(key, 100, 0)
    f.close()


class GateProcess:
    def __init__(self, root: Path, cache: Path) -> None:
        self.proc = subprocess.Popen([SSCARD, "terminal", "gate", "--jwks", str(root / "jwks.json"), "--status-list",
                                      str(root / "status.jwt"), "--cache", str(cache), "--json"], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ask(self, token: str) -> str:
        self.proc.stdin.write(token + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        return json.loads(line)["reason"]

    def close(self) -> str:
        self.proc.stdin.close()
        assert self.proc.wait(20) == 0
        return self.proc.stderr.read()


def test_a_restarted_gate_refuses_what_it_admitted(site, tmp_path):
    ks, root = site
    now = int(time.time())
    device, cred = holder(ks, now)
    first, second, third = (tokens.present(cred, device, now) for _ in range(3))
    gate = GateProcess(root, tmp_path / "cache")
    assert gate.ask(first) == "ok"
    assert "Traceback" not in gate.close()
    gate = GateProcess(root, tmp_path / "cache")
    assert gate.ask(first) == "replayed" and gate.ask(second) == "ok"
    gate.proc.send_signal(signal.SIGKILL)  # killed right after answering: the admission was already on disk
    gate.proc.wait(10)
    gate = GateProcess(root, tmp_path / "cache")
    assert (gate.ask(first), gate.ask(second), gate.ask(third)) == ("replayed", "replayed", "ok")
    stderr = gate.close()
    assert "2 codes remembered" in stderr


def test_gate_with_a_garbled_replay_file_warns_and_works(site, tmp_path):
    ks, root = site
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "replay.json").write_bytes(b'{"8f3a": 17, "torn')
    (cache / "replay.json.log").write_bytes(b"\x00\x01garbage\n")
    now = int(time.time())
    device, cred = holder(ks, now)
    code = tokens.present(cred, device, now)
    gate = GateProcess(root, cache)
    assert gate.ask(code) == "ok" and gate.ask(code) == "replayed"
    other = subprocess.run([SSCARD, "terminal", "gate", "--jwks", str(root / "jwks.json"), "--cache", str(cache)],
                           input="", capture_output=True, text=True, timeout=30)
    assert other.returncode == 1 and "another gate is using the cache" in other.stdout + other.stderr
    stderr = gate.close()
    assert "unreadable" in stderr and "garbled" in stderr and "Traceback" not in stderr


def test_qr_verify_replay_file_garbled_then_kept(site, tmp_path):
    ks, root = site
    now = int(time.time())
    device, cred = holder(ks, now)
    code = tokens.present(cred, device, now)
    cache = tmp_path / "replay.json"
    cache.write_text("{[", encoding="utf-8")
    args = ["qr", "verify", code, "--jwks", str(root / "jwks.json"), "--replay-cache", str(cache)]
    first = subprocess.run([SSCARD, *args], capture_output=True, text=True, timeout=30)
    assert first.returncode == 0 and "unreadable" in first.stderr and "Traceback" not in first.stderr
    again = subprocess.run([SSCARD, *args], capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "replayed" in again.stdout
