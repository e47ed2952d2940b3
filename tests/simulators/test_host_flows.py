"""The card against the host side's own code (cardlib), in process: H1's reader and H5's security services with a
simulated PSAM. Both sides are written from the same profile; this checks they meet byte for byte."""
from __future__ import annotations

import pytest

from cardlib import issuer_keys, security
from cardlib.fields import encode_field
from cardlib.psam import Psam
from cardlib.ssapp import SocialSecurityApp
from cardlib.transport import LoopbackTransport
from simulators.cardos import build_card
from simulators.issue import issue
from simulators.psam import Psam as SimulatedPsam
from tests.plugins.pcsc import sample_holder

import apdu_specs


def _setup(alg: str):  # type: ignore[no-untyped-def]
    key_set = issuer_keys.new_key_set(alg)  # type: ignore[arg-type]
    psam_link = LoopbackTransport(SimulatedPsam({alg: key_set}))  # type: ignore[dict-item]
    psam_link.connect()
    image = issue(sample_holder(), alg=alg, key_set=key_set)  # type: ignore[arg-type]
    card = LoopbackTransport(build_card(image))
    card.connect()
    return card, Psam(psam_link), image


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_read_card_info(alg: str) -> None:
    card, _, _ = _setup(alg)
    info = SocialSecurityApp(card).read_card_info()
    assert (info.ssn, info.name, info.card_no, info.birth_date) == ("11010519491231002X", "张丽华", "A00000001",
                                                                     "19491231")
    assert info.algorithm_id == (0x01 if alg == "3des" else 0x04)


def test_long_name_reads_back_whole() -> None:
    name = "阿卜杜热合曼·买买提依明·艾合买提江·阿不都"
    image = issue(sample_holder(name=name))
    card = LoopbackTransport(build_card(image))
    card.connect()
    assert SocialSecurityApp(card).read_card_info().name == name


@pytest.mark.parametrize("alg", ["3des", "sm4"])
def test_verified_reading_pin_and_secure_write(alg: str) -> None:
    card, psam, image = _setup(alg)
    session = security.authenticate(card, psam, card.atr)
    assert session.external_auth and session.alg == alg
    security.verify_pin(card, "123456")
    with pytest.raises(security.PinError) as wrong:
        security.verify_pin(card, "000000")
    assert wrong.value.tries_left == 2
    security.change_pin(card, "123456", "24681357")
    security.verify_pin(card, "24681357")
    answers = []
    for _ in range(4):
        with pytest.raises(security.PinError) as refused:
            security.verify_pin(card, "000000")
        answers.append((refused.value.sw, refused.value.code, refused.value.tries_left))
    assert answers == [(0x63C2, -51, 2), (0x63C1, -51, 1), (0x63C0, -52, 0), (0x6983, -52, 0)]  # ISO 7816-4
    with pytest.raises(security.PinError) as blocked:
        security.verify_pin(card, "24681357")
    assert blocked.value.code == security.PIN_BLOCKED
    security.unblock_pin(card, psam, session, "112233")
    security.verify_pin(card, "112233")
    _, spec = apdu_specs.profile().field("card_no")
    security.update_record(card, psam, session, "card_no", encode_field(spec, "B98765432"))
    assert SocialSecurityApp(card).read_field("card_no") == "B98765432"


def test_a_card_with_other_keys_fails_internal_authentication() -> None:
    card, psam, image = _setup("sm4")
    image.keys["internal_auth"] = bytes(16)
    with pytest.raises(security.CardSecurityError) as failed:
        security.authenticate(card, psam, card.atr)
    assert failed.value.code == security.INTERNAL_AUTH_FAILED
