"""One root for every e-card protocol error, and the one clock-skew allowance every check uses."""
from __future__ import annotations

LEEWAY = 10  # seconds of clock skew tolerated between a code's or credential's maker and its verifier


class EcardError(ValueError):
    """Something in the e-card protocol was refused; `reason` is a short code a verifier or server can act on
    (for codes, one of ecard.verify.REASONS), `detail` says what was wrong, without secrets or key material."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Plain(EcardError):
    """An error whose message is its detail alone; the class names the reason."""

    reason_code = "malformed"

    def __init__(self, detail: str) -> None:
        super().__init__(self.reason_code, detail)
        self.args = (detail,)

    def __str__(self) -> str:
        return self.detail


class BadKeyError(_Plain):
    """A key, JWK or key set that cannot be used; the message names what is wrong (never key material)."""

    reason_code = "bad_key"


class RenderError(_Plain):
    """A token that cannot be drawn as a QR symbol."""

    reason_code = "render"
