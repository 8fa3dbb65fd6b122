"""Paging groups: by hand (`escalate`, `urgent`), at creation for critical tickets, and
by the SLA sweep when a ticket waits unclaimed past its target or its level's timeout."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot import messages as M, sla, waiting
from bot.model import Status, Ticket
from bot.text import duration, one_line

if TYPE_CHECKING:  # annotations only: bot.context imports the commands, which import this module
    from bot.context import Context


def level_name(level: int, category: str) -> str:
    """A ticket's place in its category's chain as people read it: "level 2", or "outside the
    network chain" (level 0: escalated by hand to a group the chain does not name)."""
    return M.LEVEL.format(level=level) if level else M.OUTSIDE_CHAIN.format(category=category)


def page(ctx: Context, ticket: Ticket, group: str, kind: str, reason: str, level: int | None = None) -> None:
    """A ping in the group's on-call channel (and, at the terminal, to its members no channel
    reaches): what, how urgent, who, how long, why."""
    level = ticket.escalation_level if level is None else level
    text = M.PAGE[kind].format(
        group=group, level=level_name(level, ticket.category), ref=ticket.ref, severity=ticket.severity.value,
        requester=ticket.requester.name, waiting=duration(ctx.now - ticket.created_at),
        headline=one_line(ticket.description), reason=one_line(reason, 300))
    ctx.notify_group("escalation", group, ticket, text, level=level, reason=reason, page=kind)


def raise_level(ctx: Context, ticket: Ticket, target: str, level: int, reason: str, action: str = "escalated") -> Ticket:
    """Hand the ticket to `target` at `level` (0: outside its category's chain): unassigned and
    new, so that group claims it (a waiting ticket's clock runs again); the reason is kept as an
    internal note, in the audit trail and in the ticket's thread."""
    after = ticket.with_changes(group=target, escalation_level=level, assignee_id=None, assignee_name=None,
                                escalated_at=ctx.now, top_pings=0, status=Status.NEW)
    named = level_name(level, ticket.category)
    note = ctx.note(ticket, M.ESCALATION_NOTE.format(group=target, level=named, reason=reason), internal=True)
    ticket = ctx.record(action, ticket, after, {"note": [None, note.id], "reason": [None, reason]},
                        summary=ctx.line(action, group=target, level=named, reason=one_line(reason, 300)))
    page(ctx, ticket, target, "escalated", reason, level)
    return ticket


def run_due_step(ctx: Context, ticket: Ticket) -> str | None:
    """Carry out the step the plan says is due now; returns what was done (None if nothing)."""
    settings = ctx.settings
    fresh = sla.plan(settings, ticket, ctx.now)
    if fresh.sla_next_at is None or fresh.sla_next_at > ctx.now:
        if (fresh.sla_next_at, fresh.sla_step) != (ticket.sla_next_at, ticket.sla_step):
            ctx.record("replanned", ticket, fresh, summary="")  # state changed under the old plan
        return None
    step = fresh.sla_step
    page_due = sla.next_page(settings, ticket)
    if step == "warn" and page_due:
        breach, kind, group = page_due
        line = M.SLA_WARNING[kind].format(group=group, minutes=duration(breach - ctx.now))
        ticket = ctx.record("sla_warning", ticket, ticket.with_changes(sla_warned_for=breach), summary=line)
        ctx.notify_members("sla_warning", ticket.group, ticket, M.ABOUT_TICKET.format(
            ref=ticket.ref, severity=ticket.severity.value, headline=one_line(ticket.description), line=line))
    elif step == "escalate" and page_due:
        _, _, target = page_due
        waited = duration(ctx.now - (ticket.escalated_at or ticket.created_at))
        raise_level(ctx, ticket, target, ticket.escalation_level + 1,
                    M.AUTO_REASON.format(group=ticket.group, waited=waited), action="auto_escalated")
    elif step == "repeat" and page_due:
        after = ticket.with_changes(top_pings=ticket.top_pings + 1, escalated_at=ctx.now)
        reason = M.REPAGE_REASON.format(count=ticket.top_pings + 1, waited=duration(ctx.now - ticket.created_at))
        ticket = ctx.record("repaged", ticket, after, summary=ctx.line("repaged", group=ticket.group, reason=reason))
        page(ctx, ticket, ticket.group, "repeat", reason)
    elif step == "overdue":
        due = sla.resolution_due(settings, ticket)
        ticket = ctx.record("overdue", ticket, ticket.with_changes(overdue_noticed=True),
                            summary=M.OVERDUE_LINE.format(late=duration(ctx.now - due)))
        ctx.notify_handlers("overdue", ticket, M.OVERDUE_FOR_HANDLERS.format(ref=ticket.ref, late=duration(ctx.now - due),
                                                                            headline=one_line(ticket.description)))
    elif step in waiting.STEPS:
        waiting.take_step(ctx, ticket, step)
    else:
        return None
    return step
