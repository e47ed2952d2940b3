"""A card printer's hopper in the virtual reader: the card images of a directory, presented one after another.

The hopper is itself a card object (`atr`, `reset()`, `process()`), so the vpcd bridge serves it like any card.
It presents the first image (sorted by name); the host ejects the card with the vendor command EJECT `80EE0000`
(sscard's own), and the hopper presents the next image at once, so the host's next reset (or reconnect) sees the
next chip's ATR. After the last card the slot is empty: the hopper calls `on_empty` (the bridge then reports the
card removed) and answers any further APDU with 6A82.

Blank images (`sscard-blank/1`) become BlankCard objects; the personalization they receive is written over the
same file as a full card image, atomically, so the directory ends as a stack of personalized cards.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import apdu_specs
from cardlib import tlv
from cardlib.personalization import eject
from simulators import personalization

EJECT = eject().to_bytes()  # apdu_specs/personalization.toml
OK = b"\x90\x00"


def personalized_image(path: Path, perso: dict[str, Any]) -> Any:
    """The card image a personalization session produces (the card maker's make_image), saved over the blank."""
    from simulators.issue import make_image

    applets = {"pboc_debit": bank_state(perso)} if "bank" in perso else None
    img = make_image(perso["alg"], bytes.fromhex(perso["atr"])[4:], perso["records"], perso["keys"], perso["pin"],
                     applets=applets)
    img.path = Path(path)
    img.save()
    return img


def bank_state(perso: dict[str, Any]) -> dict[str, Any]:
    """The debit applet's state from the bank data group (EMV tags) and its unwrapped card master key."""
    from simulators.pboc import spec

    values = {f"{o.tag:02X}": o.value for o in tlv.parse(perso["bank"])}
    return {
        "alg": perso["alg"], "pan": values["5A"].hex().upper().rstrip("F"), "psn": values["5F34"].hex(),
        "expiry": values["5F24"].hex(), "effective": values.get("5F25", values["5F24"]).hex(),
        "name": values.get("5F20", b"").decode("ascii", "replace"),
        "balance": int(spec()["defaults"]["balance"]), "atc": 0, "mk_ac": perso["bank_key"].hex().upper(),
    }


def open_card(path: Path, card_from_image: Callable[[Any], Any]) -> Any:
    """The card object for one image file: a blank chip, or the personalized card of the card OS."""
    from simulators import image

    data = json.loads(Path(path).read_bytes())
    if personalization.is_blank(data):
        return personalization.BlankCard(data, lambda perso: card_from_image(personalized_image(path, perso)))
    return card_from_image(image.from_json(data, Path(path)))


class EmptySlot:
    """What the reader holds once the hopper has run out."""

    atr = bytes.fromhex("3B00")

    def reset(self) -> bytes:
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        return apdu_specs.status_word_by_name("file_not_found").to_bytes(2, "big")


class Hopper:
    def __init__(self, directory: Path, card_from_image: Callable[[Any], Any],
                 on_empty: Callable[[], None] | None = None) -> None:
        self.paths = sorted(p for p in Path(directory).glob("*.json") if not p.name.startswith("."))
        self._make = card_from_image
        self._on_empty = on_empty or (lambda: None)
        self.position = -1
        self.ejected = 0
        self.current: Any = EmptySlot()
        self._advance()

    def __repr__(self) -> str:
        return f"Hopper(cards={len(self.paths)}, position={self.position})"

    def _advance(self) -> None:
        while True:
            self.position += 1
            if self.position >= len(self.paths):
                self.current = EmptySlot()
                self._on_empty()
                return
            try:
                self.current = open_card(self.paths[self.position], self._make)
                return
            except (OSError, ValueError, KeyError):
                continue  # an unreadable image is passed over, like a misfed card

    @property
    def empty(self) -> bool:
        return isinstance(self.current, EmptySlot)

    @property
    def atr(self) -> bytes:
        return self.current.atr

    def reset(self) -> bytes:
        return self.current.reset()

    def process(self, apdu: bytes) -> bytes:
        if bytes(apdu[:4]) == EJECT and not self.empty:
            self.ejected += 1
            self._advance()
            return OK
        return self.current.process(apdu)
