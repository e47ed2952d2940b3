"""The card image: round trip, refusal of damaged files, and anti-tearing under SIGKILL."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.image import ImageError, from_json, load, make_atr, write_atomic

from .helpers import new_card

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip(tmp_path: Path) -> None:
    _, image = new_card("3des", tmp_path / "card.json")
    again = load(tmp_path / "card.json")
    assert again.to_json() == image.to_json()
    assert again.atr == make_atr(image.historical) and again.atr[:2] == bytes([0x3B, 0x6D])
    assert again.pin_matches("123456") and not again.pin_matches("123457")
    text = (tmp_path / "card.json").read_text()
    assert "123456" not in text.replace(image.to_json()["pin"]["sha256"], "").replace(
        image.to_json()["pin"]["salt"], "")  # the PIN is stored only as a salted hash
    assert os.stat(tmp_path / "card.json").st_mode & 0o077 == 0


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    _, image = new_card("sm4", tmp_path / "card.json")
    text = repr(image)
    assert all(k.hex().upper() not in text and k.hex() not in text for k in image.keys.values())


@pytest.mark.parametrize("damage,message", [
    (lambda d: d.update(format="other"), "not an sscard card image"),
    (lambda d: d.update(algorithm="aes"), "algorithm"),
    (lambda d: d.update(profile="nope"), "unknown profile"),
    (lambda d: d.update(atr_historical="zz"), "atr_historical is not hex"),
    (lambda d: d.update(atr_historical=""), "historical bytes"),
    (lambda d: d["files"].update(EF99={"records": []}), "EF99"),
    (lambda d: d["files"]["EF05"].update(records=["00"] * 9), "allows 7"),
    (lambda d: d["files"]["EF05"].update(records="0101"), "list of records"),
    (lambda d: d["keys"].update(update="00"), "key update must be 16 bytes"),
    (lambda d: d.update(counters={"pin_tries_left": 9}), "pin_tries_left"),
    (lambda d: d["files"].update(EF07={"binary": "00" * 2000}), "allows 1024"),
])
def test_damaged_images_are_refused_with_the_reason(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    _, image = new_card("sm4")
    data = image.to_json()
    damage(data)
    with pytest.raises(ImageError, match=message):
        from_json(data, tmp_path / "x.json")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ImageError, match="not JSON"):
        load(tmp_path / "bad.json")


def test_write_atomic_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def _check_record(rec: bytes, tag: int, initial: bytes, chunk: int) -> None:
    """A record is the initial one or one whole write: every chunk of the counter agrees."""
    assert rec[0] == tag and rec[1] == len(rec) - 2
    if rec == initial:
        return
    value = rec[2:]
    if tag == 0x07:
        assert value[:1] == b"K" and value[1:].isdigit(), value
    else:
        parts = {value[i:i + chunk] for i in range(0, len(value), chunk)}
        assert len(parts) == 1 and value[:chunk].isdigit(), value


def test_sigkill_during_writes_never_tears_the_image(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    _, image = new_card("sm4", path)
    initial_name, initial_no = image.files["EF06"][1], image.files["EF05"][6]
    rng = random.Random(20261122)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    last_counter = 0
    for round_ in range(15):
        proc = subprocess.Popen([sys.executable, "-m", "tests.simulators.image_writer", str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"writing\n", proc.stderr.read() if proc.stderr else b""
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        loaded = load(path)  # always a whole, valid image
        name, number = loaded.files["EF06"][1], loaded.files["EF05"][6]
        _check_record(name, 0x09, initial_name, 6)
        _check_record(number, 0x07, initial_no, 9)
        if name != initial_name:
            last_counter = max(last_counter, int(name[2:8]))
        assert loaded.keys == image.keys and loaded.pin_matches("123456")
    assert last_counter >= 1  # the writes really happened
    json.loads(path.read_text())


def _mutations():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    junk = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
    keys = st.sampled_from(["format", "profile", "atr_historical", "algorithm", "files", "keys", "pin", "counters",
                            "applets"])
    return st.lists(st.tuples(keys, junk), min_size=1, max_size=3)


def test_any_damage_is_an_image_error() -> None:
    from hypothesis import given, settings

    _, image = new_card("sm4")
    good = image.to_json()

    @settings(max_examples=150, deadline=None)
    @given(_mutations())
    def check(changes) -> None:  # type: ignore[no-untyped-def]
        data = json.loads(json.dumps(good))
        for key, value in changes:
            data[key] = value
        try:
            from_json(data)
        except ImageError:
            pass

    check()
