"""certification and family proxy: each pensioner's yearly certification (待遇资格认证) with its source and
evidence, proxy bindings between holders (亲情服务) and the append-only record of what a proxy did; an index on
a holder's audit rows by time.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

from holder_db.models import append_only_ddl

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.text('CURRENT_TIMESTAMP')
    op.create_table('certifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('evidence_ref', sa.String(length=64), server_default='', nullable=False),
    sa.Column('evidence_date', sa.Date(), nullable=True),
    sa.Column('proxy_holder_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=120), server_default='', nullable=False),
    sa.Column('certified_at', sa.DateTime(timezone=True), server_default=now, nullable=False),
    sa.CheckConstraint("source IN ('silent', 'self', 'proxy')", name='ck_certifications_source'),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id']),
    sa.ForeignKeyConstraint(['proxy_holder_id'], ['holders.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('holder_id', 'year', name='uq_certifications_holder_year')
    )
    op.create_index(op.f('ix_certifications_holder_id'), 'certifications', ['holder_id'], unique=False)
    op.create_index(op.f('ix_certifications_year'), 'certifications', ['year'], unique=False)
    op.create_table('proxy_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('proxy_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.String(length=80), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=now, nullable=False),
    sa.Column('principal_consent', sa.String(length=12), nullable=True),
    sa.Column('principal_consent_by', sa.String(length=120), server_default='', nullable=False),
    sa.Column('principal_consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('proxy_consent_by', sa.String(length=120), server_default='', nullable=False),
    sa.Column('proxy_consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=120), server_default='', nullable=False),
    sa.CheckConstraint('principal_id <> proxy_id', name='ck_proxy_bindings_distinct'),
    sa.CheckConstraint("principal_consent IS NULL OR principal_consent IN ('card_pin', 'officer')",
                       name='ck_proxy_bindings_consent'),
    sa.ForeignKeyConstraint(['principal_id'], ['holders.id']),
    sa.ForeignKeyConstraint(['proxy_id'], ['holders.id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_proxy_bindings_principal_id'), 'proxy_bindings', ['principal_id'], unique=False)
    op.create_index(op.f('ix_proxy_bindings_proxy_id'), 'proxy_bindings', ['proxy_id'], unique=False)
    op.create_table('proxy_acts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('binding_id', sa.Integer(), nullable=False),
    sa.Column('proxy_id', sa.Integer(), nullable=False),
    sa.Column('principal_id', sa.Integer(), nullable=False),
    sa.Column('act', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('detail', sa.String(length=200), server_default='', nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=now, nullable=False),
    sa.ForeignKeyConstraint(['binding_id'], ['proxy_bindings.id']),
    sa.ForeignKeyConstraint(['principal_id'], ['holders.id']),
    sa.ForeignKeyConstraint(['proxy_id'], ['holders.id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_proxy_acts_binding_id'), 'proxy_acts', ['binding_id'], unique=False)
    op.create_index(op.f('ix_proxy_acts_principal_id'), 'proxy_acts', ['principal_id'], unique=False)
    op.create_index(op.f('ix_proxy_acts_proxy_id'), 'proxy_acts', ['proxy_id'], unique=False)
    for statement in append_only_ddl(op.get_bind().dialect.name, 'proxy_acts'):
        op.execute(statement)
    op.create_index('ix_audit_holder_at', 'audit', ['holder_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_holder_at', table_name='audit')
    op.drop_table('proxy_acts')  # its triggers go with it
    op.drop_index(op.f('ix_proxy_bindings_proxy_id'), table_name='proxy_bindings')
    op.drop_index(op.f('ix_proxy_bindings_principal_id'), table_name='proxy_bindings')
    op.drop_table('proxy_bindings')
    op.drop_index(op.f('ix_certifications_year'), table_name='certifications')
    op.drop_index(op.f('ix_certifications_holder_id'), table_name='certifications')
    op.drop_table('certifications')
