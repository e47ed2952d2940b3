"""Personalization throughput through the hopper: cards per minute through the real pcscd + vpcd, against the
floor measured in the same run (the echo card's round trip times the APDUs a card takes) and against the same
station driving the same hopper in process (no PC/SC at all).

    .venv/bin/python bench/bench_personalize.py [--cards 20] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_verified_read import Counting, echo_round_trip, pcsc_lock, served, sscard  # noqa: E402

from cardlib.idnumber import check_char  # noqa: E402


def holders(n: int) -> list:  # type: ignore[type-arg]
    from terminal.personalize import Holder, check_holder

    out = []
    for i in range(n):
        first17 = f"41160019900101{i:03d}"
        out.append(Holder(line=i + 1, data=check_holder({
            "ssn": first17 + check_char(first17), "name": f"批量{i}", "gender": "1" if i % 2 else "2", "nation": "01",
            "birthplace": "411600", "birth_date": "1990-01-01"})))
    return out


def make_hopper(directory: Path, key_set, n: int) -> None:  # type: ignore[no-untyped-def]
    from simulators.personalization import new_blank, write_json_atomic

    directory.mkdir(parents=True)
    for i in range(n):
        write_json_atomic(directory / f"card{i:05d}.json", new_blank(key_set))


def run(cards, key_set, journal: Path, n: int):  # type: ignore[no-untyped-def]
    from cardlib.psam import Psam
    from cardlib.transport import LoopbackTransport
    from simulators.psam import Psam as SimulatedPsam
    from terminal import personalize as station

    loop = LoopbackTransport(SimulatedPsam({key_set.alg: key_set}))
    loop.connect()
    start = time.perf_counter()
    result = station.run_batch(holders(n), cards, Psam(loop), station.Journal(journal), station.Options(bank_bin="622848"))
    elapsed = time.perf_counter() - start
    if len(result.issued) != n:
        raise SystemExit(f"only {len(result.issued)} of {n} cards issued: {result.failed[:3]}")
    return elapsed


class CountingReader(Counting):
    def reconnect(self, *, reset: bool = False) -> None:
        self.inner.reconnect(reset=reset)

    def disconnect(self) -> None:
        self.inner.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from cardlib import issuer_keys
    from cardlib.pcsc import PcscTransport
    from cardlib.transport import LoopbackTransport
    from simulators.cardos import build_card
    from simulators.hopper import Hopper
    from terminal.personalize import hopper_cards

    key_set = issuer_keys.new_key_set("sm4", "BENCH")
    n = args.cards
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        issuer_keys.save(key_set, tmp_path / "keys")

        class Loop(LoopbackTransport):
            def reconnect(self, *, reset: bool = False) -> None:
                self.connect()

        make_hopper(tmp_path / "local", key_set, n)
        in_process = run(hopper_cards(Loop(Hopper(tmp_path / "local", build_card)), 0.2), key_set,
                         tmp_path / "local.journal", n)
        make_hopper(tmp_path / "hopper", key_set, n)
        with pcsc_lock():
            rtt = echo_round_trip(200)
            with served(sscard("sim", "serve", "--hopper", str(tmp_path / "hopper"), "--vpcd", "127.0.0.1:35963")):
                reader = CountingReader(PcscTransport("Virtual PCD 00 00"))
                pcsc = run(hopper_cards(reader, 3.0), key_set, tmp_path / "pcsc.journal", n)
    apdus = reader.count / n
    per_card = pcsc / n
    floor = rtt * apdus
    result = {
        "cards": n, "cards_per_minute": round(60 / per_card, 1), "ms_per_card": round(per_card * 1000, 2),
        "apdus_per_card": round(apdus, 1), "echo_round_trip_ms": round(rtt * 1000, 3),
        "floor_ms_per_card": round(floor * 1000, 2), "ratio_to_floor": round(per_card / floor, 2),
        "in_process_cards_per_minute": round(60 * n / in_process, 1),
        "ratio_to_in_process": round(per_card / (in_process / n), 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"hopper through pcscd+vpcd: {result['cards_per_minute']} cards/min ({result['ms_per_card']} ms/card, "
              f"{result['apdus_per_card']} APDUs/card incl. eject and reset)")
        print(f"floor: {result['apdus_per_card']} x echo {result['echo_round_trip_ms']} ms = "
              f"{result['floor_ms_per_card']} ms/card -> ratio {result['ratio_to_floor']}x")
        print(f"same station in process: {result['in_process_cards_per_minute']} cards/min -> "
              f"ratio {result['ratio_to_in_process']}x")


if __name__ == "__main__":
    main()
