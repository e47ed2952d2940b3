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
RP_TYP = "sscard-rp+jwt"  # a relying party's signed request (scan-to-login), kid its registered name


def body_hash(body: bytes) -> str:
    return b64u(hashlib.sha256(body).digest())


def sign_request(key: SigningKey, method: str, path: str, body: bytes, now: float | None = None,
                 kid: str | None = None, typ: str = REQUEST_TYP) -> str:
    """A per-request proof of the device key (like DPoP): method, path, time, a fresh jti and the body's hash.
    `kid` is the id the server gave the device at activation (a relying party's registered name for its own
    requests); the key's own kid if not given."""
    now = int(time.time() if now is None else now)
    claims = {"htm": method.upper(), "htu": path, "iat": now, "jti": b64u(secrets.token_bytes(12)),
              "bh": body_hash(body)}
    return jws.sign(claims, key, typ, {"kid": kid} if kid else None)


@dataclass
class Device:
    key: SigningKey = field(default_factory=generate)
    credential: bytes = b""
    sd_jwt: str = ""
    device_id: str = ""  # the id the server named this device with at activation (POST /v1/activate answers it)

    def jwk(self) -> dict[str, Any]:
        return self.key.public().jwk()

    def request(self, client: Any, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send a signed request with an httpx client; returns the httpx response."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": "Device " + sign_request(self.key, method, path, body, kid=self.device_id)}
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


@dataclass
class RelyingParty:
    """A scan-to-login relying party: its registered name (`sscard keys rp NAME`) and the key it signs with."""

    name: str
    key: SigningKey = field(default_factory=generate)

    def request(self, client: Any, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": "RP " + sign_request(self.key, method, path, body, kid=self.name, typ=RP_TYP)}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return client.request(method, path, content=body, headers=headers)
