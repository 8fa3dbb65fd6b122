"""Commands that only read: one ticket, your tickets, the queue."""
from __future__ import annotations

from bot import messages as M
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.model import Severity, Status, Ticket, TicketFilter
from bot.reports import BREAKDOWNS, PeriodError, ReportQuery, parse_moment
from bot.replies import Reply, Section
from bot.text import one_line

command = REGISTRY.command

RECENTLY_DONE = frozenset({Status.RESOLVED})


def flagged(ctx: Context, tickets: list[Ticket]) -> dict[int, tuple[str, ...]]:
    """The SLA flags of each listed ticket that has any, by ticket id."""
    return {t.id: f for t in tickets if (f := ctx.flags(t))}


@command("show", usage="show <id> [all]", summary="A ticket with its notes and history (`all`: from the first note).",
         role=Role.PARTICIPANT, takes_ticket=True, text="what to show", optional_text=True, example="show 12",
         writes=False, aliases=("view",))
def show(ctx: Context) -> Reply:
    ticket = ctx.ticket
    what = ctx.call.text.strip().lower()
    if what not in ("", "all"):
        return Reply.refuse(M.SHOW_WHAT.format(id=ticket.id))
    notes = ctx.tx.notes(ticket.id, include_internal=ctx.is_technician)
    events = ctx.tx.events(ticket.id) if ctx.is_technician else []
    return Reply(M.SHOWN.format(ref=ticket.ref, headline=one_line(ticket.description)), ticket=ticket,
                 notes=tuple(notes), events=tuple(events), now=ctx.now, flags=flagged(ctx, [ticket]), everything=what == "all",
                 attachments=tuple(ctx.tx.attachments(ticket.id)), zone=ctx.settings.zone)


@command("mine", usage="mine", summary="Your open and recently resolved tickets (and, for technicians, what is assigned to you).",
         writes=False)
def mine(ctx: Context) -> Reply:
    ids = ctx.actor.ids
    requested, total = ctx.tx.find_tickets(TicketFilter(statuses=frozenset({*Status} - {Status.CLOSED}), requester_ids=ids))
    sections = [Section(M.MINE_REQUESTED, tuple(requested), total, M.MINE_NONE)]
    shown = list(requested)
    if ctx.is_technician:
        assigned, total = ctx.tx.find_tickets(TicketFilter(assignee_ids=ids))
        sections.append(Section(M.MINE_ASSIGNED, tuple(assigned), total, M.NOTHING_ASSIGNED))
        shown += assigned
    return Reply("", sections=tuple(sections), now=ctx.now, flags=flagged(ctx, shown), zone=ctx.settings.zone)


@command("queue", usage="queue [severity|category|group]",
         summary="Open tickets, nearest deadline first; narrow by a severity, category or group.",
         role=Role.TECHNICIAN, text="the filter", optional_text=True, verb="see the queue",
         example="queue critical", writes=False, aliases=("q",))
def queue(ctx: Context) -> Reply:
    value = ctx.call.text.strip().lower()
    settings = ctx.settings
    query = TicketFilter(by_due=True, linked=False)  # linked tickets are worked through their parent
    if value:
        if value in {s.value for s in Severity}:
            query = TicketFilter(severity=Severity(value), by_due=True, linked=False)
        elif value in settings.categories:
            query = TicketFilter(category=value, by_due=True, linked=False)
        elif value in settings.groups:
            query = TicketFilter(group=value, by_due=True, linked=False)
        else:
            choices = ", ".join([*(s.value for s in Severity), *settings.categories, *settings.groups])
            return Reply.refuse(M.QUEUE_BAD_FILTER.format(value=one_line(value, 40), choices=choices))
    tickets, total = ctx.tx.find_tickets(query)
    scope = f" ({value})" if value else ""
    section = Section(M.QUEUE_TITLE.format(scope=scope), tuple(tickets), total, M.QUEUE_EMPTY.format(scope=scope),
                      show_due=True)
    return Reply("", sections=(section,), now=ctx.now, flags=flagged(ctx, tickets), zone=ctx.settings.zone)


@command("sla", usage="sla", summary="Open tickets by time left to their target, breached first.",
         role=Role.TECHNICIAN, verb="see the SLA board", example="sla", writes=False)
def sla_board(ctx: Context) -> Reply:
    tickets, total = ctx.tx.find_tickets(TicketFilter(by_due=True, limit=100, linked=False))
    return Reply("", sections=(Section(M.SLA_TITLE, tuple(tickets), total, M.SLA_EMPTY, show_due=True),), now=ctx.now,
                 flags=flagged(ctx, tickets), zone=ctx.settings.zone)


@command("report", usage="report [7d|30d|DATE] [by=category|severity|group|technician]",
         summary="How the help desk is doing over a period (default: the last 7 days).",
         role=Role.TECHNICIAN, text="the period", optional_text=True, options=("by",), verb="see reports",
         example="report 30d by=category", writes=False)
def report(ctx: Context) -> Reply:
    by = (ctx.call.options.get("by") or "").lower() or None
    if by and by not in BREAKDOWNS:
        return Reply.refuse(M.REPORT_BAD_BY.format(value=one_line(by, 30), choices=", ".join(BREAKDOWNS)))
    try:
        since = parse_moment(ctx.call.text or "7d", ctx.now, ctx.settings.zone)
    except PeriodError as exc:
        return Reply.refuse(str(exc))
    if since >= ctx.now:
        return Reply.refuse(M.REPORT_FUTURE)
    result = ctx.tx.report(ReportQuery(since, ctx.now, by=by), ctx.settings)
    f = result.figures
    return Reply(M.REPORT_SUMMARY.format(opened=f.opened, resolved=f.resolved, open=f.still_open_total,
                                          deflected=f.deflected), report=result, now=ctx.now)
