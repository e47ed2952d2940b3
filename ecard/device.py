"""The holder's side of the e-card protocol (what a phone app does), used by tests, benchmarks and demos: a device
key, signed requests to the server, and offline QR presentations made with no network."""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ecard import jws, sdjwt, tokens
from ecard.keys import SigningKey, b64u, b64u_decode, generate

REQUEST_TYP = "sscard-req+jwt"


def body_hash(body: bytes) -> str:
    return b64u(hashlib.sha256(body).digest())


def sign_request(key: SigningKey, method: str, path: str, body: bytes, now: float | None = None) -> str:
    """A per-request proof of the device key (like DPoP): method, path, time, a fresh jti and the body's hash."""
    now = int(time.time() if now is None else now)
    claims = {"htm": method.upper(), "htu": path, "iat": now, "jti": b64u(secrets.token_bytes(12)),
              "bh": body_hash(body)}
    return jws.sign(claims, key, REQUEST_TYP)


@dataclass
class Device:
    key: SigningKey = field(default_factory=generate)
    credential: bytes = b""
    sd_jwt: str = ""

    @property
    def device_id(self) -> str:
        return self.key.kid

    def jwk(self) -> dict[str, Any]:
        return self.key.public().jwk()

    def request(self, client: Any, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send a signed request with an httpx client; returns the httpx response."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": "Device " + sign_request(self.key, method, path, body)}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return client.request(method, path, content=body, headers=headers)

    def fetch_offline_credential(self, client: Any) -> bytes:
        r = self.request(client, "POST", "/v1/credentials/offline", {})
        r.raise_for_status()
        self.credential = b64u_decode(r.json()["credential"])
        return self.credential

    def offline_code(self, now: float | None = None, ttl: int = tokens.DEFAULT_TTL) -> str:
        if not self.credential:
            raise ValueError("no offline credential yet: fetch one while online")
        return tokens.present(self.credential, self.key, int(time.time() if now is None else now), ttl)

    def present_sd_jwt(self, disclose: list[str], aud: str, nonce: str, now: float | None = None) -> str:
        return sdjwt.present(self.sd_jwt, disclose, self.key, aud, nonce, int(time.time() if now is None else now))
