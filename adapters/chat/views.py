"""What a chat platform shows, as plain values: a ticket's card, the messages the outbox sends
(with their buttons), and the buttons themselves. Decided here once; each platform only
renders these views in its own format (Block Kit, an Adaptive Card).

Every string in a view is plain text exactly as a person typed it or as bot/messages.py says
it: renderers escape all of it, once, on the way out. People appear as `Who` (an identity and
a name), so a renderer can mention someone it knows on its platform and show the name otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from adapters.chat import messages as CM
from bot import sla
from bot.escalation import level_name
from bot.config import Settings
from bot.incidents import Incident
from bot.model import Severity, Status, Ticket
from bot.satisfaction import SCORES, Rating
from bot.text import duration, one_line

SEVERITY_ICON = {Severity.CRITICAL: "🔴", Severity.HIGH: "🟠", Severity.MEDIUM: "🟡", Severity.LOW: "⚪"}
STATUS_ICON = {Status.NEW: "🆕", Status.IN_PROGRESS: "🔧", Status.WAITING: "⏳", Status.RESOLVED: "✅", Status.CLOSED: "📦"}

CARD = "card"  # where a button is: on a ticket's card in a group's channel…
DM = "dm"  # …or on a message to the requester…
INCIDENT = "incident"  # …or on a major incident's card

# Which buttons need words first: pressing them opens the command's form (a rating button
# carrying a score rates at once; without one it opens the form for a comment).
FORM_VERBS = frozenset({"note", "escalate", "resolve", "reopen", "link", "incident", "broadcast", "rate"})
# Which buttons run their command at once.
DIRECT_VERBS = frozenset({"claim", "close", "confirm", "solved", "unlink"})
# The buttons of an incident proposal: they answer the proposal, and the message says who did.
PROPOSAL_VERBS = {"declare": "incident", "dismiss": "dismiss"}


@dataclass(frozen=True)
class Who:
    identity: str | None
    name: str


@dataclass(frozen=True)
class Action:
    """A button: the command (`verb`) it runs, its label and style ("primary" or ""), whether it
    opens a form first, and the values it carries back when pressed (ticket id, position, where)."""

    verb: str
    label: str
    data: Mapping[str, Any]
    style: str = ""

    @property
    def needs_form(self) -> bool:
        """Whether pressing it opens the command's form first (note, escalate, resolve, reopen, and a
        rating button that carries no score)."""
        return self.verb in FORM_VERBS and not (self.verb == "rate" and self.data.get("position") is not None)


@dataclass(frozen=True)
class Fact:
    """One labelled value on a card; `who` (when set) is the person the value names, whom a
    platform may mention instead; `detail` is more about them (contact details)."""

    label: str
    value: str
    who: Who | None = None
    detail: str = ""


@dataclass(frozen=True)
class FilesView:
    """The files kept on a ticket, as its card shows them: how many, their names, and the first
    image (a bot.model.Upload; None when none is an image), which a platform may show."""

    count: int
    names: tuple[str, ...]
    image: Any = None


@dataclass(frozen=True)
class CardView:
    """A ticket's card: edited in place on every change.

    `summary` is the one line shown where the card is not (notifications, search); the footer
    reads "Opened [by `opened_by` (`via`)] `opened_at``footer_after`", then "· ⏸ SLA clock paused
    since `paused_since`" while it waits on its requester, moments shown in each reader's own
    time zone."""

    ticket_id: int
    title: str
    body: str
    facts: tuple[Fact, ...]
    resolution: str | None
    opened_by: Who | None
    via: str
    opened_at: datetime
    footer_after: str
    actions: tuple[Action, ...]
    summary: str
    files: FilesView | None = None
    paused_since: datetime | None = None  # the SLA clock stands still (waiting on the requester) since then


@dataclass(frozen=True)
class Item:
    """One entry in a message: a past fix offered to a requester, with its button."""

    title: str
    note: str
    body: str
    action: Action | None = None


@dataclass(frozen=True)
class MessageView:
    """A message for a person or a group: its text, entries, and buttons under it; a resolution
    also has a row of rating buttons (`rating`) under a line saying what they are (`rating_text`)."""

    text: str
    items: tuple[Item, ...] = ()
    actions: tuple[Action, ...] = ()
    rating: tuple[Action, ...] = ()
    rating_text: str = ""


def button(verb: str, label: str, ticket_id: int, where: str = CARD, style: str = "", **data: Any) -> Action:
    """A button for `verb` on `ticket_id`'s card (`where` CARD) or on a message to the requester (DM)."""
    return Action(verb, label, {"ticket_id": ticket_id, "where": where, **data}, style)


