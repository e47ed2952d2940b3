"""A minimal card for benchmarks: answers every APDU with its command data and 9000, served by the same vpcd
bridge as the software card, so a comparison isolates the card OS's own cost.

    .venv/bin/python bench/echo_card.py --vpcd 127.0.0.1:35964
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators import vpcd  # noqa: E402


class EchoCard:
    atr = bytes.fromhex("3B02") + b"EC"

    def reset(self) -> bytes:
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        data = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        return data + b"\x90\x00"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vpcd", default=f"{vpcd.DEFAULT_HOST}:{vpcd.DEFAULT_PORT + 1}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    host, port = vpcd.parse_address(args.vpcd)
    vpcd.serve(EchoCard(), host, port)


if __name__ == "__main__":
    main()
