"""Teams: conversation references learnt from activities, and per-step delivery receipts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conversation_refs',
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('reference', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'key'),
    )
    op.create_table(
        'delivery_receipts',
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.String(length=300), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('outbox_id', 'step'),
    )


def downgrade() -> None:
    op.drop_table('delivery_receipts')
    op.drop_table('conversation_refs')
