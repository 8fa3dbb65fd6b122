"""the outbox counts waits apart from failed attempts: a rate limit (429 with Retry-After), a
platform outage (5xx) or a card not posted yet is a wait, never a step towards a dead letter

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waits', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('waits')
