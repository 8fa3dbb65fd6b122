"""covering indexes for the reports' per-period figures (replacing the single-column ones)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_created_targets', 'tickets', ['created_at', 'severity', 'first_response_at',
                    'response_due_at', 'resolved_at', 'resolution_due_at'], unique=False)
    op.create_index('ix_tickets_resolved_spread', 'tickets', ['resolved_at', 'created_at', 'severity'], unique=False)
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_index('ix_tickets_resolved_at', table_name='tickets')


def downgrade() -> None:
    op.create_index('ix_tickets_resolved_at', 'tickets', ['resolved_at'], unique=False)
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'], unique=False)
    op.drop_index('ix_tickets_resolved_spread', table_name='tickets')
    op.drop_index('ix_tickets_created_targets', table_name='tickets')
