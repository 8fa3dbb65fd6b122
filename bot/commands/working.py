"""Working a ticket: claim it, hand it over (or take its assignee off), write notes, ask the
requester (and their answer, which may arrive as a plain direct message), correct its details."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot import messages as M
from bot.commands.guards import must_be_open
from bot.commands.opening import check_intake
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.escalation import page
from bot.model import Severity, Status, Ticket, TicketFilter
from bot.replies import Reply
from bot.text import fold, one_line

command = REGISTRY.command


def take(ctx: Context, ticket: Ticket, assignee_id: str, assignee_name: str) -> Ticket:
    """The changes of a technician starting work: assignee, in progress, first response."""
    return ticket.with_changes(
        assignee_id=assignee_id, assignee_name=assignee_name,
        status=Status.IN_PROGRESS if ticket.status is Status.NEW else ticket.status,
        first_response_at=ticket.first_response_at or ctx.now,
    )


@command("claim", usage="claim <id>", summary="Take a ticket: it becomes yours and in progress.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="claim tickets", example="claim 12", aliases=("take",),
         guard=must_be_open("claimed"))
def claim(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if ctx.actor.is_(ticket.assignee_id):
        return Reply.refuse(M.ALREADY_YOURS.format(ref=ticket.ref))
    if ticket.assignee_id:
        return Reply.refuse(M.CLAIMED_BY_OTHER.format(ref=ticket.ref, name=ticket.assignee_name, id=ticket.id))
    ticket = ctx.record("claimed", ticket, take(ctx, ticket, ctx.actor.id, ctx.actor.name))
    ctx.notify_requester("claimed", ticket, M.CLAIMED_FOR_REQUESTER.format(
        name=ctx.actor.name, ref=ticket.ref, headline=one_line(ticket.description)))
    return Reply(M.CLAIMED.format(ref=ticket.ref, headline=one_line(ticket.description)), ticket=ticket,
                 suggestions=ctx.suggest(ticket, technician=True))


def find_technician(ctx: Context, who: str):
    """A technician by id, email, name or unique name prefix; 'me' is the caller. None if unknown."""
    who_norm = fold(who.strip().lstrip("@"))
    techs = ctx.settings.all_technicians()
    if who_norm in ("me", "myself"):
        return ctx.settings.technician_for(ctx.actor.ids)
    for tech in techs:
        if who_norm in (i.lower() for i in tech.ids) or who_norm == fold(tech.name):
            return tech
    prefixed = [t for t in techs if fold(t.name).startswith(who_norm)
                or any(i.lower().split("@")[0] == who_norm for i in t.ids)]
    return prefixed[0] if len(prefixed) == 1 else None


def technician_list(ctx: Context) -> str:
    """Every technician as "Name (first id)", for a refusal that lists whom a ticket may go to."""
    return ", ".join(f"{t.name} ({t.ids[0]})" for t in ctx.settings.all_technicians()) or "none configured"


@command("assign", usage="assign <id> <technician>", summary="Hand a ticket to a technician (name, email or `me`).",
         role=Role.TECHNICIAN, takes_ticket=True, text="the technician", verb="assign tickets", example="assign 12 carol",
         guard=must_be_open("assigned"))
def assign(ctx: Context) -> Reply:
    ticket = ctx.ticket
    tech = find_technician(ctx, ctx.call.text)
    if tech is None:
        return Reply.refuse(M.UNKNOWN_TECHNICIAN.format(who=one_line(ctx.call.text, 60), choices=technician_list(ctx)))
    if ticket.assignee_id in tech.ids:
        return Reply.refuse(M.ASSIGNED_ALREADY.format(ref=ticket.ref, name=tech.name))
    ticket = ctx.record("assigned", ticket, take(ctx, ticket, tech.ids[0], tech.name))
    headline = one_line(ticket.description)
    if not ctx.actor.ids.intersection(tech.ids):
        ctx.notify("assigned", f"user:{tech.ids[0]}", ticket, M.ASSIGNED_TO_YOU.format(by=ctx.actor.name, ref=ticket.ref, headline=headline))
    ctx.notify_requester("claimed", ticket, M.CLAIMED_FOR_REQUESTER.format(name=tech.name, ref=ticket.ref, headline=headline))
    return Reply(M.ASSIGNED.format(ref=ticket.ref, name=tech.name), ticket=ticket)


def add_note(ctx: Context, ticket: Ticket, body: str, internal: bool) -> Reply:
    """A note on `ticket` by the actor: the requester's answer puts a waiting ticket back in
    progress (back to new when nobody is on it) and its clock runs again, a technician's first
    public note is the first response; the other side is told."""
    after = ticket
    by_technician = ctx.is_technician and not ctx.is_requester(ticket)
    if not internal and ctx.is_requester(ticket) and ticket.status is Status.WAITING:
        after = ticket.with_changes(status=Status.IN_PROGRESS if ticket.assignee_id else Status.NEW)
    elif not internal and by_technician and ticket.first_response_at is None:
        after = ticket.with_changes(first_response_at=ctx.now)
    note = ctx.note(ticket, body, internal)
    action = "internal_note" if internal else "note"
    ticket = ctx.record(action, ticket, after, {"note": [None, note.id]}, summary=ctx.line(action, note=one_line(body, 300)))
    if not internal:
        preview = one_line(body, 300)
        if by_technician:
            ctx.notify_requester("note", ticket, M.NOTE_FOR_REQUESTER.format(name=ctx.actor.name, ref=ticket.ref, body=preview))
        else:
            ctx.notify_handlers("note", ticket, M.NOTE_FOR_TECH.format(name=ctx.actor.name, ref=ticket.ref, body=preview))
    return Reply((M.INTERNAL_ADDED if internal else M.NOTE_ADDED).format(ref=ticket.ref), ticket=ticket)


@command("note", usage="note <id> <text>", summary="Add a progress note everyone on the ticket can read.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the note", example="note 12 restarted the spooler, testing now",
         aliases=("comment",))
def note(ctx: Context) -> Reply:
    return add_note(ctx, ctx.ticket, ctx.call.text, internal=False)


@command("internal", usage="internal <id> <text>", summary="Add a note only technicians can read.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the note", verb="write internal notes",
         example="internal 12 user has admin rights on this box")
def internal(ctx: Context) -> Reply:
    return add_note(ctx, ctx.ticket, ctx.call.text, internal=True)


@command("answer", usage="answer <text>", summary="A requester's free-text message: a note on the ticket it answers.",
         text="the message", hidden=True)
def answer(ctx: Context) -> Reply:
    """A direct message that is not a command: a note on the ticket waiting on the requester,
    else on their only open one; otherwise the question which (or that there is none). The
    ticket is found and written in the same transaction."""
    ticket = ticket_meant(ctx, None, M.DM_WHICH_TICKET, M.DM_NO_TICKET)
    if isinstance(ticket, Reply):
        return ticket
    return add_note(ctx, ticket, ctx.call.text, internal=False)


def ticket_meant(ctx: Context, named: int | None, which: str, none: str) -> Ticket | Reply:
    """The ticket a requester's direct message is about: the one it names (`named`, when they
    may see it), else the one waiting on them, else their only open one; otherwise the refusal
    asking which (`which`, given {refs}) or saying there is none (`none`). The ticket is locked
    for writing and becomes the context's."""
    if named is not None:
        ticket = ctx.tx.get_ticket(named, lock=True)
        if ticket is None or not (ctx.is_technician or ctx.is_requester(ticket)):
            return Reply.refuse(M.NOT_VISIBLE.format(ref=f"#{named}"))
    else:
        tickets = ctx.tx.find_tickets(TicketFilter(requester_ids=ctx.actor.ids))[0]
        waiting = [t for t in tickets if t.status is Status.WAITING]
        if not (len(waiting) == 1 or (not waiting and len(tickets) == 1)):
            if not tickets:
                return Reply.refuse(none)
            return Reply.refuse(which.format(refs=", ".join(t.ref for t in (waiting or tickets))))
        ticket = ctx.tx.get_ticket((waiting or tickets)[0].id, lock=True)
    ctx.ticket = ticket
    return ticket


