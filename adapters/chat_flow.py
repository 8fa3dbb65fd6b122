"""What every chat adapter decides the same way: what a free message in a ticket's thread or
a direct chat means, and which card buttons the ticket's state already rules out."""
from __future__ import annotations

from bot import messages as M
from bot.commands.lifecycle import not_open
from bot.desk import Desk
from bot.model import Actor, Status, Ticket

PAST = {"escalate": "escalated", "resolve": "resolved"}


def thread_line(desk: Desk, text: str) -> tuple[str, str | None]:
    """A reply in a card's thread: `//…` is an internal note, a command word runs the command
    on the thread's ticket, anything else is a note. Returns (line, note kind or None)."""
    if text.startswith("//"):
        return f"internal {text[2:].strip()}", "internal"
    if desk.registry.get(text.split(maxsplit=1)[0].lower()):
        return text, None
    return f"note {text}", "note"


def is_command(desk: Desk, text: str) -> bool:
    return bool(text) and desk.registry.get(text.split(maxsplit=1)[0].lower().lstrip("/")) is not None


def direct_ticket(desk: Desk, actor: Actor) -> int | str:
    """The ticket a free-text direct message answers: the one waiting on the requester, else
    their only open one; otherwise the sentence asking which (or saying there is none)."""
    tickets = desk.open_tickets_of(actor)
    waiting = [t for t in tickets if t.status is Status.WAITING]
    if len(waiting) == 1 or (not waiting and len(tickets) == 1):
        return (waiting or tickets)[0].id
    if not tickets:
        return M.DM_NO_TICKET
    return M.DM_WHICH_TICKET.format(refs=", ".join(t.ref for t in (waiting or tickets)))


def state_refusal(name: str, ticket: Ticket) -> str | None:
    """Refuse before a button's form opens when the ticket's state already rules the action out."""
    if name == "reopen" and ticket.status is not Status.RESOLVED:
        return M.REOPEN_NOT_RESOLVED.format(ref=ticket.ref, status=ticket.status.label, id=ticket.id)
    return not_open(ticket, PAST[name]) if name in PAST else None
