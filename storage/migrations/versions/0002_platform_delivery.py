"""outbox rows per platform, where ticket cards were posted, and seen request ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=16), nullable=False, server_default='console'))
        batch_op.drop_index('ix_outbox_status_available')
        batch_op.create_index('ix_outbox_platform_status_available', ['platform', 'status', 'available_at'], unique=False)

    op.create_table('ticket_posts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=255), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_posts_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_posts')),
    sa.UniqueConstraint('platform', 'channel', 'message_id', name='uq_ticket_posts_platform_channel_message')
    )
    with op.batch_alter_table('ticket_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_posts_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('seen_requests',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_seen_requests'))
    )
    with op.batch_alter_table('seen_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_requests_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('seen_requests')
    op.drop_table('ticket_posts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_platform_status_available')
        batch_op.create_index('ix_outbox_status_available', ['status', 'available_at'], unique=False)
        batch_op.drop_column('platform')