@command("wait", usage="wait <id> <question for the requester>",
         summary="Ask the requester something; the ticket waits on their answer.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the question", verb="put tickets on hold",
         example="wait 12 which room is the printer in?", guard=must_be_open("put on hold"))
def wait(ctx: Context) -> Reply:
    ticket = ctx.ticket
    body = ctx.call.text
    after = take(ctx, ticket, ticket.assignee_id or ctx.actor.id, ticket.assignee_name or ctx.actor.name)
    after = after.with_changes(status=Status.WAITING, waiting_since=ctx.now, nudged_at=None)  # a new question: a new wait
    note = ctx.note(ticket, body, internal=False)
    ticket = ctx.record("waiting", ticket, after, {"note": [None, note.id]}, summary=ctx.line("waiting", note=one_line(body, 300)))
    ctx.notify_requester("question", ticket, M.QUESTION_FOR_REQUESTER.format(
        name=ctx.actor.name, ref=ticket.ref, body=one_line(body, 500), id=ticket.id))
    return Reply(M.WAITING.format(ref=ticket.ref), ticket=ticket)


@command("unassign", usage="unassign <id>", summary="Take the assignee off a ticket: it goes back to its group's queue.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="unassign tickets", example="unassign 12",
         guard=must_be_open("unassigned"))
