"""What the e-card service reads and writes in holder_db: holders and their cards, device bindings with their
status-list indices, one-time activation codes (only hashes kept), revocations, the audit trail.

Which card is the holder's and whether they may be served are holder_db.standing's answers, the same ones
payment, settlement and identity checks get."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import select

from cardlib.idnumber import mask
from holder_db import audit, standing
from holder_db import store as db
from holder_db.cards import LOSS_REASON, TRANSITIONS, transition
from holder_db.models import (ActivationCode, Card, CardEvent, EcardBinding, EcardCode, Enrolment, Holder, RelyingParty,
                              Revocation, SharedRecord)
from holder_db.standing import Refusal

ACTIVE_CARD = "active"
# status indices of unlinkable codes (models.EcardCode) are drawn at random from [CODE_BASE, CODE_BASE + CODE_SPACE);
# bindings number theirs from 0 below CODE_BASE. The status list covers the whole space, so an index says nothing.
CODE_BASE = 1 << 22
CODE_SPACE = 1 << 22
EXPIRED_KEEP = 86400  # seconds a code's row outlives the code (verifier leeway, resolving a code just scanned)
LOSABLE = tuple(sorted(s for s, nxt in TRANSITIONS.items() if "lost" in nxt))


class StoreError(ValueError):
    """A request the records refuse; `status` is the HTTP status the server answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HolderView:
    holder_id: int
    ssn: str
    name: str
    birth_date: str
    gender: str
    card_no: str
    card_status: str
    insurance: dict[str, str]
    deceased: bool = False


@dataclass(frozen=True)
class BindingView:
    kid: str
    holder_id: int
    status_idx: int
    jwk: dict[str, Any]
    alg: str
    active: bool


@dataclass(frozen=True)
class CodeView:
    """An unlinkable code's own handle (the QR's `sub`) and status index."""

    handle: bytes
    status_idx: int
    expires_at: float


PROXY_BATCH = "proxy:"  # ecard_codes.batch of a code shown by a family proxy: proxy:<proxy binding id>


@dataclass(frozen=True)
class ResolvedCode:
    holder_id: int
    device_id: str
    kind: str
    binding_active: bool
    expires_at: float
    proxy_binding: int | None = None  # the family proxy binding under which the code was shown for its holder


@dataclass(frozen=True)
class LossResult:
    card_no: str
    card_status: str
    revoked: list[int]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


