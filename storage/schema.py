"""The tables. Changing them means writing an Alembic migration as well
(tests compare this metadata against the migrated database)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Table, Text, UniqueConstraint)
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
    Column("parent_id", Integer, index=True),  # linked to this ticket: the same problem (no FK: SQLite adds it in place)
    Column("merged_into_id", Integer, index=True),  # merged into this ticket, and closed
    Column("paused_at", UTCDateTime),  # the SLA clock stands still while the ticket waits on its requester
    Column("paused_seconds", Integer, nullable=False, server_default="0"),  # pauses over, wall clock
    Column("paused_business_seconds", Integer, nullable=False, server_default="0"),  # …inside business hours
    Column("waiting_since", UTCDateTime),
    Column("nudged_at", UTCDateTime),
    Index("ix_tickets_status_created", "status", "created_at"),
    Index("ix_tickets_status_due", "status", "due_at"),
    # Covering the reports' per-period figures, so they read the index, not the rows:
    # targets met per severity over the tickets opened in a period (a paused one's clock stopped)…
    Index("ix_tickets_created_targets", "created_at", "severity", "first_response_at", "response_due_at",
          "resolved_at", "resolution_due_at", "paused_at"),
    # …and the time to resolution (paused time taken out) of those resolved in it.
    Index("ix_tickets_resolved_spread", "resolved_at", "created_at", "severity", "paused_seconds"),
    Index("ix_tickets_closed_at", "closed_at"),
)

# Resolved tickets imported from another help desk (`helpdesk kb import`): the knowledge base
# indexes them next to resolved tickets (as entry -id, so the two never collide), but they are
# no tickets: they take no ticket number and stay out of reports unless asked for.
history = Table(
    "history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # which export: the file name or --source
    Column("source_id", String(255), nullable=False),  # the id in that system, shown as it is (HADOOP-1234)
    Column("description", Text, nullable=False),
    Column("resolution", Text),
    Column("category", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False, index=True),  # the knowledge base's change feed
    UniqueConstraint("source", "source_id", name="uq_history_source_source_id"),
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
    Column("attempts", Integer, nullable=False, default=0),  # claims, waits included (a retry looks for its earlier post)
    Column("waits", Integer, nullable=False, default=0, server_default="0"),  # claims that ended waiting (429, 5xx)
    Column("available_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_outbox_platform_status_available", "platform", "status", "available_at"),
    Index("ix_outbox_audience_held", "platform", "audience", "status", "claimed_until"),  # who holds a destination
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

# Work one replica does for all, for a while (the look for surges of alike tickets): whoever
# holds a lease until `until` does it; another takes it over once it runs out.
leases = Table(
    "leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", UTCDateTime, nullable=False),
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

# Files recorded on a ticket: kept in the attachment store (sha256 names the bytes there) or
# refused with the reason. One ticket holds given bytes once.
attachments = Table(
    "attachments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", NAME, nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size", BigInteger),  # bytes; None when never learnt (a download that failed)
    Column("sha256", String(64)),  # None when refused: nothing was kept
    Column("reason", Text),  # why it was refused
    Column("link", Text),  # back to where it was shared
    Column("origin", String(16), nullable=False),  # the adapter it came through
    Column("author_id", ID, nullable=False),
    Column("author_name", NAME, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("ticket_id", "sha256", name="uq_attachments_ticket_id_sha256"),
)

# Major incidents: a parent ticket declared as one, with its card in the triage group's channel;
# its tickets are those linked to it (tickets.parent_id).
incidents = Table(
    "incidents", metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("title", String(255), nullable=False),
    Column("group_name", String(64), nullable=False),  # whose channel shows its card: the category's level 1
    Column("declared_at", UTCDateTime, nullable=False, index=True),
    Column("declared_by_id", ID, nullable=False),
    Column("declared_by_name", NAME, nullable=False),
    Column("first_ticket_at", UTCDateTime, nullable=False),  # the earliest of its tickets, for time-to-declare
    Column("proposal_id", Integer, ForeignKey("incident_proposals.id", ondelete="SET NULL")),
)

# Surges the help desk found itself: alike open tickets proposed as one incident, once. A ticket
# belongs to one proposal at most (the primary key of its membership), so replicas looking at
# the same surge propose it once.
incident_proposals = Table(
    "incident_proposals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),  # the most central
    Column("group_name", String(64), nullable=False),
    Column("headline", Text, nullable=False),
    Column("state", String(16), nullable=False),  # open, declared, dismissed
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decided_by_name", NAME),
    Index("ix_incident_proposals_state_created", "state", "created_at"),
)

incident_proposal_members = Table(
    "incident_proposal_members", metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("proposal_id", Integer, ForeignKey("incident_proposals.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("added_at", UTCDateTime, nullable=False),
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
