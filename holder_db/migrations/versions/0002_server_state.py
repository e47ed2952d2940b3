"""server state: nonces, rate-limit buckets and login sessions the e-card server's workers share.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_nonces',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('exp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('server_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_server_nonces_exp'), ['exp'], unique=False)
    op.create_table('rate_buckets',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('login_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('relying_party', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=64), server_default='', nullable=False),
    sa.Column('poll_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('login_sessions')
    op.drop_table('rate_buckets')
    op.drop_table('server_nonces')
