"""imported history in a table of its own (no ticket numbers, out of live reports)

Imported tickets that nobody has touched since (still closed, no event but the import, no
note) move from `tickets` to `history`; any other keeps living as a ticket. The downgrade
moves history rows back into `tickets` as imported tickets (with new numbers).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BATCH = 5_000


def _tables():
    meta = sa.MetaData()
    tickets = sa.Table('tickets', meta, autoload_with=op.get_bind())
    history = sa.Table('history', meta, autoload_with=op.get_bind())
    events = sa.Table('audit_events', meta, autoload_with=op.get_bind())
    notes = sa.Table('notes', meta, autoload_with=op.get_bind())
    return tickets, history, events, notes


def upgrade() -> None:
    op.create_table(
        'history',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('source_id', sa.String(length=255), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('resolution', sa.Text(), nullable=True),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_history')),
        sa.UniqueConstraint('source', 'source_id', name='uq_history_source_source_id'),
    )
    op.create_index(op.f('ix_history_imported_at'), 'history', ['imported_at'], unique=False)
    conn = op.get_bind()
    tickets, history, events, notes = _tables()
    touched = sa.select(events.c.ticket_id).where(events.c.action != 'imported')
    noted = sa.select(notes.c.ticket_id)
    last = 0
    while True:
        rows = conn.execute(sa.select(tickets.c.id, tickets.c.external_id, tickets.c.description, tickets.c.resolution,
                                      tickets.c.category, tickets.c.created_at, tickets.c.resolved_at, tickets.c.updated_at)
                            .where(tickets.c.id > last, tickets.c.origin == 'import', tickets.c.status == 'closed',
                                   tickets.c.external_id.is_not(None), tickets.c.id.not_in(touched),
                                   tickets.c.id.not_in(noted))
                            .order_by(tickets.c.id).limit(BATCH)).all()
        if not rows:
            break
        moved = []
        for r in rows:
            source, _, source_id = r.external_id.partition(':')
            if not source_id:
                source, source_id = 'import', source
            moved.append({'source': source[:64], 'source_id': source_id, 'description': r.description,
                          'resolution': r.resolution, 'category': r.category, 'created_at': r.created_at,
                          'resolved_at': r.resolved_at or r.created_at, 'imported_at': r.updated_at})
        conn.execute(history.insert(), moved)
        ids = [r.id for r in rows]
        conn.execute(events.delete().where(events.c.ticket_id.in_(ids)))
        conn.execute(tickets.delete().where(tickets.c.id.in_(ids)))
        last = rows[-1].id


def downgrade() -> None:
    conn = op.get_bind()
    tickets, history, events, _ = _tables()
    now = datetime.now(timezone.utc)
    if conn.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    last = 0
    while True:
        rows = conn.execute(sa.select(history).where(history.c.id > last).order_by(history.c.id).limit(BATCH)).all()
        if not rows:
            break
        for r in rows:
            new_id = conn.execute(tickets.insert().values(
                requester_id='import', requester_name='Imported', description=r.description, category=r.category,
                severity='medium', status='closed', escalation_level=1, resolution=r.resolution, origin='import',
                external_id=f'{r.source}:{r.source_id}', via='chat', created_at=r.created_at, updated_at=r.imported_at,
                resolved_at=r.resolved_at, closed_at=r.resolved_at, version=1, top_pings=0,
                overdue_noticed=False)).inserted_primary_key[0]
            conn.execute(events.insert().values(ticket_id=new_id, actor_id='import', actor_name='Import',
                                                action='imported', at=now,
                                                changes={'external_id': [None, f'{r.source}:{r.source_id}']}))
        last = rows[-1].id
    op.drop_index(op.f('ix_history_imported_at'), table_name='history')
    op.drop_table('history')
