"""The counter's and the kiosk's card reads and the personalization batch (制卡), as HTTP routes for the pages
(docs/pages.md): terminal flows (terminal.identify, terminal.certify, terminal.personalize, the card read through
terminal.cardsession) over the server's own PC/SC readers.

The router is built where the program is put together (sscard_app): the server gives it the holder store, the
terminal-key check and the loss report as FastAPI dependencies, and the CLI gives it how the kiosk's PSAM is
opened, so this module imports nothing of ecard_server and nothing of how a PSAM is made. Responses carry masked
identities only: never a full ID number, and a PIN is only ever passed to the card.

No `from __future__ import annotations` here: the routes are made inside `build_router` and their Annotated
dependencies must be real objects when FastAPI reads the signatures.
"""
import datetime as dt
import os
import secrets
import threading
import time
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from cardlib.idnumber import mask
from cardlib.sw import CardError, PinError, interface_code
from cardlib.transport import NoCardError, NoReaderError, TransportError
from holder_db import store as db
from holder_db.cards import TRANSITIONS, TransitionError, mask_card, transition
from holder_db.ecard import EcardStore, StoreError
from holder_db.models import Entitlement
from holder_db.queries import card_by_no

PIN_BLOCKED = interface_code("pin_blocked")  # -52, from apdu_specs
READER = Annotated[str, Field(max_length=128, pattern=r"^[\w .:()\-]+$")]
PIN = Annotated[str, Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")]
CARD_NO = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
BATCH_DIR_ENV = "SSCARD_BATCHES"  # where the station's journal lives (default var/batches), like SSCARD_RECEIPTS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadRequest(Strict):
    reader: Optional[READER] = Field(None, description="PC/SC reader name; the first reader holding a card if absent.")
    pin: Optional[PIN] = Field(None, description="The holder's PIN, typed by the holder; sent to the card only.")


class BatchRequest(Strict):
    reader: READER = Field(description="The reader the card hopper (printer) feeds.")
    psam_reader: READER = Field(description="The reader holding the PSAM that wraps the card keys.")
    wait: Annotated[float, Field(ge=0.5, le=60)] = 5.0


class StatusChange(Strict):
    card_no: CARD_NO
    status: Literal["applied", "produced", "issued", "active", "lost", "replaced", "cancelled"]
    reason: Annotated[str, Field(max_length=120)] = ""


def mask_name(name: str) -> str:
    """A receipt shows the family name and hides the rest (张**)."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


@dataclass(frozen=True)
class ServerParts:
    """What these routes take from the server they are included in, as FastAPI dependencies: `store` gives the
    holder store (holder_db.ecard.EcardStore), `terminal` the calling terminal's id (its key checked and
    rate-limited, 401/429 otherwise), `report_loss` a callable (holder_id, actor) -> the loss report as a dict (the
    card lost, the holder's e-cards revoked, the status list re-signed)."""
    store: Callable[..., Any]
    terminal: Callable[..., Any]
    report_loss: Callable[..., Any]


@contextmanager
def _card_errors() -> Iterator[None]:
    """What a card in the reader can answer, as the page's 4xx (a missing reader 503)."""
    try:
        yield
    except PinError as exc:
        if exc.code == PIN_BLOCKED:
            raise HTTPException(423, "the PIN is blocked; unblock it at the counter") from None
        raise HTTPException(400, f"wrong PIN, {exc.tries_left} tries left") from None
    except NoCardError:
        raise HTTPException(409, "no card in the reader; insert the card") from None
    except NoReaderError as exc:
        raise HTTPException(503, f"no card reader: {exc}") from None
    except TransportError as exc:
        raise HTTPException(409, f"the card could not be read; insert it again ({exc.__class__.__name__})") from None
    except (CardError, ValueError) as exc:  # CardSecurityError and PsamError are CardErrors
        raise HTTPException(422, f"the card refused: {exc}") from None


def _read_card(reader: Optional[str], pin: Optional[str]) -> Any:
    """The card's EF05/EF06 (and the PIN checked on the card when given), as cardlib reads them."""
    from terminal.cardsession import visit

    with _card_errors(), visit(reader, pin=pin) as card:
        return card.info


class _Batch:
    """One batch run in this server process (a station has one hopper): terminal.personalize does the work, this
    only counts progress for the page. The journal is one file per station, so a batch started again after a crash
    resumes where the last one stopped (terminal.personalize.Journal)."""

    def __init__(self, total: int, terminal_id: str) -> None:
        self.id = secrets.token_hex(6)
        self.terminal_id, self.total, self.done = terminal_id, total, 0
        self.state, self.error, self.result, self.started = "running", "", None, time.time()
        self.lock = threading.Lock()

    def view(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {"batch_id": self.id, "state": self.state, "total": self.total, "done": self.done,
                                   "seconds": round(time.time() - self.started, 1), "error": self.error}
            if self.result is not None:
                out.update(self.result)
            return out


def _run_batch(batch: _Batch, holders: list[Any], bad: list[dict[str, Any]], req: BatchRequest, db_url: str) -> None:
    """The PSAM is the card in the reader the page picked (a reader name only: a software PSAM folder is the CLI's
    business, `sscard personalize --psam DIR`)."""
    from cardlib.pcsc import PcscTransport
    from cardlib.psam import Psam
    from terminal import personalize as station

    def progress(n: int) -> None:
        with batch.lock:
            batch.done += n

    try:
        folder = Path(os.environ.get(BATCH_DIR_ENV) or "var/batches")
        folder.mkdir(parents=True, exist_ok=True)
        journal = station.Journal(folder / "station.journal")
        with PcscTransport(req.psam_reader) as psam_link:
            psam = Psam(psam_link, name=f"PSAM in {req.psam_reader}")
            result = station.run_batch(holders, station.hopper_cards(PcscTransport(req.reader), req.wait), psam,
                                       journal, station.Options(), progress)
        recorded = station.record_in_db(db_url, result.issued + result.skipped)
        body = result.as_dict()
        summary = {"issued": len(body["issued"]), "skipped": len(body["skipped"]),
                   "failed": len(body["failed"]) + len(bad), "holders_waiting": body["holders_waiting"],
                   "recorded_in_db": recorded,
                   "cards": [{"card_no": i["card_no"], "holder": i["holder"]} for i in body["issued"]]}
        with batch.lock:
            batch.state, batch.result = "done", summary
    except Exception as exc:  # a reader gone, a PSAM refusing: the page shows it, the journal keeps the progress
        with batch.lock:
            batch.state, batch.error = "failed", f"{exc.__class__.__name__}: {exc}"


def build_router(parts: ServerParts, db_url: str,
                 open_kiosk_psam: Optional[Callable[[], AbstractContextManager[Any]]]) -> APIRouter:
    """The pages' card-reading routes under /pages/api. `open_kiosk_psam` opens the PSAM the kiosk proves cards
    with (Settings.kiosk_psam, opened as the CLI opens a PSAM; it raises OSError, ValueError or TransportError
    when the PSAM is not there); None when the kiosk has none, and then it cannot certify."""
    router = APIRouter(tags=["pages"])
    Store = Annotated[EcardStore, Depends(parts.store)]
    Terminal = Annotated[str, Depends(parts.terminal)]
    LossReport = Annotated[Callable[[Any, str], dict[str, Any]], Depends(parts.report_loss)]

    @router.get("/pages/api/terminal", summary="Pages: who is signed in (checks the terminal key)")
    def whoami(terminal_id: Terminal) -> dict[str, str]:
        return {"terminal_id": terminal_id}

    @router.get("/pages/api/readers", summary="Pages: the server's PC/SC readers and whether each holds a card")
    def readers(terminal_id: Terminal) -> list[dict[str, Any]]:
        from cardlib.pcsc import list_readers

        try:
            return [{"reader": name, "card": present} for name, present in list_readers()]
        except TransportError:
            return []

    @router.post("/pages/api/counter/read", summary="Counter: read the card in the reader, check it against the store")
    def counter_read(req: ReadRequest, store: Store, terminal_id: Terminal) -> dict[str, Any]:
        """The identity check is terminal.identify's (`judge`, the same checks as `sscard terminal identify`)."""
        from terminal.dbstore import DbStore
        from terminal.identify import CARD_PURPOSE, Presented, judge, record_of

        info = _read_card(req.reader, req.pin)
        presented = Presented("card", info.ssn, info.card_no, info.card_id, pin_ok=True if req.pin else None,
                              pin_why="PIN verified by the card" if req.pin else "")
        records = DbStore(store.engine)
        read_by = (f"terminal:{terminal_id}", CARD_PURPOSE)
        found = (records.on_record(ssn=info.ssn, read_by=read_by)
                 or records.on_record(card_no=info.card_no, read_by=read_by))
        record = record_of(found)
        answer = judge(presented, record, dt.date.today(),
                       ("card not authenticated through a PSAM (the pages read it plainly)",))
        store.audit(f"terminal:{terminal_id}", "pages.counter_read", None, f"card {mask_card(info.card_no)}")
        status = record.card_status or "unknown"
        return {"card_no": info.card_no, "card_no_masked": mask_card(info.card_no), "name": info.name,
                "id_number_masked": mask(info.ssn), "card_status": status, "identity_ok": answer.ok,
                "checks": answer.as_dict()["reasons"], "notes": list(answer.notes),
                "next_status": sorted(TRANSITIONS.get(status, ())), "pin_checked": bool(req.pin)}

    @router.post("/pages/api/counter/card-status", summary="Counter: move a card along its lifecycle")
    def counter_card_status(req: StatusChange, store: Store, report_loss: LossReport,
                            terminal_id: Terminal) -> dict[str, Any]:
        actor = f"terminal:{terminal_id}"
        h = store.find_holder(card_no=req.card_no)  # 404 (StoreError) for an unknown card
        if req.status == "lost":  # a loss also revokes the holder's e-cards, as POST /v1/cards/loss does
            return {**report_loss(h.holder_id, actor), "next_status": sorted(TRANSITIONS["lost"])}
        with db.session(store.engine) as s:
            card = card_by_no(s, req.card_no)
            if card is None:
                raise HTTPException(404, "no such card")
            try:
                transition(s, card, req.status, actor=actor, reason=req.reason or "counter")
            except TransitionError as exc:
                raise HTTPException(409, str(exc)) from None
        store.audit(actor, "pages.card_status", h.holder_id, f"card {mask_card(req.card_no)} -> {req.status}")
        return {"card_no_masked": mask_card(req.card_no), "card_status": req.status,
                "next_status": sorted(TRANSITIONS[req.status])}

    @router.get("/pages/api/kiosk/card", summary="Kiosk: is a card in the reader?")
    def kiosk_card(terminal_id: Terminal,
                   reader: Annotated[Optional[str], Query(max_length=128)] = None) -> dict[str, Any]:
        from cardlib.pcsc import list_readers

        try:
            present = [(n, p) for n, p in list_readers() if reader is None or n == reader]
        except TransportError:
            present = []
        return {"present": any(p for _, p in present), "readers": len(present)}

    @router.post("/pages/api/kiosk/visit", summary="Kiosk: card and PIN; the holder's benefits and medical account")
    def kiosk_visit(req: ReadRequest, store: Store, terminal_id: Terminal) -> dict[str, Any]:
        from terminal.dbstore import DbStore, StoreRefused

        if not req.pin:
            raise HTTPException(400, "enter the PIN")
        info = _read_card(req.reader, req.pin)
        today = dt.date.today()
        try:
            balance = DbStore(store.engine).usage(info.ssn, today.year).balance
        except StoreRefused:
            balance = None
        with db.session(store.engine) as s:
            rows = list(s.exec(select(Entitlement).where(Entitlement.ssn == info.ssn)
                               .order_by(Entitlement.period.desc()).limit(24)))
            benefits = [{"benefit": e.benefit, "period": e.period, "amount": e.amount, "status": e.status}
                        for e in rows]
        try:
            h = store.find_holder(ssn=info.ssn)
            insurance, card_status, holder_id = h.insurance, h.card_status, h.holder_id
        except StoreError:  # the card is genuine but its holder is not on record here
            insurance, card_status, holder_id = {}, "unknown", None
        store.audit(f"terminal:{terminal_id}", "pages.kiosk_visit", holder_id, f"card {mask(info.card_no)}",
                    sensitive=True, purpose="kiosk visit: benefits and medical account",
                    fields=("card_status", "insurance", "medical_balance", "benefits"))
        return {"name_masked": mask_name(info.name), "id_number_masked": mask(info.ssn),
                "card_no_masked": mask_card(info.card_no), "card_status": card_status, "insurance": insurance,
                "medical_balance": balance, "benefits": benefits,
                "printed_at": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "terminal": terminal_id}

    @router.post("/pages/api/kiosk/certify", summary="Kiosk: card (verified through the kiosk's PSAM) and PIN; the "
                                                     "holder certifies themself for the year")
    def kiosk_certify(req: ReadRequest, store: Store, terminal_id: Terminal) -> dict[str, Any]:
        """terminal.certify's self-certification (`sscard cert self`): only a card proved genuine through the
        kiosk's PSAM, with its PIN checked on the card, certifies its holder."""
        from holder_db.certification import CertError
        from terminal.certify import card_holder, self_certify

        if not req.pin:
            raise HTTPException(400, "enter the PIN")
        if open_kiosk_psam is None:
            raise HTTPException(503, "this kiosk has no PSAM (SSCARD_KIOSK_PSAM), so it cannot certify; "
                                "go to a counter")
        with ExitStack() as stack:
            try:
                psam = stack.enter_context(open_kiosk_psam())
            except (OSError, ValueError, TransportError) as exc:  # the kiosk's fault, not the holder's
                raise HTTPException(503, f"the kiosk's PSAM is unavailable ({exc.__class__.__name__}); "
                                    "go to a counter") from None
            with _card_errors(), card_holder(req.reader, req.pin, psam) as card_ssn:
                ssn = card_ssn
        try:
            record = self_certify(store.engine, ssn, dt.date.today().year, f"kiosk:{terminal_id}")
        except CertError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return {"id_number_masked": mask(ssn), "year": record["year"], "state": record["state"],
                "source": record.get("source"), "created": record.get("created"),
                "certified_at": record.get("certified_at"), "terminal": terminal_id}

    @router.post("/pages/api/counter/batches", status_code=202,
                 summary="Counter: personalize the cards due (status applied) on the hopper, in the background")
    def batch_start(req: BatchRequest, request: Request, store: Store, terminal_id: Terminal) -> dict[str, Any]:
        from terminal import personalize as station

        current = getattr(request.app.state, "pages_batch", None)
        if current is not None and current.state == "running":
            raise HTTPException(409, "a batch is running; wait for it to finish")
        holders, bad = station.holders_from_db(db_url)
        batch = _Batch(len(holders), terminal_id)
        request.app.state.pages_batch = batch
        store.audit(f"terminal:{terminal_id}", "pages.batch_start", None, f"{len(holders)} cards due")
        threading.Thread(target=_run_batch, args=(batch, holders, bad, req, db_url), daemon=True,
                         name=f"batch-{batch.id}").start()
        return batch.view()

    @router.get("/pages/api/counter/batches/current", summary="Counter: the running or last batch, with progress")
    def batch_current(request: Request, terminal_id: Terminal) -> dict[str, Any]:
        batch = getattr(request.app.state, "pages_batch", None)
        if batch is None:
            raise HTTPException(404, "no batch has been started")
        return batch.view()

    return router
