"""Everything a command handler sees, and the one way it changes a ticket."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Mapping

from bot import messages as M, sla
from bot.commands.registry import Call, CommandSpec
from bot.config import Settings
from bot.knowledge import likeness_words
from bot.model import Actor, AuditEvent, Note, Notice, Ticket, is_phone_identity
from bot.replies import Suggestion
from bot.ports import Conflict, Transaction
from bot.routing import CONSOLE, Router
from bot.text import one_line

AUDITED_FIELDS = (
    "status", "assignee_id", "group", "escalation_level", "severity", "category",
    "description", "device", "location", "resolution", "first_response_at", "resolved_at", "closed_at",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def suggestion_query(config: Any, technician: bool) -> dict[str, Any]:
    """The knowledge search behind a ticket's suggestions, but the ticket to leave out: `limit`
    (two more than are shown: some may have been withdrawn since the index looked), `floor` and
    `technician`, from `[knowledge]` settings `config` (bot.config.KnowledgeSettings)."""
    if technician:
        return {"limit": config.technician_limit + 2, "floor": config.technician_floor, "technician": True}
    return {"limit": config.requester_limit + 2, "floor": config.requester_floor, "technician": False}


def diff(before: Ticket | None, after: Ticket) -> dict[str, list[Any]]:
    """Each audited field that changed, as [before, after]."""
    changes = {}
    for name in AUDITED_FIELDS:
        old = getattr(before, name) if before else None
        new = getattr(after, name)
        if old != new:
            changes[name] = [_plain(old), _plain(new)]
    return changes


@dataclass
class Context:
    """One unit of work: who asks (`actor`), what (`call` and its `spec`; both None for the
    help desk's own work, such as the SLA sweep), when (`now`, UTC), and the open transaction
    `tx` through which every read and write of this unit goes."""

    settings: Settings
    actor: Actor
    is_technician: bool
    now: datetime
    router: Router
    call: Call | None = None
    spec: CommandSpec | None = None
    dedupe_key: str | None = None
    knowledge: Any = None  # bot.knowledge.Knowledge, when the knowledge base is on
    directory: Any = None  # bot.directory.DirectoryPort, when one is configured
    incidents: Any = None  # bot.incidents.Incidents: this process's corpus for likeness, and its surge watch
    tx: Transaction | None = None
    ticket: Ticket | None = None
    writing: bool = False  # the unit of work may write (a read-only one must not: SQLite would deadlock)
    # the request id was claimed with its batch's (Desk.execute_together): True first seen, False a
    # retry; None: the dedupe middleware claims it, and remembers the result, itself
    claimed: bool | None = None

    @property
    def from_thread(self) -> bool:
        """The call was made in the ticket's own conversation (a card's thread)."""
        return self.call is not None and self.call.in_thread

    @property
    def reply_visible(self) -> bool:
        """False for a submitted form: the reply has nowhere to show, so the person is told by message."""
        return self.call is None or self.call.answered

    @property
    def mentioned(self) -> Mapping[str, Actor]:
        """People the adapter resolved from @mentions in the call, by identity."""
        return self.call.people if self.call is not None else {}

    def record(self, action: str, before: Ticket | None, after: Ticket, extra: dict[str, list[Any]] | None = None,
               summary: str | None = None) -> Ticket:
        """Store `after` (conditionally on `before`'s version) and its audit event, and
        tell the ticket's cards to refresh with a one-line summary of the change.

        Raises Conflict when someone else changed the ticket since `before` was read (the unit
        of work then runs again on fresh data)."""
        assert self.tx is not None
        after = sla.plan(self.settings, after, self.now)
        if before is None:
            after = self.tx.insert_ticket(after)
        else:
            after = after.with_changes(updated_at=self.now, version=before.version + 1)
            if not self.tx.update_ticket(before, after):
                raise Conflict(before.ref)
        changes = {**diff(before, after), **(extra or {})}
        self.tx.add_event(AuditEvent(after.id, self.actor.id, self.actor.name, action, self.now, changes))
        self.ticket = after
        if before is not None and summary != "":
            line = summary or self.line(action, assignee=after.assignee_name, group=after.group,
                                        level=after.escalation_level, resolution=one_line(after.resolution or "", 300))
            self.notify("ticket_changed", f"ticket:{after.id}", after, line, action=action, from_thread=self.from_thread)
        return after

    def audit(self, action: str, ticket: Ticket, changes: dict[str, list[Any]]) -> None:
        """An audit event that changes no field of the ticket (suggestions offered, say)."""
        self.tx.add_event(AuditEvent(ticket.id, self.actor.id, self.actor.name, action, self.now, changes))

    def suggest(self, ticket: Ticket, technician: bool) -> tuple[Suggestion, ...]:
        """Similar resolved tickets for this one, above the confidence floor; requesters only
        get entries of categories whose resolutions are public, and no ticket numbers."""
        knowledge, config = self.knowledge, self.settings.knowledge
        if knowledge is None or not config.enabled:
            return ()
        limit = config.technician_limit if technician else config.requester_limit
        found = []
        matches = knowledge.search(ticket.description, **suggestion_query(config, technician), exclude=ticket.id)
        sources = self.tx.past_resolutions([m.ticket_id for m in matches]) if matches else {}
        for match in matches:
            source = sources.get(match.ticket_id)  # a ticket, or imported history (key < 0)
            if source is None or source.key == ticket.id:
                continue  # withdrawn since the index last looked
            found.append(Suggestion(len(found) + 1, source.key, one_line(source.description, 120),
                                    one_line(source.resolution, 300), likeness_words(match.confidence),
                                    match.confidence, show_number=technician, ref=source.ref))
            if len(found) == limit:
                break
        return tuple(found)

    def line(self, action: str, **values: Any) -> str:
        """The one-line summary of a change, for the ticket's conversation."""
        return M.CHANGED[action].format(actor=self.actor.name, **values)

    def note(self, ticket: Ticket, body: str, internal: bool) -> Note:
        """Store a note by the actor on `ticket`; returns it with its id."""
        assert self.tx is not None
        return self.tx.add_note(Note(ticket.id, self.actor.id, self.actor.name, body, internal, self.now))

    def notify(self, kind: str, audience: str, ticket: Ticket | None, text: str, **data: Any) -> None:
        """Queue a message in this transaction: one outbox row per platform that carries it."""
        assert self.tx is not None
        notice = Notice(kind, audience, ticket.id if ticket else None, text, data)
        for platform in self.router.platforms(audience):
            self.tx.enqueue(notice, platform, self.now)

    def notify_group(self, kind: str, group: str, ticket: Ticket | None, text: str, **data: Any) -> None:
        """Tell a group: in its channel on each chat platform, and at the terminal each member no
        channel of it reaches (see `notify_members`)."""
        self.notify(kind, f"group:{group}", ticket, text, **data)
        self.notify_members(kind, group, ticket, text, **data)

    def notify_members(self, kind: str, group: str, ticket: Ticket | None, text: str, **data: Any) -> None:
        """A terminal message (`user:<identity>` on the console) for each member of `group` that its
        channels do not reach, or who asked for terminal copies (bot/routing.py), except the actor."""
        for member in self.router.terminal_members(group):
            if not self.actor.is_(member):
                self.tx.enqueue(Notice(kind, f"user:{member}", ticket.id if ticket else None, text, data), CONSOLE,
                                self.now)

    def notify_handlers(self, kind: str, ticket: Ticket, text: str, **data: Any) -> None:
        """Tell whoever works the ticket: its assignee, else its current group."""
        if ticket.assignee_id:
            if not self.actor.is_(ticket.assignee_id):
                self.notify(kind, f"user:{ticket.assignee_id}", ticket, text, **data)
        else:
            self.notify_group(kind, ticket.group, ticket, text, **data)

    def notify_requester(self, kind: str, ticket: Ticket, text: str, **data: Any) -> None:
        """Tell the ticket's requester (and the requesters of tickets merged into it), unless they
        are the one acting, or known only by a phone number (a first-time caller is told on the
        phone, by the technician)."""
        for requester in dict.fromkeys([ticket.requester.id, *(r.id for r in self.tx.merged_requesters(ticket.id))]):
            if not self.actor.is_(requester) and not is_phone_identity(requester):
                self.notify(kind, f"user:{requester}", ticket, text, **data)

    def is_requester(self, ticket: Ticket) -> bool:
        """Whether the actor (any of their identities) opened the ticket or had it opened for them."""
        return self.actor.is_(ticket.requester.id)

    def response_due(self, ticket: Ticket) -> datetime:
        """When the first response is due (UTC), under this ticket's severity and business hours."""
        return sla.response_due(self.settings, ticket)

    def flags(self, ticket: Ticket) -> tuple[str, ...]:
        """The SLA targets the ticket has missed, as sentences for lists and cards."""
        return sla.flags(self.settings, ticket, self.now)
