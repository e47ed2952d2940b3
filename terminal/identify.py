"""Identity check (身份核验) at a counter: by the card in a reader or by an e-card QR code, against holder_db.

The answer is never a bare yes or no: it lists every check (card genuine, PIN, holder known, card status,
holder alive, card number and ID number match the record) with ok or failed and why. The ID number appears only
masked. The judging is pure (`judge`); reading the card, verifying the code and looking up holder_db are edges.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cardlib.idnumber import mask
from holder_db.standing import card_refusal

if TYPE_CHECKING:
    from cardlib.psam import Psam


@dataclass(frozen=True)
class Presented:
    """What the card or the code told us."""

    source: str  # "card" | "qr"
    ssn: str | None = None
    card_no: str | None = None
    card_id: str | None = None
    genuine: bool | None = None  # verified read / signature: True, False, or None when not checked
    genuine_why: str = ""
    pin_ok: bool | None = None  # None when no PIN was asked
    pin_why: str = ""


@dataclass(frozen=True)
class OnRecord:
    """What holder_db says about the holder (and the card) the presentation points at."""

    found: bool
    ssn: str | None = None
    card_status: str | None = None
    card_no: str | None = None
    card_id: str | None = None
    death_date: dt.date | None = None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "why": self.why}


@dataclass(frozen=True)
class Answer:
    source: str
    holder: str  # masked ID number
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "source": self.source, "holder": self.holder,
                "reasons": [c.as_dict() for c in self.checks], "notes": list(self.notes)}

    def as_text(self) -> str:
        head = f"{'IDENTIFIED' if self.ok else 'NOT IDENTIFIED'} ({self.source}) holder {self.holder or '-'}"
        lines = [head] + [f"  [{'ok' if c.ok else 'FAILED'}] {c.name}: {c.why}" for c in self.checks]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def judge(presented: Presented, record: OnRecord, today: dt.date, notes: tuple[str, ...] = ()) -> Answer:
    """Every check, in a fixed order; a check that cannot be made for lack of a record fails and says so."""
    checks: list[Check] = []
    what = "card" if presented.source == "card" else "e-card code"
    if presented.genuine is not None:
        checks.append(Check("genuine", presented.genuine,
                            presented.genuine_why or (f"{what} is genuine" if presented.genuine else f"{what} failed")))
    if presented.pin_ok is not None:
        checks.append(Check("pin", presented.pin_ok, presented.pin_why or ("PIN verified" if presented.pin_ok
                                                                               else "PIN refused")))
    if not record.found:
        checks.append(Check("holder_known", False, "no holder on record for this " + what))
        return Answer(presented.source, mask(presented.ssn), tuple(checks), notes)
    checks.append(Check("holder_known", True, "holder is on record"))
    refused = card_refusal(record.card_status)
    checks.append(Check("card_status", refused is None, "card is active" if refused is None else refused.message))
    if record.death_date is not None and record.death_date <= today:
        checks.append(Check("alive", False, f"death recorded on {record.death_date.isoformat()}"))
    else:
        checks.append(Check("alive", True, "no death record"))
    if presented.ssn is not None:
        same = presented.ssn == record.ssn
        checks.append(Check("id_matches", same, "ID number matches the record" if same
                            else "ID number on the " + what + " differs from the record"))
    if presented.card_no is not None:
        same = presented.card_no == record.card_no
        checks.append(Check("card_no_matches", same, "card number matches the record" if same
                            else "card number differs from the holder's current card on record"))
    if presented.card_id is not None and record.card_id:
        same = presented.card_id.upper() == record.card_id.upper()
        checks.append(Check("card_id_matches", same, "card identification code matches the record" if same
                            else "card identification code differs from the record"))
    return Answer(presented.source, mask(record.ssn or presented.ssn), tuple(checks), notes)


# ---- edges: the card, the code, holder_db --------------------------------------------------------------------

def record_of(found: dict[str, Any] | None) -> OnRecord:
    """OnRecord from what DbStore.on_record found (None: no such holder); the pages' counter judges with it too."""
    if found is None:
        return OnRecord(False)
    return OnRecord(True, found["ssn"], found["card_status"], found["card_no"], found["card_id"], found["death_date"])


CARD_PURPOSE = "identity check at a counter (card)"
QR_PURPOSE = "identity check at a counter (e-card code)"


def by_card(db: Any, reader: str | None, *, pin: str | None = None, psam: Psam | None = None,
            today: dt.date | None = None, actor: str = "terminal") -> Answer:
    """Read the card (verified when a PSAM is at hand), optionally check the PIN, judge it against holder_db; the
    read of the record is in the holder's access log under `actor`."""
    from cardlib import security
    from cardlib.channel import Channel
    from cardlib.pcsc import PcscTransport
    from cardlib.ssapp import SocialSecurityApp

    notes: list[str] = []
    with PcscTransport(reader) as transport:
        channel = Channel(transport)
        info = SocialSecurityApp(channel).read_card_info()  # one session: the authentication follows the reads
        genuine, genuine_why = None, ""
        if psam is None:
            notes.append("card not authenticated (no PSAM: give --psam READER or --psam DIR for a verified read)")
        else:
            try:
                security.verified_session(channel, psam, info)
                genuine, genuine_why = True, "card authenticated through the PSAM (internal/external authentication)"
            except security.CardSecurityError as exc:
                genuine, genuine_why = False, f"card failed authentication ({exc.code}): {exc}"
        pin_ok, pin_why = None, ""
        if pin is not None and genuine is not False:
            try:
                security.verify_pin(channel, pin)
                pin_ok, pin_why = True, "PIN verified by the card"
            except security.PinError as exc:
                pin_ok, pin_why = False, str(exc)
    presented = Presented("card", info.ssn, info.card_no, info.card_id, genuine, genuine_why, pin_ok, pin_why)
    read_by = (actor, CARD_PURPOSE)
    found = db.on_record(ssn=info.ssn, read_by=read_by) or db.on_record(card_no=info.card_no, read_by=read_by)
    return judge(presented, record_of(found), today or dt.date.today(), tuple(notes))


def by_qr(db: Any, token: str, jwks: Any, status_list: Any, *, now: float, today: dt.date | None = None,
          actor: str = "terminal") -> Answer:
    """Verify an e-card code offline (ecard.verify) and judge the holder its status index points at (the code's
    own index, which holder_db resolves to the device binding); the read is in the holder's access log."""
    from ecard import verify as qr_verify

    result = qr_verify.verify(token, jwks, status_list, now, qr_verify.ReplayCache())
    notes = () if status_list is not None else ("revocation not checked: no status list given",)
    why = f"code verified ({result.kind}, key {result.kid})" if result.valid else f"{result.reason}: {result.detail}"
    presented = Presented("qr", genuine=result.valid, genuine_why=why)
    binding = db.binding_holder(result.status_idx) if result.status_idx >= 0 else None
    if binding is None:
        return judge(presented, OnRecord(False), today or dt.date.today(), notes)
    holder_id, revoked = binding
    if revoked and result.valid:
        presented = Presented("qr", genuine=False, genuine_why="e-card binding is revoked in holder_db")
    found = db.on_record(holder_id=holder_id, read_by=(actor, QR_PURPOSE))
    return judge(presented, record_of(found), today or dt.date.today(), notes)
