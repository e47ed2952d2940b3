"""A full verified read in one session (select, EF05/EF06 once, internal + external authentication through the
PSAM) through the real pcscd + vpcd, against its floor: the echo card's round trip (bench/echo_card.py), measured
in the same run, times the card APDU count.

    .venv/bin/python bench/bench_verified_read.py [--reads 30] [--echo 300] [--json]

The echo card answers every APDU with 9000 at once, so it measures what PC/SC and vpcd cost per APDU; the ratio
says how much the card OS, the PSAM (in process) and the host logic add on top.

The software card (slot 0) and the echo card (slot 1) are served at once and measured in turns: each verified
read is followed by as many echo round trips as the read sent card APDUs. On a shared machine the round trip
moves between about 25 and 75 us from one second to the next, so a floor measured before the reads (as this
bench first did) can be off by 3x either way; `ratio` is the median of the per-turn ratios (read / its floor),
`ratio_of_medians` the median read over the median floor. Each turn's echo round trips start after three untimed
ones, so the floor is the echo card's round trip while it is awake, as the software card is during a read.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOCK = "/tmp/sscard-pcsc.lock"  # the tests' lock: one user of pcscd's vpcd slots at a time
PORT = 35963
READER = "Virtual PCD 00 00"
ECHO_READER = "Virtual PCD 00 01"
ECHO_APDU = bytes.fromhex("00B2012C00")
GOAL = 1.2  # the verified read at most 1.2x its APDU count times the echo card's round trip


@contextmanager
def pcsc_lock() -> Iterator[None]:
    with open(LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def card_present(reader: str = READER) -> bool:
    from cardlib.pcsc import list_readers

    try:
        return dict(list_readers()).get(reader, False)
    except Exception:
        return False


def wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the virtual reader")
        time.sleep(0.05)


@contextmanager
def served(command: list[str], reader: str = READER) -> Iterator[subprocess.Popen[bytes]]:
    """A card server in `reader`'s slot (slot 0 by default), up until pcscd sees its card; stopped (and the slot
    empty) afterwards."""
    wait(lambda: not card_present(reader))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait(lambda: proc.poll() is not None or card_present(reader))
        if proc.poll() is not None:
            raise SystemExit(f"card server exited: {' '.join(command)}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        wait(lambda: not card_present(reader))


def sscard(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("sscard")), *args]


def echo_round_trip(n: int) -> float:
    """Median seconds per APDU against the echo card."""
    from cardlib.pcsc import PcscTransport

    with served([sys.executable, str(ROOT / "bench" / "echo_card.py"), "--vpcd", f"127.0.0.1:{PORT}"]):
        with PcscTransport(READER) as t:
            for _ in range(20):
                t.transmit(ECHO_APDU)
            times = []
            for _ in range(n):
                start = time.perf_counter()
                t.transmit(ECHO_APDU)
                times.append(time.perf_counter() - start)
    return statistics.median(times)


class Counting:
    """A transport that counts the APDUs it carries."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.count = inner, 0

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.inner.transmit(apdu)


def verified_reads(n: int, workdir: Path, echo_warmup: int = 300) -> dict[str, object]:
    """Verified reads in turns with the echo card: per turn, one read and as many echo round trips as it sent
    card APDUs (its floor at that moment)."""
    from cardlib import issuer_keys, security
    from cardlib.channel import Channel
    from cardlib.pcsc import PcscTransport
    from cardlib.psam import Psam
    from cardlib.transport import LoopbackTransport
    from simulators.issue import issue
    from simulators.psam import Psam as SimulatedPsam

    key_set = issuer_keys.new_key_set("sm4", "BENCH")
    holder = json.loads((ROOT / "docs" / "sample-holder.json").read_text(encoding="utf-8"))
    img = issue(holder, alg="sm4", key_set=key_set)
    img.path = workdir / "card.json"
    img.save()
    loop = LoopbackTransport(SimulatedPsam({"sm4": key_set}))
    loop.connect()
    psam = Psam(loop)
    reads, floors, count, session = [], [], 0, None
    echo_server = [sys.executable, str(ROOT / "bench" / "echo_card.py"), "--vpcd", f"127.0.0.1:{PORT + 1}"]
    with served(echo_server, ECHO_READER), \
            served(sscard("sim", "serve", "--card", str(img.path), "--vpcd", f"127.0.0.1:{PORT}")):
        with PcscTransport(READER) as t, PcscTransport(ECHO_READER) as echo:
            for _ in range(echo_warmup):
                echo.transmit(ECHO_APDU)
            clock = time.perf_counter
            for i in range(n + 3):
                card = Counting(t)
                start = clock()
                _info, session = security.verified_read(Channel(card), psam)
                elapsed = clock() - start
                for _ in range(3):  # the echo card's side woken first, so its floor is not charged a wake-up
                    echo.transmit(ECHO_APDU)
                start = clock()
                for _ in range(card.count):
                    echo.transmit(ECHO_APDU)
                floor = clock() - start
                if i >= 3:  # warm-up turns are not counted
                    reads.append(elapsed)
                    floors.append(floor)
                    count = card.count
    assert session is not None and session.external_auth
    return {"reads": reads, "floors": floors, "apdus": count, "alg": session.alg, "version": session.version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--echo", type=int, default=300, help="echo round trips to warm up with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with pcsc_lock(), tempfile.TemporaryDirectory() as tmp:
        run = verified_reads(args.reads, Path(tmp), args.echo)
    reads, floors, apdus = run["reads"], run["floors"], run["apdus"]
    per_read, floor = statistics.median(reads), statistics.median(floors)  # type: ignore[arg-type]
    ratio = statistics.median(r / f for r, f in zip(reads, floors))  # type: ignore[call-overload]
    result = {
        "verified_read_ms": round(per_read * 1000, 3), "apdus_per_read": apdus,
        "echo_round_trip_ms": round(floor / apdus * 1000, 3), "floor_ms": round(floor * 1000, 3),  # type: ignore[operator]
        "ratio": round(ratio, 2), "ratio_of_medians": round(per_read / floor, 2), "goal": GOAL,
        "met": ratio <= GOAL, "reads": args.reads, "alg": run["alg"], "version": run["version"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"verified read ({result['alg']}, {result['version']}): {result['verified_read_ms']} ms, "
              f"{apdus} card APDUs (PSAM in process)")
        print(f"echo card round trip: {result['echo_round_trip_ms']} ms -> floor {apdus} x = {result['floor_ms']} ms"
              " (in turns with the reads)")
        print(f"ratio: {result['ratio']}x the echo floor, median of {args.reads} turns "
              f"(goal {GOAL}x: {'met' if result['met'] else 'NOT met'}; median over median "
              f"{result['ratio_of_medians']}x)")


if __name__ == "__main__":
    main()
