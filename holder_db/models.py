"""The schema of the cardholder base-information store (持卡人员基础信息库), as SQLModel tables.

Money is integer fen everywhere (BigInteger), never float. Timestamps are UTC. Vocabularies (card states,
insurance kinds, record kinds...) are tuples here and CHECK constraints in the database, so a bad value is refused
by both. Postings and audit rows are append-only: the tables carry triggers refusing UPDATE and DELETE
(`APPEND_ONLY_DDL`), created with the tables and by the migrations.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, DDL, Date, DateTime, Float, ForeignKey, Integer,
                        String, Text, UniqueConstraint, event, false, text)
from sqlmodel import Field, SQLModel

CARD_STATES = ("applied", "produced", "issued", "active", "lost", "replaced", "cancelled")
INSURANCES = ("pension", "medical", "unemployment", "work_injury", "maternity")
ENROLMENT_STATES = ("active", "suspended", "terminated")
RECORD_KINDS = ("death", "imprisonment", "activity")
ENTITLEMENT_STATES = ("due", "paid", "held", "cancelled")
ACCOUNT_KINDS = ("medical", "bank", "fund")
SETTLEMENT_STATES = ("settled", "refunded")
REVOCATION_SUBJECTS = ("card", "ecard")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


def _ts(nullable: bool = False, index: bool = False) -> Column:
    default = None if nullable else text("CURRENT_TIMESTAMP")
    return Column(DateTime(timezone=True), nullable=nullable, index=index, server_default=default)


def _fen() -> Column:
    return Column(BigInteger, nullable=False, server_default="0")


class Holder(SQLModel, table=True):
    """A cardholder; `ssn` is the 18-character citizen ID number (社会保障号码), checked on the way in."""

    __tablename__ = "holders"
    __table_args__ = (CheckConstraint("gender IN ('1', '2')", name="ck_holders_gender"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    ssn: str = Field(sa_column=Column(String(18), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(60), nullable=False))
    gender: str = Field(sa_column=Column(String(1), nullable=False))
    nation: str = Field(sa_column=Column(String(2), nullable=False))
    birth_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    birthplace: str = Field(default="", sa_column=Column(String(6), nullable=False, server_default=""))
    region: str = Field(sa_column=Column(String(6), nullable=False, index=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


@event.listens_for(Holder, "before_insert")
@event.listens_for(Holder, "before_update")
def _check_holder(_mapper, _connection, holder: Holder) -> None:  # type: ignore[no-untyped-def]
    """Holders written through the ORM are checked like imported ones (bulk import checks each row itself)."""
    from holder_db.validate import check_identity

    check_identity(holder.ssn, holder.birth_date, holder.gender)


class Card(SQLModel, table=True):
    """A physical card; `card_no` is 卡号 (9 characters), `card_id` is 卡识别码 in hex."""

    __tablename__ = "cards"
    __table_args__ = (_in("status", CARD_STATES, "ck_cards_status"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    card_no: str = Field(sa_column=Column(String(20), nullable=False, unique=True))
    card_id: Optional[str] = Field(default=None, sa_column=Column(String(64), unique=True))
    region: str = Field(sa_column=Column(String(6), nullable=False))
    status: str = Field(default="applied", sa_column=Column(String(12), nullable=False, server_default="applied"))
    issued_on: Optional[dt.date] = Field(default=None, sa_column=Column(Date))
    expires_on: Optional[dt.date] = Field(default=None, sa_column=Column(Date))
    replaces_id: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("cards.id")))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    status_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class CardEvent(SQLModel, table=True):
    """One lifecycle transition of a card, kept so the card's history can be told."""

    __tablename__ = "card_events"

    id: Optional[int] = Field(default=None, primary_key=True)
    card_pk: int = Field(sa_column=Column(Integer, ForeignKey("cards.id"), nullable=False, index=True))
    from_status: Optional[str] = Field(default=None, sa_column=Column(String(12)))
    to_status: str = Field(sa_column=Column(String(12), nullable=False))
    actor: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    reason: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Enrolment(SQLModel, table=True):
    """Participation in one of the five insurances (参保), in a region, over a span of dates."""

    __tablename__ = "enrolments"
    __table_args__ = (
        _in("insurance", INSURANCES, "ck_enrolments_insurance"),
        _in("status", ENROLMENT_STATES, "ck_enrolments_status"),
        UniqueConstraint("holder_id", "insurance", "start_date", name="uq_enrolments_span"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    insurance: str = Field(sa_column=Column(String(16), nullable=False))
    region: str = Field(sa_column=Column(String(6), nullable=False))
    status: str = Field(default="active", sa_column=Column(String(12), nullable=False, server_default="active"))
    start_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    end_date: Optional[dt.date] = Field(default=None, sa_column=Column(Date))


class BankAccount(SQLModel, table=True):
    """A bank account (the financial applet's PAN) read from a holder's card."""

    __tablename__ = "bank_accounts"
    __table_args__ = (UniqueConstraint("holder_id", "account_no", name="uq_bank_accounts_holder_no"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    card_pk: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("cards.id")))
    account_no: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    bank: str = Field(default="", sa_column=Column(String(60), nullable=False, server_default=""))
    read_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Account(SQLModel, table=True):
    """A ledger account: the balance the postings move. The database refuses a negative balance."""

    __tablename__ = "accounts"
    __table_args__ = (
        _in("kind", ACCOUNT_KINDS, "ck_accounts_kind"),
        CheckConstraint("balance >= 0", name="ck_accounts_balance"),
        UniqueConstraint("kind", "ref", name="uq_accounts_kind_ref"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(12), nullable=False))
    ref: str = Field(sa_column=Column(String(64), nullable=False))  # bank account no, "medical:<ssn>", fund name
    holder_id: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("holders.id"), index=True))
    balance: int = Field(default=0, sa_column=_fen())
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    # credit-normal (a fund that pays out): the balance is minus the sum of its postings, so it too is never
    # negative while every entry's postings sum to zero (holder_db.ledger)
    credit_normal: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class Posting(SQLModel, table=True):
    """One movement of money on an account; append-only, one per idempotency key."""

    __tablename__ = "postings"

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=Column(Integer, ForeignKey("accounts.id"), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    # the double entry this posting is a leg of (the first leg's idempotency key); NULL on postings made before
    # the ledger was double-entry, which count as their own entry
    entry: Optional[str] = Field(default=None, sa_column=Column(String(200), index=True))


class MedicalAccount(SQLModel, table=True):
    """A holder's medical personal account (个人账户): this year's counters. The balance is the ledger account
    `account_id` (kind "medical"), so money has one truth; `queries.medical_usage` reads both together."""

    __tablename__ = "medical_accounts"
    __table_args__ = (
        UniqueConstraint("holder_id", "year", name="uq_medical_accounts_holder_year"),
        CheckConstraint("deductible_used >= 0 AND fund_paid >= 0", name="ck_medical_accounts_fen"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    deductible_used: int = Field(default=0, sa_column=_fen())
    fund_paid: int = Field(default=0, sa_column=_fen())
    account_id: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("accounts.id")))


class Settlement(SQLModel, table=True):
    """One medical settlement (结算) as split by the terminal; refunds flip the status, never delete."""

    __tablename__ = "settlements"
    __table_args__ = (_in("status", SETTLEMENT_STATES, "ck_settlements_status"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    settlement_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    level: str = Field(default="", sa_column=Column(String(32), nullable=False, server_default=""))
    total: int = Field(default=0, sa_column=_fen())
    out_of_catalog: int = Field(default=0, sa_column=_fen())
    self_pay_first: int = Field(default=0, sa_column=_fen())
    deductible: int = Field(default=0, sa_column=_fen())
    fund: int = Field(default=0, sa_column=_fen())
    account: int = Field(default=0, sa_column=_fen())
    cash: int = Field(default=0, sa_column=_fen())
    status: str = Field(default="settled", sa_column=Column(String(12), nullable=False, server_default="settled"))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    refunded_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))


class Entitlement(SQLModel, table=True):
    """A benefit due to a holder for a period (待遇), paid by a posting keyed by `entitlement_id`."""

    __tablename__ = "entitlements"
    __table_args__ = (
        _in("status", ENTITLEMENT_STATES, "ck_entitlements_status"),
        CheckConstraint("amount >= 0", name="ck_entitlements_amount"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    entitlement_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    ssn: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    benefit: str = Field(sa_column=Column(String(32), nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False, index=True))  # YYYY-MM
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    bank_account: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(default="due", sa_column=Column(String(12), nullable=False, server_default="due"))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class SharedRecord(SQLModel, table=True):
    """A fact another department shares (death, imprisonment, activity evidence), used by risk checks."""

    __tablename__ = "shared_records"
    __table_args__ = (
        _in("kind", RECORD_KINDS, "ck_shared_records_kind"),
        UniqueConstraint("ssn", "kind", "date", name="uq_shared_records_fact"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    ssn: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    date: dt.date = Field(sa_column=Column(Date, nullable=False))
    source: str = Field(default="", sa_column=Column(String(60), nullable=False, server_default=""))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class EcardBinding(SQLModel, table=True):
    """An e-card activated on a device: the device's public key (JWK) bound to the holder."""

    __tablename__ = "ecard_bindings"

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    kid: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    jwk: str = Field(sa_column=Column(Text, nullable=False, index=True))  # JSON of the public JWK; a key binds once
    alg: str = Field(default="EdDSA", sa_column=Column(String(16), nullable=False, server_default="EdDSA"))
    device_name: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    status_index: Optional[int] = Field(default=None, sa_column=Column(Integer, unique=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    revoked_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))


class ActivationCode(SQLModel, table=True):
    """A one-time e-card activation code; only its hash is kept."""

    __tablename__ = "activation_codes"

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    code_hash: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: dt.datetime = Field(sa_column=_ts())
    used_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))


class Revocation(SQLModel, table=True):
    """A revoked card or e-card and its bit in the published status list."""

    __tablename__ = "revocations"
    __table_args__ = (
        _in("subject", REVOCATION_SUBJECTS, "ck_revocations_subject"),
        UniqueConstraint("subject", "ref", name="uq_revocations_subject_ref"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    subject: str = Field(sa_column=Column(String(8), nullable=False))
    ref: str = Field(sa_column=Column(String(64), nullable=False))  # card_no, or the binding's kid
    holder_id: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("holders.id"), index=True))
    status_index: Optional[int] = Field(default=None, sa_column=Column(Integer, index=True))
    reason: str = Field(sa_column=Column(String(60), nullable=False))
    revoked_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class AuditEntry(SQLModel, table=True):
    """Who read or changed what, and when; the subject is stored masked. Append-only."""

    __tablename__ = "audit"

    id: Optional[int] = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    action: str = Field(sa_column=Column(String(60), nullable=False))
    subject: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    holder_id: Optional[int] = Field(default=None, sa_column=Column(Integer, index=True))
    sensitive: bool = Field(default=False, nullable=False)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # why the record was read and which of its fields (comma-separated), shown to the holder (audit.access_log)
    purpose: str = Field(default="", sa_column=Column(String(60), nullable=False, server_default=""))
    fields: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))


class ServerNonce(SQLModel, table=True):
    """A one-time value the e-card server has seen (a device proof's jti, a replayed code), kept until `exp`
    (Unix seconds) so every worker and node refuses it a second time, across restarts."""

    __tablename__ = "server_nonces"

    key: str = Field(sa_column=Column(String(128), primary_key=True))
    exp: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


class RateBucket(SQLModel, table=True):
    """A token bucket of one rate limit for one client, shared by every worker."""

    __tablename__ = "rate_buckets"

    key: str = Field(sa_column=Column(String(160), primary_key=True))
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    at: float = Field(sa_column=Column(Float, nullable=False))  # Unix seconds of the last update


class LoginSessionRow(SQLModel, table=True):
    """A scan-to-login session: who asked (relying party, scope), the poll secret's hash, and once a holder
    approved it, the result (JSON)."""

    __tablename__ = "login_sessions"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    relying_party: str = Field(sa_column=Column(String(64), nullable=False))
    scope: str = Field(sa_column=Column(String(64), nullable=False, server_default=""))
    poll_hash: str = Field(sa_column=Column(String(64), nullable=False))
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))
    result: Optional[str] = Field(default=None, sa_column=Column(Text))


