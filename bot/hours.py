"""Counting working time: how much of a stretch fell inside business hours, and business days.

(bot/sla.py adds business minutes to a moment; these are the other questions the clocks ask.)
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, BusinessHours, Settings
from bot.model import Ticket

WORKING_WEEK = ("mon", "tue", "wed", "thu", "fri")  # business days when no business hours are configured


def on_business_hours(settings: Settings, ticket: Ticket) -> bool:
    """Whether the ticket's clocks run on business hours (its severity is one configured so)."""
    hours = settings.business_hours
    return hours is not None and ticket.severity in hours.severities


def _clock(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def business_seconds(start: datetime, end: datetime, hours: BusinessHours) -> float:
    """Seconds of the stretch from `start` to `end` (aware datetimes) that fell inside business hours;
    0 when `end` is not after `start`."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(hours.timezone)
    open_at, close_at = _clock(hours.start), _clock(hours.end)
    days = {WEEKDAYS.index(d) for d in hours.days}
    total = 0.0
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:
        if day.weekday() in days:
            begin = max(start, datetime.combine(day, open_at, zone))
            finish = min(end, datetime.combine(day, close_at, zone))
            if begin < finish:
                total += (finish - begin).total_seconds()
        day += timedelta(days=1)
    return total


def add_business_days(settings: Settings, start: datetime, days: int) -> datetime:
    """`start` plus `days` business days, at the same local time of day (UTC out): the business
    hours' days and time zone when configured, else Monday to Friday in the help desk's zone.
    Friday 15:00 plus 2 is Tuesday 15:00; Saturday 11:00 plus 2 is Tuesday 11:00."""
    hours = settings.business_hours
    zone = ZoneInfo(hours.timezone) if hours else settings.zone
    working = {WEEKDAYS.index(d) for d in (hours.days if hours else WORKING_WEEK)}
    local = start.astimezone(zone)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        counted += day.weekday() in working
    return datetime.combine(day, local.time(), zone).astimezone(timezone.utc)
