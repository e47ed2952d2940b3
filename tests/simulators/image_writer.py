"""Run as a script by the kill-during-write test: UPDATE RECORD after UPDATE RECORD on a card image, for ever.

Each write puts one counter value into EF06 record 2 (姓名, 30 bytes: the 6-digit counter five times) and into
EF05 record 7 (卡号, 9 bytes: 'K' and the counter, 8 digits), both under secure messaging, so a torn write would
show as a record whose parts disagree.
"""
from __future__ import annotations

import sys
from pathlib import Path

from simulators.cardos import build_card
from simulators.image import load

from tests.simulators.helpers import secured, select_ssse


def main(path: str) -> None:
    image = load(Path(path))
    card = build_card(image)
    select_ssse(card)
    i = 0
    while True:
        i += 1
        name = b"\x09\x1e" + f"{i:06d}".encode() * 5
        number = b"\x07\x09" + f"K{i:08d}".encode()
        for p1, p2, rec in ((2, 0x34, name), (7, 0x2C, number)):
            resp = card.process(secured(card, image, "update", 0x00, 0xDC, p1, p2, rec))
            if resp != b"\x90\x00":
                sys.exit(f"write {i} answered {resp.hex()}")
        if i == 1:
            print("writing", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
