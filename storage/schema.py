"""The tables. Changing them means writing an Alembic migration as well
(tests compare this metadata against the migrated database)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String,
                        Table, Text, UniqueConstraint)
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """An aware datetime as stored (UTC; naive for SQLite). Raises ValueError for a naive datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """A stored datetime as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


ID = String(255)
NAME = String(255)

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("requester_id", ID, nullable=False, index=True),
    Column("requester_name", NAME, nullable=False),
    Column("requester_email", NAME),
    Column("requester_phone", String(64)),
    Column("requester_department", NAME),
    Column("requester_office", NAME),
    Column("requester_manager", NAME),
    Column("description", Text, nullable=False),
    Column("category", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("device", NAME),
    Column("location", NAME),
    Column("assignee_id", ID, index=True),
    Column("assignee_name", NAME),
    Column("group_name", String(64)),
    Column("escalation_level", Integer, nullable=False, default=1),
    Column("resolution", Text),
    Column("origin", String(32), nullable=False, default="console"),
    Column("external_id", String(255), unique=True),  # imported history: the source system's id
    Column("logged_by_id", ID),  # a technician who opened it for the requester (a call, a walk-in)
    Column("logged_by_name", NAME),
    Column("via", String(16), nullable=False, server_default="chat"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),  # the knowledge base's change feed
    Column("first_response_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("version", Integer, nullable=False, default=1),
    Column("escalated_at", UTCDateTime),
    Column("top_pings", Integer, nullable=False, server_default="0"),
    Column("sla_warned_for", UTCDateTime),
    Column("overdue_noticed", Boolean, nullable=False, server_default=false()),
    Column("due_at", UTCDateTime),
    Column("sla_next_at", UTCDateTime, index=True),
    Column("sla_step", String(16)),
    Column("response_due_at", UTCDateTime),
    Column("resolution_due_at", UTCDateTime),
    Index("ix_tickets_status_created", "status", "created_at"),
    Index("ix_tickets_status_due", "status", "due_at"),
    # Covering the reports' per-period figures, so they read the index, not the rows:
    # targets met per severity over the tickets opened in a period…
    Index("ix_tickets_created_targets", "created_at", "severity", "first_response_at", "response_due_at",
          "resolved_at", "resolution_due_at"),
    # …and the time to resolution of those resolved in it.
    Index("ix_tickets_resolved_spread", "resolved_at", "created_at", "severity"),
    Index("ix_tickets_closed_at", "closed_at"),
)

notes = Table(
    "notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("author_id", ID, nullable=False),
    Column("author_name", NAME, nullable=False),
    Column("body", Text, nullable=False),
    Column("internal", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("actor_id", ID, nullable=False),
    Column("actor_name", NAME, nullable=False),
    Column("action", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("changes", JSON, nullable=False),
    Index("ix_audit_events_action_at", "action", "at"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("platform", String(16), nullable=False, server_default="console"),
    Column("kind", String(32), nullable=False),
    Column("audience", String(300), nullable=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="SET NULL"), index=True),
    Column("text", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_outbox_platform_status_available", "platform", "status", "available_at"),
)

# Where a ticket's card (or a DM about it) was posted, so updates edit it in place
# and a reply in its thread is known to belong to the ticket.
ticket_posts = Table(
    "ticket_posts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("channel", String(255), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "channel", "message_id", name="uq_ticket_posts_platform_channel_message"),
)

# Ids of platform requests already handled (Slack event ids, Teams activity ids),
# so a retried delivery changes nothing; in the database so replicas agree.
seen_requests = Table(
    "seen_requests", metadata,
    Column("key", String(255), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("ticket_id", Integer),  # what the request opened or changed: a retry is answered with it
)

# One person, several identities: an email, and an id on each chat platform (<platform>:<id>).
people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", NAME, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

identities = Table(
    "identities", metadata,
    Column("identity", ID, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Scheduled jobs that must run once per slot across replicas (the weekly digest).
jobs = Table(
    "jobs", metadata,
    Column("name", String(64), primary_key=True),
    Column("last_run_at", UTCDateTime, nullable=False),
)

# Where the bot can reach someone or some channel on a platform that cannot be addressed
# by a bare id (Teams: service URL, tenant, conversation id), learnt from incoming activities.
conversation_refs = Table(
    "conversation_refs", metadata,
    Column("platform", String(16), primary_key=True),
    Column("key", String(300), primary_key=True),  # user:<identity> | member:<identity> | channel:<id>
    Column("reference", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What each step of an outbox delivery posted, written the moment the platform answered, so a
# retried delivery skips the steps already done (platforms without a way to find our own posts).
delivery_receipts = Table(
    "delivery_receipts", metadata,
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("step", String(300), primary_key=True),
    Column("message_id", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The requester's rating of the help, one row per resolution: written (score NULL) when a
# technician resolves the ticket, with who resolved it, their group, the category and severity at
# that moment (what reports break satisfaction down by), and rated or changed within 7 days.
ratings = Table(
    "ratings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("resolved_at", UTCDateTime, nullable=False),
    Column("requester_id", ID, nullable=False),
    Column("assignee_id", ID),
    Column("assignee_name", NAME),
    Column("group_name", String(64)),
    Column("category", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("score", Integer),
    Column("comment", Text),
    Column("rated_at", UTCDateTime),
    Column("changed_at", UTCDateTime),
    UniqueConstraint("ticket_id", "resolved_at", name="uq_ratings_ticket_id_resolved_at"),
    Index("ix_ratings_resolved_at", "resolved_at"),
)

# Report charts the server hands out under an unguessable URL for a while (Teams shows an image
# from a URL; an inline one would not fit in its 28 KB activity). In the database, so any replica
# behind the load balancer can serve what another drew.
report_charts = Table(
    "report_charts", metadata,
    Column("token", String(64), primary_key=True),
    Column("png", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