def card_actions(ticket: Ticket) -> tuple[Action, ...]:
    """The buttons a ticket's card shows in its state: none once closed; reopen or close once
    resolved; otherwise claim (while nobody has), note, escalate and resolve."""
    if ticket.status is Status.CLOSED:
        return ()
    if ticket.status is Status.RESOLVED:
        return (button("reopen", CM.BUTTON_REOPEN, ticket.id), button("close", CM.BUTTON_CLOSE, ticket.id))
    claim = () if ticket.assignee_id else (button("claim", CM.BUTTON_CLAIM, ticket.id, style="primary"),)
    if ticket.parent_id is not None:  # worked through its parent: no escalation of its own, a way out instead
        return claim + (button("note", CM.BUTTON_NOTE, ticket.id), button("resolve", CM.BUTTON_RESOLVE, ticket.id),
                        button("unlink", CM.BUTTON_UNLINK, ticket.id))
    return claim + (button("note", CM.BUTTON_NOTE, ticket.id), button("escalate", CM.BUTTON_ESCALATE, ticket.id),
                    button("resolve", CM.BUTTON_RESOLVE, ticket.id, style="primary" if ticket.assignee_id else ""),
                    button("link", CM.BUTTON_LINK, ticket.id), button("incident", CM.BUTTON_INCIDENT, ticket.id))


def card_summary(ticket: Ticket) -> str:
    """A card's notification text, shown where the card is not (push, activity feed, search)."""
    return f"{ticket.ref} ({ticket.severity.value}, {ticket.status.label}): {one_line(ticket.description, 150)}"


def files_view(attachments: Sequence[Any]) -> FilesView | None:
    """The kept files of a ticket (bot.model.Attachment values) as its card shows them; None for none."""
    kept = [a.file for a in attachments if a.file.kept]
    if not kept:
        return None
    return FilesView(len(kept), tuple(f.name for f in kept), next((f for f in kept if f.is_image), None))


def card_view(ticket: Ticket, now: datetime, flags: tuple[str, ...] = (), attachments: Sequence[Any] = ()) -> CardView:
    """The card of `ticket` as it stands at `now` (UTC); `flags` are the SLA targets it missed,
    `attachments` its files."""
    r = ticket.requester
    contact = " · ".join(x for x in (r.email, r.phone, r.department, r.office) if x)
    facts = [
        Fact(CM.FACT_SEVERITY, f"{SEVERITY_ICON[ticket.severity]} {ticket.severity.value}"),
        Fact(CM.FACT_STATUS, f"{STATUS_ICON[ticket.status]} {ticket.status.label}"),
        Fact(CM.FACT_CATEGORY, ticket.category),
        Fact(CM.FACT_ASSIGNEE, ticket.assignee_name or ticket.assignee_id, Who(ticket.assignee_id, ticket.assignee_name or ""))
        if ticket.assignee_id else Fact(CM.FACT_ASSIGNEE, CM.UNASSIGNED),
        Fact(CM.FACT_REQUESTER, r.name, Who(r.id, r.name), contact),
    ]
    if r.manager:
        facts.append(Fact(CM.FACT_MANAGER, r.manager))
    facts += [Fact(CM.FACT_GROUP, f"{ticket.group} · {level_name(ticket.escalation_level, ticket.category)}"),
              Fact(CM.FACT_DEVICE, ticket.device or "—"), Fact(CM.FACT_LOCATION, ticket.location or "—")]
    files = files_view(attachments)
    if files is not None:
        facts.append(Fact(CM.FACT_FILES, CM.FILES_COUNT.format(count=files.count, names=one_line(", ".join(files.names), 200))))
    if ticket.parent_id is not None:
        facts.append(Fact(CM.FACT_LINKED, f"#{ticket.parent_id}"))
    if ticket.merged_into_id is not None:
        facts.append(Fact(CM.FACT_MERGED, f"#{ticket.merged_into_id}"))
    opened_by = Who(ticket.logged_by_id, ticket.logged_by_name) if ticket.logged_by_name else None
    after = ""
    if ticket.status.is_open:
        after += " · " + CM.WAITING.format(duration=duration(now - ticket.created_at))
    if flags:
        after += " · ⚠️ " + ", ".join(flags)
    return CardView(ticket.id, f"{ticket.ref} · {one_line(ticket.description, 140)}", ticket.description, tuple(facts),
                    ticket.resolution, opened_by, ticket.via, ticket.created_at, after, card_actions(ticket),
                    card_summary(ticket), files, ticket.paused_at if ticket.status.is_open else None)


