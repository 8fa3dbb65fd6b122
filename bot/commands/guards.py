"""What a command requires of a ticket's state, declared on its spec and checked once by the
desk's preconditions middleware (and by `Desk.check` before a button opens its form)."""
from __future__ import annotations

from bot import messages as M
from bot.commands.registry import Guard
from bot.model import Status, Ticket


def not_open(ticket: Ticket, verb: str) -> str | None:
    """Why a finished ticket cannot be `verb` (claimed, resolved…) and what to do instead; None if open."""
    if ticket.status.is_open:
        return None
    hint = (M.HINT_REOPEN if ticket.status is Status.RESOLVED else M.HINT_NEW).format(id=ticket.id, ref=ticket.ref)
    return M.NOT_OPEN.format(ref=ticket.ref, status=ticket.status.label, verb=verb, hint=hint)


def must_be_open(verb: str) -> Guard:
    """The guard of a command that works on open tickets only; `verb` is its past participle."""
    def guard(ticket: Ticket) -> str | None:
        return not_open(ticket, verb)
    return guard


def must_be_resolved(ticket: Ticket) -> str | None:
    """The guard of `reopen`: only a resolved ticket can come back (a closed one is a new ticket)."""
    if ticket.status is Status.CLOSED:
        return M.NOT_OPEN.format(ref=ticket.ref, status=ticket.status.label, verb="reopened",
                                 hint=M.HINT_NEW.format(ref=ticket.ref))
    if ticket.status is not Status.RESOLVED:
        return M.REOPEN_NOT_RESOLVED.format(ref=ticket.ref, status=ticket.status.label, id=ticket.id)
    return None
