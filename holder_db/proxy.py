"""Family proxy (亲情服务): a holder binds a relative as proxy, with a scope and an end date, and the proxy acts for
them within it; every act is recorded with who acted for whom (`proxy_acts`, append-only).

A binding is in force once both consented: the principal at a counter with card and PIN (`card_pin`), or a counter
officer for a holder who cannot (`officer`, recorded as such); the proxy with their e-card. Either side may start
(the proxy asks with their e-card, the principal binds at a counter) and either may revoke. A binding the caller is
not party to is answered like one that does not exist, and asking for an unknown ID number is answered like asking
for a known one, so none of this tells anyone who is on record.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection

from cardlib.idnumber import mask
from holder_db import certification, models
from holder_db.certification import CertError

B = models.ProxyBinding.__table__  # type: ignore[attr-defined]
ACT = models.ProxyAct.__table__  # type: ignore[attr-defined]
H = models.Holder.__table__  # type: ignore[attr-defined]
E = models.Entitlement.__table__  # type: ignore[attr-defined]
SCOPES = models.PROXY_SCOPES
MAX_YEARS = 10
NOT_FOUND = "no such proxy binding"


class ProxyError(CertError):
    """A proxy request refused; `status` is the HTTP status a server answers with."""


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    bad = [s for s in wanted if s not in SCOPES]
    if not wanted or bad:
        raise ProxyError(f"scope must be one or more of {', '.join(SCOPES)}" + (f"; not {bad[0]!r}" if bad else ""))
    return wanted


def check_end(ends_on: dt.date, today: dt.date) -> dt.date:
    if not today < ends_on <= today + dt.timedelta(days=365 * MAX_YEARS + MAX_YEARS // 4):
        raise ProxyError(f"the end date must be after today and at most {MAX_YEARS} years ahead")
    return ends_on


def state_of(row: Any, today: dt.date) -> str:
    """revoked, expired, pending_principal, pending_proxy or active."""
    if row.revoked_at is not None:
        return "revoked"
    if row.ends_on < today:
        return "expired"
    if row.principal_consent is None:
        return "pending_principal"
    if row.proxy_consent_at is None:
        return "pending_proxy"
    return "active"


def _holder_by_ssn(conn: Connection, ssn: str) -> int | None:
    return conn.execute(select(H.c.id).where(H.c.ssn == ssn.strip().upper())).scalar()


def request_by_proxy(conn: Connection, proxy_id: int, principal_ssn: str, scopes: Iterable[str], ends_on: dt.date,
                     actor: str, today: dt.date | None = None) -> None:
    """The proxy asks (with their e-card) to act for the holder with this ID number; the holder then consents at a
    counter. Returns nothing whether or not such a holder exists, so the answer tells nothing."""
    today = today or dt.date.today()
    wanted, end = check_scopes(scopes), check_end(ends_on, today)
    principal = _holder_by_ssn(conn, principal_ssn)
    if principal is None or principal == proxy_id:
        return
    conn.execute(insert(B).values(principal_id=principal, proxy_id=proxy_id, scopes=",".join(wanted), ends_on=end,
                                  created_at=models.utcnow(), proxy_consent_by=actor[:120],
                                  proxy_consent_at=models.utcnow()))


def bind_by_principal(conn: Connection, principal_id: int, proxy_ssn: str, scopes: Iterable[str], ends_on: dt.date,
                      consent: str, consent_by: str, today: dt.date | None = None) -> dict[str, Any]:
    """The principal's consent at a counter (`card_pin`: their card and PIN; `officer`: an officer for a holder
    who cannot): completes the proxy's pending request if there is one, else binds pending the proxy's consent."""
    today = today or dt.date.today()
    wanted, end = check_scopes(scopes), check_end(ends_on, today)
    if consent not in models.PRINCIPAL_CONSENTS:
        raise ProxyError(f"consent must be one of {', '.join(models.PRINCIPAL_CONSENTS)}")
    proxy_id = _holder_by_ssn(conn, proxy_ssn)
    if proxy_id is None:
        raise ProxyError(f"no holder {mask(proxy_ssn)} on record to bind as proxy", 404)
    if proxy_id == principal_id:
        raise ProxyError("a holder cannot be their own proxy", 409)
    now = models.utcnow()
    consented = {"principal_consent": consent, "principal_consent_by": consent_by[:120], "principal_consent_at": now,
                 "scopes": ",".join(wanted), "ends_on": end}
    pending = conn.execute(select(B.c.id).where(B.c.principal_id == principal_id, B.c.proxy_id == proxy_id,
                                                B.c.principal_consent.is_(None), B.c.revoked_at.is_(None),
                                                B.c.ends_on >= today).order_by(B.c.id.desc())).scalar()
    if pending is not None:
        conn.execute(update(B).where(B.c.id == pending).values(**consented))
        binding_id = pending
    else:
        binding_id = conn.execute(insert(B).values(principal_id=principal_id, proxy_id=proxy_id, created_at=now,
                                                   **consented)).inserted_primary_key[0]
    return view(conn, binding_id, today)


def _party(conn: Connection, binding_id: int, holder_id: int) -> Any:
    row = conn.execute(select(B).where(B.c.id == binding_id,
                                       or_(B.c.principal_id == holder_id, B.c.proxy_id == holder_id))).first()
    if row is None:
        raise ProxyError(NOT_FOUND, 404)
    return row


def consent_by_proxy(conn: Connection, binding_id: int, proxy_id: int, actor: str,
                     today: dt.date | None = None) -> dict[str, Any]:
    """The proxy accepts, with their e-card, a binding the principal made at a counter."""
    today = today or dt.date.today()
    row = _party(conn, binding_id, proxy_id)
    if row.proxy_id != proxy_id:
        raise ProxyError(NOT_FOUND, 404)
    state = state_of(row, today)
    if state != "pending_proxy":
        raise ProxyError(f"the binding is {state}; only one waiting for the proxy's consent can be accepted", 409)
    conn.execute(update(B).where(B.c.id == binding_id, B.c.proxy_consent_at.is_(None))
                 .values(proxy_consent_by=actor[:120], proxy_consent_at=models.utcnow()))
    return view(conn, binding_id, today)


def revoke(conn: Connection, binding_id: int, holder_id: int, actor: str,
           today: dt.date | None = None) -> dict[str, Any]:
    """Either side ends a binding; it never acts again."""
    today = today or dt.date.today()
    row = _party(conn, binding_id, holder_id)
    if row.revoked_at is not None:
        raise ProxyError("the binding is already revoked", 409)
    conn.execute(update(B).where(B.c.id == binding_id, B.c.revoked_at.is_(None))
                 .values(revoked_at=models.utcnow(), revoked_by=actor[:120]))
    return view(conn, binding_id, today)


def view(conn: Connection, binding_id: int, today: dt.date | None = None) -> dict[str, Any]:
    """A binding as either side is shown it: ID numbers masked."""
    today = today or dt.date.today()
    row = conn.execute(select(B).where(B.c.id == binding_id)).one()
    names = {r.id: r for r in conn.execute(select(H.c.id, H.c.ssn, H.c.name)
                                           .where(H.c.id.in_((row.principal_id, row.proxy_id))))}
    p, q = names[row.principal_id], names[row.proxy_id]
    return {"binding_id": row.id, "state": state_of(row, today), "scopes": row.scopes.split(","),
            "ends_on": row.ends_on.isoformat(), "principal": {"holder": mask(p.ssn), "name": p.name},
            "proxy": {"holder": mask(q.ssn), "name": q.name}, "principal_consent": row.principal_consent,
            "principal_consent_by": row.principal_consent_by or None}


def bindings_of(conn: Connection, holder_id: int, today: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """The holder's bindings both ways: who acts for them (`proxies`) and for whom they act (`principals`)."""
    rows = conn.execute(select(B.c.id, B.c.principal_id).where(or_(B.c.principal_id == holder_id,
                                                                   B.c.proxy_id == holder_id)).order_by(B.c.id))
    out: dict[str, list[dict[str, Any]]] = {"proxies": [], "principals": []}
    for r in rows.all():
        out["proxies" if r.principal_id == holder_id else "principals"].append(view(conn, r.id, today))
    return out


