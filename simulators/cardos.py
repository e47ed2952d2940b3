"""The card OS: one card object (`atr`, `reset()`, `process(apdu)`) that routes APDUs to pluggable applets.

Dispatch, kept small on purpose (docs/simulator.md, "Applets"):
- GET RESPONSE (00C0) is answered here from the data an applet left waiting (61xx);
- SELECT by AID (00A404) picks the applet registered for that AID, which becomes the current applet;
- SELECT by FID or path goes to the default applet (the file system: MF, SSSE, DF01-DF04), which then is current;
- everything else goes to the current applet.

An applet has `select(aid) -> bytes` and `process(apdu) -> bytes` (response data + SW); optionally `reset()`
(power-up), `deselect()` (another applet became current) and `defer_select = True` (answer SELECT with 61xx and
keep the FCI for GET RESPONSE, as some real cards do). `process()` never raises: anything an applet throws is
logged by type and place only (never data) and answered 6F00, and the card keeps working.
"""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable, Protocol

import apdu_specs

from .filesystem import FileTree
from .image import CardImage, ImageError
from .ssse import SsseApplet
from .status import OK, SwError, parse, sw

LOG = logging.getLogger("sscard.sim.card")
SUPPORTED_CLASSES = frozenset({0x00, 0x04, 0x80, 0x84})


class Applet(Protocol):
    def select(self, aid: bytes) -> bytes: ...

    def process(self, apdu: bytes) -> bytes: ...


class CardOS:
    """A card: the ATR, the applets by AID, the current applet and the data waiting for GET RESPONSE."""

    def __init__(self, atr: bytes, default: Applet) -> None:
        self.atr = bytes(atr)
        self.default = default
        self.applets: dict[bytes, Applet] = {}
        self.current: Applet = default
        self._waiting = b""

    def __repr__(self) -> str:
        return f"CardOS(atr={self.atr.hex().upper()}, applets={len(self.applets)})"

    def register(self, aid: bytes, applet: Applet) -> None:
        self.applets[bytes(aid)] = applet

    def reset(self) -> bytes:
        """Power-up or reset: every applet forgets its session, the default applet (MF) is current."""
        self._waiting = b""
        for applet in {id(a): a for a in [self.default, *self.applets.values()]}.values():
            reset = getattr(applet, "reset", None)
            if reset is not None:
                reset()
        self.current = self.default
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        try:
            return self._process(bytes(apdu))
        except SwError as exc:
            return exc.sw
        except Exception as exc:  # the card answers every APDU; the log names the fault, never the data
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            LOG.error("card fault: %s at %s:%d", type(exc).__name__, frame.filename.rsplit("/", 1)[-1], frame.lineno)
            self._waiting = b""
            return sw("unknown_error")

    def _process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            raise SwError("wrong_length")
        cla, ins, p1 = apdu[0], apdu[1], apdu[2]
        if cla not in SUPPORTED_CLASSES:
            raise SwError("cla_not_supported")
        if cla == 0x00 and ins == 0xC0:
            return self._get_response(apdu)
        self._waiting = b""
        if cla == 0x00 and ins == 0xA4:
            return self._select(apdu, p1)
        return self.current.process(apdu)

    def _select(self, apdu: bytes, p1: int) -> bytes:
        if p1 == 0x04:
            aid = parse(apdu).data
            applet = self.applets.get(aid)
            if applet is None:
                raise SwError("file_not_found")
            # the default applet sees the whole SELECT (P2 00 / 0C); the others get the AID
            answer = applet.process(apdu) if applet is self.default else applet.select(aid)
        else:
            applet = self.default
            answer = applet.process(apdu)
        if answer[-2:] != OK:
            return answer
        if applet is not self.current:
            deselect = getattr(self.current, "deselect", None)
            if deselect is not None:
                deselect()
            self.current = applet
        if getattr(applet, "defer_select", False) and len(answer) > 2:
            self._waiting = answer[:-2]
            return sw("more_data", len(self._waiting) & 0xFF)  # a 61xx that keeps the data waiting
        return answer

    def _get_response(self, apdu: bytes) -> bytes:
        cmd = parse(apdu)
        if cmd.data:
            raise SwError("wrong_length")
        if cmd.p1 or cmd.p2:
            raise SwError("wrong_p1p2")
        if not self._waiting:
            raise SwError("conditions_not_satisfied")
        le = cmd.le or 256
        out, self._waiting = self._waiting[:le], self._waiting[le:]
        if self._waiting:
            return out + sw("more_data", len(self._waiting) & 0xFF)
        return out + OK


class NoArgSelect:
    """Adapts an applet whose `select()` takes no AID (one applet, one AID) to the Applet protocol."""

    def __init__(self, applet: Any) -> None:
        self.applet = applet

    def __repr__(self) -> str:
        return f"NoArgSelect({self.applet!r})"

    def select(self, aid: bytes) -> bytes:
        return self.applet.select()  # type: ignore[no-any-return]

    def process(self, apdu: bytes) -> bytes:
        return self.applet.process(apdu)  # type: ignore[no-any-return]

    def reset(self) -> None:
        if hasattr(self.applet, "reset"):
            self.applet.reset()

    def deselect(self) -> None:
        if hasattr(self.applet, "deselect"):
            self.applet.deselect()


def _pboc_debit(image: CardImage, name: str) -> list[tuple[bytes, Applet]]:
    """The PBOC debit application and the PPSE and PSE naming it, over the image's applet state."""
    from . import pboc

    def save(state: dict[str, Any]) -> None:
        image.applets[name] = state
        image.save()

    debit = pboc.DebitApplet(image.applets[name], save)
    return [(pboc.Ppse.name, NoArgSelect(pboc.Ppse())), (pboc.Pse.name, NoArgSelect(pboc.Pse())),
            (debit.aid, NoArgSelect(debit))]


# Applets a card image can carry besides the file system: image["applets"][name] is the applet's state.
APPLET_FACTORIES: dict[str, Callable[[CardImage, str], list[tuple[bytes, Applet]]]] = {
    "pboc_debit": _pboc_debit,
}


def build_card(image: CardImage) -> CardOS:
    """The card an image describes: the file system (SSSE) for the profile's DFs, plus the image's applets."""
    tree = FileTree(apdu_specs.profile(image.profile))
    fs = SsseApplet(image, tree)
    card = CardOS(image.atr, fs)
    for node in tree.dfs_with_aid():
        card.register(node.spec.aid, fs)  # type: ignore[arg-type]
    for name in image.applets:
        factory = APPLET_FACTORIES.get(name)
        if factory is None:
            raise ImageError(f"card image has state for an unknown applet {name!r} "
                             f"(known: {', '.join(sorted(APPLET_FACTORIES))})")
        for aid, applet in factory(image, name):
            card.register(aid, applet)
    card.reset()
    return card
