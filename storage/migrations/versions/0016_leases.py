"""leases: work one replica does for all for a while (the look for surges of alike tickets),
taken over by another once its holder stops renewing it

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from storage.schema import UTCDateTime


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'leases',
        sa.Column('name', sa.String(100), primary_key=True),
        sa.Column('holder', sa.String(100), nullable=False),
        sa.Column('until', UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('leases')
