"""The weekly digest: a report per group, posted to its channel through the outbox,
once per week across all replicas (the slot is claimed in the database)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot import messages as M
from bot.config import WEEKDAYS, Settings
from bot.context import Context
from bot.reports import ReportQuery

JOB = "weekly_digest"


def last_slot(settings: Settings, now: datetime) -> datetime:
    """The most recent digest moment (the configured weekday and hour, local time) not after `now`."""
    config = settings.reports
    zone = ZoneInfo(config.timezone or settings.timezone)
    local = now.astimezone(zone)
    days_back = (local.weekday() - WEEKDAYS.index(config.digest_day)) % 7
    slot = datetime.combine(local.date() - timedelta(days=days_back), time(config.digest_hour), zone)
    if slot > local:
        slot -= timedelta(days=7)
    return slot.astimezone(timezone.utc)


def send_if_due(ctx: Context, render) -> int:
    """Queue this week's digest for every group with a channel, if no replica has yet."""
    settings = ctx.settings
    if not settings.reports.digest:
        return 0
    slot = last_slot(settings, ctx.now)
    if ctx.now - slot > timedelta(days=1) or not ctx.tx.claim_job(JOB, slot, ctx.now):
        return 0  # not its day (a replica down all day does not send a stale digest), or already sent
    sent = 0
    for name, group in settings.groups.items():
        if not any(group.channels.get(p) for p in settings.chat_platforms()):
            continue
        report = ctx.tx.report(ReportQuery(slot - timedelta(days=7), slot, group=name), settings)
        ctx.notify("digest", f"group:{name}", None, f"{M.DIGEST_TITLE.format(group=name)}\n{render(report)}")
        sent += 1
    return sent
