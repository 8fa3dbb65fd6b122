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
    devices: tuple[str, ...] = ()  # the computers the directory says they manage, by name

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
    parent_id: int | None = None  # linked: the same problem as this ticket, resolved with it
    merged_into_id: int | None = None  # merged (and closed): its notes and requester went to this ticket
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
    linked: bool = True  # False: leave out tickets linked to a parent (worked through the parent)


@dataclass(frozen=True)
class Upload:
    """A file an adapter took in for a ticket: kept in the attachment store (`sha256` names its
    bytes there) or refused (`reason` says why, in one sentence, and nothing was kept).

    `size` is in bytes (None when it was never learnt: a download that failed); `content_type`
    the MIME type the bytes turned out to have; `link` leads back to where it was shared (None
    from the terminal); `origin` names the adapter it came through."""

    name: str
    content_type: str
    size: int | None
    sha256: str | None = None
    link: str | None = None
    reason: str | None = None
    origin: str = ""
    author_id: str | None = None  # who shared it, when not the person the call runs as
    author_name: str | None = None

    @property
    def kept(self) -> bool:
        """Whether the bytes are in the attachment store (False: refused, with a reason)."""
        return self.reason is None and self.sha256 is not None

    @property
    def is_image(self) -> bool:
        """Whether it is a picture people can look at (a screenshot, a photo)."""
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class Attachment:
    """A file recorded on a ticket: what was shared (an Upload), who shared it and when."""

    ticket_id: int
    file: Upload
    author_id: str
    author_name: str
    created_at: datetime
    id: int | None = None


@dataclass(frozen=True)
class ThreadPost:
    """One message of the conversation a ticket was made from: who wrote it and what."""

    author_id: str
    author_name: str
    text: str


@dataclass(frozen=True)
class Origin:
    """The chat message a ticket is made from.

    `link` leads back to it; `author` is the person it is opened for when the chat layer decided
    so (an emoji reaction opens it for the message's author; None: the caller, or `for=`);
    `thread` its conversation, recorded as the ticket's first notes; `files` what was shared
    with it; `reply_to` where to answer with the ticket's number: `{"platform": …}` plus the
    platform's own address of the thread (opaque to the core)."""

    link: str | None = None
    author: Actor | None = None
    thread: tuple[ThreadPost, ...] = ()
    files: tuple[Upload, ...] = ()
    reply_to: dict[str, Any] = field(default_factory=dict)
