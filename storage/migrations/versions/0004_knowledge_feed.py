"""the knowledge base's change feed (tickets.updated_at index) and imported tickets' source ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_tickets_external_id'), ['external_id'])
        batch_op.create_index(batch_op.f('ix_tickets_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_updated_at'))
        batch_op.drop_constraint(batch_op.f('uq_tickets_external_id'), type_='unique')
        batch_op.drop_column('external_id')
