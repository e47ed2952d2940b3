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


DEFAULT_BATCH = 5


@dataclass
class Device:
    """A holder's device. `batch` and `sd_batch` hold unlinkable credentials, each with a key of its own made for
    it (never sent anywhere but its public half) and used for one code only; `credential` and `sd_jwt` are the
    single ones bound to the device key itself, which every code made under them shows."""

    key: SigningKey = field(default_factory=generate)
    credential: bytes = b""
    sd_jwt: str = ""
    device_id: str = ""  # the id the server named this device with at activation (POST /v1/activate answers it)
    batch: list[tuple[SigningKey, bytes]] = field(default_factory=list)
    sd_batch: list[tuple[SigningKey, str]] = field(default_factory=list)

    def jwk(self) -> dict[str, Any]:
        return self.key.public().jwk()

    def batch_keys(self, n: int = DEFAULT_BATCH) -> list[SigningKey]:
        """Fresh keys for a batch of credentials, of the device key's algorithm."""
        if not 1 <= n <= 20:
            raise ValueError("a batch holds 1..20 credentials")
        return [generate(self.key.alg) for _ in range(n)]

    def fetch_offline_batch(self, client: Any, n: int = DEFAULT_BATCH) -> int:
        """Ask for `n` offline credentials, one per fresh key; they replace the unused ones. Returns how many."""
        member_keys = self.batch_keys(n)
        r = self.request(client, "POST", "/v1/credentials/offline",
                         {"device_keys": [k.public().jwk() for k in member_keys]})
        r.raise_for_status()
        self.batch = [(k, b64u_decode(c)) for k, c in zip(member_keys, r.json()["credentials"])]
        return len(self.batch)

    def fetch_sd_jwt_batch(self, client: Any, n: int = DEFAULT_BATCH) -> int:
        member_keys = self.batch_keys(n)
        r = self.request(client, "POST", "/v1/credentials/sd-jwt",
                         {"device_keys": [k.public().jwk() for k in member_keys]})
        r.raise_for_status()
        self.sd_batch = list(zip(member_keys, r.json()["sd_jwts"]))
        return len(self.sd_batch)

    def request(self, client: Any, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send a signed request with an httpx client; returns the httpx response."""
        body = b"" if payload is None else json.dumps(payload).encode()
        htu = path.split("?", 1)[0]  # the proof covers the path; the server compares it without the query
        headers = {"Authorization": "Device " + sign_request(self.key, method, htu, body, kid=self.device_id)}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return client.request(method, path, content=body, headers=headers)

    def fetch_offline_credential(self, client: Any) -> bytes:
        r = self.request(client, "POST", "/v1/credentials/offline", {})
        r.raise_for_status()
        self.credential = b64u_decode(r.json()["credential"])
        return self.credential

    def offline_code(self, now: float | None = None, ttl: int = tokens.DEFAULT_TTL) -> str:
        """A code made with no network: under the next unused credential of the batch, which is then spent (so no
        two codes share a handle, index or key); under the single device-key credential when there is no batch."""
        now = int(time.time() if now is None else now)
        if self.batch:
            key, credential = self.batch.pop(0)
            return tokens.present(credential, key, now, ttl)
        if not self.credential:
            raise ValueError("no unused offline credential: fetch a new batch while online")
        return tokens.present(self.credential, self.key, now, ttl)

    def present_sd_jwt(self, disclose: list[str], aud: str, nonce: str, now: float | None = None) -> str:
        """As offline_code: the next unused SD-JWT of the batch, spent; else the single one."""
        now = int(time.time() if now is None else now)
        if self.sd_batch:
            key, sd = self.sd_batch.pop(0)
            return sdjwt.present(sd, disclose, key, aud, nonce, now)
        if not self.sd_jwt:
            raise ValueError("no unused SD-JWT credential: fetch a new batch while online")
        return sdjwt.present(self.sd_jwt, disclose, self.key, aud, nonce, now)


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
