"""What the core answers; each adapter renders it (text, Block Kit, Adaptive Card)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from datetime import datetime

from bot.model import AuditEvent, Note, Ticket


@dataclass(frozen=True)
class Section:
    title: str
    tickets: tuple[Ticket, ...]
    total: int
    empty: str = ""
    show_due: bool = False  # list each ticket's time left to its current target


@dataclass(frozen=True)
class HelpEntry:
    usage: str
    summary: str


@dataclass(frozen=True)
class Suggestion:
    """A past resolution offered for a problem. Requesters see the problem, the fix and how
    alike; technicians also see the ticket number."""

    position: int
    ticket_id: int
    headline: str
    resolution: str
    likeness: str
    confidence: float
    show_number: bool = False
    ref: str = ""  # how technicians see the source named: "#12", or an imported ticket's own id ("HADOOP-1234")


@dataclass(frozen=True)
class Reply:
    """`ok` is False for a refusal. `draft` hands back what the user typed so a
    refused request loses nothing: adapters offer it for editing."""

    text: str
    ok: bool = True
    ticket: Ticket | None = None
    notes: tuple[Note, ...] = ()
    events: tuple[AuditEvent, ...] = ()
    sections: tuple[Section, ...] = ()
    help: tuple[HelpEntry, ...] = ()
    detail: str = ""
    draft: str | None = None
    now: datetime | None = None
    flags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    field_errors: dict[str, str] = field(default_factory=dict)  # form field → what is wrong with it
    duplicate: bool = False  # a platform retry of a request already handled: say nothing
    suggestions: tuple[Suggestion, ...] = ()
    report: Any = None  # bot.reports.Report
    people: tuple[Any, ...] = ()  # bot.people.Person rows (whois)

    @classmethod
    def refuse(cls, text: str, draft: str | None = None) -> "Reply":
        return cls(text=text, ok=False, draft=draft)
