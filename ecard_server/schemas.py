"""Request and response bodies of the e-card API (pydantic): strict, so an unknown field is a 422, not ignored."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ecard import tokens

SSN = Annotated[str, Field(min_length=18, max_length=18, pattern=r"^[0-9]{17}[0-9X]$")]
CARD_NO = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
CODE = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^[A-Z2-7]{10}$")]
B64 = Annotated[str, Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
Scope = Literal["name", "masked_id"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivationCodeRequest(Strict):
    ssn: SSN | None = Field(None, description="Social security number read from the card (EF06 tag 08).")
    card_no: CARD_NO | None = Field(None, description="Card number read from the card (EF05 tag 07).")


class ActivationCode(Strict):
    code: str
    expires_at: int


class DeviceJwk(Strict):
    kty: Literal["OKP", "EC"]
    crv: Literal["Ed25519", "P-256", "SM2"]
    x: B64
    y: B64 | None = None
    alg: Literal["Ed25519", "EdDSA", "ES256", "SM2"] | None = None
    use: Literal["sig"] | None = None
    kid: Annotated[str, Field(max_length=64)] | None = None


class ActivateRequest(Strict):
    code: CODE
    device_jwk: DeviceJwk
    device_name: Annotated[str, Field(max_length=64)] = ""


class Activated(Strict):
    device_id: str = Field(description="The id the server gave this device: the kid of its request proofs.")
    holder: str = Field(description="Pseudonymous holder handle (hex), as it appears in QR codes.")
    status_idx: int


class TokenRequest(Strict):
    ttl: Annotated[int, Field(ge=10, le=tokens.MAX_TTL)] = tokens.DEFAULT_TTL


class QrToken(Strict):
    token: str
    expires_at: int
    chars: int


class OfflineCredential(Strict):
    credential: str = Field(description="base64url issuer-signed credential binding the device key (the first of "
                                        "`credentials` when a batch was asked for).")
    expires_at: int
    credentials: list[str] = Field([], description="One credential per key of `device_keys`, in that order.")


class SdJwtCredential(Strict):
    sd_jwt: str
    expires_at: int
    sd_jwts: list[str] = Field([], description="One SD-JWT per key of `device_keys`, in that order.")


class BatchRequest(Strict):
    """Unlinkable credentials: one per public key the device made for the batch (at most Settings.ecard_batch),
    each to be used for one code only. With no keys, one credential bound to the device key itself (every code
    made under it shows that key, so they link)."""

    device_keys: Annotated[list[DeviceJwk], Field(max_length=20)] = []


class ResolveRequest(Strict):
    token: Annotated[str, Field(min_length=1, max_length=tokens.MAX_CHARS)]
    purpose: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f]+$")] = \
        "e-card code resolved by a terminal"


class Resolved(Strict):
    kind: Literal["online", "offline"]
    name: str
    id_number_masked: str
    card_status: str
    binding_active: bool
    expires_at: int
    shown_by_proxy: str | None = Field(None, description="The family proxy (masked name) who showed the holder's "
                                       "code under a binding with the show_code scope; None when the holder did.")


class AccessEntry(Strict):
    id: int = Field(description="Pass the last one as `before` for the next page.")
    at: str = Field(description="UTC, ISO 8601.")
    who: str = Field(description="Who read: terminal:<id>, device:<id>, an officer's name, a command.")
    why: str = Field(description="The purpose recorded with the read, or what the action was.")
    fields: list[str] = Field(description="Which parts of the record were read.")
    kind: Literal["read", "presentation"]
    action: str
    detail: str


class AccessLog(Strict):
    entries: list[AccessEntry]
    next_before: int | None = Field(description="Cursor of the next (older) page; null on the last.")


class Empty(Strict):
    pass


class LossRequest(Strict):
    ssn: SSN | None = None
    card_no: CARD_NO | None = None


class LossReport(Strict):
    card_no_masked: str
    card_status: str
    revoked_indices: list[int]


class Deactivated(Strict):
    device_id: str
    revoked_index: int


class Me(Strict):
    name: str
    id_number_masked: str
    card_no_masked: str
    card_status: str
    insurance: dict[str, str]


class BenefitPaid(Strict):
    benefit: str
    benefit_name: str
    period: str
    amount: int = Field(description="Fen, as the ledger posting moved it.")
    paid_at: str
    bank_account_masked: str


class BenefitsPaid(Strict):
    benefits: list[BenefitPaid]
    total: int


RP_NAME = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:/-]+$")]


class LoginCreate(Strict):
    """Who asks is not in the body: it is the registered relying party whose key signed the request."""
    scope: Annotated[list[Scope], Field(max_length=2)] = []


class LoginSession(Strict):
    session_id: str
    qr: str
    poll_secret: str
    expires_at: int


class LoginApprove(Strict):
    consent: Annotated[list[Scope], Field(max_length=2)] = []


class LoginStatus(Strict):
    status: Literal["pending", "approved", "expired"]
    subject: str | None = None
    name: str | None = None
    masked_id: str | None = None
