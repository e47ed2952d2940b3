"""The card side as vicc has it: one command parser for every card object, handlers that raise SwError."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cardlib import issuer_keys
from simulators.personalization import BlankCard, new_blank
from simulators.pboc import BankCard, new_state
from simulators.psam import Psam
from simulators.status import SwError, answers, parse, sw

ROOT = Path(__file__).resolve().parents[2]
MALFORMED = [bytes.fromhex("80CA9F"), bytes.fromhex("00B2012C0501"), bytes.fromhex("80E2000003AABB"),
             bytes.fromhex("00A4040000AA")]


def _cards() -> list[object]:
    key_set = issuer_keys.new_key_set("sm4", "T")
    return [Psam({"sm4": key_set}), BankCard(new_state("sm4", "6228480012345678901", "301231", bytes(16))),
            BlankCard(new_blank(key_set), build=lambda perso: None)]


@pytest.mark.parametrize("apdu", MALFORMED)
def test_every_card_object_refuses_what_is_not_an_apdu_the_same_way(apdu: bytes) -> None:
    for card in _cards():
        card.reset()  # type: ignore[attr-defined]
        assert card.process(apdu) == sw("wrong_length"), card  # type: ignore[attr-defined]
    with pytest.raises(SwError) as refused:
        parse(apdu)
    assert refused.value.sw == sw("wrong_length")


def test_a_handler_refuses_by_raising() -> None:
    class Applet:
        @answers
        def process(self, apdu: bytes) -> bytes:
            cmd = parse(apdu)
            if cmd.p1:
                raise SwError("pin_wrong", 2)
            return b"\x90\x00"

    assert Applet().process(bytes.fromhex("00200100")) == bytes.fromhex("63C2")
    assert Applet().process(bytes.fromhex("00200000")) == bytes.fromhex("9000")


def test_no_status_word_travels_as_a_return_value_check() -> None:
    """No `if isinstance(x, bytes): return x` in the simulators: refusals are raised."""
    found = []
    for path in (ROOT / "simulators").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.If) and isinstance(node.test, ast.Call)
                    and getattr(node.test.func, "id", "") == "isinstance"
                    and any(getattr(a, "id", "") == "bytes" for a in node.test.args[1:])
                    and isinstance(node.body[0], ast.Return)):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
