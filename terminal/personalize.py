"""The personalization station (制卡): holders due a card in, personalized cards and a report of what was issued out.

For each blank card the hopper presents, the station pairs it with the next holder, writes the card in one
personalization session (file records, the card's diversified keys and initial PIN wrapped by the PSAM under the
chip's transport key, the debit application when a bank BIN is given), reads it back, and ejects it.

A journal (JSON lines, fsync'd) makes a batch resumable after a crash: a holder is bound to a chip serial before
the chip is written, so on restart a half-done pairing is finished on the same chip, a holder is never given a
second card and a chip never a second holder. The journal and the report hold no full ID numbers (a holder is
keyed by a hash of the number; the report shows it masked).
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import click

import apdu_specs
from cardlib import fields, idnumber, pboc, personalization as perso, tlv
from cardlib.channel import Channel, as_channel
from cardlib.crypto import Alg, block_size, pad_80
from cardlib.issuer_keys import card_factor, city_factor
from cardlib.psam import Psam
from cardlib.security import pin_bcd
from cardlib.ssapp import CardDataError, SocialSecurityApp
from cardlib.pboc import luhn_complete
from cardlib.sw import CardError

RID = bytes.fromhex("D156000005")
DEFAULT_PIN = "123456"  # the initial PIN printed on the PIN mailer; holders change it at first use
HOLDER_FIELDS = ("ssn", "name", "gender", "nation", "birthplace", "birth_date")


class StationError(RuntimeError):
    """The station cannot go on (no PSAM key for the card's algorithm, a card that refuses its data...)."""


# ---- holders ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Holder:
    line: int
    data: dict[str, str] = field(repr=False)

    @property
    def key(self) -> str:
        return holder_key(self.data["ssn"])

    @property
    def label(self) -> str:
        return f"line {self.line} ({idnumber.mask(self.data['ssn'])})"


def holder_key(ssn: str) -> str:
    """The journal's name for a holder: a hash of the ID number, so the journal holds no ID numbers."""
    return hashlib.sha256(("sscard-holder:" + ssn.upper()).encode()).hexdigest()[:32]


def check_holder(data: dict[str, Any]) -> dict[str, str]:
    """A holder row as clean strings; ValueError naming the field (never its value) when something is wrong."""
    out = {k: str(v).strip() for k, v in data.items() if v is not None and str(v).strip() != ""}
    for name in HOLDER_FIELDS:
        if name not in out:
            raise ValueError(f"missing field {name!r}")
    who = idnumber.parse(out["ssn"])
    out["ssn"] = out["ssn"].upper()
    fields.split_name(out["name"])
    profile = apdu_specs.profile()
    for name in ("gender", "nation", "birthplace", "birth_date"):
        fields.encode_field(profile.field(name)[1], out[name])
    if out["gender"] not in ("1", "2"):
        raise ValueError("gender must be 1 or 2")
    if out["gender"] != who.gender or out["birth_date"].replace("-", "") != who.birth_date.strftime("%Y%m%d"):
        raise ValueError("gender or birth_date does not match the ID number")
    if "card_no" in out:
        fields.encode_field(profile.field("card_no")[1], out["card_no"])
    if "pin" in out:
        pin_bcd(out["pin"])
    return out


def load_holders(path: Path) -> tuple[list[Holder], list[dict[str, Any]]]:
    """Holders from a JSON list or a CSV file with a header; bad rows come back as (line, reason), the rest go on."""
    path = Path(path)
    rows: list[tuple[int, Any]]
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data = data.get("holders", [])
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of holders")
        rows = list(enumerate(data, 1))
    else:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [(reader.line_num, row) for reader in [csv.DictReader(fh)] for row in reader]
    holders: list[Holder] = []
    bad: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row in rows:
        try:
            if not isinstance(row, dict):
                raise ValueError("not an object")
            clean = check_holder(row)
        except (ValueError, TypeError) as exc:
            bad.append({"line": line, "reason": str(exc)})
            continue
        key = holder_key(clean["ssn"])
        if key in seen:
            bad.append({"line": line, "reason": "holder appears twice in the batch"})
            continue
        seen.add(key)
        holders.append(Holder(line=line, data=clean))
    return holders, bad


# ---- journal ----------------------------------------------------------------------------------------------------

class Journal:
    """Append-only JSON lines: `begin` binds a holder to a chip serial, `done` closes the pairing."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.begun: dict[str, dict[str, Any]] = {}
        self.done: dict[str, dict[str, Any]] = {}
        self.serials: dict[str, str] = {}
        self.sequence = 0
        if self.path.exists():
            text = self.path.read_text(encoding="utf-8", errors="replace")
            if text and not text.endswith("\n"):
                self._write("\n")  # close a line torn by a crash, so the next entry starts on its own line
            for raw in text.splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # a line torn by a crash never became a decision
                self._apply(entry)

    def _apply(self, entry: dict[str, Any]) -> None:
        if entry.get("op") == "begin":
            self.begun[entry["holder"]] = entry
            self.serials[entry["serial"]] = entry["holder"]
            self.sequence = max(self.sequence, int(entry.get("seq", 0)))
        elif entry.get("op") == "done":
            self.done[entry["holder"]] = {**self.begun.get(entry["holder"], {}), **entry}

    def _write(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _append(self, entry: dict[str, Any]) -> None:
        self._write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._apply(entry)

    def begin(self, holder: str, serial: str, **info: Any) -> dict[str, Any]:
        if holder in self.begun or serial in self.serials:
            raise StationError("journal: holder or chip already paired")
        self.sequence += 1
        entry = {"op": "begin", "holder": holder, "serial": serial, "seq": self.sequence, **info}
        self._append(entry)
        return entry

    def finish(self, holder: str, serial: str) -> None:
        self._append({"op": "done", "holder": holder, "serial": serial,
                      "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})

    def pending(self) -> dict[str, str]:
        """Chip serial -> holder for pairings begun and not finished."""
        return {e["serial"]: h for h, e in self.begun.items() if h not in self.done}


# ---- one card ---------------------------------------------------------------------------------------------------

def probe(card: Any) -> tuple[str, Alg | None, bool]:
    """(chip serial, algorithm, blank?) of the card in the reader; a personalized card is known by its ATR."""
    ch = as_channel(card)
    chip = perso.probe(ch, card_factor(ch.atr))
    return chip.serial, chip.alg, chip.blank


def card_records(holder: dict[str, str], card_id: bytes, card_no: str, issue: dt.date, expiry: dt.date) -> tuple[bytes, bytes]:
    """EF05 and EF06 as concatenated TLV records, encoded by the profile."""
    name, name_ext = fields.split_name(holder["name"])
    values = {
        "card_id": card_id, "card_type": "1", "version": apdu_specs.profile().card["version"],
        "init_org": card_id[:3] + bytes(9), "issue_date": issue, "expiry": expiry, "card_no": card_no,
        "ssn": holder["ssn"], "name": name, "name_ext": name_ext, "gender": holder["gender"],
        "nation": holder["nation"], "birthplace": holder["birthplace"], "birth_date": holder["birth_date"],
    }
    out = []
    for ef in ("EF05", "EF06"):
        spec = apdu_specs.profile().file(ef)
        out.append(b"".join(fields.encode_field_record(r, values[r.field]) for r in spec.records))
    return out[0], out[1]


def write_card(card: Any, psam: Psam, alg: Alg, entry: dict[str, Any], holder: dict[str, str]) -> None:
    """One personalization session: the data groups, keys and PIN wrapped by the PSAM, the last one commits."""
    card = as_channel(card)
    atr = card.atr
    card_id = bytes.fromhex(entry["card_id"])
    issue, expiry = dt.date.fromisoformat(entry["issue_date"]), dt.date.fromisoformat(entry["expiry"])
    ef05, ef06 = card_records(holder, card_id, entry["card_no"], issue, expiry)
    psam.set_key(alg, "perso", card_factor(atr))
    keys = b"".join(psam.wrap_key(alg, k.usage, city_factor(card_id), card_factor(atr))
                    for k in apdu_specs.profile().keys)
    pin = holder.get("pin", DEFAULT_PIN)
    pin_block = psam.encipher(pad_80(bytes([len(pin)]) + pin_bcd(pin), block_size(alg)))
    dgi = perso.dgi
    groups = [perso.encode_dgi(dgi("ef05"), ef05), perso.encode_dgi(dgi("ef06"), ef06),
              perso.encode_dgi(dgi("keys"), keys)]
    if entry.get("pan"):
        from cardlib.emv_crypto import pan_factor

        bank = (tlv.encode(0x5A, bytes.fromhex(entry["pan"] + "F" * (len(entry["pan"]) % 2)))
                + tlv.encode(0x5F24, bytes.fromhex(expiry.strftime("%y%m%d")))
                + tlv.encode(0x5F25, bytes.fromhex(issue.strftime("%y%m%d"))) + tlv.encode(0x5F34, b"\x01"))
        latin = holder.get("name_latin", "")
        if latin.isascii() and 2 <= len(latin) <= 26:  # 5F20 only when the holder's Latin name is known
            bank += tlv.encode(0x5F20, latin.upper().encode("ascii"))
        groups += [perso.encode_dgi(dgi("bank"), bank),
                   perso.encode_dgi(dgi("bank_key"), psam.wrap_key(alg, "ac", pan_factor(entry["pan"], "01")))]
    groups.append(perso.encode_dgi(dgi("pin"), pin_block))
    try:
        perso.write(card, groups)
    except CardError as exc:
        raise StationError(f"card refused personalization: {exc}") from None


def read_back(card: Any) -> bytes | None:
    """卡识别码 as the personalized card reports it (None when the card does not answer as a personalized card)."""
    app = SocialSecurityApp(as_channel(card))
    try:
        app.select()
        return app.read_raw_field("card_id")
    except (CardError, CardDataError):
        return None


# ---- the batch --------------------------------------------------------------------------------------------------

@dataclass
class Options:
    region: str | None = None
    card_no_prefix: str = "A"
    bank_bin: str | None = None
    years: int = 10
    today: dt.date = field(default_factory=dt.date.today)


@dataclass
class BatchResult:
    issued: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    waiting: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"issued": self.issued, "skipped": self.skipped, "failed": self.failed,
                "holders_waiting": self.waiting, "seconds": round(self.seconds, 3)}


def _new_entry(holder: Holder, serial: str, seq: int, opts: Options) -> dict[str, Any]:
    region = opts.region or holder.data["ssn"][:4] + "00"
    card_id = bytes.fromhex(region) + RID + bytes.fromhex(serial)
    expiry = opts.today.replace(year=opts.today.year + opts.years) - dt.timedelta(days=1)
    entry = {"card_no": holder.data.get("card_no") or f"{opts.card_no_prefix}{seq:08d}", "card_id": card_id.hex().upper(),
             "issue_date": opts.today.isoformat(), "expiry": expiry.isoformat()}
    if opts.bank_bin:
        entry["pan"] = luhn_complete(opts.bank_bin + f"{seq:0{18 - len(opts.bank_bin)}d}")
    return entry


def _issued(holder: Holder, entry: dict[str, Any]) -> dict[str, Any]:
    out = {"line": holder.line, "holder": idnumber.mask(holder.data["ssn"]), "name": holder.data["name"],
           "card_no": entry["card_no"], "card_id": entry["card_id"], "serial": entry["serial"],
           "issue_date": entry["issue_date"], "expiry": entry["expiry"]}
    for key in ("holder_id", "db_card"):
        if key in holder.data:
            out[key] = holder.data[key]
    if entry.get("pan"):
        out["pan"] = pboc.mask_pan(entry["pan"])
    return out


def run_batch(holders: list[Holder], cards: Iterator[Any], psam: Psam, journal: Journal, opts: Options,
              progress: Callable[[int], None] = lambda n: None) -> BatchResult:
    """Personalize cards from `cards` (each a connected transport to the card now in the reader; the iterator
    ejects it when asked for the next) until every holder has a card or the cards run out."""
    start = time.perf_counter()
    result = BatchResult()
    by_key = {h.key: h for h in holders}
    for key, entry in journal.done.items():
        if key in by_key:
            result.skipped.append({**_issued(by_key[key], entry), "reason": "issued in an earlier run"})
            progress(1)
    queue = [h for h in holders if h.key not in journal.done and h.key not in journal.begun]
    pending = journal.pending()
    owed = {journal.begun[h]["serial"]: by_key[h] for h in journal.begun if h in by_key and h not in journal.done}
    if not queue and not owed:
        result.seconds = time.perf_counter() - start
        return result
    try:
        for card in cards:
            serial, alg, blank = probe(card)
            holder = owed.get(serial)
            if holder is None and serial in pending:
                continue  # a chip bound to a holder outside this batch: never give it to anyone else
            if not blank:
                if holder is None:
                    result.failed.append({"serial": serial, "reason": "not a blank card: left alone"})
                elif read_back(card) == bytes.fromhex(journal.begun[holder.key]["card_id"]):
                    journal.finish(holder.key, serial)  # written before the crash, not yet journalled as done
                    result.issued.append(_issued(holder, journal.done[holder.key]))
                    del owed[serial]
                    progress(1)
                else:
                    result.failed.append({"line": holder.line, "serial": serial,
                                          "reason": "chip bound to this holder reads as another card"})
            else:
                if holder is None:
                    if not queue:
                        break
                    holder = queue.pop(0)
                    entry = journal.begin(holder.key, serial, **_new_entry(holder, serial, journal.sequence + 1, opts))
                else:
                    entry = journal.begun[holder.key]
                    del owed[serial]
                assert alg is not None
                try:
                    write_card(card, psam, alg, entry, holder.data)
                    if read_back(card) != bytes.fromhex(entry["card_id"]):
                        raise StationError("the card does not read back its 卡识别码")
                except Exception as exc:
                    result.failed.append({"line": holder.line, "serial": serial, "reason": str(exc)})
                    continue
                journal.finish(holder.key, serial)
                result.issued.append(_issued(holder, journal.done[holder.key]))
                progress(1)
            if not queue and not owed:
                break
    finally:
        close = getattr(cards, "close", None)
        if close is not None:
            close()  # ejects the last card
    result.waiting = len(queue) + len(owed)
    result.seconds = time.perf_counter() - start
    return result


def hopper_cards(transport: Any, wait: float = 5.0) -> Iterator[Any]:
    """The cards a hopper feeds into one reader: connect and yield the card in it; on next(), eject it (80EE0000)
    and wait for a different chip (reconnecting with a reset), until `wait` seconds pass with no new card."""
    from cardlib.transport import TransportError

    previous: str | None = None
    try:
        while True:
            deadline = time.monotonic() + wait
            while True:
                try:
                    transport.reconnect(reset=previous is not None)
                    serial: str | None = probe(transport)[0]
                except TransportError:
                    transport.disconnect()
                    serial = None
                if serial is not None and serial != previous:
                    break
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            previous = serial
            try:
                yield Channel(transport)
            finally:
                try:
                    perso.send_eject(transport)
                except TransportError:
                    pass
    finally:
        transport.disconnect()


def holders_from_db(url: str) -> tuple[list[Holder], list[dict[str, Any]]]:
    """Holders due a card from holder_db: every card in status `applied`, with its holder and its 卡号.
    A holder whose stored data cannot make a card is reported (by card row) like a bad file row."""
    from sqlmodel import select

    from holder_db import store
    from holder_db.models import Card, Holder as HolderRow

    good: list[Holder] = []
    bad: list[dict[str, Any]] = []
    with store.session(url) as s:
        rows = s.exec(select(Card, HolderRow).where(Card.holder_id == HolderRow.id, Card.status == "applied")
                      .order_by(Card.id)).all()
        for card, h in rows:
            data = {"ssn": h.ssn, "name": h.name, "gender": h.gender, "nation": h.nation,
                    "birthplace": h.birthplace or h.region, "birth_date": h.birth_date.isoformat(),
                    "card_no": card.card_no, "holder_id": str(h.id), "db_card": str(card.id)}
            try:
                good.append(Holder(line=int(card.id or 0), data=check_holder(data)))
            except ValueError as exc:
                bad.append({"line": card.id, "reason": f"holder_db card row: {exc}"})
    return good, bad


def record_in_db(url: str, issued: list[dict[str, Any]]) -> int:
    """Write each issued card's 卡识别码 and dates against its holder_db card, and move it applied -> produced.
    Idempotent: a card already produced is left as it is (a resumed batch reports it again)."""
    from holder_db import store
    from holder_db.cards import transition
    from holder_db.models import Card

    done = 0
    with store.session(url) as s:
        for item in issued:
            if "db_card" not in item:
                continue
            card = s.get(Card, int(item["db_card"]))
            if card is None or card.status != "applied":
                continue
            card.card_id = item["card_id"]
            card.issued_on = dt.date.fromisoformat(item["issue_date"])
            card.expires_on = dt.date.fromisoformat(item["expiry"])
            transition(s, card, "produced", actor="sscard personalize", reason=f"chip {item['serial']}")
            done += 1
    return done


@click.command("personalize")
@click.option("--holders", "holders_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Holders due a card: a JSON list or a CSV file with a header.")
@click.option("--db", "db_url", default=None, help="Take holders due a card from holder_db at this URL.")
@click.option("--reader", default=None, help="The reader the hopper feeds (default: the first with a card).")
@click.option("--psam", "psam_reader", default=None, help="Reader holding the PSAM.")
@click.option("--keys", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Issuer key directory for an in-process simulated PSAM.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Report file of what was issued (JSON).")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Journal for resuming after a crash (default: REPORT.journal).")
@click.option("--region", default=None, help="Issuing region code (6 digits) for 卡识别码; default from each ID.")
@click.option("--card-no-prefix", default="A", show_default=True, help="Letter before the 8-digit card number.")
@click.option("--bank-bin", default=None, help="Also personalize the debit application with PANs on this BIN.")
@click.option("--wait", type=float, default=5.0, show_default=True, help="Seconds to wait for the next card.")
@click.option("--json", "as_json", is_flag=True)
def personalize_command(holders_file: Path | None, db_url: str | None, reader: str | None,
                        psam_reader: str | None, keys: Path | None, report: Path, journal: Path | None,
                        region: str | None, card_no_prefix: str, bank_bin: str | None, wait: float,
                        as_json: bool) -> None:
    """Personalize blank cards from a hopper for holders due a card; resumable, with a report."""
    from cardlib.pcsc import PcscTransport
    from cardlib.transport import TransportError
    from terminal.services_cli import open_psam

    if (holders_file is None) == (db_url is None):
        raise click.UsageError("give exactly one of --holders FILE and --db URL")
    if region is not None and not (len(region) == 6 and region.isdigit()):
        raise click.UsageError("--region must be 6 digits")
    if bank_bin is not None and not (bank_bin.isdigit() and 6 <= len(bank_bin) <= 11):
        raise click.UsageError("--bank-bin must be 6 to 11 digits")
    try:
        holders, bad = load_holders(holders_file) if holders_file else holders_from_db(db_url or "")
    except (OSError, ValueError, StationError) as exc:
        raise click.ClickException(f"cannot read holders: {exc}") from None
    except Exception as exc:  # the database could not be reached or read
        raise click.ClickException(f"cannot read holders from holder_db: {exc.__class__.__name__}: {exc}") from None
    opts = Options(region=region, card_no_prefix=card_no_prefix, bank_bin=bank_bin)
    log = Journal(journal or report.with_name(report.name + ".journal"))
    try:
        with open_psam(psam_reader, keys) as psam:
            with click.progressbar(length=len(holders), label="personalizing", file=click.get_text_stream("stderr")) as bar:
                result = run_batch(holders, hopper_cards(PcscTransport(reader), wait), psam, log, opts, bar.update)
    except (TransportError, StationError) as exc:
        raise click.ClickException(str(exc)) from None
    result.failed[:0] = [{**b, "reason": b["reason"] if db_url else f"holder file: {b['reason']}"} for b in bad]
    body = result.as_dict()
    if db_url:
        try:
            body["recorded_in_db"] = record_in_db(db_url, result.issued + result.skipped)
        except Exception as exc:  # the cards exist; the report says what the store still lacks
            body["recorded_in_db_error"] = f"{exc.__class__.__name__}: {exc}"
    tmp = report.with_name(report.name + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, report)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
    else:
        rate = len(result.issued) / result.seconds * 60 if result.seconds else 0.0
        click.echo(f"issued {len(result.issued)} cards ({rate:.1f}/min), {len(result.skipped)} issued before, "
                   f"{len(result.failed)} failed, {result.waiting} holders still waiting; report: {report}")
    if result.failed or result.waiting:
        raise SystemExit(1)

