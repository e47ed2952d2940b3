"""`sscard db init|import|seed|show`: thin edges over holder_db's store, import machinery and queries."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from contextlib import contextmanager

import click

if TYPE_CHECKING:
    from holder_db import bulk

# Only click at import: `sscard db show` must start fast, so SQLAlchemy and the store load inside the commands
# that need them (holder_db.fastread answers `show` on SQLite without them).
ENV = "SSCARD_DB"  # holder_db.store.ENV (a test holds them equal)
ENCODINGS = ("utf-8", "gb18030")  # holder_db.bulk.ENCODINGS (likewise)

db_option = click.option("--db", "db_url", envvar=ENV, default=None,
                         help="Database URL (default: $SSCARD_DB, else the SQLite file var/sscard.db).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _emit(as_json: bool, payload: Any, text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


@contextmanager
def _database_errors(url: str | None = None) -> Iterator[None]:
    """Database trouble becomes a one-line error naming the problem (holder_db.dberrors), without the SQL or its
    parameters."""
    from sqlalchemy.exc import SQLAlchemyError

    from holder_db.dberrors import describe

    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(describe(exc, url)) from None


def _ready(db_url: str | None) -> str:
    """The resolved URL of a database that is initialised (created or migrated to the newest schema on the way)."""
    from holder_db import fastread, store

    url = store.resolve_url(db_url)
    try:
        if fastread.at_head(fastread.sqlite_path(db_url)):
            return url  # a SQLite file at the newest migration: no need to load Alembic to say so
    except fastread.NotFast:
        pass
    from holder_db import migrate

    with _database_errors(url):
        if store.revision(url) != migrate.head():
            store.init(url)
    return url


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    with click.progressbar(length=total or 0, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update


@click.command("init")
@db_option
@json_option
def db_init(db_url: str | None, as_json: bool) -> None:
    """Create the database, or migrate it to the newest schema."""
    from holder_db import migrate, store

    url = store.resolve_url(db_url)
    with _database_errors(url):
        before = store.revision(url)
        after = store.init(url)
    engine = store.get_engine(url)
    payload = {"database": engine.url.render_as_string(hide_password=True), "from": before, "revision": after}
    _emit(as_json, payload, f"{payload['database']}: schema at revision {after}"
                            + (f" (was {before})" if before and before != after else ""))


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0)


def import_options(f: Any) -> Any:
    f = click.option("--encoding", type=click.Choice(ENCODINGS, case_sensitive=False), default=None,
                     help="Read the file in this encoding (default: detected from the whole file: UTF-8 with or "
                          "without BOM, else GB18030/GBK).")(f)
    f = click.option("--update", "update_", is_flag=True,
                     help="Correct rows already stored whose data differ (each changed field audited); without "
                          "it such rows are reported as conflicts.")(f)
    return f


def import_report(result: bulk.ImportResult, as_json: bool) -> None:
    """Print an import's summary; exit 1 when the CSV structure broke (a quote left open) or a row is not
    accounted for, so a script cannot mistake a damaged file for a clean import."""
    summary = result.as_dict()
    lines = [f"{result.rows} rows ({result.encoding or 'text'}): imported {result.imported}, updated "
             f"{result.updated}, skipped {result.skipped}, rejected {result.rejected_lines}"]
    lines += [f"  line {r.line}: {r.reason}" for r in result.rejected]
    if result.warnings:
        lines.append(f"{len(result.warnings)} holder(s) stored whose name the card cannot carry as it is:")
        lines += [f"  line {w.line} ({w.holder}): {w.reason}" for w in result.warnings]
    _emit(as_json, summary, "\n".join(lines))
    if result.broken_at is not None:
        click.echo(f"Error: the CSV structure broke at line {result.broken_at} (a quote left open); the rows "
                   "it swallowed are listed above and were not imported", err=True)
        sys.exit(1)
    if not result.accounted:
        click.echo("Error: the counts do not add up to the file's rows", err=True)
        sys.exit(1)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@import_options
@click.option("--actor", default="import", show_default=True, help="Who, for the audit of corrections.")
@db_option
@json_option
def db_import(file: Path, encoding: str | None, update_: bool, actor: str, db_url: str | None,
              as_json: bool) -> None:
    """Import holders from a CSV (UTF-8 or GB18030) with the header ssn,name,gender,nation,birth_date,birthplace,
    region.

    Every row is checked; bad rows are reported with their line number and reason while good rows go in; rows
    already present with the same data (or repeated in the file) are skipped, so importing a file again adds
    nothing. A row whose ID number is stored with other data is a conflict (or, with --update, a correction)."""
    from holder_db import fastimport, fastread
    from holder_db.importfile import ImportFileError

    try:
        with _progress(_count_lines(file), "importing holders") as tick:
            result = fastimport.import_holders(fastread.sqlite_path(db_url), file, progress=tick,
                                               encoding=encoding, update=update_, actor=actor)
        import_report(result, as_json)
        return
    except ImportFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    except fastread.NotFast:
        pass  # PostgreSQL, an older schema, a database error: the full road (which names the error)
    from holder_db import bulk, store

    url = _ready(db_url)
    try:
        with _database_errors(), _progress(_count_lines(file), "importing holders") as tick:
            result = bulk.import_csv(store.get_engine(url), file, bulk.HOLDER_IMPORT, progress=tick,
                                     encoding=encoding, update=update_, actor=actor)
    except bulk.ImportFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    import_report(result, as_json)


def _import_spec(file: Path, spec: bulk.ImportSpec, label: str, encoding: str | None, update_: bool, actor: str,
                 db_url: str | None, as_json: bool) -> None:
    from holder_db import bulk, queries, store

    try:
        lines = _count_lines(file)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    url = _ready(db_url)
    try:
        with _database_errors(), _progress(lines, label) as tick:
            result = bulk.import_csv(store.get_engine(url), file, spec, progress=tick, encoding=encoding,
                                     update=update_, actor=actor)
    except bulk.ImportFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    import_report(result, as_json)


@click.command("import-entitlements")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@import_options
@click.option("--actor", default="import", show_default=True, help="Who, for the audit of corrections.")
@db_option
@json_option
def db_import_entitlements(file: Path, encoding: str | None, update_: bool, actor: str, db_url: str | None,
                           as_json: bool) -> None:
    """Import entitlements to pay: entitlement_id,ssn,benefit,period,amount,bank_account (benefit a code of the
    benefit-kinds table, amount in fen). An id stored with other data is a conflict; --update corrects it unless
    it is already paid."""
    from holder_db import entitlements

    _import_spec(file, entitlements.ENTITLEMENT_IMPORT, "importing entitlements", encoding, update_, actor,
                 db_url, as_json)


@click.command("import-records")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@import_options
@db_option
@json_option
def db_import_records(file: Path, encoding: str | None, update_: bool, db_url: str | None, as_json: bool) -> None:
    """Import records shared by other departments: ssn,kind,date (kind death, imprisonment or activity)."""
    from holder_db import entitlements

    _import_spec(file, entitlements.RECORD_IMPORT, "importing records", encoding, update_, "import", db_url,
                 as_json)


@click.command("seed")
@click.option("--holders", "count", type=click.IntRange(min=0), required=True, help="How many holders to add.")
@click.option("--seed", "seed_value", type=int, default=0, show_default=True, help="Same seed, same holders.")
@click.option("--cards", is_flag=True, help="Also give each of them an active card and medical and pension "
                                            "enrolments (holders that have a card keep theirs).")
@db_option
@json_option
def db_seed(count: int, seed_value: int, cards: bool, db_url: str | None, as_json: bool) -> None:
    """Add synthetic, valid holders (real region codes, correct check digits, plausible names)."""
    from holder_db import bulk, queries, store

    from holder_db import seed

    url = _ready(db_url)
    engine = store.get_engine(url)
    with _database_errors(), _progress(count, "seeding holders") as tick:
        result = seed.seed(engine, count, seed_value, progress=tick)
    payload = {"holders": count, "seed": seed_value, "imported": result.imported, "skipped": result.skipped}
    text = f"added {result.imported} holders ({result.skipped} were already there)"
    if cards:
        ssns = [row["ssn"] for row in seed.holders(count, seed_value)]
        with _database_errors(), _progress(count, "issuing cards") as tick:
            payload["cards"] = seed.cards_and_enrolments(engine, ssns, seed_value, progress=tick)
        text += f"; {payload['cards']} got a card and enrolments"
    _emit(as_json, payload, text)


@click.command("show")
@click.argument("ssn")
@click.option("--actor", default="cli", show_default=True, help="Who is reading, for the audit trail.")
@db_option
@json_option
def db_show(ssn: str, actor: str, db_url: str | None, as_json: bool) -> None:
    """Show a holder (ID number masked) with their cards and enrolments. The read is audited."""
    from holder_db import fastread

    try:
        view = fastread.holder_view(fastread.sqlite_path(db_url), ssn, actor=actor)
    except fastread.NotFast:
        from holder_db import queries, store

        url = _ready(db_url)
        with _database_errors(), store.session(url) as s:
            view = queries.holder_view(s, ssn, actor=actor)
    if view is None:
        raise click.ClickException("no holder with that ID number")
    text = [f"{k:<11}{view[k]}" for k in ("ssn", "name", "gender", "nation", "birth_date", "birthplace", "region")]
    cards = [f"  {c['card_no']}  {c['status']:<10} issued {c['issued_on'] or '-'}  expires {c['expires_on'] or '-'}"
             for c in view["cards"]]
    enrolments = [f"  {e['insurance']:<13} {e['status']:<10} {e['region']}  from {e['start_date']}"
                  + (f" to {e['end_date']}" if e["end_date"] else "") for e in view["enrolments"]]
    text += ["cards:"] + (cards or ["  (none)"]) + ["enrolments:"] + (enrolments or ["  (none)"])
    _emit(as_json, view, "\n".join(text))


@click.command("card-add")
@click.option("--ssn", required=True, help="The holder's social security number (already in the store).")
@click.option("--card-no", required=True, help="卡号 (9 characters).")
@click.option("--card-id", required=True, help="卡识别码, 32 hex characters.")
@click.option("--expiry", type=click.DateTime(["%Y%m%d", "%Y-%m-%d"]), default=None, help="卡有效期.")
@db_option
@json_option
def db_card_add(ssn: str, card_no: str, card_id: str, expiry: Any, db_url: str | None, as_json: bool) -> None:
    """Record a card made for a holder; it starts as `applied` and moves on with `sscard db card-status`."""
    from holder_db import bulk, queries, store

    from cardlib.idnumber import mask
    from holder_db.models import Card

    card_id = card_id.upper()
    if len(card_no) != 9 or not card_no.isalnum():
        raise click.BadParameter("must be 9 letters or digits", param_hint="--card-no")
    if len(card_id) != 32 or any(c not in "0123456789ABCDEF" for c in card_id):
        raise click.BadParameter("must be 32 hex characters", param_hint="--card-id")
    url = _ready(db_url)
    with _database_errors(), store.session(url) as s:
        holder = queries.holder_by_ssn(s, ssn)
        if holder is None:
            raise click.ClickException("no holder with that ID number (import the holder first)")
        if queries.card_by_no(s, card_no) is not None or queries.card_by_id(s, card_id) is not None:
            raise click.ClickException("a card with that number or card id is already recorded")
        s.add(Card(holder_id=holder.id, card_no=card_no, card_id=card_id, region=card_id[:6],
                   expires_on=expiry.date() if expiry else None))
    payload = {"card_no": card_no, "holder": mask(ssn), "status": "applied"}
    _emit(as_json, payload, f"card {card_no} recorded for {mask(ssn)} (applied)")


@click.command("enrol")
@click.option("--ssn", required=True, help="The holder's social security number (already in the store).")
@click.option("--insurance", required=True, type=click.Choice(["pension", "medical", "unemployment", "work_injury",
                                                                 "maternity"]), help="Which insurance (参保险种).")
@click.option("--from", "start", type=click.DateTime(["%Y%m%d", "%Y-%m-%d"]), required=True, help="Enrolled since.")
@click.option("--region", default=None, help="Region code (default: the holder's).")
@db_option
@json_option
def db_enrol(ssn: str, insurance: str, start: Any, region: str | None, db_url: str | None, as_json: bool) -> None:
    """Record a holder's enrolment in an insurance (参保); payment and settlement serve only the enrolled."""
    from holder_db import audit, queries, store
    from holder_db.models import Enrolment

    from cardlib.idnumber import mask

    url = _ready(db_url)
    with _database_errors(), store.session(url) as s:
        holder = queries.holder_by_ssn(s, ssn)
        if holder is None:
            raise click.ClickException("no holder with that ID number (import the holder first)")
        if any(e.insurance == insurance and e.status == "active" for e in queries.enrolments_of(s, holder.id)):
            payload = {"holder": mask(ssn), "insurance": insurance, "status": "active", "added": False}
            _emit(as_json, payload, f"{mask(ssn)} is already enrolled in {insurance}")
            return
        s.add(Enrolment(holder_id=holder.id, insurance=insurance, region=region or holder.region, status="active",
                        start_date=start.date()))
        audit.record(s, "cli", "enrolment.add", ssn=ssn, holder_id=holder.id, detail=insurance)
    payload = {"holder": mask(ssn), "insurance": insurance, "status": "active", "added": True}
    _emit(as_json, payload, f"{mask(ssn)} enrolled in {insurance} from {start.date()}")


