"""Closing a ticket: the technician's resolution, the requester's confirmation (or reopening),
closing for good, a requester solving it with a past resolution they were offered, and the
requester's rating of the help (one per resolution, see bot/satisfaction.py)."""
from __future__ import annotations

from dataclasses import replace

from bot import incidents, messages as M
from bot.commands.guards import must_be_open, must_be_resolved
from bot.commands.registry import REGISTRY, Role
from bot.commands.working import take
from bot.context import Context
from bot.model import Status, Ticket
from bot.replies import Reply
from bot.satisfaction import COMMENT_MAX, LOW, Rating, read_score
from bot.text import one_line

command = REGISTRY.command

RESOLUTION_MIN = 10


@command("resolve", usage="resolve <id> <resolution>", summary="Record what fixed it; the requester is told.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the resolution", verb="resolve tickets",
         example="resolve 12 replaced the fuser unit; test page prints clean", aliases=("solve",),
         guard=must_be_open("resolved"))
def resolve(ctx: Context) -> Reply:
    ticket = ctx.ticket
    resolution = ctx.call.text
    if len(resolution) < RESOLUTION_MIN:
        return Reply.refuse(M.RESOLUTION_SHORT.format(min=RESOLUTION_MIN, id=ticket.id), draft=ctx.call.raw)
    after = take(ctx, ticket, ticket.assignee_id or ctx.actor.id, ticket.assignee_name or ctx.actor.name)
    ticket = ctx.record("resolved", ticket, after.with_changes(status=Status.RESOLVED, resolution=resolution, resolved_at=ctx.now))
    ctx.tx.ask_rating(Rating.asked(ticket))
    ctx.notify_requester("resolved", ticket, resolved_text(ticket))
    linked, told = incidents.resolve_linked(ctx, ticket, (ticket.assignee_id, ticket.assignee_name))  # answered once
    ctx.ticket = ticket
    cascade = M.RESOLVED_CASCADE.format(count=linked, people=told) if linked else ""
    return Reply(M.RESOLVED.format(ref=ticket.ref) + cascade, ticket=ticket)


def resolved_text(ticket: Ticket) -> str:
    """What the requester is told of a resolution: what fixed it, how to reopen, how to rate."""
    return (M.RESOLVED_FOR_REQUESTER.format(ref=ticket.ref, resolution=one_line(ticket.resolution or "", 500), id=ticket.id)
            + "\n" + M.RATE_INVITE.format(id=ticket.id))


@command("reopen", usage="reopen <id> <why>", summary="The problem is back: the ticket returns to in progress.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the reason", example="reopen 12 it jams again since this morning",
         guard=must_be_resolved)
def reopen(ctx: Context) -> Reply:
    ticket = ctx.ticket
    why = ctx.call.text
    note = ctx.note(ticket, M.REOPEN_NOTE.format(why=why), internal=False)
    if ticket.resolved_at is not None:
        ctx.tx.withdraw_rating(ticket.id, ticket.resolved_at)  # reopened instead of rated: nothing to rate
    ticket = ctx.record("reopened", ticket, ticket.with_changes(status=Status.IN_PROGRESS, resolution=None, resolved_at=None),
                        {"note": [None, note.id], "previous_resolution": [ticket.resolution, None]},
                        summary=ctx.line("reopened", reason=one_line(why, 300)))
    if ticket.parent_id is not None:  # still broken for them: their ticket leaves the incident and is worked on its own
        ticket = incidents.unlink(ctx, ticket, M.UNLINK_REOPENED.format(name=ctx.actor.name))
    text = M.REOPENED_FOR_TECH.format(name=ctx.actor.name, ref=ticket.ref, why=one_line(why, 300))
    ctx.notify_handlers("reopened", ticket, text)
    ctx.notify_requester("reopened", ticket, text)
    return Reply(M.REOPENED.format(ref=ticket.ref), ticket=ticket)


def must_be_closable(not_resolved: str):
    """The guard of `close` and `confirm`: resolved → closed; `not_resolved` says what to do first."""
    def guard(ticket: Ticket) -> str | None:
        if ticket.status is Status.CLOSED:
            return M.ALREADY_CLOSED.format(ref=ticket.ref)
        if ticket.status is not Status.RESOLVED:
            return not_resolved.format(ref=ticket.ref, status=ticket.status.label, id=ticket.id)
        return None
    return guard


@command("close", usage="close <id>", summary="Close a resolved ticket for good.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="close tickets", example="close 12",
         guard=must_be_closable(M.CLOSE_NOT_RESOLVED))
def close(ctx: Context) -> Reply:
    closed = ctx.record("closed", ctx.ticket, ctx.ticket.with_changes(status=Status.CLOSED, closed_at=ctx.now))
    return Reply(M.CLOSED.format(ref=closed.ref), ticket=closed)


@command("confirm", usage="confirm <id>", summary="The fix works: close your resolved ticket.",
         role=Role.PARTICIPANT, takes_ticket=True, example="confirm 12", aliases=("fixed",),
         guard=must_be_closable(M.CONFIRM_NOT_RESOLVED))
