"""Escalating: up the category's chain (or to a named group) by hand, and a requester's call
for urgency. The SLA sweep escalates on its own (bot/escalation.py)."""
from __future__ import annotations

import difflib

from bot import messages as M
from bot.commands.guards import must_be_open
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.escalation import level_name, page, raise_level
from bot.replies import Reply
from bot.text import one_line

command = REGISTRY.command


@command("escalate", usage="escalate <id> [group] <reason>",
         summary="Raise a ticket one level up its category's chain, or to a named group.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the reason", verb="escalate tickets",
         example="escalate 12 network-eng switch port is dead", guard=must_be_open("escalated"))
def escalate(ctx: Context) -> Reply:
    ticket, settings = ctx.ticket, ctx.settings
    first, _, remainder = ctx.call.text.partition(" ")
    chain = settings.chain(ticket.category)
    groups = ", ".join(settings.groups)
    if first in settings.groups:
        target, reason = first, remainder.strip()
        if not reason:
            return Reply.refuse(M.NEED_REASON.format(ref=ticket.ref, id=ticket.id))
        if target == ticket.group:
            return Reply.refuse(M.SAME_GROUP.format(ref=ticket.ref, group=target))
        level = chain.index(target) + 1 if target in chain else 0  # 0: outside the chain, recorded as such
    else:
        close = difflib.get_close_matches(first.lower(), list(settings.groups), n=1, cutoff=0.85)
        if close and len(first) >= 4:  # a misspelt group: escalating elsewhere would be wrong
            return Reply.refuse(M.GROUP_MISSPELT.format(group=first[:40], close=close[0], id=ticket.id), draft=ctx.call.raw)
        reason = ctx.call.text
        if ticket.escalation_level == 0:
            return Reply.refuse(M.OUTSIDE_CHAIN_TOP.format(ref=ticket.ref, group=ticket.group, category=ticket.category,
                                                           id=ticket.id, choices=groups))
        if ticket.escalation_level >= len(chain):
            return Reply.refuse(M.TOP_LEVEL.format(ref=ticket.ref, group=ticket.group, level=ticket.escalation_level, id=ticket.id, choices=groups))
        level = ticket.escalation_level + 1
        target = chain[level - 1]
    ticket = raise_level(ctx, ticket, target, level, reason)
    return Reply(M.ESCALATED.format(ref=ticket.ref, group=target, level=level_name(level, ticket.category)), ticket=ticket)


@command("urgent", usage="urgent <id> <why>", summary="Ask the group working on your ticket to hurry, and say why.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the reason", example="urgent 12 the board meeting starts at 2 pm",
         guard=must_be_open("hurried"))
def urgent(ctx: Context) -> Reply:
    ticket = ctx.ticket
    why = ctx.call.text
    note = ctx.note(ticket, M.URGENT_NOTE.format(why=why), internal=False)
    ticket = ctx.record("urgent", ticket, ticket, {"note": [None, note.id]}, summary=ctx.line("urgent", reason=one_line(why, 300)))
    page(ctx, ticket, ticket.group, "urgent", why)
    return Reply(M.URGENT_DONE.format(group=ticket.group, ref=ticket.ref), ticket=ticket)