class RelyingParty(SQLModel, table=True):
    """A scan-to-login relying party registered with `sscard keys rp`: its name (what holders are shown, and what
    their pairwise subject is derived from) and the public key its session requests are signed with."""

    __tablename__ = "relying_parties"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    jwk: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the public JWK
    alg: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    withdrawn_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))


APPEND_ONLY = ("postings", "audit")


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """Triggers that make `table` refuse UPDATE and DELETE on this dialect."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END" for op in ("UPDATE", "DELETE")]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION sscard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION sscard_append_only()",
        ]
    return []


for _name in APPEND_ONLY:
    _table = SQLModel.metadata.tables[_name]
    for _dialect in ("sqlite", "postgresql"):
        for _stmt in append_only_ddl(_dialect, _name):
            event.listen(_table, "after_create", DDL(_stmt.replace("%", "%%")).execute_if(dialect=_dialect))


# ---- certification (待遇资格认证) and family proxy (亲情服务): holder_db/certification.py, holder_db/proxy.py ----

CERT_SOURCES = ("silent", "self", "proxy")
PROXY_SCOPES = ("certification", "view_benefits", "show_code")
PRINCIPAL_CONSENTS = ("card_pin", "officer")


class Certification(SQLModel, table=True):
    """A pensioner certified alive and entitled for one year: from which source (silent data matching, the holder
    themself, a proxy), by which rule or channel, on what evidence (a settlement id, an audit row, a shared record;
    its date). One per holder and year: the first certification of the year stands."""

    __tablename__ = "certifications"
    __table_args__ = (
        _in("source", CERT_SOURCES, "ck_certifications_source"),
        UniqueConstraint("holder_id", "year", name="uq_certifications_holder_year"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    year: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    source: str = Field(sa_column=Column(String(8), nullable=False))
    rule: str = Field(sa_column=Column(String(40), nullable=False))  # the silent rule's id, or the channel
    evidence_ref: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    evidence_date: Optional[dt.date] = Field(default=None, sa_column=Column(Date))
    proxy_holder_id: Optional[int] = Field(default=None, sa_column=Column(Integer, ForeignKey("holders.id")))
    actor: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    certified_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class ProxyBinding(SQLModel, table=True):
    """A relative bound as a holder's proxy, with a scope and an end date. In force once both consented (the
    principal at a counter with card and PIN, or an officer for a holder who cannot; the proxy with their e-card),
    until revoked by either side or past `ends_on`."""

    __tablename__ = "proxy_bindings"
    __table_args__ = (
        CheckConstraint("principal_id <> proxy_id", name="ck_proxy_bindings_distinct"),
        CheckConstraint("principal_consent IS NULL OR principal_consent IN ('card_pin', 'officer')",
                        name="ck_proxy_bindings_consent"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    principal_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    proxy_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    scopes: str = Field(sa_column=Column(String(80), nullable=False))  # comma-separated PROXY_SCOPES
    ends_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    principal_consent: Optional[str] = Field(default=None, sa_column=Column(String(12)))
    principal_consent_by: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    principal_consent_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))
    proxy_consent_by: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    proxy_consent_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: Optional[dt.datetime] = Field(default=None, sa_column=_ts(nullable=True))
    revoked_by: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))


class ProxyAct(SQLModel, table=True):
    """One thing a proxy did for a principal (certified, viewed benefits, showed a code), under which binding and
    through which channel. Append-only."""

    __tablename__ = "proxy_acts"

    id: Optional[int] = Field(default=None, primary_key=True)
    binding_id: int = Field(sa_column=Column(Integer, ForeignKey("proxy_bindings.id"), nullable=False, index=True))
    proxy_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    principal_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    act: str = Field(sa_column=Column(String(24), nullable=False))
    actor: str = Field(sa_column=Column(String(120), nullable=False))
    detail: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


# a holder's newest audit rows by time (the silent pass's card_pin_use rule): with only the index on `at`,
# PostgreSQL answers "WHERE holder_id = ? ORDER BY at DESC LIMIT 1" by walking every holder's rows newest first
from sqlalchemy import Index  # noqa: E402  (here, so this block stays one hunk)

Index("ix_audit_holder_at", AuditEntry.__table__.c.holder_id, AuditEntry.__table__.c.at)  # type: ignore[attr-defined]

for _dialect in ("sqlite", "postgresql"):
    for _stmt in append_only_ddl(_dialect, "proxy_acts"):
        event.listen(ProxyAct.__table__, "after_create",  # type: ignore[attr-defined]
                     DDL(_stmt.replace("%", "%%")).execute_if(dialect=_dialect))


ECARD_CODE_KINDS = ("online", "offline", "sd-jwt")


class EcardCode(SQLModel, table=True):
    """One unlinkable e-card code or credential: a random handle (the QR's `sub`) and a random status-list index
    of its own, so two codes of one holder share nothing a verifier sees; the server resolves the handle to the
    holder and the device binding, and revoking the binding flips every live code's bit. Rows are dropped some
    time after they expire (holder_db.ecard.EXPIRED_KEEP)."""

    __tablename__ = "ecard_codes"
    __table_args__ = (_in("kind", ECARD_CODE_KINDS, "ck_ecard_codes_kind"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    handle: str = Field(sa_column=Column(String(32), nullable=False, unique=True))  # hex of the code's sub
    holder_id: int = Field(sa_column=Column(Integer, ForeignKey("holders.id"), nullable=False, index=True))
    binding_id: int = Field(sa_column=Column(Integer, ForeignKey("ecard_bindings.id"), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    status_index: int = Field(sa_column=Column(Integer, nullable=False, unique=True))
    batch: str = Field(default="", sa_column=Column(String(32), nullable=False, server_default=""))
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))  # Unix seconds
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
