"""relying parties: scan-to-login relying parties registered with their own public key (`sscard keys rp`); an index
on the bound device keys, which activation looks a new key up in (a key binds once).

Revision ID: 0006
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('relying_parties',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('jwk', sa.Text(), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('ecard_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ecard_bindings_jwk'), ['jwk'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ecard_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ecard_bindings_jwk'))
    op.drop_table('relying_parties')
