"""What the core and the adapters need from storage: one transaction API for everything.

`storage/` implements it with SQLAlchemy. Commands, the SLA sweep, the outbox senders and
the chat adapters all work through `Store.transaction()`; nothing reaches the database
another way."""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.incidents import Incident, IncidentRecord, Proposal
    from bot.knowledge import Past
    from bot.people import Person
    from bot.reports import Report, ReportQuery

from bot.model import Attachment, AuditEvent, Note, Notice, Requester, Ticket, TicketFilter
from bot.satisfaction import Rating


class Conflict(Exception):
    """The ticket changed between reading and writing; the unit of work is run again."""


class Transaction(Protocol):
    def get_ticket(self, ticket_id: int, lock: bool = False) -> Ticket | None:
        """`lock` holds the row until commit, so concurrent writers queue instead of retrying."""
        ...

    def get_tickets(self, ticket_ids: list[int]) -> dict[int, Ticket]:
        """Several tickets in one read, by id (ids not found are left out)."""
        ...

    def insert_ticket(self, ticket: Ticket) -> Ticket:
        """Store a new ticket; returns it with its id (its number, counting from 1)."""
        ...

    def past_resolutions(self, keys: list[int]) -> dict[int, Past]:
        """`past_resolution` of several keys in one look: those that still hold a resolution."""
        ...

    def past_resolution(self, key: int) -> Past | None:
        """The resolved ticket (key > 0) or imported history row (key < 0) behind a knowledge
        entry, None when it no longer holds a resolution."""
        ...

    def next_due(self, now: datetime) -> Ticket | None:
        """The open ticket whose SLA step is most overdue, locked; rows another process
        holds are skipped, so replicas sweeping together never take the same ticket."""
        ...

    def update_ticket(self, before: Ticket, after: Ticket) -> bool:
        """Write `after` only if the stored row is still at `before.version`."""
        ...

    def add_note(self, note: Note) -> Note:
        """Store a note; returns it with its id."""
        ...

    def notes(self, ticket_id: int, include_internal: bool) -> list[Note]:
        """A ticket's notes, oldest first; internal ones only with `include_internal`."""
        ...

    def add_event(self, event: AuditEvent) -> None:
        """Store an audit event."""
        ...

    def add_attachment(self, attachment: Attachment) -> tuple[Attachment, bool]:
        """Record a file on a ticket; returns it with its id, and False when the ticket already
        had a file with the same bytes (that earlier record is returned, nothing is added)."""
        ...

    def attachments(self, ticket_id: int) -> list[Attachment]:
        """A ticket's files, kept and refused, oldest first."""
        ...

    def attachments_of(self, ticket_ids: list[int]) -> dict[int, list[Attachment]]:
        """`attachments` of several tickets in one read, by ticket id (a ticket with none is left out)."""
        ...

    def events(self, ticket_id: int) -> list[AuditEvent]:
        """A ticket's audit events, oldest first."""
        ...

    def enqueue(self, notice: Notice, platform: str, now: datetime) -> None:
        """Queue a notice for delivery on one platform (an outbox row), committed with this transaction."""
        ...

    def first_time(self, key: str, now: datetime) -> bool:
        """Remember a platform request id; False if it was seen before (a retry)."""
        ...

    def take_lease(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        """Hold the lease `name` until `now` + `seconds` when it is free, run out or already
        `holder`'s; False when another holder has it (that one does the work meanwhile)."""
        ...

    def lease_until(self, name: str) -> tuple[str, datetime] | None:
        """Who holds the lease `name` and until when (it may have run out); None if nobody ever took it."""
        ...

    def first_times(self, keys: list[str], now: datetime) -> set[str]:
        """`first_time` of several request ids in one write: those not seen before (now remembered)."""
        ...

    def remember_result(self, key: str, ticket_id: int) -> None:
        """The ticket a remembered request opened or changed, for answering its retries."""
        ...

    def remember_results(self, results: list[tuple[str, int]]) -> None:
        """`remember_result` of several (request id, ticket id) in one statement."""
        ...

    def forget_requests(self, keys: list[str]) -> None:
        """Forget request ids remembered in this transaction (their calls were refused: the same
        request may come again, corrected)."""
        ...

    def seen_result(self, key: str) -> int | None:
        """What `remember_result` stored for a request id (None: nothing, or not seen)."""
        ...

    def seen_results(self, keys: list[str]) -> dict[str, int]:
        """`seen_result` of several request ids in one read: those with a result, by id."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A part of the unit of work that an exception inside rolls back alone (the rest stays)."""
        ...

    # People: one person, several identities (an email, an id on each chat platform)

    def people_of(self, identities: list[str]) -> dict[str, int]:
        """The person each known identity belongs to (unknown identities are left out)."""
        ...

    def identities_of(self, person_id: int) -> set[str]:
        """Every identity linked to the person."""
        ...

    def add_person(self, name: str, now: datetime) -> int:
        """A new person; returns their id."""
        ...

    def link_identities(self, person_id: int, identities: list[str], now: datetime) -> None:
        """Link identities to the person (an identity already linked elsewhere moves)."""
        ...

    def merge_people(self, into: int, others: list[int]) -> None:
        """Persons found to be one: every identity of `others` moves to `into`, the others go."""
        ...

    # Where the chat platforms put things (the outbox senders and the chat adapters)

    def record_post(self, ticket_id: int, platform: str, kind: str, channel: str, message_id: str,
                    now: datetime) -> None:
        """Remember where a ticket's card (kind "card") or a message about it ("dm") was posted."""
        ...

    def record_posts(self, posts: list[tuple[int, str, str, str, str]], now: datetime) -> None:
        """`record_post` of several (ticket id, platform, kind, channel, message id) in one statement."""
        ...

    def ticket_for_post(self, platform: str, channel: str, message_id: str) -> int | None:
        """The ticket whose card or message this is (a reply in its thread belongs to it)."""
        ...

    def posts_of(self, ticket_id: int, platform: str, kind: str = "card") -> list[tuple[str, str]]:
        """(channel, message id) of the ticket's posts of one kind on a platform, oldest first."""
        ...

    def conversation_refs(self, platform: str, keys: list[str]) -> dict[str, dict]:
        """How to reach people and channels proactively (a platform's own reference values), by key."""
        ...

    def remember_refs(self, platform: str, refs: dict[str, dict], now: datetime) -> None:
        """Store or refresh conversation references, by key."""
        ...

    def receipt(self, outbox_id: int, step: str) -> str | None:
        """What an earlier attempt of an outbox message's step posted (the platform's id), if any."""
        ...

    def record_receipt(self, outbox_id: int, step: str, message_id: str, now: datetime) -> None:
        """Remember that a step of an outbox message reached the platform."""
        ...

    def has_pending(self, platform: str, kind: str, ticket_id: int) -> bool:
        """Whether an outbox message of this kind for the ticket still waits for delivery."""
        ...

    # Satisfaction ratings (bot/satisfaction.py)

    def ask_rating(self, rating: Rating) -> None:
        """Remember that a resolution asks its requester for a rating (the ticket resolved just now);
        asking again for the same resolution changes nothing."""
        ...

    def rating_of(self, ticket_id: int, resolved_at: datetime, lock: bool = False) -> Rating | None:
        """The rating a resolution of the ticket asked for (given or not), None if it asked for none;
        `lock` holds it until commit."""
        ...

    def withdraw_rating(self, ticket_id: int, resolved_at: datetime) -> None:
        """A resolution reopened before its rating was given asks for none any more (reports do
        not count it as unanswered); a rating already given stays with its resolution."""
        ...

    def save_rating(self, rating: Rating) -> None:
        """Store the score, comment and times of a rating asked for earlier."""
        ...

    # Report charts a chat platform fetches by URL (kept for a while under an unguessable token)

    def keep_chart(self, token: str, png: bytes, now: datetime, expires_at: datetime) -> None:
        """Keep a chart's PNG under `token` until `expires_at` (UTC)."""
        ...

    def chart(self, token: str, now: datetime) -> bytes | None:
        """The PNG kept under `token`, None when there is none or it has expired."""
        ...

    def report(self, query: "ReportQuery", settings: "Settings", technician_ids: list[str] | None = None) -> "Report":
        """The figures for a period, computed by the database in this transaction's snapshot."""
        ...

    def claim_job(self, name: str, due: datetime, now: datetime) -> bool:
        """Run-once-per-slot across replicas: True for the one caller that takes the slot."""
        ...

    def known_people(self, fragment: str, limit: int = 10) -> list["Person"]:
        """Requesters seen before, by name prefix, email or phone (digits only)."""
        ...

    def find_tickets(self, query: TicketFilter) -> tuple[list[Ticket], int]:
        """Matching tickets, most urgent first (`query.by_due`: nearest deadline first), and how many matched."""
        ...

    # Major incidents (bot/incidents.py): linked and merged tickets, incidents, proposals

    def linked_tickets(self, parent_id: int, open_only: bool = False, limit: int | None = None) -> list[Ticket]:
        """Tickets linked to `parent_id`, most recently opened first (`open_only`: new, in progress, waiting)."""
        ...

    def merged_tickets(self, ticket_id: int) -> list[Ticket]:
        """Tickets merged into `ticket_id`, oldest first."""
        ...

    def merged_requesters(self, ticket_id: int) -> list[Requester]:
        """The requesters of the tickets merged into `ticket_id`: they hear about it too."""
        ...

    def move_references(self, source: int, target: int) -> dict[str, int]:
        """Point every row that names ticket `source` (notes, and any table with a ticket reference
        other than its history and its own posts) at `target`; returns how many rows per table."""
        ...

    def add_incident(self, record: "IncidentRecord") -> None:
        """Store a declared incident (one per parent ticket)."""
        ...

    def incident_record(self, ticket_id: int) -> "IncidentRecord | None":
        """The incident `ticket_id` is the parent of, if it is one."""
        ...

    def update_incident(self, ticket_id: int, **values: object) -> None:
        """Change an incident's stored fields (title, first_ticket_at…)."""
        ...

    def incident(self, ticket_id: int) -> "Incident | None":
        """An incident with its parent and every ticket linked or merged into it (its card's content)."""
        ...

    def open_incidents(self) -> list[tuple["IncidentRecord", Ticket, int, int]]:
        """Incidents whose parent is open, oldest first: (record, parent, tickets, people affected)."""
        ...

    def incident_samples(self, size: int) -> list[tuple["IncidentRecord", list[int]]]:
        """Each open incident with the ids of its parent and up to `size` - 1 of its most recent linked tickets."""
        ...

    def problems_of(self, ids: list[int]) -> list[tuple[int, str]]:
        """(id, description) of these tickets (unknown ids left out)."""
        ...

    def recent_problems(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        """(id, description) of the newest tickets with ids above `after_id`, at most `limit`, oldest first."""
        ...

    def surge_candidates(self, since: datetime, upto: int | None = None) -> list[Ticket]:
        """Open tickets opened since `since` that may still be proposed as an incident: not linked,
        merged, an incident, a parent, or already in a proposal; ascending ids, none above `upto`
        (None: no bound). A busy window gives its newest (storage's limit)."""
        ...

    def add_proposal(self, ticket_id: int, group: str, headline: str, members: list[int], now: datetime) -> int:
        """Store a proposal of alike tickets; returns its id. Raises Conflict when one of `members`
        is in a proposal already (another replica proposed it at the same moment)."""
        ...

    def add_proposal_members(self, proposal_id: int, members: list[int], now: datetime) -> list[int]:
        """Add tickets to an open proposal; returns those added (a ticket in a proposal already is not)."""
        ...

    def proposal(self, proposal_id: int) -> "Proposal | None":
        """A proposal by its id."""
        ...

    def proposal_of(self, ticket_id: int) -> "Proposal | None":
        """The proposal a ticket is part of, in any state."""
        ...

    def open_proposals(self, since: datetime) -> list["Proposal"]:
        """Proposals made since `since` that nobody has declared or dismissed yet, oldest first."""
        ...

    def decide_proposal(self, proposal_id: int, state: str, who: str, now: datetime) -> bool:
        """Mark an open proposal declared or dismissed; False when it was decided already."""
        ...

    def notice_waiting(self, platform: str, kind: str, ticket_id: int, now: datetime) -> bool:
        """Whether a message of this kind about the ticket waits for delivery and no sender has taken
        it yet (it will show what this transaction changes); it stays locked until commit."""
        ...


class Store(Protocol):
    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]:
        """One unit of work: everything inside commits together or not at all.

        `write=False` promises only reads, so the store need not take a write lock."""
        ...
