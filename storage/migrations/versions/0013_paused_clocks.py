"""the SLA clock pauses while a ticket waits on its requester (paused time kept on the ticket, in
wall-clock and business seconds, so reports subtract it in SQL); since when a ticket waits and
when its requester was reminded (stale tickets); the report indexes cover the paused columns

Tickets waiting on their requester at the upgrade start waiting (and their stale-ticket clock)
at the upgrade: what they waited before it is not known to have been a pause under the policy
now configured, and a ticket is not resolved as stale before its requester was reminded. Their
next SLA step is due at once, so the sweep re-plans them with the clock stopped.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from storage.schema import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

WAITING = 'waiting_on_requester'
TARGETS = ['created_at', 'severity', 'first_response_at', 'response_due_at', 'resolved_at', 'resolution_due_at']
SPREAD = ['resolved_at', 'created_at', 'severity']


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('paused_business_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True))
    _replace_indexes(TARGETS + ['paused_at'], SPREAD + ['paused_seconds'])
    now = datetime.now(timezone.utc)
    tickets = sa.table('tickets', sa.column('status', sa.String()), sa.column('waiting_since', UTCDateTime()),
                       sa.column('sla_next_at', UTCDateTime()))
    op.execute(tickets.update().where(tickets.c.status == WAITING).values(waiting_since=now, sla_next_at=now))


def downgrade() -> None:
    _replace_indexes(TARGETS, SPREAD)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for column in ('nudged_at', 'waiting_since', 'paused_business_seconds', 'paused_seconds', 'paused_at'):
            batch_op.drop_column(column)


def _replace_indexes(targets: list[str], spread: list[str]) -> None:
    op.drop_index('ix_tickets_created_targets', table_name='tickets')
    op.drop_index('ix_tickets_resolved_spread', table_name='tickets')
    op.create_index('ix_tickets_created_targets', 'tickets', targets, unique=False)
    op.create_index('ix_tickets_resolved_spread', 'tickets', spread, unique=False)
