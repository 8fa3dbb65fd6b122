"""the SLA engine's state on each ticket: last page, warnings, next step and deadline

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('top_pings', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sla_warned_for', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue_noticed', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_next_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_step', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_sla_next_at'), ['sla_next_at'], unique=False)
        batch_op.create_index('ix_tickets_status_due', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_due')
        batch_op.drop_index(batch_op.f('ix_tickets_sla_next_at'))
        for column in ('sla_step', 'sla_next_at', 'due_at', 'overdue_noticed', 'sla_warned_for', 'top_pings', 'escalated_at'):
            batch_op.drop_column(column)