def authorize(conn: Connection, binding_id: int, proxy_id: int, scope: str, today: dt.date | None = None) -> Any:
    """The binding under which `proxy_id` may act in `scope` now; ProxyError (404 not theirs, 403 revoked,
    expired, not consented or scope not granted) otherwise."""
    today = today or dt.date.today()
    row = conn.execute(select(B).where(B.c.id == binding_id, B.c.proxy_id == proxy_id)).first()
    if row is None:
        raise ProxyError(NOT_FOUND, 404)
    state = state_of(row, today)
    if state != "active":
        raise ProxyError(f"the proxy binding is {state.replace('_', ' ')}", 403)
    if scope not in row.scopes.split(","):
        raise ProxyError(f"the proxy binding does not grant {scope!r}", 403)
    return row


def record_act(conn: Connection, row: Any, act: str, actor: str, detail: str = "") -> None:
    conn.execute(insert(ACT).values(binding_id=row.id, proxy_id=row.proxy_id, principal_id=row.principal_id,
                                    act=act, actor=actor[:120], detail=detail[:200], at=models.utcnow()))


def certify_for(conn: Connection, binding_id: int, proxy_id: int, year: int, channel: str, actor: str,
                today: dt.date | None = None) -> dict[str, Any]:
    """The proxy certifies the principal for `year` (scope `certification`); the record names the proxy."""
    today = today or dt.date.today()
    certification.check_year(year, today)
    row = authorize(conn, binding_id, proxy_id, "certification", today)
    record, made = certification.certify(conn, row.principal_id, year, channel, actor=actor,
                                         evidence_ref=f"binding:{row.id}", proxy_holder_id=proxy_id, today=today)
    record_act(conn, row, "certification", actor, f"year {year}" + ("" if made else " (already certified)"))
    return {**record, "created": made}


