"""initial schema: the tables of holder_db/models.py and the append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:37:14.027473
"""
from alembic import op
import sqlalchemy as sa

from holder_db.models import APPEND_ONLY, append_only_ddl


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('subject', sa.String(length=64), server_default='', nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=True),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_holder_id'), ['holder_id'], unique=False)

    op.create_table('entitlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entitlement_id', sa.String(length=64), nullable=False),
    sa.Column('ssn', sa.String(length=18), nullable=False),
    sa.Column('benefit', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('bank_account', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='due', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status IN ('due', 'paid', 'held', 'cancelled')", name='ck_entitlements_status'),
    sa.CheckConstraint('amount >= 0', name='ck_entitlements_amount'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entitlement_id')
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entitlements_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_entitlements_ssn'), ['ssn'], unique=False)

    op.create_table('holders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ssn', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('gender', sa.String(length=1), nullable=False),
    sa.Column('nation', sa.String(length=2), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('birthplace', sa.String(length=6), server_default='', nullable=False),
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("gender IN ('1', '2')", name='ck_holders_gender'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ssn')
    )
    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holders_region'), ['region'], unique=False)

    op.create_table('shared_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ssn', sa.String(length=18), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=60), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("kind IN ('death', 'imprisonment', 'activity')", name='ck_shared_records_kind'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ssn', 'kind', 'date', name='uq_shared_records_fact')
    )
    with op.batch_alter_table('shared_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shared_records_ssn'), ['ssn'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=True),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("kind IN ('medical', 'bank', 'fund')", name='ck_accounts_kind'),
    sa.CheckConstraint('balance >= 0', name='ck_accounts_balance'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'ref', name='uq_accounts_kind_ref')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_holder_id'), ['holder_id'], unique=False)

    op.create_table('activation_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activation_codes_holder_id'), ['holder_id'], unique=False)

    op.create_table('cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('card_no', sa.String(length=20), nullable=False),
    sa.Column('card_id', sa.String(length=64), nullable=True),
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='applied', nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status IN ('applied', 'produced', 'issued', 'active', 'lost', 'replaced', 'cancelled')", name='ck_cards_status'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.ForeignKeyConstraint(['replaces_id'], ['cards.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('card_id'),
    sa.UniqueConstraint('card_no')
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cards_holder_id'), ['holder_id'], unique=False)

    op.create_table('ecard_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('jwk', sa.Text(), nullable=False),
    sa.Column('alg', sa.String(length=16), server_default='EdDSA', nullable=False),
    sa.Column('device_name', sa.String(length=120), server_default='', nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kid'),
    sa.UniqueConstraint('status_index')
    )
    with op.batch_alter_table('ecard_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ecard_bindings_holder_id'), ['holder_id'], unique=False)

    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('insurance', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='active', nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.CheckConstraint("insurance IN ('pension', 'medical', 'unemployment', 'work_injury', 'maternity')", name='ck_enrolments_insurance'),
    sa.CheckConstraint("status IN ('active', 'suspended', 'terminated')", name='ck_enrolments_status'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('holder_id', 'insurance', 'start_date', name='uq_enrolments_span')
    )
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolments_holder_id'), ['holder_id'], unique=False)

    op.create_table('revocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=8), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=True),
    sa.Column('status_index', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=60), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("subject IN ('card', 'ecard')", name='ck_revocations_subject'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subject', 'ref', name='uq_revocations_subject_ref')
    )
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revocations_holder_id'), ['holder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revocations_status_index'), ['status_index'], unique=False)

    op.create_table('settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=32), server_default='', nullable=False),
    sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('out_of_catalog', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('self_pay_first', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('deductible', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('fund', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('account', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cash', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=12), server_default='settled', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('settled', 'refunded')", name='ck_settlements_status'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('settlement_id')
    )
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlements_holder_id'), ['holder_id'], unique=False)

    op.create_table('bank_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('card_pk', sa.Integer(), nullable=True),
    sa.Column('account_no', sa.String(length=32), nullable=False),
    sa.Column('bank', sa.String(length=60), server_default='', nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['card_pk'], ['cards.id'], ),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('holder_id', 'account_no', name='uq_bank_accounts_holder_no')
    )
    with op.batch_alter_table('bank_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_accounts_account_no'), ['account_no'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_accounts_holder_id'), ['holder_id'], unique=False)

    op.create_table('card_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_pk', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=12), nullable=True),
    sa.Column('to_status', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=120), server_default='', nullable=False),
    sa.Column('reason', sa.String(length=200), server_default='', nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['card_pk'], ['cards.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('card_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_events_card_pk'), ['card_pk'], unique=False)

    op.create_table('medical_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('deductible_used', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('fund_paid', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('deductible_used >= 0 AND fund_paid >= 0', name='ck_medical_accounts_fen'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('holder_id', 'year', name='uq_medical_accounts_holder_year')
    )
    with op.batch_alter_table('medical_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_accounts_holder_id'), ['holder_id'], unique=False)

    op.create_table('postings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postings_account_id'), ['account_id'], unique=False)

    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in append_only_ddl(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postings_account_id'))

    op.drop_table('postings')
    with op.batch_alter_table('medical_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_accounts_holder_id'))

    op.drop_table('medical_accounts')
    with op.batch_alter_table('card_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_events_card_pk'))

    op.drop_table('card_events')
    with op.batch_alter_table('bank_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_accounts_holder_id'))
        batch_op.drop_index(batch_op.f('ix_bank_accounts_account_no'))

    op.drop_table('bank_accounts')
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlements_holder_id'))

    op.drop_table('settlements')
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revocations_status_index'))
        batch_op.drop_index(batch_op.f('ix_revocations_holder_id'))

    op.drop_table('revocations')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolments_holder_id'))

    op.drop_table('enrolments')
    with op.batch_alter_table('ecard_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ecard_bindings_holder_id'))

    op.drop_table('ecard_bindings')
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cards_holder_id'))

    op.drop_table('cards')
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activation_codes_holder_id'))

    op.drop_table('activation_codes')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_holder_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('shared_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shared_records_ssn'))

    op.drop_table('shared_records')
    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holders_region'))

    op.drop_table('holders')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entitlements_ssn'))
        batch_op.drop_index(batch_op.f('ix_entitlements_period'))

    op.drop_table('entitlements')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_holder_id'))
        batch_op.drop_index(batch_op.f('ix_audit_at'))

    op.drop_table('audit')
