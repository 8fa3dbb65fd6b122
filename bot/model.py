"""Plain values the core passes around; adapters render them, storage keeps them."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Higher is more urgent; queues sort on it."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Status(str, enum.Enum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting_on_requester"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Whether work on the ticket is still to do (new, in progress, waiting on the requester)."""
        return self in OPEN_STATUSES

    @property
    def label(self) -> str:
        """The status as people read it: "in progress", not "in_progress"."""
        return self.value.replace("_", " ")


OPEN_STATUSES = frozenset({Status.NEW, Status.IN_PROGRESS, Status.WAITING})


@dataclass(frozen=True)
class Actor:
    """Who is asking. `ids` holds every identity we know the person by (an email, and their
    ids on each chat platform, `<platform>:<id>`); `person_id` is the help desk's own number
    for the person once the store has linked those identities (None before)."""

    id: str
    name: str
    ids: frozenset[str] = frozenset()
    email: str | None = None
    platform: str = "console"
    phone: str | None = None
    department: str | None = None
    office: str | None = None
    manager: str | None = None
    person_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(self.ids) | {self.id})

    def is_(self, identity: str | None) -> bool:
        """Whether `identity` is one of this person's."""
        return identity is not None and identity in self.ids


SYSTEM_ID = "helpdesk"
PHONE_PREFIX = "tel:"  # the identity of a requester known only by a phone number: tel:+15550142


def is_phone_identity(identity: str | None) -> bool:
    """Whether an identity is a bare phone number (a first-time caller who gave no email)."""
    return bool(identity) and identity.startswith(PHONE_PREFIX)


@dataclass(frozen=True)
class Requester:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    office: str | None = None
    manager: str | None = None

    @classmethod
    def from_actor(cls, actor: Actor) -> "Requester":
        """The requester as the actor who opens the ticket for themselves."""
        return cls(actor.id, actor.name, actor.email, actor.phone, actor.department, actor.office, actor.manager)


@dataclass(frozen=True)
class Ticket:
    id: int | None
    requester: Requester
    description: str
    category: str
    severity: Severity
    status: Status
    created_at: datetime
    device: str | None = None
    location: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    group: str | None = None
    escalation_level: int = 1
    resolution: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    origin: str = "console"
    version: int = 1
    # The SLA engine's state: when it last paged a group, what it already announced,
    # and (derived on every write, stored to be indexed) what it must do next and when.
    escalated_at: datetime | None = None
    top_pings: int = 0
    sla_warned_for: datetime | None = None
    overdue_noticed: bool = False
    due_at: datetime | None = None
    sla_next_at: datetime | None = None
    sla_step: str | None = None
    logged_by_id: str | None = None  # a technician who opened it on the requester's behalf
    logged_by_name: str | None = None
    via: str = "chat"  # chat, phone or walk-in
    response_due_at: datetime | None = None  # the targets as they stood at creation, for reports
    resolution_due_at: datetime | None = None
    # Waiting on the requester (bot/waiting.py): the SLA clock stands still (per severity) from
    # `paused_at`; pauses already over add up in `paused_seconds` (wall clock, for durations) and
    # `paused_business_seconds` (inside business hours, for the clocks that run on them).
    paused_at: datetime | None = None
    paused_seconds: int = 0
    paused_business_seconds: int = 0
    waiting_since: datetime | None = None  # since when it waits on its requester (stale tickets)
    nudged_at: datetime | None = None  # when the requester was reminded during this wait

    @property
    def paused(self) -> bool:
        """Whether its SLA clock stands still now (it waits on its requester)."""
        return self.paused_at is not None

    @property
    def ref(self) -> str:
        """"#12": how a ticket is named to people."""
        return f"#{self.id}"

    def with_changes(self, **changes: Any) -> "Ticket":
        """A copy with the given fields changed (tickets are immutable values)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Note:
    ticket_id: int
    author_id: str
    author_name: str
    body: str
    internal: bool
    created_at: datetime
    id: int | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One change: who did what, when, and each field's value before and after."""

    ticket_id: int
    actor_id: str
    actor_name: str
    action: str
    at: datetime
    changes: dict[str, list[Any]] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class Notice:
    """A message for someone other than the person who asked; kept in the outbox.

    `audience` is "user:<identity>" or "group:<name>"; adapters decide how to reach it.
    """

    kind: str
    audience: str
    ticket_id: int | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketFilter:
    statuses: frozenset[Status] = OPEN_STATUSES
    severity: Severity | None = None
    category: str | None = None
    group: str | None = None
    requester_ids: frozenset[str] | None = None
    assignee_ids: frozenset[str] | None = None
    limit: int = 50
    by_due: bool = False
