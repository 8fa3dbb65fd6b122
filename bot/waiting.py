"""A ticket waiting on its requester: its SLA clock stands still, and a stale one reminds the
requester, then resolves itself with a message saying how to reopen it.

The pause is bookkeeping on the ticket, brought up to date by `settle` on every write (bot/sla.py
`plan` calls it), so whichever command or sweep step starts or ends a wait, the clock follows:
`paused_at` while the clock stands still; when it runs again, the pause is added to
`paused_seconds` (wall clock: reports take it out of durations) and `paused_business_seconds`
(inside business hours: the clocks that run on business hours move their targets by that).

The stale-ticket steps (`nudge`, then `stale_resolve`) are steps of the SLA plan: the sweep takes
them under the same row locks as every other step, so each happens once across replicas.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot import messages as M
from bot.config import Settings
from bot.hours import add_business_days, business_seconds, on_business_hours
from bot.model import Status, Ticket
from bot.text import one_line

if TYPE_CHECKING:
    from bot.context import Context

NUDGE = "nudge"
GIVE_UP = "stale_resolve"
STEPS = (NUDGE, GIVE_UP)


def stops_clock(settings: Settings, ticket: Ticket) -> bool:
    """Whether the ticket's SLA clock should stand still now: it waits on its requester, and its
    severity's policy pauses while waiting (`pause_while_waiting`, on by default)."""
    return ticket.status is Status.WAITING and settings.policy(ticket.severity).pause_while_waiting


def settle(settings: Settings, ticket: Ticket, now: datetime) -> Ticket:
    """The ticket with its waiting bookkeeping true at `now` (UTC): since when it waits (cleared,
    with the reminder, once it stops waiting), and its pause started or, when the clock runs
    again, added to the paused time so far."""
    changes: dict = {}
    waiting = ticket.status is Status.WAITING
    if waiting and ticket.waiting_since is None:
        changes["waiting_since"] = now
    elif not waiting and (ticket.waiting_since is not None or ticket.nudged_at is not None):
        changes.update(waiting_since=None, nudged_at=None)
    stop = stops_clock(settings, ticket)
    if stop and ticket.paused_at is None:
        changes["paused_at"] = now
    elif not stop and ticket.paused_at is not None:
        wall = max(0.0, (now - ticket.paused_at).total_seconds())
        hours = settings.business_hours
        business = business_seconds(ticket.paused_at, now, hours) if hours is not None else wall
        changes.update(paused_at=None, paused_seconds=ticket.paused_seconds + int(wall),
                       paused_business_seconds=ticket.paused_business_seconds + int(business))
    return ticket.with_changes(**changes) if changes else ticket


def paused_minutes(settings: Settings, ticket: Ticket) -> float:
    """Minutes of the ticket's own clock that stood paused in pauses already over: business minutes
    for the severities that run on business hours, wall-clock minutes otherwise."""
    seconds = ticket.paused_business_seconds if on_business_hours(settings, ticket) else ticket.paused_seconds
    return seconds / 60


# Stale tickets

def deadlines(settings: Settings, ticket: Ticket) -> tuple[datetime | None, datetime | None]:
    """When a waiting ticket's requester is reminded and when it is resolved for want of an answer
    (UTC; None for a step that is off, or when the ticket does not wait)."""
    stale = settings.stale
    if ticket.status is not Status.WAITING or ticket.waiting_since is None or not stale.enabled:
        return None, None
    nudge = add_business_days(settings, ticket.waiting_since, stale.nudge_after_days) if stale.nudge_after_days else None
    close = add_business_days(settings, ticket.waiting_since, stale.close_after_days) if stale.close_after_days else None
    return nudge, close


def next_step(settings: Settings, ticket: Ticket) -> tuple[datetime, str] | None:
    """The stale-ticket step the plan must take next, and when: the reminder (once per wait), then
    the resolution. None when the ticket does not wait or both steps are off."""
    nudge, close = deadlines(settings, ticket)
    if nudge is not None and ticket.nudged_at is None:
        return nudge, NUDGE
    if close is not None:
        return close, GIVE_UP
    return None


def take_step(ctx: "Context", ticket: Ticket, step: str) -> Ticket:
    """Remind the requester, or resolve the ticket for want of an answer (also when a reminder
    falls due after the resolution did: the sweep did not run in between). Returns the ticket."""
    nudge, close = deadlines(ctx.settings, ticket)
    question = _last_question(ctx, ticket)
    if step == NUDGE and not (close is not None and close <= ctx.now):
        ticket = ctx.record("nudged", ticket, ticket.with_changes(nudged_at=ctx.now),
                            summary=M.CHANGED["nudged"].format(requester=ticket.requester.name))
        text = M.NUDGE_FOR_REQUESTER.format(ref=ticket.ref, question=question, id=ticket.id)
        if close is not None:
            local = close.astimezone(ctx.settings.zone)
            text += " " + M.NUDGE_DEADLINE.format(when=f"{local:%a} {local.day} {local:%b %H:%M}")
        ctx.notify_requester("question", ticket, text, reminder=True)
        return ticket
    days = ctx.settings.stale.close_after_days
    ticket = ctx.record("stale_resolved", ticket, ticket.with_changes(status=Status.RESOLVED, resolved_at=ctx.now),
                        {"reason": [None, "no answer from the requester"]},
                        summary=M.CHANGED["stale_resolved"].format(days=days))
    ctx.notify_requester("resolved", ticket, M.STALE_FOR_REQUESTER.format(
        ref=ticket.ref, days=days, question=question, id=ticket.id))
    ctx.notify_handlers("stale_resolved", ticket, M.STALE_FOR_HANDLERS.format(
        ref=ticket.ref, requester=ticket.requester.name, days=days, headline=one_line(ticket.description)))
    return ticket


def _last_question(ctx: "Context", ticket: Ticket) -> str:
    """The question the ticket waits on (the note of its latest `wait`), on one line; else its headline."""
    waited = next((e for e in reversed(ctx.tx.events(ticket.id)) if e.action == "waiting"), None)
    note_id = (waited.changes.get("note") or [None, None])[1] if waited else None
    note = next((n for n in ctx.tx.notes(ticket.id, include_internal=False) if n.id == note_id), None)
    return one_line(note.body if note else ticket.description, 300)