@click.command("card-status")
@click.argument("card_no")
@click.argument("status")
@click.option("--reason", default="", help="Why, for the card's history.")
@click.option("--actor", default="cli", show_default=True, help="Who, for the card's history.")
@db_option
@json_option
def db_card_status(card_no: str, status: str, reason: str, actor: str, db_url: str | None, as_json: bool) -> None:
    """Move a card along its lifecycle (applied, produced, issued, active, lost, replaced, cancelled); only
    legal steps are taken."""
    from holder_db import bulk, queries, store

    from holder_db.cards import TransitionError, transition

    url = _ready(db_url)
    with _database_errors(), store.session(url) as s:
        card = queries.card_by_no(s, card_no)
        if card is None:
            raise click.ClickException(f"no card {card_no}")
        before = card.status
        try:
            transition(s, card, status, actor=actor, reason=reason)
        except TransitionError as exc:
            raise click.ClickException(str(exc)) from None
    _emit(as_json, {"card_no": card_no, "from": before, "status": status}, f"card {card_no}: {before} -> {status}")


@click.command("check")
@db_option
@json_option
def db_ledger_check(db_url: str | None, as_json: bool) -> None:
    """Reconcile the ledger: every posting sums to zero, each entry's legs sum to zero, each account's balance is
    what its postings say. Exit 1 when it does not balance."""
    from holder_db import ledger

    url = _ready(db_url)
    with _database_errors():
        report = ledger.check(url)
    text = [f"{report.postings} postings on {report.accounts} accounts, sum {report.total} fen: "
            + ("balanced" if report.ok else "NOT balanced")]
    text += [f"  account {w['account']} ({w['kind']} {w['ref']}): balance {w['balance']}, postings say "
             f"{w['postings_say']}" for w in report.wrong_balances]
    text += [f"  entry {e['entry']}: {e['legs']} leg(s) sum to {e['sum']}" for e in report.unbalanced_entries]
    _emit(as_json, report.as_dict(), "\n".join(text))
    if not report.ok:
        sys.exit(1)