def confirm(ctx: Context) -> Reply:
    closed = ctx.record("confirmed", ctx.ticket, ctx.ticket.with_changes(status=Status.CLOSED, closed_at=ctx.now))
    ctx.notify_handlers("confirmed", closed, M.CONFIRMED_FOR_TECH.format(name=ctx.actor.name, ref=closed.ref))
    return Reply(M.CONFIRMED.format(ref=closed.ref), ticket=closed)


@command("solved", usage="solved <id> <suggestion number>",
         summary="A suggested past resolution fixed it: close your ticket.", role=Role.PARTICIPANT, takes_ticket=True,
         text="the suggestion number", example="solved 12 1", guard=must_be_open("marked solved"))
def solved(ctx: Context) -> Reply:
    ticket = ctx.ticket
    offered = next((e.changes["suggestions"][1] for e in reversed(ctx.tx.events(ticket.id)) if e.action == "suggested"), [])
    if not offered:
        return Reply.refuse(M.NO_SUGGESTIONS.format(ref=ticket.ref))
    value = ctx.call.text.strip().lstrip("#")
    if not value.isdigit() or not 1 <= int(value) <= len(offered):
        return Reply.refuse(M.BAD_SUGGESTION.format(ref=ticket.ref, value=one_line(value, 20),
                                                    choices=", ".join(str(i) for i in range(1, len(offered) + 1))))
    source = ctx.tx.past_resolution(offered[int(value) - 1])  # a ticket, or imported history (key < 0)
    if source is None:
        return Reply.refuse(M.SUGGESTION_GONE.format(ref=ticket.ref, value=value))
    resolution = M.DEFLECTED_RESOLUTION.format(source=source.ref, resolution=one_line(source.resolution, 500))
    ticket = ctx.record("deflected", ticket, ticket.with_changes(
        status=Status.CLOSED, resolution=resolution, resolved_at=ctx.now, closed_at=ctx.now),
        {"source": [None, source.key]})
    ctx.notify_handlers("deflected", ticket, M.DEFLECTED_FOR_HANDLERS.format(name=ctx.actor.name, ref=ticket.ref))
    return Reply(M.DEFLECTED.format(ref=ticket.ref), ticket=ticket)


def must_be_rateable(ticket: Ticket) -> str | None:
    """The guard of `rate`: the ticket's current resolution stands (resolved, or closed after it)."""
    if ticket.resolved_at is None or ticket.status.is_open:
        return M.RATE_NOT_RESOLVED.format(ref=ticket.ref, status=ticket.status.label)
    return None


@command("rate", usage="rate <id> <1-5> [comment]",
         summary="Rate the help on your resolved ticket, 1 (poor) to 5 (excellent); change it within 7 days.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the rating", example="rate 12 5 fixed in minutes, thanks",
         guard=must_be_rateable, text_limit=COMMENT_MAX + 10)
def rate(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if not ctx.is_requester(ticket):
        return Reply.refuse(M.RATE_REQUESTER_ONLY.format(ref=ticket.ref))
    score, comment, word = read_score(ctx.call.text)
    if score is None:
        return Reply.refuse(M.RATE_RANGE.format(value=one_line(word, 20), id=ticket.id), draft=ctx.call.raw)
    rating = ctx.tx.rating_of(ticket.id, ticket.resolved_at, lock=True)
    if rating is None:
        last = next((e.action for e in reversed(ctx.tx.events(ticket.id)) if e.action in ("resolved", "deflected")), None)
        if last == "deflected":
            return Reply.refuse(M.RATE_DEFLECTED.format(ref=ticket.ref))
        rating = Rating.asked(ticket)  # resolved before ratings were asked for
        ctx.tx.ask_rating(rating)
    until = rating.open_until.astimezone(ctx.settings.zone).strftime("%Y-%m-%d %H:%M")
    if ctx.now > rating.open_until:
        return Reply.refuse(M.RATE_WINDOW_OVER.format(ref=ticket.ref, until=until))
    after = replace(rating, score=score, comment=comment or rating.comment, rated_at=rating.rated_at or ctx.now,
                    changed_at=ctx.now)
    if (after.score, after.comment) == (rating.score, rating.comment):
        return Reply(M.RATING_SAME.format(ref=ticket.ref, score=score), ticket=ticket)
    ctx.tx.save_rating(after)
    changes = {"score": [rating.score, after.score]}
    if after.comment != rating.comment:
        changes["comment"] = [rating.comment, after.comment]
    ctx.audit("rated", ticket, changes)
    if score <= LOW:
        said = M.RATED_LOW_COMMENT.format(comment=one_line(after.comment, 300)) if after.comment else ""
        ctx.notify("ticket_changed", f"ticket:{ticket.id}", ticket,
                   M.RATED_LOW_LINE.format(actor=ctx.actor.name, score=score, comment=said), action="rated")
    if rating.score is None:
        text = M.RATED.format(ref=ticket.ref, score=score, until=until)
    elif after.score == rating.score:
        text = M.RATING_COMMENTED.format(ref=ticket.ref, score=score)
    else:
        text = M.RATING_CHANGED.format(ref=ticket.ref, score=score)
    return Reply(text, ticket=ticket)