def unassign(ctx: Context) -> Reply:
    """Nobody on the ticket any more: back to new (a waiting ticket keeps waiting), and its group
    has its acknowledgement timeout to claim it again before the SLA engine pages the next level."""
    ticket = ctx.ticket
    if not ticket.assignee_id:
        return Reply.refuse(M.NOT_ASSIGNED.format(ref=ticket.ref, group=ticket.group))
    after = ticket.with_changes(assignee_id=None, assignee_name=None, escalated_at=ctx.now, top_pings=0,
                                status=Status.NEW if ticket.status is Status.IN_PROGRESS else ticket.status)
    changed = ctx.record("unassigned", ticket, after,
                         summary=ctx.line("unassigned", assignee=ticket.assignee_name, group=ticket.group))
    if not ctx.actor.is_(ticket.assignee_id):
        ctx.notify("unassigned", f"user:{ticket.assignee_id}", changed, M.UNASSIGNED_FOR_TECH.format(
            by=ctx.actor.name, ref=ticket.ref, group=ticket.group, headline=one_line(ticket.description)))
    return Reply(M.UNASSIGNED_DONE.format(ref=ticket.ref, group=ticket.group), ticket=changed)


CORRECTABLE = ("severity", "category", "device", "location", "phone")
TECHNICIANS_CORRECT = ("severity", "category")  # a requester corrects their device and contact details only


@command("set", usage="set <id> [severity=…] [category=…] [device=…] [location=…] [phone=…]",
         summary="Correct a ticket: severity and category (technicians), device, location, contact phone.",
         role=Role.PARTICIPANT, takes_ticket=True, options=CORRECTABLE, verb="correct tickets",
         example='set 12 severity=high location="Floor 2"', guard=must_be_open("corrected"))
