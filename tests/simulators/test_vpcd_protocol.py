"""The bridge's side of the vpcd protocol against a stand-in vpcd listener (a real TCP socket): framing, controls,
socket options, and reconnecting when the reader side goes away."""
from __future__ import annotations

import socket
import threading

import pytest

from simulators.vpcd import Bridge, parse_address

from .helpers import SELECT_SSSE, new_card


def _send(conn: socket.socket, payload: bytes) -> None:
    conn.sendall(len(payload).to_bytes(2, "big") + payload)


def _recv(conn: socket.socket) -> bytes:
    head = b""
    while len(head) < 2:
        head += conn.recv(2 - len(head))
    size = int.from_bytes(head, "big")
    body = b""
    while len(body) < size:
        body += conn.recv(size - len(body))
    return body


def test_framing_controls_and_reconnect() -> None:
    card, image = new_card()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    bridge = Bridge(card, "127.0.0.1", port)
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    listener.settimeout(10)
    try:
        conn, _ = listener.accept()
        _send(conn, b"\x01")  # power on: no reply
        _send(conn, b"\x04")
        assert _recv(conn) == image.atr
        # two frames in one segment, then one split across segments
        conn.sendall(len(SELECT_SSSE).to_bytes(2, "big") + SELECT_SSSE + b"\x00\x05\x00\xc0\x00\x00\x00")
        assert _recv(conn)[-2] == 0x61
        assert _recv(conn)[:2] == b"\x6f\x19"
        frame = b"\x00\x05" + bytes.fromhex("00B2012C00")
        conn.sendall(frame[:3])
        conn.sendall(frame[3:])
        assert _recv(conn) == image.files["EF05"][0] + b"\x90\x00"
        conn.close()  # pcscd restarts: the bridge must come back
        conn, _ = listener.accept()
        _send(conn, b"\x02")  # reset: no reply, and the selection is gone
        _send(conn, bytes.fromhex("00B2012C00"))
        assert _recv(conn) == bytes.fromhex("6A82")
        _send(conn, b"\x04")
        assert _recv(conn) == image.atr
        bridge.stopping = True
        conn.close()
        thread.join(10)
        assert not thread.is_alive() and bridge.apdus == 4
    finally:
        bridge.stopping = True
        listener.close()


@pytest.mark.parametrize("text,expected", [("127.0.0.1:35964", ("127.0.0.1", 35964)), (":35963", ("127.0.0.1", 35963)),
                                           ("35963", ("127.0.0.1", 35963)), ("host.example:1", ("host.example", 1))])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:x", "127.0.0.1:0", "h:70000"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="vpcd address"):
        parse_address(text)


def test_log_lines_carry_no_apdu_data(caplog: pytest.LogCaptureFixture) -> None:
    card, image = new_card()
    bridge = Bridge(card)
    secret_pin = "0020000004 24681357".replace(" ", "")
    with caplog.at_level("DEBUG", logger="sscard.sim"):
        for apdu in (SELECT_SSSE, bytes.fromhex("00C0000000"), bytes.fromhex(secret_pin),
                     bytes.fromhex("00B2013400"), bytes.fromhex("FFFF")):
            bridge.handle(apdu)
        card.register(b"\xa0\x00\x00\x00\x99", _Exploding())  # a fault is logged by type and place only
        bridge.handle(bytes.fromhex("00A4040005A00000009900"))
    text = caplog.text.upper()
    assert "APDU 00200000 LC=4" in text and "SW 63C2" in text and "ZERODIVISIONERROR" in text
    for secret in ("24681357", "11010519491231002X", "3131303130353139", SELECT_SSSE[5:20].hex().upper(), "HUSH"):
        assert secret not in text


class _Exploding:
    def select(self, aid: bytes) -> bytes:
        return bytes([1 // (len(aid) - len(aid))]) + b"HUSH"

    def process(self, apdu: bytes) -> bytes:
        return b"\x90\x00"
