"""cardlib against the project's software card, in process (LoopbackTransport over simulators.cardos)."""
import pytest

from cardlib import (
    Channel, CardError, LoopbackTransport, SocialSecurityApp, Trace, basic_info_line, historical_bytes,
)
from simulators.cardos import build_card
from simulators.issue import issue
from tests.plugins.pcsc import sample_holder


def read(alg: str, **holder: object) -> tuple[object, Trace, bytes]:
    card = build_card(issue(sample_holder(**holder), alg=alg))  # type: ignore[arg-type]
    trace = Trace(logger=None)
    with LoopbackTransport(card) as t:
        info = SocialSecurityApp(Channel(t, trace)).read_card_info()
        atr = t.atr
    return info, trace, atr


@pytest.mark.parametrize("alg, alg_id", [("3des", 0x01), ("sm4", 0x04)])
def test_read_software_card(alg: str, alg_id: int) -> None:
    info, trace, atr = read(alg)
    h = sample_holder()
    assert info.algorithm_id == alg_id  # type: ignore[attr-defined]
    line = basic_info_line(info)  # type: ignore[arg-type]
    assert line == (f"{h['card_id'][:6]}|{h['ssn']}|{h['card_no']}|{h['card_id']}|{h['name']}|"
                    f"{historical_bytes(atr).hex().upper()}|3.00|20211203|20311202|||")
    assert "GET RESPONSE" in trace.text()  # this card answers SELECT with 61xx
    assert h["ssn"].encode().hex().upper() not in trace.text()


def test_long_name_joined_from_name_ext() -> None:
    name = "阿卜杜热合曼·买买提艾力木拉提江"  # 32 GBK bytes: two spill into 姓名扩展
    info, _, _ = read("sm4", name=name)
    assert info.name == name  # type: ignore[attr-defined]


def test_plain_update_refused_by_mac_protected_file() -> None:
    card = build_card(issue(sample_holder(), alg="sm4"))
    with LoopbackTransport(card) as t:
        app = SocialSecurityApp(t)
        app.select()
        with pytest.raises(CardError) as info:
            app.update_field("gender", "1")
        assert info.value.sw in (0x6982, 0x6987) and info.value.interface_code == -info.value.sw
        assert app.read_field("gender") == "2"
