"""What the core answers; each adapter renders it (terminal text, chat messages, cards)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime, tzinfo

from bot.model import Attachment, AuditEvent, Note, Ticket


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


class ReplyKind(str, enum.Enum):
    """What kind of answer a reply is, so adapters need not guess from its contents."""

    CHANGED = "changed"  # a command changed something (the ticket's conversation will say so)
    ANSWER = "answer"  # information for the caller: a ticket, a list, help, a report
    REFUSED = "refused"  # nothing was done; `text` says why and what to type instead
    DUPLICATE = "duplicate"  # a platform's retry of a request already handled: nothing was done again


@dataclass(frozen=True)
class Reply:
    """The core's answer to one call. `kind` says what it is; `draft` hands back what the
    user typed so a refused request loses nothing (adapters offer it for editing)."""

    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    ticket: Ticket | None = None
    notes: tuple[Note, ...] = ()
    events: tuple[AuditEvent, ...] = ()
    sections: tuple[Section, ...] = ()
    help: tuple[HelpEntry, ...] = ()
    detail: str = ""
    draft: str | None = None
    now: datetime | None = None
    zone: tzinfo | None = None  # the help desk's time zone, for moments a list or a ticket shows
    flags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    field_errors: dict[str, str] = field(default_factory=dict)  # form field → what is wrong with it
    suggestions: tuple[Suggestion, ...] = ()
    report: Any = None  # bot.reports.Report
    people: tuple[Any, ...] = ()  # bot.people.Person rows (whois)
    everything: bool = False  # the caller asked for all of it (`show 12 all`): a long list is shown from its start
    attachments: tuple[Attachment, ...] = ()  # the ticket's files (show), or those just attached

    @property
    def ok(self) -> bool:
        """False for a refusal: nothing was done."""
        return self.kind is not ReplyKind.REFUSED

    @property
    def duplicate(self) -> bool:
        """A retry of a request already handled: adapters say nothing (or what the first time made)."""
        return self.kind is ReplyKind.DUPLICATE

    @classmethod
    def refuse(cls, text: str, draft: str | None = None, **fields: Any) -> "Reply":
        """A refusal: one sentence saying why, and the typed line back for editing."""
        return cls(text=text, kind=ReplyKind.REFUSED, draft=draft, **fields)
