"""PIN services through the real pcscd + vpcd: wrong PIN (-51, tries left), blocked (-52), unblock under secure
messaging, change; and no PIN in any output, trace, log or exception."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cardlib import security
from cardlib.channel import Channel
from cardlib.pcsc import PcscTransport
from cardlib.psam import Psam
from cardlib.trace import Trace
from cardlib.transport import LoopbackTransport
from simulators.psam import Psam as SimulatedPsam
from tests.services.conftest import card_image, sscard

pytestmark = pytest.mark.pcsc
WRONG, NEW, NEWER = "739164", "582037", "246813"


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_blocked_pin_says_so_and_unblock_under_secure_messaging(tmp_path: Path, issuer_dirs: dict,
                                                                virtual_card) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "sm4"))
    outputs = []

    def pin(*args: str, stdin: str) -> dict:
        r = sscard("card", "pin", *args, "--reader", reader, "--pin-stdin", "--json", stdin=stdin)
        outputs.append(r.stdout + r.stderr)
        return {"rc": r.returncode, **_last_json(r.stdout or r.stderr)}

    assert pin("verify", stdin="123456\n") == {"rc": 0, "ok": True}
    first = pin("verify", stdin=WRONG + "\n")
    assert (first["rc"], first["code"], first["tries_left"]) == (1, -51, 2) and "2 tries left" in first["error"]
    assert pin("verify", stdin=WRONG + "\n")["tries_left"] == 1
    third = pin("verify", stdin=WRONG + "\n")
    assert (third["code"], third["error"]) == (-52, "PIN blocked")
    right_but_blocked = pin("verify", stdin="123456\n")
    assert right_but_blocked["code"] == -52
    refused = pin("unblock", "--keys", str(issuer_dirs["other"]), stdin=NEW + "\n")  # a stranger's PSAM
    assert refused["rc"] == 1 and refused["code"] == -21
    assert pin("unblock", "--keys", str(issuer_dirs["ours"]), stdin=NEW + "\n") == {"rc": 0, "ok": True}
    assert pin("verify", stdin=NEW + "\n") == {"rc": 0, "ok": True}
    assert pin("change", stdin=f"{NEW}\n{NEWER}\n") == {"rc": 0, "ok": True}
    assert pin("verify", stdin=NEWER + "\n") == {"rc": 0, "ok": True}
    assert pin("verify", stdin=NEW + "\n")["code"] == -51
    for text in outputs:
        for secret in (WRONG, NEW, NEWER, "123456"):
            assert secret not in text


def test_no_pin_in_trace_log_or_exception(tmp_path: Path, issuer_dirs: dict, virtual_card,
                                          caplog: pytest.LogCaptureFixture) -> None:
    reader = virtual_card(card_image(tmp_path, issuer_dirs["ours"], "3des"))
    caplog.set_level(logging.DEBUG)
    trace = Trace()
    errors: list[str] = []
    loop = LoopbackTransport(SimulatedPsam.from_dir(issuer_dirs["ours"]))
    loop.connect()
    psam = Psam(Channel(loop, trace))
    with PcscTransport(reader) as transport:
        card = Channel(transport, trace)
        security.select_ssse(card)
        for _ in range(3):
            try:
                security.verify_pin(card, WRONG)
            except security.PinError as exc:
                errors += [str(exc), repr(exc), repr(exc.args)]
        session = security.authenticate(card, psam, transport.atr)
        security.unblock_pin(card, psam, session, NEW)
        security.change_pin(card, NEW, NEWER)
        try:
            security.change_pin(card, WRONG, NEW)
        except security.PinError as exc:
            errors += [str(exc), repr(exc)]
        try:
            security.pin_bcd("12ab56")
        except ValueError as exc:
            errors.append(str(exc))
    assert len(errors) >= 4 and "PIN blocked" in " ".join(errors)
    assert any(line.startswith(">") and "redacted" in line for line in trace.lines)
    everything = "\n".join([trace.text(), caplog.text, *errors])
    for secret in (WRONG, NEW, NEWER):
        assert secret not in everything
