"""What the core needs from storage. `storage/` implements it with SQLAlchemy."""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.knowledge import Past
    from bot.people import Person
    from bot.reports import Report, ReportQuery

from bot.model import AuditEvent, Note, Notice, Ticket, TicketFilter


class Conflict(Exception):
    """The ticket changed between reading and writing; the command is run again."""


class Transaction(Protocol):
    def get_ticket(self, ticket_id: int, lock: bool = False) -> Ticket | None:
        """`lock` holds the row until commit, so concurrent writers queue instead of retrying."""
        ...

    def insert_ticket(self, ticket: Ticket) -> Ticket: ...

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

    def add_note(self, note: Note) -> Note: ...

    def notes(self, ticket_id: int, include_internal: bool) -> list[Note]: ...

    def add_event(self, event: AuditEvent) -> None: ...

    def events(self, ticket_id: int) -> list[AuditEvent]: ...

    def enqueue(self, notice: Notice, platform: str, now: datetime) -> None: ...

    def first_time(self, key: str, now: datetime) -> bool:
        """Remember a platform request id; False if it was seen before (a retry)."""
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


class Store(Protocol):
    def transaction(self, write: bool = True) -> AbstractContextManager[Transaction]:
        """One unit of work: everything inside commits together or not at all.

        `write=False` promises only reads, so the store need not take a write lock."""
        ...
