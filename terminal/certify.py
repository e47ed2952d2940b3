"""Certification and family proxy at a kiosk or counter: the holder (or their proxy) proves themself with the card
read and verified through the PSAM plus the PIN (terminal.cardsession.visit, the same steps as identify and the
kiosk), then holder_db records it (holder_db.certification, holder_db.proxy).

Only a verified read counts: a card read without a PSAM proves nothing about the card, so it certifies nobody.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy.engine import Engine

from cardlib.psam import Psam
from holder_db import certification, proxy, standing
from holder_db import store as db
from holder_db.certification import CertError
from terminal.cardsession import visit


@contextmanager
def card_holder(reader: str | None, pin: str, psam: Psam | None) -> Iterator[str]:
    """The ID number on a card proved genuine through the PSAM, its PIN checked; CertError without a PSAM."""
    if psam is None:
        raise CertError("certification needs the card verified through a PSAM (--psam or --keys)", 400)
    with visit(reader, pin=pin, psam=psam) as card:
        if card.session is None or not card.pin_checked:  # pragma: no cover (visit raises first)
            raise CertError("the card was not verified", 400)
        yield card.info.ssn


def _holder_id(conn: Any, ssn: str) -> int:
    st = standing.standing_of(conn, ssn=ssn)
    if st is None:
        raise CertError("that holder is not on record", 404)
    return st.holder_id


def self_certify(engine: Engine, ssn: str, year: int, terminal: str, today: dt.date | None = None) -> dict[str, Any]:
    """The holder whose card and PIN were just checked certifies themself."""
    with db.write_connection(engine) as conn:
        hid = _holder_id(conn, ssn)
        record, made = certification.certify(conn, hid, year, "card_pin", actor=terminal, evidence_ref=terminal,
                                             today=today)
    return {**record, "created": made}


def proxy_certify(engine: Engine, proxy_ssn: str, binding_id: int, year: int, terminal: str,
                  today: dt.date | None = None) -> dict[str, Any]:
    """The proxy whose card and PIN were just checked certifies their principal under a binding."""
    with db.write_connection(engine) as conn:
        return proxy.certify_for(conn, binding_id, _holder_id(conn, proxy_ssn), year, "proxy_card_pin", terminal,
                                 today=today)


def bind(engine: Engine, principal_ssn: str, proxy_ssn: str, scopes: list[str], ends_on: dt.date, consent: str,
         consent_by: str, today: dt.date | None = None) -> dict[str, Any]:
    with db.write_connection(engine) as conn:
        return proxy.bind_by_principal(conn, _holder_id(conn, principal_ssn), proxy_ssn, scopes, ends_on, consent,
                                       consent_by, today=today)


def revoke(engine: Engine, ssn: str, binding_id: int, actor: str) -> dict[str, Any]:
    with db.write_connection(engine) as conn:
        return proxy.revoke(conn, binding_id, _holder_id(conn, ssn), actor)


def listing(engine: Engine, ssn: str) -> dict[str, Any]:
    with engine.connect() as conn:
        hid = _holder_id(conn, ssn)
        return {**proxy.bindings_of(conn, hid), "acts": proxy.acts_of(conn, hid)}


def show(engine: Engine, ssn: str, year: int, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.date.today()
    certification.check_year(year, today)
    with engine.connect() as conn:
        return certification.record_of(conn, _holder_id(conn, ssn), year, today)
