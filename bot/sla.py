"""Service-level targets per severity, as wall-clock deadlines from a ticket's creation."""
from __future__ import annotations

from datetime import datetime, timedelta

from bot import messages as M
from bot.config import Settings
from bot.model import Ticket


def response_due(settings: Settings, ticket: Ticket) -> datetime:
    return ticket.created_at + timedelta(minutes=settings.policy(ticket.severity).first_response_minutes)


def resolution_due(settings: Settings, ticket: Ticket) -> datetime:
    return ticket.created_at + timedelta(minutes=settings.policy(ticket.severity).resolution_minutes)


def flags(settings: Settings, ticket: Ticket, now: datetime) -> tuple[str, ...]:
    """What a queue or a card should warn about: targets an open ticket has missed."""
    if not ticket.status.is_open:
        return ()
    found = []
    if ticket.first_response_at is None and now > response_due(settings, ticket):
        found.append(M.OVERDUE_RESPONSE)
    if now > resolution_due(settings, ticket):
        found.append(M.OVERDUE_RESOLUTION)
    return tuple(found)