def benefits_for(conn: Connection, binding_id: int, proxy_id: int, actor: str,
                 today: dt.date | None = None) -> dict[str, Any]:
    """The principal's entitlements as the proxy sees them (scope `view_benefits`): no ID number, no account."""
    row = authorize(conn, binding_id, proxy_id, "view_benefits", today)
    ssn = conn.execute(select(H.c.ssn).where(H.c.id == row.principal_id)).scalar_one()
    items = [{"benefit": r.benefit, "period": r.period, "amount": r.amount, "status": r.status}
             for r in conn.execute(select(E.c.benefit, E.c.period, E.c.amount, E.c.status)
                                   .where(E.c.ssn == ssn).order_by(E.c.period.desc()).limit(120))]
    record_act(conn, row, "view_benefits", actor)
    return {"principal": mask(ssn), "entitlements": items}



def shown_by(conn: Connection, binding_id: int, today: dt.date | None = None) -> dict[str, str]:
    """Who showed a principal's code under `binding_id` (the proxy, ID number masked), asked when the code is
    resolved: ProxyError when the binding no longer lets them (revoked, expired, scope withdrawn), so a proxy's code
    dies with its binding, not only when it expires."""
    row = conn.execute(select(B.c.proxy_id).where(B.c.id == binding_id)).first()
    if row is None:
        raise ProxyError(NOT_FOUND, 404)
    authorize(conn, binding_id, row.proxy_id, "show_code", today)
    q = conn.execute(select(H.c.ssn, H.c.name).where(H.c.id == row.proxy_id)).one()
    return {"holder": mask(q.ssn), "name": q.name}

def acts_of(conn: Connection, holder_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """What proxies did for this holder, and what this holder did as a proxy, newest first."""
    rows = conn.execute(select(ACT).where(or_(ACT.c.principal_id == holder_id, ACT.c.proxy_id == holder_id))
                        .order_by(ACT.c.id.desc()).limit(limit))
    return [{"binding_id": r.binding_id, "act": r.act, "actor": r.actor, "detail": r.detail,
             "for_me": r.principal_id == holder_id, "at": r.at.isoformat()} for r in rows]
