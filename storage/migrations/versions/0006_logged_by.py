"""who logged a ticket for someone else, through which channel (phone, walk-in, chat), and the requester's manager

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logged_by_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('logged_by_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('via', sa.String(length=16), server_default='chat', nullable=False))
        batch_op.add_column(sa.Column('requester_manager', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('requester_manager')
        batch_op.drop_column('via')
        batch_op.drop_column('logged_by_name')
        batch_op.drop_column('logged_by_id')
