"""The host link as wrappers around one Transmitter: each wrapper on its own, the stack's order, the error family."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cardlib.apdu import CommandAPDU
from cardlib.channel import Channel, GetResponse, RetryLe, SecureMessaging, Traced, as_channel
from cardlib.sw import CardError, CardSecurityError, PinError, PsamError, describe
from cardlib.trace import Trace
from cardlib.transport import CardRemovedError, LoopbackTransport

from .fakecard import FakeCard

ROOT = Path(__file__).resolve().parents[2]
READ = CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=256)


class Script:
    """A Transmitter answering from a list, recording what it was sent."""

    def __init__(self, *answers: bytes) -> None:
        self.answers, self.sent = list(answers), []
        self.atr = b"\x3b\x00"

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        return self.answers.pop(0)


def test_get_response_wrapper_alone_joins_and_is_bounded() -> None:
    inner = Script(b"ab\x61\x02", b"cd\x61\x01", b"e\x90\x00")
    assert GetResponse(inner).transmit(READ.to_bytes()) == b"abcde\x90\x00"
    assert inner.sent[1:] == [bytes.fromhex("00C0000002"), bytes.fromhex("00C0000001")]
    looping = Script(*[b"\x61\x10"] * 4)
    with pytest.raises(CardRemovedError, match="3 GET RESPONSE"):
        GetResponse(looping, limit=3).transmit(READ.to_bytes())
    assert len(looping.sent) == 4  # the command and 3 GET RESPONSE, then it gives up


def test_retry_le_wrapper_resends_once_with_the_cards_le() -> None:
    inner = Script(b"\x6c\x05", b"12345\x90\x00")
    assert RetryLe(inner).transmit(READ.to_bytes()) == b"12345\x90\x00"
    assert inner.sent == [READ.to_bytes(), READ.with_le(5).to_bytes()]
    stubborn = Script(b"\x6c\x05", b"\x6c\x04")
    assert RetryLe(stubborn).transmit(READ.to_bytes()) == b"\x6c\x04"  # once, not forever


def test_traced_sits_under_get_response_so_the_trace_sees_every_apdu_on_the_wire() -> None:
    card = FakeCard({READ.header: bytes(600)}, chunk=200)
    t = LoopbackTransport(card)
    t.connect()
    trace = Trace(logger=None)
    Channel(t, trace).send(READ)
    commands = [line for line in trace.lines if line.startswith(">")]
    assert len(commands) == len(card.received) == 3  # READ BINARY and two GET RESPONSE, all traced
    assert sum("(GET RESPONSE)" in line for line in commands) == 2


def test_trace_redacts_sensitive_data_in_every_class() -> None:
    trace = Trace(logger=None)
    inner = Traced(Script(b"\x90\x00", b"\x90\x00", b"\x90\x00", b"\x90\x00"), trace)
    inner.transmit(bytes.fromhex("0020000003123456"))  # VERIFY
    inner.transmit(bytes.fromhex("80E2800005010102AABB"))  # STORE DATA (personalization)
    inner.transmit(bytes.fromhex("80FA000008061234561F800000"))  # the PSAM enciphering a PIN block
    inner.transmit(bytes.fromhex("00E2002808" + "31" * 8))  # APPEND RECORD: not STORE DATA, shown
    text = trace.text()
    assert "123456" not in text and "AABB" not in text
    assert "(STORE DATA)" in text and "(APPEND RECORD)" in text and "3131313131313131" in text


def test_secure_messaging_wrapper_asks_a_challenge_through_the_stack_and_macs_the_command() -> None:
    class FakePsam:
        def __init__(self) -> None:
            self.calls: list[tuple[str, object]] = []

        def set_card_key(self, alg: str, usage: str, card_id: bytes, atr: bytes) -> None:
            self.calls.append(("key", usage))

        def mac(self, message: bytes, iv: bytes = b"", length: int = 4) -> bytes:
            self.calls.append(("mac", (message, iv)))
            return b"MAC!"

    inner = Script(bytes(range(8)) + b"\x90\x00", b"\x90\x00")
    psam = FakePsam()
    sm = SecureMessaging(inner, psam, "sm4", "update", bytes(16), b"\x3b\x00")  # type: ignore[arg-type]
    assert sm.transmit(bytes.fromhex("00DC0134020201")) == b"\x90\x00"
    assert inner.sent == [bytes.fromhex("0084000008"), bytes.fromhex("04DC0134060201") + b"MAC!"]
    message, iv = psam.calls[1][1]  # type: ignore[misc]
    assert message == bytes.fromhex("04DC0134060201") and iv == bytes(range(8)) + bytes(8)
    refused = Script(b"\x69\x85")
    with pytest.raises(CardError) as no_challenge:
        SecureMessaging(refused, psam, "sm4", "update", bytes(16), b"").transmit(bytes.fromhex("00DC0134020201"))  # type: ignore[arg-type]
    assert (no_challenge.value.sw, no_challenge.value.command) == (0x6985, "GET CHALLENGE")


def test_as_channel_keeps_a_channel_and_stacks_a_transport() -> None:
    script = Script(b"\x90\x00")
    ch = Channel(script)
    assert as_channel(ch) is ch and as_channel(script).transport is script


def test_one_exception_family_with_codes_from_the_table() -> None:
    for exc in (CardSecurityError("x", -21), PinError(-51, 2, sw=0x63C2), PsamError("x", -2203, sw=0x6A88)):
        assert isinstance(exc, CardError) and isinstance(exc.code, int)
    assert CardError(0x6A82, "SELECT").code == -0x6A82 == describe(0x6A82).interface_code
    assert PinError(-52, sw=0x63C0).tries_left == 0
    assert describe(0x63C0).interface_code == -52 and describe(0x63C1).interface_code == -51


def test_no_service_talks_to_the_card_around_the_stack() -> None:
    """No module of cardlib or terminal sends bytes itself, or builds GET RESPONSE: only cardlib/channel.py."""
    offenders = []
    for path in [*(ROOT / "cardlib").glob("*.py"), *(ROOT / "terminal").glob("*.py")]:
        if path.name == "channel.py":
            continue
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and node.attr == "transmit" and isinstance(node.ctx, ast.Load):
                offenders.append(f"{path.name}:{node.lineno}")
        if "0xC0, 0x00, 0x00" in source or "00C00000" in source.upper():
            offenders.append(f"{path.name}: GET RESPONSE")
    assert offenders == []


def test_layers_do_not_reach_up_or_into_the_simulator() -> None:
    for package, banned in (("cardlib", ("simulators", "terminal", "cli")), ("terminal", ("simulators",))):
        for path in (ROOT / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for name in names:
                    assert name.split(".")[0] not in banned, f"{path} imports {name}"


def test_the_psam_is_opened_by_what_the_cli_installed_even_from_another_thread(tmp_path: Path) -> None:
    import threading

    from click.testing import CliRunner

    import click
    from cardlib.cli import install_psam_opener, psam_from_context

    opened: list[object] = []

    class Opener:
        def __call__(self, spec: object):  # type: ignore[no-untyped-def]
            from contextlib import nullcontext

            opened.append(spec)
            return nullcontext(f"psam:{spec}")

    @click.command()
    @click.pass_context
    def cmd(ctx: click.Context) -> None:
        install_psam_opener(ctx, Opener())
        with psam_from_context("R1") as psam:
            click.echo(psam)
        worker = threading.Thread(target=lambda: opened.append(psam_from_context("R2").__enter__()))
        worker.start()
        worker.join()

    result = CliRunner().invoke(cmd, [])
    assert result.exit_code == 0 and result.output.strip() == "psam:R1"
    assert opened == ["R1", "R2", "psam:R2"]


def test_the_server_imports_no_terminal_and_the_terminal_routes_no_server() -> None:
    """ecard_server never imports terminal (nor the CLI that puts the two together); the terminal's page routes
    get what they need of the server when sscard_app builds them."""
    for folder, banned in (("ecard_server", ("terminal", "cli", "sscard_app")), ("terminal", ("ecard_server",))):
        for path in (ROOT / folder).rglob("*.py"):
            if folder == "terminal" and path.name != "pages_api.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                for name in names:
                    assert name.split(".")[0] not in banned, f"{path} imports {name}"