def set_fields(ctx: Context) -> Reply:
    """Correct what was taken down wrong, audited; the SLA is re-planned by the write, a new
    category routes the ticket to its chain, and `field=""` clears a device, location or phone."""
    ticket = ctx.ticket
    given = {k: v for k, v in ctx.call.options.items() if v or k not in TECHNICIANS_CORRECT}
    if not given:
        return Reply.refuse(M.SET_NOTHING.format(usage=ctx.spec.usage, id=ticket.id), draft=ctx.call.raw)
    locked = [k for k in TECHNICIANS_CORRECT if k in given]
    if locked and not ctx.is_technician:
        return Reply.refuse(M.SET_NOT_YOURS.format(fields=" and ".join(locked), id=ticket.id), draft=ctx.call.raw)
    values, errors = check_intake(ctx, ticket.description, given)
    errors = {k: v for k, v in errors.items() if k in given}
    if errors:
        return Reply.refuse(M.SET_REFUSED.format(problems=" ".join(errors.values())), draft=ctx.call.raw,
                            field_errors=errors)
    after = ticket.with_changes(**{k: values[k] for k in ("severity", "category", "device", "location") if k in given})
    if "phone" in given:
        after = after.with_changes(requester=replace(after.requester, phone=values["phone"]))
    changes = _corrections(ticket, after)
    if not changes:
        return Reply.refuse(M.SET_UNCHANGED.format(ref=ticket.ref))
    after = _route(ctx, ticket, after)
    moved = after.group != ticket.group
    extra = {"phone": [ticket.requester.phone, after.requester.phone]} if "phone" in changes else None
    listed = ", ".join(f"{k} {_shown(a)} → {_shown(b)}" for k, (a, b) in changes.items())
    if moved:
        listed += " " + M.MOVED_TO.format(group=after.group)
    changed = ctx.record("corrected", ticket, after, extra, summary=ctx.line("corrected", changes=listed))
    headline = one_line(ticket.description)
    if moved:
        ctx.notify_group("moved", changed.group, changed, M.MOVED_FOR_GROUP.format(
            ref=changed.ref, severity=changed.severity.value, group=changed.group, category=changed.category,
            requester=changed.requester.name, headline=headline))
        if ticket.assignee_id and not ctx.actor.is_(ticket.assignee_id):
            ctx.notify("unassigned", f"user:{ticket.assignee_id}", changed, M.UNASSIGNED_FOR_TECH.format(
                by=ctx.actor.name, ref=ticket.ref, group=changed.group, headline=headline))
    if (changed.severity is Severity.CRITICAL and ticket.severity is not Severity.CRITICAL
            and ctx.settings.escalation.page_critical_at_creation):
        page(ctx, changed, changed.group, "critical", "")
    if not ctx.is_technician:
        ctx.notify_handlers("corrected", changed, M.CORRECTED_FOR_HANDLERS.format(name=ctx.actor.name, ref=ticket.ref,
                                                                                changes=listed))
    text = M.CORRECTED.format(ref=ticket.ref, changes=listed)
    return Reply(text + (M.CORRECTED_MOVED.format(group=changed.group) if moved else ""), ticket=changed)


def _corrections(before: Ticket, after: Ticket) -> dict[str, tuple[Any, Any]]:
    """Each correctable field that differs, as (before, after), in the order people list them."""
    read = {"severity": lambda t: t.severity.value, "category": lambda t: t.category, "device": lambda t: t.device,
            "location": lambda t: t.location, "phone": lambda t: t.requester.phone}
    return {k: (get(before), get(after)) for k, get in read.items() if get(before) != get(after)}


def _route(ctx: Context, before: Ticket, after: Ticket) -> Ticket:
    """A new category's chain decides the group: the ticket stays with its group when the new chain
    names it too (at that level), else it moves to the chain's first level, unassigned and new (a
    waiting ticket keeps waiting), the level's acknowledgement timeout starting now."""
    if after.category == before.category:
        return after
    chain = ctx.settings.chain(after.category)
    if before.group in chain:
        return after.with_changes(escalation_level=chain.index(before.group) + 1)
    return after.with_changes(group=chain[0], escalation_level=1, assignee_id=None, assignee_name=None,
                              escalated_at=ctx.now, top_pings=0,
                              status=Status.WAITING if before.status is Status.WAITING else Status.NEW)


def _shown(value: Any) -> str:
    return "—" if value in (None, "") else one_line(str(value), 60)
