"""one person on every platform: people and their identities, joined from existing tickets;
the result a deduplicated request produced

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'people',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_people'),
    )
    op.create_table(
        'identities',
        sa.Column('identity', sa.String(length=255), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name='fk_identities_person_id_people', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('identity', name='pk_identities'),
    )
    op.create_index('ix_identities_person_id', 'identities', ['person_id'], unique=False)
    with op.batch_alter_table('seen_requests') as batch:
        batch.add_column(sa.Column('ticket_id', sa.Integer(), nullable=True))
    join_existing_requesters()


def join_existing_requesters() -> None:
    """Every requester the tickets name becomes a person: rows sharing an email (compared
    without case) or an identity are one person, named as on their latest ticket."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, requester_id, requester_name, requester_email FROM tickets "
        "WHERE origin <> 'import' ORDER BY id")).all()
    person_of: dict[str, int] = {}
    named: list[tuple[int, str]] = []  # (a person as first met, the name on that row), in ticket order
    parent: dict[int, int] = {}

    def find(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    count = 0
    for _ticket, requester_id, name, email in rows:
        keys = [k for k in (_identity(requester_id), _identity(email)) if k]
        if not keys:
            continue
        found = {find(person_of[k]) for k in keys if k in person_of}
        if found:
            person = min(found)
            for other in found:
                parent[other] = person
        else:
            count += 1
            person = parent.setdefault(count, count)
        for key in keys:
            person_of.setdefault(key, person)
        named.append((person, name or keys[0]))
    if not person_of:
        return
    now = datetime.now(timezone.utc)
    roots = sorted({find(p) for p in person_of.values()})
    people = sa.table('people', sa.column('id', sa.Integer), sa.column('name', sa.String),
                      sa.column('created_at', sa.DateTime(timezone=True)))
    identities = sa.table('identities', sa.column('identity', sa.String), sa.column('person_id', sa.Integer),
                          sa.column('created_at', sa.DateTime(timezone=True)))
    stamp = now if conn.dialect.name != 'sqlite' else now.replace(tzinfo=None)
    latest = {find(person): name for person, name in named}  # the latest ticket's name wins
    new_id = {}
    for root in roots:
        name = latest.get(root, "?")
        new_id[root] = conn.execute(people.insert().values(name=name[:255], created_at=stamp)
                                    .returning(people.c.id)).scalar_one()
    op.bulk_insert(identities, [{"identity": key, "person_id": new_id[find(person)], "created_at": stamp}
                                for key, person in person_of.items()])


def _identity(value):
    """As bot.config.normalise_identity: emails without case, platform ids as they are."""
    value = (value or "").strip()
    if not value:
        return None
    return value.lower() if ":" not in value and "@" in value else value


def downgrade() -> None:
    with op.batch_alter_table('seen_requests') as batch:
        batch.drop_column('ticket_id')
    op.drop_index('ix_identities_person_id', table_name='identities')
    op.drop_table('identities')
    op.drop_table('people')
