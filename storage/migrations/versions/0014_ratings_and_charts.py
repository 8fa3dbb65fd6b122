"""satisfaction ratings, one per resolution; report charts served for a while under an unguessable URL

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ratings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('requester_id', sa.String(length=255), nullable=False),
        sa.Column('assignee_id', sa.String(length=255), nullable=True),
        sa.Column('assignee_name', sa.String(length=255), nullable=True),
        sa.Column('group_name', sa.String(length=64), nullable=True),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('score', sa.Integer(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_ratings_ticket_id_tickets', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_ratings'),
        sa.UniqueConstraint('ticket_id', 'resolved_at', name='uq_ratings_ticket_id_resolved_at'),
    )
    op.create_index('ix_ratings_resolved_at', 'ratings', ['resolved_at'], unique=False)
    op.create_table(
        'report_charts',
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('png', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('token', name='pk_report_charts'),
    )
    op.create_index('ix_report_charts_expires_at', 'report_charts', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_report_charts_expires_at', table_name='report_charts')
    op.drop_table('report_charts')
    op.drop_index('ix_ratings_resolved_at', table_name='ratings')
    op.drop_table('ratings')
