"""The knowledge base for technicians: resolved tickets like the one in hand."""
from __future__ import annotations

from bot import messages as M
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.replies import Reply


@REGISTRY.command("similar", usage="similar <id>", summary="Resolved tickets like this one, with what fixed them.",
                  role=Role.TECHNICIAN, takes_ticket=True, verb="search past resolutions", example="similar 12", writes=False)
def similar(ctx: Context) -> Reply:
    suggestions = ctx.suggest(ctx.ticket, technician=True)
    if not suggestions:
        return Reply(M.NO_SIMILAR.format(ref=ctx.ticket.ref))
    return Reply(M.SUGGESTED_FOR_TECH, suggestions=suggestions)