def current_card(ticket: Ticket, settings: Settings, now: datetime, attachments: Sequence[Any] = ()) -> CardView:
    """The ticket's card at `now`, with the SLA targets it has missed by then and its files."""
    return card_view(ticket, now, sla.flags(settings, ticket, now), attachments)


def rating_actions(ticket_id: int) -> tuple[Action, ...]:
    """The rating row under a resolution: a button per score (rated at once), and one that opens
    the small form for a comment."""
    return tuple(button("rate", CM.BUTTON_SCORE[score], ticket_id, DM, position=score) for score in SCORES) + (
        button("rate", CM.BUTTON_COMMENT, ticket_id, DM),)


def resolution_view(ticket: Ticket, text: str, rating: Rating | None = None,
                    zone: Any = timezone.utc) -> MessageView:
    """The message telling the requester their ticket is resolved: *That fixed it* and *Still
    broken* while it is resolved, and the rating row while its rating may be given or changed
    (`rating`: the rating as it stands; the line above the buttons says the score given so far)."""
    actions: tuple[Action, ...] = ()
    if ticket.status is Status.RESOLVED:
        actions = (button("confirm", CM.BUTTON_FIXED, ticket.id, DM, "primary"),
                   button("reopen", CM.BUTTON_STILL_BROKEN, ticket.id, DM))
    if rating is not None and rating.score is not None:
        until = rating.open_until.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        return MessageView(text, actions=actions, rating=rating_actions(ticket.id),
                           rating_text=CM.RATED_SO_FAR.format(score=rating.score, until=until))
    return MessageView(text, actions=actions, rating=rating_actions(ticket.id), rating_text=CM.RATE_PROMPT)


def message_view(kind: str, text: str, ticket: Ticket | None, data: Mapping[str, Any]) -> MessageView:
    """An outbox message as a person reads it: a resolution comes with *That fixed it*, *Still
    broken* and a rating row; a confirmation with past fixes offers *This solved it* on each."""
    if kind == "resolved" and ticket is not None:
        return resolution_view(ticket, text)
    if kind == "known_problem" and ticket is not None and ticket.parent_id is not None and ticket.status.is_open:
        return MessageView(text, actions=(button("unlink", CM.BUTTON_SOMETHING_ELSE, ticket.id, DM),))
    if kind == "incident_proposal" and ticket is not None and data.get("proposal"):
        extra = {"proposal": data["proposal"]}
        return MessageView(text, actions=(button("declare", CM.BUTTON_DECLARE, ticket.id, CARD, "primary", **extra),
                                          button("dismiss", CM.BUTTON_NOT_SAME, ticket.id, CARD, **extra)))
    if kind == "opened" and ticket is not None and data.get("suggestions"):
        items = tuple(Item(g["headline"], g["likeness"], g["resolution"],
                           button("solved", CM.BUTTON_SOLVED, ticket.id, DM, position=g["position"]))
                      for g in data["suggestions"])
        return MessageView(text, items, (button("keep", CM.BUTTON_STILL_NEED_HELP, ticket.id, DM),))
    return MessageView(text)


def read_action(data: Any) -> tuple[int, str, int | None] | None:
    """(ticket id, where, position) from what a pressed button carried back; None when it does
    not name a ticket (an old or forged button)."""
    if not isinstance(data, Mapping):
        return None
    try:
        ticket_id = int(data.get("ticket_id"))
        position = int(data["position"]) if data.get("position") not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return ticket_id, _where(data.get("where")), position


def _where(value: Any) -> str:
    """Where a button or form was: a message to a person, an incident's card, else a ticket's card."""
    return DM if value in (DM, "chat") else INCIDENT if value == INCIDENT else CARD