class EcardStore:
    def __init__(self, url: str | None = None) -> None:
        self.url = url
        try:
            self.engine = db.get_engine(url)
        except Exception as exc:  # a bad URL or an unreachable server
            raise StoreError(f"cannot open the holder database: {exc.__class__.__name__}", 503) from None

    def _session(self):  # type: ignore[no-untyped-def]
        return db.session(self.engine)

    @staticmethod
    def _guard(exc: Exception) -> StoreError:
        return StoreError(f"the holder database is not initialised or unreachable ({exc.__class__.__name__}); "
                          "run `sscard db init`", 503)

    # ---- holders --------------------------------------------------------------------------------------------

    def _view(self, s: Any, holder: Holder) -> HolderView:
        st = standing.standing_of(s, holder_id=holder.id)
        assert st is not None
        insurance: dict[str, str] = dict(st.enrolments)
        return HolderView(holder.id, holder.ssn, holder.name, holder.birth_date.isoformat(), holder.gender,
                          st.card_no or "", st.card_status or "none", insurance, st.death_date is not None)

    def find_holder(self, ssn: str | None = None, card_no: str | None = None) -> HolderView:
        try:
            with self._session() as s:
                if ssn:
                    holder = s.exec(select(Holder).where(Holder.ssn == ssn)).first()
                else:
                    card = s.exec(select(Card).where(Card.card_no == card_no)).first()
                    holder = s.get(Holder, card.holder_id) if card else None
                if holder is None:
                    raise StoreError(f"no holder with {'ssn ' + mask(ssn) if ssn else 'that card number'}", 404)
                return self._view(s, holder)
        except (OperationalError, ProgrammingError) as exc:
            raise self._guard(exc) from None

    def holder(self, holder_id: int) -> HolderView:
        try:
            with self._session() as s:
                holder = s.get(Holder, holder_id)
                if holder is None:
                    raise StoreError("holder not found", 404)
                return self._view(s, holder)
        except (OperationalError, ProgrammingError) as exc:
            raise self._guard(exc) from None

    def benefits_paid(self, holder_id: int) -> list[dict[str, Any]]:
        """The holder's own payments, masked (holder_db.queries.benefits_paid)."""
        from holder_db.queries import benefits_paid

        try:
            with self._session() as s:
                return benefits_paid(s, holder_id)
        except (OperationalError, ProgrammingError) as exc:
            raise self._guard(exc) from None

    def refusal(self, holder_id: int) -> Refusal | None:
        """Why this holder may not be served an e-card code or credential now (holder_db.standing), or None."""
        try:
            with self.engine.connect() as conn:
                return standing.refusal_of(conn, holder_id)
        except (OperationalError, ProgrammingError) as exc:
            raise self._guard(exc) from None

    def holder_for_activation(self, ssn: str | None = None, card_no: str | None = None) -> HolderView:
        """The holder whose card a terminal has just read; only a holder who may be served (standing.refusal), on
        their current card, may activate an e-card."""
        view = self.find_holder(ssn=ssn, card_no=card_no)
        if card_no and view.card_no != card_no:
            raise StoreError("that card is not the holder's current card", 409)
        why = self.refusal(view.holder_id)
        if why is not None:
            raise StoreError(f"{why}; no e-card can be activated", 409)
        return view

    def add_sample_holder(self, seed: int) -> HolderView:
        """A synthetic holder (holder_db.seed) with an active card and two enrolments, for demos."""
        import secrets

        from holder_db.models import Holder as H
        from holder_db.seed import holders

        db.create_all(self.engine)
        row = next(holders(1, seed))
        with self._session() as s:
            existing = s.exec(select(H).where(H.ssn == row["ssn"])).first()
            if existing is None:
                b = row["birth_date"]
                existing = H(**{**row, "birth_date": dt.date(int(b[:4]), int(b[4:6]), int(b[6:]))})
                s.add(existing)
                s.flush()
                s.add(Card(holder_id=existing.id, card_no=f"E{secrets.randbelow(10**8):08d}", region=row["region"],
                           status=ACTIVE_CARD, issued_on=dt.date.today()))
                for kind in ("medical", "pension"):
                    s.add(Enrolment(holder_id=existing.id, insurance=kind, region=row["region"], status="active",
                                    start_date=dt.date.today()))
                audit.record(s, "sscard ecard sample", "holder.sample", ssn=row["ssn"], holder_id=existing.id)
            return self._view(s, existing)

    # ---- activation codes -------------------------------------------------------------------------------------

    def add_activation_code(self, holder_id: int, code: str, expires: dt.datetime) -> None:
        with self._session() as s:
            s.add(ActivationCode(holder_id=holder_id, code_hash=_code_hash(code), expires_at=expires))

    def activate(self, code: str, device_id: str, jwk: dict[str, Any], alg: str, device_name: str) -> BindingView:
        """Redeem a one-time code and bind the device key under the id the server chose, in one transaction: a
        refusal (400 the code is unknown, used or expired; 409 the key is bound already) leaves the code as it
        was, usable until it succeeds or expires."""
        jwk_text = json.dumps(jwk, sort_keys=True)
        for _ in range(5):
            now = _now()
            try:
                with db.write_connection(self.engine) as conn:
                    t, b = ActivationCode, EcardBinding
                    row = conn.execute(select(t.id, t.holder_id, t.expires_at)
                                       .where(t.code_hash == _code_hash(code), t.used_at.is_(None))).first()  # type: ignore[union-attr]
                    if row is None or _aware(row.expires_at) <= now:
                        raise StoreError("activation code is unknown, used or expired", 400)
                    if conn.execute(select(b.id).where(b.jwk == jwk_text)).first():
                        raise StoreError("this device key is already bound; make a new key to activate", 409)
                    taken = conn.execute(update(t).where(t.id == row.id, t.used_at.is_(None))  # type: ignore[union-attr]
                                         .values(used_at=now))
                    if taken.rowcount != 1:  # another request redeemed it first
                        raise StoreError("activation code is unknown, used or expired", 400)
                    idx = _next_index(conn.execute(select(func.max(b.status_index))).scalar())
                    conn.execute(insert(b).values(holder_id=row.holder_id, kid=device_id, jwk=jwk_text, alg=alg,
                                                   device_name=device_name, status_index=idx, created_at=now))
                return BindingView(device_id, row.holder_id, idx, jwk, alg, True)
            except IntegrityError:
                continue  # another writer took the same index (PostgreSQL): nothing was kept, take the next one
        raise StoreError("could not allocate a status index; try again", 409)

    # ---- bindings ---------------------------------------------------------------------------------------------

    def bind_device(self, holder_id: int, kid: str, jwk: dict[str, Any], alg: str, device_name: str) -> BindingView:
        for _ in range(5):
            try:
                with db.write_connection(self.engine) as conn:
                    t = EcardBinding
                    if conn.execute(select(t.id).where(t.kid == kid)).first():
                        raise StoreError("this device key is already bound; make a new key to re-activate", 409)
                    idx = _next_index(conn.execute(select(func.max(t.status_index))).scalar())
                    conn.execute(insert(t).values(holder_id=holder_id, kid=kid, jwk=json.dumps(jwk), alg=alg,
                                                   device_name=device_name, status_index=idx, created_at=_now()))
                return BindingView(kid, holder_id, idx, jwk, alg, True)
            except IntegrityError:
                continue  # another writer took the same index (PostgreSQL); take the next one
        raise StoreError("could not allocate a status index; try again", 409)

    def binding(self, kid: str) -> BindingView | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BINDING, {"kid": kid}).first()
        if row is None:
            return None
        try:
            jwk = json.loads(row.jwk)
        except ValueError:
            jwk = {}
        return BindingView(kid, row.holder_id, row.status_index, jwk, row.alg, row.revoked_at is None)

    def binding_and_refusal(self, kid: str) -> tuple[BindingView | None, Refusal | None]:
        """`binding(kid)` and, for its holder, `refusal(holder_id)`, in one trip on the driver's cursor: what every
        request a device signs asks (the server's hot path)."""
        dialect = self.engine.dialect
        with db.raw(self.engine) as conn:
            rows = _BINDING_RAW.rows(conn, {"kid": kid}, dialect)
            if not rows:
                return None, None
            holder_id, status_index, jwk_text, alg, revoked_at = rows[0]
            standing_rows = _REFUSAL_RAW.rows(conn, {"holder_id": holder_id}, dialect)
        why = standing.refusal_of_rows([_RefusalRow(*r) for r in standing_rows], holder_id)
        try:
            jwk = json.loads(jwk_text)
        except ValueError:
            jwk = {}
        return BindingView(kid, holder_id, status_index, jwk, alg, revoked_at is None), why

    def desk_device(self, holder_id: int) -> BindingView:
        """The binding codes the issuing desk prints (`sscard qr issue`) belong to: the holder's newest active
        device binding, else a key-less desk binding made once (it can never authenticate a device)."""
        t = EcardBinding
        with self.engine.connect() as conn:
            row = conn.execute(select(t.kid).where(t.holder_id == holder_id, t.revoked_at.is_(None))  # type: ignore[union-attr]
                               .order_by(t.id.desc())).first()  # type: ignore[union-attr]
        found = self.binding(row.kid) if row is not None else None
        if found is not None:
            return found
        return self.bind_device(holder_id, f"desk-{holder_id}", {}, "none", "issuing desk (sscard qr issue)")

    def desk_binding(self, holder_id: int) -> int:
        """The status index of desk_device."""
        return self.desk_device(holder_id).status_idx

    # ---- loss and revocation ----------------------------------------------------------------------------------

    def report_loss(self, holder_id: int, actor: str) -> LossResult:
        """Card -> lost (a CardEvent records it), every e-card binding of the holder revoked with its status bit."""
        now = _now()
        with self._session() as s:
            card = standing.pick_current(list(s.exec(select(Card).where(Card.holder_id == holder_id))))
            if card is None:
                raise StoreError("the holder has no card", 404)
            if card.status in LOSABLE:
                transition(s, card, "lost", actor=actor[:120], reason="reported lost")
            elif card.status != "lost":
                raise StoreError(f"a {card.status} card cannot be reported lost", 409)
            revoked = []
            for b in s.exec(select(EcardBinding).where(EcardBinding.holder_id == holder_id,
                                                       EcardBinding.revoked_at.is_(None))):
                b.revoked_at = now
                s.add(b)
                s.add(Revocation(subject="ecard", ref=b.kid, holder_id=holder_id, status_index=b.status_index,
                                 reason=LOSS_REASON, revoked_at=now))
                revoked.append(b.status_index)
            if not s.exec(select(Revocation).where(Revocation.subject == "card", Revocation.ref == card.card_no)).first():
                s.add(Revocation(subject="card", ref=card.card_no, holder_id=holder_id, reason="lost", revoked_at=now))
            audit.record(s, actor[:120], "card.loss", holder_id=holder_id, detail=f"card {mask(card.card_no)}")
            return LossResult(card.card_no, "lost", sorted(revoked))

    def revoke_binding(self, kid: str, reason: str, actor: str) -> int | None:
        """Deactivate one e-card (a phone lost or replaced): its bit is set, the card itself is untouched. Returns the
        status index, or None if the binding was not active."""
        now = _now()
        with self._session() as s:
            b = s.exec(select(EcardBinding).where(EcardBinding.kid == kid, EcardBinding.revoked_at.is_(None))).first()
            if b is None:
                return None
            b.revoked_at = now
            s.add(b)
            s.add(Revocation(subject="ecard", ref=b.kid, holder_id=b.holder_id, status_index=b.status_index,
                             reason=reason[:60], revoked_at=now))
            audit.record(s, actor[:120], "ecard.deactivate", holder_id=b.holder_id, detail=reason[:200])
            return b.status_index

    def binding_by_status_index(self, idx: int) -> BindingView | None:
        """Which e-card a verified code belongs to (a QR carries the status index, never the ID number): for
        terminals that check an identity against the records after verifying a code."""
        with self.engine.connect() as conn:
            row = conn.execute(select(EcardBinding.kid).where(EcardBinding.status_index == idx)).first()
            if row is None:
                row = conn.execute(select(EcardBinding.kid).join(EcardCode, EcardCode.binding_id == EcardBinding.id)
                                   .where(EcardCode.status_index == idx)).first()
        return self.binding(row.kid) if row else None

    # ---- unlinkable codes ------------------------------------------------------------------------------------

    def issue_codes(self, kid: str, kind: str, expires_at: float, count: int = 1,
                    handle_bytes: int = 10, proxy_for: tuple[int, int] | None = None) -> list[CodeView]:
        """`count` codes for the device `kid`, each with a random handle and a random status index of its own
        (CODE_BASE..), in one transaction; rows of codes expired EXPIRED_KEEP ago go on the way. A clash of random
        values (unique in the table) is drawn again. `proxy_for` (principal holder id, proxy binding id): the code
        is the principal's, shown by the device's holder as their proxy; its batch names the proxy binding, so the
        code resolves to the principal, says who showed it, and dies with the binding."""
        for _ in range(8):
            codes = [CodeView(secrets.token_bytes(handle_bytes), CODE_BASE + secrets.randbelow(CODE_SPACE),
                              expires_at) for _ in range(count)]
            if len({c.status_idx for c in codes}) < count or len({c.handle for c in codes}) < count:
                continue
            try:
                with db.write_connection(self.engine) as conn:
                    b = conn.execute(select(EcardBinding.id, EcardBinding.holder_id)
                                     .where(EcardBinding.kid == kid)).first()
                    if b is None:
                        raise StoreError("device is not activated", 401)
                    conn.execute(delete(EcardCode).where(EcardCode.expires_at < time.time() - EXPIRED_KEEP))  # type: ignore[arg-type]
                    batch = secrets.token_hex(8) if count > 1 else ""
                    holder_id = b.holder_id
                    if proxy_for is not None:
                        holder_id, batch = proxy_for[0], f"{PROXY_BATCH}{proxy_for[1]}"
                    conn.execute(insert(EcardCode), [
                        {"handle": c.handle.hex(), "holder_id": holder_id, "binding_id": b.id, "kind": kind,
                         "status_index": c.status_idx, "batch": batch, "expires_at": c.expires_at,
                         "created_at": _now()} for c in codes])
                return codes
            except IntegrityError:
                continue  # a handle or index drawn twice (by chance, or by a racing writer): draw again
        raise StoreError("could not allocate code status indices; try again", 409)

    def resolve_code(self, handle: bytes) -> ResolvedCode | None:
        """Whose code this handle is (the server's answer to a terminal that scanned it), None if unknown."""
        k, b = EcardCode, EcardBinding
        with self.engine.connect() as conn:
            row = conn.execute(select(k.holder_id, k.kind, k.expires_at, k.batch, b.kid, b.revoked_at)
                               .join(b, b.id == k.binding_id).where(k.handle == handle.hex())).first()
        if row is None:
            return None
        via = int(row.batch[len(PROXY_BATCH):]) if row.batch.startswith(PROXY_BATCH) else None
        return ResolvedCode(row.holder_id, row.kid, row.kind, row.revoked_at is None, row.expires_at, via)

    def revocation_version(self) -> tuple[int, ...]:
        """Changes whenever the status list would: a revocation added or cleared (a card found again, which also
        leaves a card event), a death recorded, a status index handed out. One round trip."""
        with db.raw(self.engine) as conn:
            row = _VERSION_RAW.rows(conn, {}, self.engine.dialect)[0]
        return tuple(-1 if v is None else int(v) for v in row)

    def revoked_indices(self) -> tuple[set[int], int]:
        """The set bits and the list's size: the bindings' own indices, and every live code's (models.EcardCode)
        whose binding is revoked or whose holder is dead, so a revocation reaches every member of every batch."""
        r, b, h, sr, k = Revocation, EcardBinding, Holder, SharedRecord, EcardCode
        live = k.expires_at > time.time() - EXPIRED_KEEP  # type: ignore[operator]
        with self.engine.connect() as conn:
            revoked = {i for (i,) in conn.execute(select(r.status_index).where(r.status_index.is_not(None)))}  # type: ignore[union-attr]
            revoked |= {i for (i,) in conn.execute(  # a death on record revokes every e-card of the holder
                select(b.status_index).join(h, h.id == b.holder_id).join(sr, sr.ssn == h.ssn)
                .where(sr.kind == "death", b.status_index.is_not(None)))}  # type: ignore[union-attr]
            revoked |= {i for (i,) in conn.execute(
                select(k.status_index).join(b, b.id == k.binding_id).where(b.revoked_at.is_not(None), live))}  # type: ignore[union-attr]
            revoked |= {i for (i,) in conn.execute(
                select(k.status_index).join(h, h.id == k.holder_id).join(sr, sr.ssn == h.ssn)
                .where(sr.kind == "death", live))}
            top = conn.execute(select(func.max(b.status_index))).scalar()
        return revoked, max(top + 1 if top is not None else 0, CODE_BASE + CODE_SPACE)

    # ---- scan-to-login relying parties ----------------------------------------------------------------------

    def register_relying_party(self, name: str, jwk: dict[str, Any], alg: str, actor: str) -> None:
        """Register (or re-key) a relying party: from now on only requests signed by this key speak for `name`."""
        try:
            with self._session() as s:
                row = s.get(RelyingParty, name)
                if row is None:
                    row = RelyingParty(name=name, jwk=json.dumps(jwk, sort_keys=True), alg=alg)
                else:
                    row.jwk, row.alg, row.created_at, row.withdrawn_at = json.dumps(jwk, sort_keys=True), alg, _now(), None
                s.add(row)
                audit.record(s, actor[:120], "ecard.rp_register", detail=f"relying party {name}")
        except (OperationalError, ProgrammingError) as exc:
            raise self._guard(exc) from None

    def relying_party(self, name: str) -> tuple[dict[str, Any], str] | None:
        """The registered public JWK and alg of a relying party, or None (unknown or withdrawn)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(RelyingParty.jwk, RelyingParty.alg)
                               .where(RelyingParty.name == name, RelyingParty.withdrawn_at.is_(None))).first()  # type: ignore[union-attr]
        if row is None:
            return None
        try:
            return json.loads(row.jwk), row.alg
        except ValueError:
            return None

    def audit(self, actor: str, action: str, holder_id: int | None, detail: str = "", sensitive: bool = False,
              purpose: str = "", fields: tuple[str, ...] | list[str] = ()) -> None:
        with self._session() as s:
            audit.record(s, actor[:120], action[:60], holder_id=holder_id, detail=detail[:500], sensitive=sensitive,
                         purpose=purpose, fields=fields)

    def access_log(self, holder_id: int, before: int | None = None, limit: int = 50) -> tuple[list[audit.Access],
                                                                                              int | None]:
        """The holder's own access log (holder_db.audit.access_log)."""
        with self.engine.connect() as conn:
            return audit.access_log(conn, holder_id, before=before, limit=limit)


_VERSION = select(select(func.count(Revocation.id)).scalar_subquery(),
                  select(func.max(Revocation.id)).scalar_subquery(),
                  select(func.count(SharedRecord.id)).where(SharedRecord.kind == "death").scalar_subquery(),
                  select(func.max(EcardBinding.status_index)).scalar_subquery(),
                  select(func.count(CardEvent.id)).where(CardEvent.from_status == "lost").scalar_subquery())
_BINDING = (select(EcardBinding.holder_id, EcardBinding.status_index, EcardBinding.jwk, EcardBinding.alg,
                   EcardBinding.revoked_at).where(EcardBinding.kid == bindparam("kid")))

_BINDING_RAW = db.Prepared(_BINDING)
_VERSION_RAW = db.Prepared(_VERSION)
_REFUSAL_RAW = db.Prepared(standing.REFUSAL_STATEMENT)
_RefusalRow = namedtuple("_RefusalRow", [c.name for c in standing.REFUSAL_STATEMENT.selected_columns])


def _next_index(top: int | None) -> int:
    """A new binding's status index: the next one, below the codes' random space."""
    idx = 0 if top is None else top + 1
    if idx >= CODE_BASE:
        raise StoreError("no status index is left for a new e-card binding", 507)
    return idx


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()
