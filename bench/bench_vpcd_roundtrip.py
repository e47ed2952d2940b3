"""Round trip of one APDU (READ RECORD EF05 record 1) through pcscd + vpcd: the software card against a minimal
echo card served the same way in the other slot of the same pcscd, measured in one run, interleaved.

    .venv/bin/python bench/bench_vpcd_roundtrip.py [--n 2000] [--json]

Goal: the simulator's median round trip at most 1.1x the echo card's. Holds /tmp/sscard-pcsc.lock while it runs,
like the PC/SC tests, so it does not fight them for the vpcd slots.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from smartcard import scard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulators.issue import issue, load_holder  # noqa: E402

LOCK_PATH = "/tmp/sscard-pcsc.lock"
PORT = 35963
SELECT_SSSE = bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")
READ_EF05_1 = bytes.fromhex("00B2012C00")
GOAL = 1.1


def reader(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02d}"


def present(context: int, name: str) -> bool:
    hresult, states = scard.SCardGetStatusChange(context, 0, [(name, scard.SCARD_STATE_UNAWARE)])
    return hresult == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)


def wait(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            sys.exit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def ensure_pcscd() -> None:
    running = False
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            running = running or comm.read_text().strip() == "pcscd"
        except OSError:
            pass
    if not running:
        subprocess.run([shutil.which("pcscd") or "/usr/sbin/pcscd"], check=True)


def connect(context: int, name: str) -> tuple[int, int]:
    hresult, card, protocol = scard.SCardConnect(context, name, scard.SCARD_SHARE_SHARED,
                                                 scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
    if hresult != scard.SCARD_S_SUCCESS:
        sys.exit(f"bench: cannot connect to {name}: {scard.SCardGetErrorMessage(hresult)}")
    return card, protocol


def transmit(card: int, protocol: int, apdu: list[int]) -> list[int]:
    hresult, response = scard.SCardTransmit(card, protocol, apdu)
    if hresult != scard.SCARD_S_SUCCESS:
        sys.exit(f"bench: transmit failed: {scard.SCardGetErrorMessage(hresult)}")
    return response  # type: ignore[no-any-return]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": statistics.median(ordered), "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
            "mean_ms": statistics.fmean(ordered), "n": len(ordered)}


def run(n: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="sscard-bench-"))
    image = issue(load_holder(ROOT / "docs" / "sample-holder.json"))
    image.path = tmp / "card.json"
    image.save()
    sscard = Path(sys.executable).with_name("sscard")
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        sys.exit("bench: no PC/SC service")
    for slot in (0, 1):  # a server that just stopped may still show as present for a moment
        wait(lambda: not present(context, reader(slot)), 30, f"{reader(slot)} to be free")
    servers = [
        subprocess.Popen([str(sscard), "sim", "serve", "--card", str(image.path), "--vpcd", f"127.0.0.1:{PORT}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_card.py"), "--vpcd", f"127.0.0.1:{PORT + 1}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        for slot in (0, 1):
            wait(lambda: present(context, reader(slot)), 30, f"a card in {reader(slot)}")
        time.sleep(0.5)  # let pcscd finish its own power-up exchanges
        sim, echo = connect(context, reader(0)), connect(context, reader(1))
        apdu = list(READ_EF05_1)
        assert bytes(transmit(*sim, list(SELECT_SSSE))) == b"\x90\x00"
        expected = image.files["EF05"][0] + b"\x90\x00"
        assert bytes(transmit(*sim, apdu)) == expected, "the software card answered wrongly"
        assert bytes(transmit(*echo, apdu)) == b"\x90\x00"
        for _ in range(200):  # warm-up, both
            transmit(*sim, apdu)
            transmit(*echo, apdu)
        times: dict[str, list[float]] = {"simulator": [], "echo": []}
        clock = time.perf_counter_ns
        pairs = ((times["simulator"], sim), (times["echo"], echo))
        with click.progressbar(length=n, label="round trips", file=sys.stderr) as bar:
            for i in range(n):  # alternate one by one, so both cards see the same machine at the same moment
                for bucket, (card, protocol) in (pairs if i % 2 == 0 else pairs[::-1]):
                    t0 = clock()
                    transmit(card, protocol, apdu)
                    bucket.append((clock() - t0) / 1e6)
                if i % 100 == 99:
                    bar.update(100)
        for card, _ in (sim, echo):
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
    finally:
        scard.SCardReleaseContext(context)
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    sim_s, echo_s = summary(times["simulator"]), summary(times["echo"])
    ratio = sim_s["median_ms"] / echo_s["median_ms"]
    return {"apdu": READ_EF05_1.hex().upper(), "simulator": sim_s, "echo": echo_s,
            "ratio_median": ratio, "ratio_p99": sim_s["p99_ms"] / echo_s["p99_ms"], "goal": GOAL,
            "met": ratio <= GOAL}


def main() -> None:
    parser = argparse.ArgumentParser(description="vpcd round trip: software card vs echo card")
    parser.add_argument("--n", type=int, default=2000, help="round trips per card")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with open(LOCK_PATH, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_pcscd()
        result = run(args.n)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("simulator", "echo"):
        s = result[name]
        print(f"{name:9s}  median {s['median_ms']:.3f} ms   p99 {s['p99_ms']:.3f} ms   mean {s['mean_ms']:.3f} ms"  # type: ignore[index]
              f"   (n={s['n']})")  # type: ignore[index]
    print(f"ratio simulator/echo: median {result['ratio_median']:.2f}x, p99 {result['ratio_p99']:.2f}x "
          f"(goal <= {GOAL}x: {'met' if result['met'] else 'NOT met'})")


if __name__ == "__main__":
    main()
