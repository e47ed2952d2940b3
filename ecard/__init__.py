"""The e-card protocol, below both the server and the verifiers (gate, CLI, pages), with no web framework in it:
keys and JWKS (keys), compact JWS (jws), QR tokens (tokens), SD-JWT credentials (sdjwt), status lists
(status_list), offline verification with a replay cache (verify, replay), the device side (device), QR rendering
(render) and a typed HTTP client for the server (client). Every error derives from errors.EcardError."""
from ecard.errors import LEEWAY, EcardError

__all__ = ["LEEWAY", "EcardError"]
