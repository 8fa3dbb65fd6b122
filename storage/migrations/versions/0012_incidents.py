"""major incidents: linked and merged tickets, declared incidents, proposals of alike tickets

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain columns (no foreign key): SQLite adds them in place, without copying the table
    op.add_column('tickets', sa.Column('parent_id', sa.Integer(), nullable=True))
    op.add_column('tickets', sa.Column('merged_into_id', sa.Integer(), nullable=True))
    op.create_index('ix_tickets_parent_id', 'tickets', ['parent_id'], unique=False)
    op.create_index('ix_tickets_merged_into_id', 'tickets', ['merged_into_id'], unique=False)
    op.create_table(
        'incident_proposals',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('group_name', sa.String(length=64), nullable=False),
        sa.Column('headline', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_name', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_incident_proposals_ticket_id_tickets',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_incident_proposals'),
    )
    op.create_index('ix_incident_proposals_state_created', 'incident_proposals', ['state', 'created_at'], unique=False)
    op.create_table(
        'incident_proposal_members',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_incident_proposal_members_ticket_id_tickets',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['proposal_id'], ['incident_proposals.id'],
                                name='fk_incident_proposal_members_proposal_id_incident_proposals', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ticket_id', name='pk_incident_proposal_members'),
    )
    op.create_index('ix_incident_proposal_members_proposal_id', 'incident_proposal_members', ['proposal_id'],
                    unique=False)
    op.create_table(
        'incidents',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('group_name', sa.String(length=64), nullable=False),
        sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('declared_by_id', sa.String(length=255), nullable=False),
        sa.Column('declared_by_name', sa.String(length=255), nullable=False),
        sa.Column('first_ticket_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_incidents_ticket_id_tickets', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['proposal_id'], ['incident_proposals.id'],
                                name='fk_incidents_proposal_id_incident_proposals', ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('ticket_id', name='pk_incidents'),
    )
    op.create_index('ix_incidents_declared_at', 'incidents', ['declared_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incidents_declared_at', table_name='incidents')
    op.drop_table('incidents')
    op.drop_index('ix_incident_proposal_members_proposal_id', table_name='incident_proposal_members')
    op.drop_table('incident_proposal_members')
    op.drop_index('ix_incident_proposals_state_created', table_name='incident_proposals')
    op.drop_table('incident_proposals')
    op.drop_index('ix_tickets_merged_into_id', table_name='tickets')
    op.drop_index('ix_tickets_parent_id', table_name='tickets')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('merged_into_id')
        batch.drop_column('parent_id')
