"""Activation: a terminal that read the card and checked the PIN gets a one-time code; the holder's device binds
its key with it."""
from __future__ import annotations

import datetime as dt
import secrets
import time

from fastapi import APIRouter

from ecard.keys import BadKeyError, VerifyKey, verify_key_from_jwk
from ecard_server import trail
from ecard_server.deps import PeerDep, StateDep, TerminalDep
from ecard_server.schemas import ActivateRequest, Activated, ActivationCode, ActivationCodeRequest
from ecard_server.state import Refused
from holder_db.ecard import StoreError

router = APIRouter(tags=["activation"])


@router.post("/v1/activation-codes", response_model=ActivationCode, status_code=201,
             summary="Terminal: one-time activation code for the holder whose card was read and PIN checked")
def activation_code(req: ActivationCodeRequest, state: StateDep, terminal_id: TerminalDep) -> ActivationCode:
    if not (req.ssn or req.card_no):
        raise Refused(400, "give the ssn or the card_no read from the card")
    holder = state.store.holder_for_activation(ssn=req.ssn, card_no=req.card_no)
    state.limit("holder_codes", f"holder:{holder.holder_id}")
    code = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(10))
    expires = time.time() + state.settings.activation_ttl
    state.store.add_activation_code(holder.holder_id, code, dt.datetime.fromtimestamp(expires, dt.timezone.utc))
    state.store.audit(f"terminal:{terminal_id}", "ecard.activation_code", holder.holder_id)
    return ActivationCode(code=code, expires_at=int(expires))


@router.post("/v1/activate", response_model=Activated, status_code=201,
             summary="Device: bind this device's public key with a one-time activation code; the answer names the "
                     "device (sign later requests with that id as the JWS kid)")
def activate(req: ActivateRequest, state: StateDep, client: PeerDep) -> Activated:
    state.limit("activation", client)
    try:
        device = verify_key_from_jwk(req.device_jwk.model_dump(exclude_none=True))
    except BadKeyError as exc:
        raise Refused(400, f"device_jwk: {exc}") from None
    # the server names the device: a kid the client chose could be another holder's device id, or a desk's
    device_id = "dev-" + secrets.token_urlsafe(12)
    jwk = VerifyKey(device.alg, device.key).jwk()
    try:
        binding = state.store.activate(req.code, device_id, jwk, device.alg, req.device_name)
    except StoreError as exc:
        if exc.status == 400:  # a guessed or replayed code; the code itself is never logged
            trail.auth_failed("activation_code", str(exc), client, "/v1/activate")
        raise
    state.store.audit(f"device:{device_id}", "ecard.activate", binding.holder_id)
    return Activated(device_id=device_id, holder=state.handle(binding.holder_id).hex(), status_idx=binding.status_idx)
