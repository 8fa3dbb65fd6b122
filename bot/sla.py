"""Service-level clocks and the escalation plan.

Targets per severity run on the wall clock, or on business hours for the severities
configured so. Every write to a ticket re-plans its next SLA step (warn, escalate,
page again, flag overdue) from its current state, so claiming a ticket stops its
chain without any separate bookkeeping, and a sweep only needs the due rows.

While a ticket waits on its requester its clock stands still (bot/waiting.py keeps the
pause): the resolution target moves on by the paused time, nothing is paged or flagged
overdue meanwhile, and the plan's steps are the stale-ticket ones (remind, then resolve).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from bot import messages as M, waiting
from bot.config import WEEKDAYS, BusinessHours, Settings
from bot.hours import on_business_hours
from bot.model import Ticket
from bot.text import duration, moment

MAX_DAYS = 3 * 366  # a target longer than this many calendar days is a configuration error


def _clock(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def add_business_minutes(start: datetime, minutes: float, hours: BusinessHours) -> datetime:
    """`start` plus `minutes` of working time: the clock runs only inside business hours.

    Raises ValueError when the target does not fit in three years of business hours (a
    configuration with almost no working time)."""
    zone = ZoneInfo(hours.timezone)
    open_at, close_at = _clock(hours.start), _clock(hours.end)
    days = {WEEKDAYS.index(d) for d in hours.days}
    remaining = timedelta(minutes=minutes)
    moment = start.astimezone(zone)
    day: date = moment.date()
    for _ in range(MAX_DAYS):
        if day.weekday() in days:
            begin = max(moment, datetime.combine(day, open_at, zone))
            end = datetime.combine(day, close_at, zone)
            if begin < end:
                if remaining <= end - begin:
                    return (begin + remaining).astimezone(timezone.utc)
                remaining -= end - begin
        day += timedelta(days=1)
        moment = datetime.combine(day, time(0), zone)
    raise ValueError("an SLA target does not fit in three years of business hours")


def add_target(settings: Settings, ticket: Ticket, start: datetime, minutes: float) -> datetime:
    """`start` plus `minutes` of the ticket's clock: business minutes for the severities that run on
    business hours, wall-clock minutes otherwise (UTC in and out)."""
    if on_business_hours(settings, ticket):
        return add_business_minutes(start, minutes, settings.business_hours)
    return start + timedelta(minutes=minutes)


def response_due(settings: Settings, ticket: Ticket) -> datetime:
    """When the ticket's first response is due (UTC)."""
    return add_target(settings, ticket, ticket.created_at, settings.policy(ticket.severity).first_response_minutes)


def resolution_due(settings: Settings, ticket: Ticket) -> datetime:
    """When the ticket's resolution is due (UTC): its target on its own clock, moved on by the
    pauses already over (while paused, the clock resumes towards this moment)."""
    minutes = settings.policy(ticket.severity).resolution_minutes + waiting.paused_minutes(settings, ticket)
    return add_target(settings, ticket, ticket.created_at, minutes)


def flags(settings: Settings, ticket: Ticket, now: datetime) -> tuple[str, ...]:
    """What a queue or a card should warn about: targets an open ticket has missed (a paused
    ticket, those it had missed when its clock stopped)."""
    if not ticket.status.is_open or ticket.parent_id is not None:  # a linked ticket's clock is its parent's
        return ()
    found = []
    if ticket.first_response_at is None and now > response_due(settings, ticket):
        found.append(M.OVERDUE_RESPONSE)
    if (ticket.paused_at or now) > resolution_due(settings, ticket):
        found.append(M.OVERDUE_RESOLUTION)
    return tuple(found)


def next_page(settings: Settings, ticket: Ticket) -> tuple[datetime, str, str] | None:
    """For an unclaimed ticket: when the next page is due, which step it is, and which group
    it pages. None when nothing more will be paged (claimed, closed, paused, or repeats used up).
    A ticket escalated outside its category's chain (level 0) is paged again, never moved on."""
    if (not ticket.status.is_open or ticket.assignee_id is not None or not settings.escalation.enabled
            or ticket.paused):
        return None
    chain = settings.chain(ticket.category)
    if ticket.escalated_at is None:
        breach = response_due(settings, ticket)
    else:
        breach = ticket.escalated_at + timedelta(minutes=settings.ack_timeout(ticket.group))
    if 0 < ticket.escalation_level < len(chain):
        return breach, "escalate", chain[ticket.escalation_level]
    if ticket.top_pings < settings.escalation.repeat:
        return breach, "repeat", ticket.group
    return None


def plan(settings: Settings, ticket: Ticket, now: datetime) -> Ticket:
    """The ticket with its SLA fields brought up to date: the deadline that matters now
    (`due_at`, None while paused) and the next step the sweep must take (`sla_next_at`, `sla_step`)."""
    ticket = waiting.settle(settings, ticket, now)
    res_due = resolution_due(settings, ticket)
    targets = {"response_due_at": response_due(settings, ticket), "resolution_due_at": res_due}  # kept for reports
    if not ticket.status.is_open:
        return ticket.with_changes(due_at=None, sla_next_at=None, sla_step=None, **targets)
    if ticket.parent_id is not None:  # linked: its clock is the parent's (bot/incidents.py copies its targets);
        if ticket.response_due_at is not None:  # no warnings or escalations of its own
            targets = {}
        return ticket.with_changes(due_at=None, sla_next_at=None, sla_step=None, **targets)
    due = targets["response_due_at"] if ticket.first_response_at is None else res_due
    if ticket.paused:
        due = None  # nothing is due while the clock stands still
    steps: list[tuple[datetime, str]] = []
    page = next_page(settings, ticket)
    if page:
        breach, step, _ = page
        warn_at = breach - timedelta(minutes=settings.escalation.warning_minutes)
        if settings.escalation.warning_minutes and ticket.sla_warned_for != breach and now < breach:
            steps.append((warn_at, "warn"))
        else:
            steps.append((breach, step))
    if not ticket.overdue_noticed and (not ticket.paused or res_due <= ticket.paused_at):
        steps.append((res_due, "overdue"))
    stale = waiting.next_step(settings, ticket)
    if stale:
        steps.append(stale)
    next_at, step = min(steps) if steps else (None, None)
    return ticket.with_changes(due_at=due, sla_next_at=next_at, sla_step=step, **targets)


def timing(ticket: Ticket, now: datetime | None, show_due: bool, zone: tzinfo | None = None) -> str:
    """A list's time column: "paused since …" (in `zone`, default UTC) while the clock stands
    still, else the time left to the current target (or how late), else the age."""
    if now is None:
        return ""
    if ticket.paused and ticket.status.is_open:
        return M.PAUSED_SINCE.format(when=moment(ticket.paused_at, now, zone or timezone.utc))
    if show_due and ticket.due_at is not None:
        left = ticket.due_at - now
        return M.DUE_IN.format(left=duration(left)) if left.total_seconds() >= 0 else M.LATE.format(late=duration(-left))
    return duration(now - ticket.created_at)
