"""double-entry ledger: credit-normal fund accounts, the entry each posting belongs to, opening balances.

Postings made before this revision were single-entry. Each gets its other leg here, on the credit-normal
`fund:opening` account (money that came in from outside the books before they were double-entry), so that
`sscard db ledger check` balances on an old database too.

Revision ID: 0003
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OPENING = "fund:opening"


def upgrade() -> None:
    # plain ADD COLUMN on both engines (no table rebuild on SQLite: other tables' foreign keys point at these)
    op.add_column('accounts', sa.Column('credit_normal', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('postings', sa.Column('entry', sa.String(length=200), nullable=True))
    op.create_index(op.f('ix_postings_entry'), 'postings', ['entry'], unique=False)
    conn = op.get_bind()
    legacy = conn.execute(sa.text("SELECT id, amount, idempotency_key FROM postings ORDER BY id")).all()
    if not legacy:
        return
    conn.execute(sa.text("INSERT INTO accounts (kind, ref, balance, created_at, credit_normal) "
                         "VALUES ('fund', :ref, 0, CURRENT_TIMESTAMP, :yes)"), {"ref": OPENING, "yes": True})
    fund = conn.execute(sa.text("SELECT id FROM accounts WHERE kind = 'fund' AND ref = :ref"),
                        {"ref": OPENING}).scalar_one()
    balance = 0
    for _id, amount, key in legacy:
        balance += amount
        conn.execute(sa.text("INSERT INTO postings (account_id, amount, kind, idempotency_key, balance_after, "
                             "created_at, entry) VALUES (:a, :amount, 'opening', :key, :after, CURRENT_TIMESTAMP, "
                             ":entry)"),
                     {"a": fund, "amount": -amount, "key": f"{key}/opening", "after": balance, "entry": key})
    conn.execute(sa.text("UPDATE accounts SET balance = :b WHERE id = :id"), {"b": balance, "id": fund})


def downgrade() -> None:
    op.drop_index(op.f('ix_postings_entry'), table_name='postings')
    op.drop_column('postings', 'entry')
    op.drop_column('accounts', 'credit_normal')
