"""an index to see which worker holds a destination's messages: a replica claims no message
for a channel or chat another replica is delivering to, so one of them keeps its pace

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_audience_held', 'outbox', ['platform', 'audience', 'status', 'claimed_until'])


def downgrade() -> None:
    op.drop_index('ix_outbox_audience_held', table_name='outbox')
