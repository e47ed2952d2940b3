"""unlinkable codes and the holder's access log: `ecard_codes` (one random handle and status index per code or
credential, resolvable by the server), and on `audit` the purpose and fields of each read. The columns are added
with plain ALTER TABLE (no table copy on SQLite), so the append-only triggers stay; they are made again anyway.

Revision ID: 0008
Revises: 0007 (0006 on the unlink branch; 0007 is certification's, merged before it)
"""
from alembic import op
import sqlalchemy as sa

from holder_db.models import append_only_ddl

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ecard_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle', sa.String(length=32), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('binding_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('batch', sa.String(length=32), server_default='', nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("kind IN ('online', 'offline', 'sd-jwt')", name='ck_ecard_codes_kind'),
    sa.ForeignKeyConstraint(['binding_id'], ['ecard_bindings.id'], ),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('handle'),
    sa.UniqueConstraint('status_index')
    )
    op.create_index(op.f('ix_ecard_codes_binding_id'), 'ecard_codes', ['binding_id'], unique=False)
    op.create_index(op.f('ix_ecard_codes_expires_at'), 'ecard_codes', ['expires_at'], unique=False)
    op.create_index(op.f('ix_ecard_codes_holder_id'), 'ecard_codes', ['holder_id'], unique=False)
    op.add_column('audit', sa.Column('purpose', sa.String(length=60), server_default='', nullable=False))
    op.add_column('audit', sa.Column('fields', sa.String(length=200), server_default='', nullable=False))
    for statement in append_only_ddl(op.get_bind().dialect.name, 'audit'):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':  # dropping a column rebuilds the table; the triggers go with it and come back after
        op.execute('DROP TRIGGER IF EXISTS audit_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_no_delete')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_column('fields')
        batch_op.drop_column('purpose')
    for statement in append_only_ddl(dialect, 'audit'):
        op.execute(statement)
    op.drop_index(op.f('ix_ecard_codes_holder_id'), table_name='ecard_codes')
    op.drop_index(op.f('ix_ecard_codes_expires_at'), table_name='ecard_codes')
    op.drop_index(op.f('ix_ecard_codes_binding_id'), table_name='ecard_codes')
    op.drop_table('ecard_codes')
