"""The typed EcardClient against a real server: each call returns its dataclass, every failure is one ClientError."""
from __future__ import annotations

import time

import pytest

from ecard.client import ClientError, EcardClient
from ecard.device import Device
from ecard.errors import EcardError
from ecard.keys import Jwks
from ecard.verify import verify

from .conftest import free_port


def test_a_device_walks_the_flow_with_the_client(live):
    h = live.fresh_holder()
    dev = Device()
    with EcardClient(live.url) as c:
        code = c.activation_code(live.terminal_key, card_no=h.card_no)
        assert code.expires_at > time.time() and len(code.code) >= 8
        got = c.activate(code.code, dev)
        assert got.device_id == dev.device_id and got.status_idx >= 0
        cred = c.offline_credential(dev)
        assert cred.expires_at > time.time()
        tok = c.token(dev, ttl=30)
        jwks = Jwks.from_json(c.jwks_text())
        assert verify(tok.token, jwks, None, time.time(), None).valid
        assert c.status_list_text().count(".") == 2
        with pytest.raises(ClientError) as refused:  # the code is spent
            c.activate(code.code, Device())
        assert refused.value.reason == "refused" and refused.value.status in (400, 404, 409)
        assert isinstance(refused.value, EcardError)
        loss = c.report_loss(dev)
        assert loss.card_status == "lost" and got.status_idx in loss.revoked
        with pytest.raises(ClientError, match="401"):  # its binding was revoked with the loss
            c.token(dev)


def test_an_unreachable_server_is_one_error():
    with EcardClient(f"http://127.0.0.1:{free_port()}", timeout=1) as c:
        with pytest.raises(ClientError) as exc:
            c.jwks_text()
    assert exc.value.reason == "unreachable" and exc.value.status == 0
