"""Working a ticket: claim it, hand it over, write notes, ask the requester (and their answer,
which may arrive as a plain direct message)."""
from __future__ import annotations

from bot import messages as M
from bot.commands.guards import must_be_open
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.model import Status, Ticket, TicketFilter
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
    progress, a technician's first public note is the first response; the other side is told."""
    after = ticket
    by_technician = ctx.is_technician and not ctx.is_requester(ticket)
    if not internal and ctx.is_requester(ticket) and ticket.status is Status.WAITING:
        after = ticket.with_changes(status=Status.IN_PROGRESS)
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
    tickets = ctx.tx.find_tickets(TicketFilter(requester_ids=ctx.actor.ids))[0]
    waiting = [t for t in tickets if t.status is Status.WAITING]
    if not (len(waiting) == 1 or (not waiting and len(tickets) == 1)):
        if not tickets:
            return Reply.refuse(M.DM_NO_TICKET)
        return Reply.refuse(M.DM_WHICH_TICKET.format(refs=", ".join(t.ref for t in (waiting or tickets))))
    ticket = ctx.tx.get_ticket((waiting or tickets)[0].id, lock=True)
    ctx.ticket = ticket
    return add_note(ctx, ticket, ctx.call.text, internal=False)


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