@click.command("fund")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ssn", default=None, help="Fund one holder's personal medical account (instead of a FILE).")
@click.option("--amount", type=click.IntRange(min=1), default=None, help="With --ssn: fen to pay in.")
@click.option("--period", default=None, help="With --ssn: the contribution period, YYYY-MM (one payment each).")
@click.option("--encoding", type=click.Choice(ENCODINGS, case_sensitive=False), default=None,
              help="The FILE's encoding (default: detected).")
@db_option
@json_option
def db_fund(file: Path | None, ssn: str | None, amount: int | None, period: str | None, encoding: str | None,
            db_url: str | None, as_json: bool) -> None:
    """Pay contributions into personal medical accounts (个人账户), out of the medical fund: FILE is a CSV
    ssn,amount,period (amount in fen), or one holder with --ssn --amount --period. Each holder and period is
    paid once: a rerun pays nothing twice. Without FILE or --ssn: what each fund holds or paid out (benefits,
    contributions, the pooled fund's share of settlements) and the clearing account."""
    from holder_db import bulk, ledger, queries, store

    from holder_db import contributions

    if file is not None and ssn is not None:
        raise click.UsageError("give a FILE or --ssn with --amount and --period, not both")
    if ssn is not None and (amount is None or period is None):
        raise click.UsageError("--ssn needs --amount and --period")
    url = _ready(db_url)
    if file is None and ssn is None:
        if amount is not None or period is not None:
            raise click.UsageError("--amount and --period go with --ssn")
        with _database_errors():
            shown = ledger.funds(url)
        _emit(as_json, {"funds": shown}, "\n".join(
            f"{f['fund']:24s} {f['balance']:>14d} fen {'paid out' if f['pays_out'] else 'held'}" for f in shown)
            or "no fund has moved money yet")
        return
    try:
        if file is not None:
            rows = contributions.read(file, encoding)
        else:
            rows = [(0, 1, {"ssn": ssn or "", "amount": str(amount), "period": period or ""})]
        with _database_errors(), _progress(len(rows), "funding medical accounts") as tick:
            result = contributions.fund(store.get_engine(url), rows, progress=tick)
    except bulk.ImportFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    data = result.as_dict()
    if ssn is not None and result.rejected:
        raise click.ClickException(result.rejected[0].reason)
    text = [f"{result.rows} rows: paid {data['paid']} ({data['total']} fen), already paid {data['skipped']}, "
            f"rejected {len(result.rejected)}"]
    text += [f"  line {r.line}: {r.reason}" for r in result.rejected]
    _emit(as_json, data, "\n".join(text))