@dataclass(frozen=True)
class FormContext:
    """What a shown form carries to its submission: which form, which ticket, where it was opened."""

    form: str
    ticket_id: int | None = None
    where: str = CARD
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        """The context as the plain data a shown form carries (a modal's metadata, a card's action data)."""
        data: dict[str, Any] = {"form": self.form, "where": self.where, **self.extra}
        if self.ticket_id is not None:
            data["ticket_id"] = self.ticket_id
        return data

    @classmethod
    def read(cls, data: Any) -> "FormContext | None":
        """The context a submission carries back; None when it cannot be read."""
        if not isinstance(data, Mapping) or not isinstance(data.get("form"), str):
            return None
        ticket_id = data.get("ticket_id")
        try:
            ticket_id = int(ticket_id) if ticket_id not in (None, "") else None
        except (TypeError, ValueError):
            return None
        extra = {"message": data["message"]} if isinstance(data.get("message"), Mapping) else {}
        return cls(data["form"], ticket_id, _where(data.get("where")), extra)


# The incident's card

SHOWN_PEOPLE = 20  # names on the card; the rest are counted


@dataclass(frozen=True)
class IncidentView:
    """A major incident's card in the triage group's channel, edited in place as tickets join:
    title, what is broken, facts (severity, status, how many affected, who works it, when it
    started and was declared), the people affected by name (most recent first; `more` not
    named), and its buttons while it is open."""

    ticket_id: int
    title: str
    body: str
    resolution: str | None
    facts: tuple[Fact, ...]
    people: tuple[str, ...]
    more: int
    declared_at: datetime
    actions: tuple[Action, ...]
    summary: str


def incident_view(incident: Incident, now: datetime) -> IncidentView:
    """The card of `incident` as it stands at `now` (UTC)."""
    record, parent = incident.record, incident.parent
    people = incident.people()
    affected = (CM.AFFECTED_ONE if incident.tickets == 1 and len(people) == 1
                else CM.AFFECTED.format(people=len(people), tickets=incident.tickets))
    facts = (
        Fact(CM.FACT_SEVERITY, f"{SEVERITY_ICON[parent.severity]} {parent.severity.value}"),
        Fact(CM.FACT_STATUS, f"{STATUS_ICON[parent.status]} {parent.status.label}"),
        Fact(CM.FACT_AFFECTED, affected),
        Fact(CM.FACT_ASSIGNEE, parent.assignee_name or parent.assignee_id, Who(parent.assignee_id, parent.assignee_name or ""))
        if parent.assignee_id else Fact(CM.FACT_ASSIGNEE, CM.UNASSIGNED),
        Fact(CM.FACT_DECLARED, CM.DECLARED_AFTER.format(name=record.declared_by_name,
                                                        lead=duration(record.declared_at - record.first_ticket_at))),
    )
    actions: tuple[Action, ...] = ()
    if parent.status.is_open:
        actions = (button("broadcast", CM.BUTTON_BROADCAST, parent.id, INCIDENT, "primary"),
                   button("resolve", CM.BUTTON_RESOLVE_INCIDENT, parent.id, INCIDENT))
    names = tuple(name for _, name in people[:SHOWN_PEOPLE])
    summary = CM.INCIDENT_SUMMARY.format(ref=record.ref, severity=parent.severity.value, status=parent.status.label,
                                         title=record.title, people=len(people))
    return IncidentView(parent.id, CM.INCIDENT_TITLE.format(ref=record.ref, title=record.title), parent.description,
                        parent.resolution, facts, names,
                        max(0, len(people) - SHOWN_PEOPLE), record.declared_at, actions, summary)


@dataclass(frozen=True)
class ListedView:
    """One ticket's line in a combined post (more new tickets for a channel than its pace shows
    one by one): its number, severity, headline, requester and state, and its claim button
    while nobody has claimed it."""

    ticket_id: int
    ref: str
    severity: str
    headline: str
    requester: Who
    status: str
    assignee: Who | None
    claim: Action | None


def listed_view(ticket: Ticket) -> ListedView:
    """`ticket` as a line of a combined post, as it stands now."""
    claim = next((a for a in card_actions(ticket) if a.verb == "claim"), None)
    assignee = Who(ticket.assignee_id, ticket.assignee_name or ticket.assignee_id) if ticket.assignee_id else None
    return ListedView(ticket.id, ticket.ref, f"{SEVERITY_ICON[ticket.severity]} {ticket.severity.value}",
                      one_line(ticket.description, 140), Who(ticket.requester.id, ticket.requester.name),
                      f"{STATUS_ICON[ticket.status]} {ticket.status.label}", assignee, claim)
