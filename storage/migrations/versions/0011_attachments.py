"""files on tickets: what was shared, kept in the attachment store or refused with the reason

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10

A reaction opening a ticket from a message is deduplicated on that message through
`seen_requests` (the key names the message), so it needs no table of its own.
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=127), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('link', sa.Text(), nullable=True),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('author_id', sa.String(length=255), nullable=False),
        sa.Column('author_name', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_attachments_ticket_id_tickets',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_attachments'),
        sa.UniqueConstraint('ticket_id', 'sha256', name='uq_attachments_ticket_id_sha256'),
    )
    op.create_index('ix_attachments_ticket_id', 'attachments', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attachments_ticket_id', table_name='attachments')
    op.drop_table('attachments')
