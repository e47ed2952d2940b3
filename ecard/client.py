"""A small typed client for the e-card server: what the device CLI, the counter terminal and the gate ask of it.

Every failure is one `ClientError` (an EcardError): `reason` is "unreachable" when no answer came, else
"refused" with the HTTP status in `status` and the server's own words in `detail`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ecard.device import Device
from ecard.errors import EcardError
from ecard.keys import b64u_decode

TIMEOUT = 15.0


class ClientError(EcardError):
    """The server could not be reached (reason unreachable) or refused the request (refused, `status`)."""

    def __init__(self, reason: str, detail: str, status: int = 0) -> None:
        super().__init__(reason, detail)
        self.status = status


@dataclass(frozen=True)
class ActivationCode:
    code: str
    expires_at: float


@dataclass(frozen=True)
class Activation:
    device_id: str
    holder: str
    status_idx: int


@dataclass(frozen=True)
class Credential:
    credential: str  # base64url of the issuer-signed offline credential
    expires_at: int


@dataclass(frozen=True)
class QrToken:
    token: str
    expires_at: int


@dataclass(frozen=True)
class AccessPage:
    entries: list[dict[str, Any]]
    next_before: int | None


@dataclass(frozen=True)
class Loss:
    card_no_masked: str
    card_status: str
    revoked: list[int]


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


class EcardClient:
    """One server, one connection pool; use as a context manager or call close()."""

    def __init__(self, base_url: str, *, timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, follow_redirects=True, transport=transport)

    def __enter__(self) -> "EcardClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- transport ----

    def _send(self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None,
              device: Device | None = None, expect: tuple[int, ...] = (200,)) -> httpx.Response:
        try:
            if device is not None:
                r = device.request(self._http, method, path, json_body)
            else:
                r = self._http.request(method, path, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            raise ClientError("unreachable", f"cannot reach {self.base_url} ({exc.__class__.__name__})") from None
        if r.status_code not in expect:
            try:
                detail = r.json().get("detail")
            except (ValueError, AttributeError):
                detail = r.text
            raise ClientError("refused", f"server answered {r.status_code}: {_one_line(str(detail))}", r.status_code)
        return r

    def _json(self, r: httpx.Response) -> dict[str, Any]:
        try:
            data = r.json()
        except ValueError:
            raise ClientError("refused", f"server answered {r.status_code} with no JSON", r.status_code) from None
        if not isinstance(data, dict):
            raise ClientError("refused", "server answered with JSON that is not an object", r.status_code)
        return data

    # ---- public documents (gates and verifiers) ----

    def jwks_text(self, url: str | None = None) -> str:
        """The issuer's JWKS as text (to cache as is); `url` overrides the server's own path."""
        return self._send("GET", url or "/.well-known/jwks.json").text

    def status_list_text(self, url: str | None = None) -> str:
        """The signed status list JWT as text."""
        return self._send("GET", url or "/status-list").text

    # ---- counter terminal ----

    def activation_code(self, terminal_key: str, *, ssn: str | None = None,
                        card_no: str | None = None) -> ActivationCode:
        body = {"ssn": ssn} if ssn else {"card_no": card_no}
        d = self._json(self._send("POST", "/v1/activation-codes", json_body=body,
                                  headers={"X-Terminal-Key": terminal_key}, expect=(201,)))
        return ActivationCode(str(d["code"]), float(d["expires_at"]))

    # ---- holder's device ----

    def activate(self, code: str, device: Device, device_name: str = "") -> Activation:
        """Bind `device`'s key; sets device.device_id to the id the server gave it."""
        body: dict[str, Any] = {"code": code.strip().upper(), "device_jwk": device.jwk()}
        if device_name:
            body["device_name"] = device_name
        d = self._json(self._send("POST", "/v1/activate", json_body=body, expect=(201,)))
        device.device_id = str(d["device_id"])  # the server names the device; its proofs carry that id
        return Activation(device.device_id, str(d["holder"]), int(d["status_idx"]))

    def offline_credential(self, device: Device) -> Credential:
        d = self._json(self._send("POST", "/v1/credentials/offline", json_body={}, device=device))
        return Credential(str(d["credential"]), int(d["expires_at"]))

    def offline_batch(self, device: Device, n: int = 5) -> Credential:
        """A batch of `n` unlinkable offline credentials, one per fresh device key, kept in `device.batch`."""
        keys = device.batch_keys(n)
        d = self._json(self._send("POST", "/v1/credentials/offline", device=device,
                                  json_body={"device_keys": [k.public().jwk() for k in keys]}))
        creds = d.get("credentials")
        if not isinstance(creds, list) or len(creds) != n:
            raise ClientError("refused", "server answered a batch of the wrong size")
        device.batch = [(k, b64u_decode(str(c))) for k, c in zip(keys, creds)]
        return Credential(str(d["credential"]), int(d["expires_at"]))

    def access_log(self, device: Device, *, before: int | None = None, limit: int = 50) -> AccessPage:
        """One page of the holder's access log (newest first) and the cursor of the next, None on the last."""
        query = f"?limit={int(limit)}" + (f"&before={int(before)}" if before is not None else "")
        d = self._json(self._send("GET", "/v1/me/access-log" + query, device=device))
        return AccessPage(list(d.get("entries", [])), d.get("next_before"))

    def resolve(self, terminal_key: str, token: str, purpose: str | None = None) -> dict[str, Any]:
        """Terminal: whose is this scanned code (the server verifies it; the read is in the holder's log)."""
        body = {"token": token, **({"purpose": purpose} if purpose else {})}
        return self._json(self._send("POST", "/v1/codes/resolve", json_body=body,
                                     headers={"X-Terminal-Key": terminal_key}))

    def token(self, device: Device, ttl: int = 60) -> QrToken:
        d = self._json(self._send("POST", "/v1/token", json_body={"ttl": ttl}, device=device))
        return QrToken(str(d["token"]), int(d["expires_at"]))

    def report_loss(self, device: Device) -> Loss:
        d = self._json(self._send("POST", "/v1/me/loss", json_body={}, device=device))
        return Loss(str(d["card_no_masked"]), str(d["card_status"]), list(d.get("revoked_indices", [])))

    def me(self, device: Device) -> dict[str, Any]:
        return self._json(self._send("GET", "/v1/me", device=device))

