"""Major incidents: link a ticket to the one it duplicates (or merge it there), declare an
incident, list the open ones, tell everyone affected at once, and turn down a proposal of
alike tickets. The rules live in bot/incidents.py; these are the commands people type."""
from __future__ import annotations

from bot import incidents as I, messages as M
from bot.commands.guards import must_be_open, not_open
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.model import Severity, Ticket
from bot.replies import Reply
from bot.text import duration, one_line, parse_ticket_ref

command = REGISTRY.command
TITLE_MAX = 200


def _other_ticket(ctx: Context, token: str, need: str, bad: str) -> Ticket | Reply:
    """The ticket a command's text names (`41`, `#41`, `to 41`, `into 41`), locked, or the refusal."""
    words = token.split()
    if words and words[0].lower() in ("to", "into", "with"):
        words = words[1:]
    if not words:
        return Reply.refuse(need.format(id=ctx.ticket.id))
    number = parse_ticket_ref(words[0])
    if number is None or len(words) > 1:
        return Reply.refuse(bad.format(token=one_line(" ".join(words), 40), id=ctx.ticket.id))
    other = ctx.tx.get_ticket(number, lock=True)
    if other is None:
        return Reply.refuse(M.NOT_VISIBLE.format(ref=f"#{number}"))
    return other


def must_be_linked(ticket: Ticket) -> str | None:
    """The guard of `unlink`: an open ticket linked to a parent."""
    if ticket.parent_id is None:
        return M.NOT_LINKED.format(ref=ticket.ref)
    return not_open(ticket, "unlinked")


@command("link", usage="link <id> <parent>", summary="The same problem as another ticket: resolved with it, no clock of its own.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the parent ticket", verb="link tickets", example="link 43 41",
         guard=must_be_open("linked"))
def link(ctx: Context) -> Reply:
    child = ctx.ticket
    parent = _other_ticket(ctx, ctx.call.text, M.LINK_NEED_PARENT, M.LINK_BAD_PARENT)
    if isinstance(parent, Reply):
        return parent
    given = parent
    parent = I.root_of(ctx, parent)
    if parent.id == child.id:
        return Reply.refuse(M.LINK_SELF.format(ref=child.ref))
    if not parent.status.is_open:
        return Reply.refuse(M.LINK_PARENT_DONE.format(parent=parent.ref, status=parent.status.label))
    if child.parent_id == parent.id:
        return Reply.refuse(M.LINK_ALREADY.format(ref=child.ref, parent=parent.ref))
    if ctx.tx.incident_record(child.id) is not None:
        return Reply.refuse(M.LINK_IS_INCIDENT.format(ref=child.ref, parent=parent.ref, id=child.id, parent_id=parent.id))
    earlier = child.parent_id
    children = ctx.tx.linked_tickets(child.id)
    tell = "known" if ctx.tx.incident_record(parent.id) is not None else "same"
    linked = I.link(ctx, child, parent, tell=tell)
    for grandchild in children:  # links are one level: what was linked to it moves with it
        I.link(ctx, ctx.tx.get_ticket(grandchild.id, lock=True), parent, tell=tell)
    if earlier is not None:
        I.refresh_card(ctx, earlier)
    I.refresh_card(ctx, parent.id)
    text = M.LINKED.format(ref=child.ref, parent=parent.ref)
    if given.id != parent.id:
        text += M.LINKED_THROUGH.format(given=given.ref, parent=parent.ref, ref=child.ref)
    if children:
        text += M.LINKED_MOVED.format(count=len(children), parent=parent.ref)
    ctx.ticket = linked
    return Reply(text, ticket=linked)


@command("unlink", usage="unlink <id>", summary="Not the same problem after all: the ticket is handled on its own.",
         role=Role.PARTICIPANT, takes_ticket=True, example="unlink 43", guard=must_be_linked)
def unlink(ctx: Context) -> Reply:
    child = ctx.ticket
    parent_ref = f"#{child.parent_id}"
    by_requester = ctx.is_requester(child) and not ctx.is_technician
    reason = (M.UNLINK_BY_REQUESTER if by_requester else M.UNLINK_BY_TECHNICIAN).format(name=ctx.actor.name)
    child = I.unlink(ctx, child, reason)
    if by_requester or ctx.is_requester(child):
        return Reply(M.UNLINKED_SELF.format(ref=child.ref, parent=parent_ref, group=child.group), ticket=child)
    ctx.notify_requester("unlinked", child, M.UNLINKED_FOR_REQUESTER.format(name=ctx.actor.name, ref=child.ref,
                                                                           parent=parent_ref))
    return Reply(M.UNLINKED.format(ref=child.ref, parent=parent_ref), ticket=child)


@command("merge", usage="merge <id> into <id>",
         summary="A duplicate: its notes and requester move to the other ticket, and it closes.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the ticket to merge into", verb="merge tickets",
         example="merge 43 into 41", guard=must_be_open("merged"))
def merge(ctx: Context) -> Reply:
    source = ctx.ticket
    target = _other_ticket(ctx, ctx.call.text, M.MERGE_NEED_TARGET, M.MERGE_BAD_TARGET)
    if isinstance(target, Reply):
        return target
    if target.id == source.id:
        return Reply.refuse(M.MERGE_SELF.format(ref=source.ref))
    if not target.status.is_open:
        return Reply.refuse(M.MERGE_TARGET_DONE.format(target=target.ref, status=target.status.label))
    if ctx.tx.incident_record(source.id) is not None:
        return Reply.refuse(M.MERGE_IS_INCIDENT.format(ref=source.ref, target_id=target.id, id=source.id))
    if target.parent_id == source.id:  # merging a parent into its own linked ticket: that one leaves it first
        target = I.unlink(ctx, target, M.UNLINK_BY_TECHNICIAN.format(name=ctx.actor.name))
    source, target, moved = I.merge(ctx, source, target)
    listed = ", ".join(f"{count} {table.replace('_', ' ')}" for table, count in moved.items()) or M.MERGED_MOVED_NOTHING
    ctx.ticket = source
    return Reply(M.MERGED.format(ref=source.ref, target=target.ref, moved=listed), ticket=source)


@command("incident", usage="incident <id> [title] [severity=…]",
         summary="Declare a major incident with this ticket as its parent; alike tickets join it.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the title", optional_text=True, options=("severity", "proposal"),
         verb="declare major incidents", example="incident 41 VPN disconnects every few minutes",
         guard=must_be_open("declared a major incident"), text_limit=TITLE_MAX)
def incident(ctx: Context) -> Reply:
    parent = ctx.ticket
    if parent.parent_id is not None:
        return Reply.refuse(M.INCIDENT_OF_CHILD.format(ref=parent.ref, parent=f"#{parent.parent_id}",
                                                       parent_id=parent.parent_id))
    record = ctx.tx.incident_record(parent.id)
    if record is not None:
        return Reply.refuse(M.INCIDENT_ALREADY.format(ref=parent.ref, title=record.title, id=parent.id))
    answered = ctx.tx.proposal_of(parent.id)
    if ctx.call.options.get("proposal") and answered is not None and answered.state != "open":
        return Reply.refuse(M.PROPOSAL_TAKEN.format(state=answered.state, name=answered.decided_by_name or "?"))
    severity = None
    if ctx.call.options.get("severity"):
        try:
            severity = Severity(ctx.call.options["severity"].lower())
        except ValueError:
            return Reply.refuse(M.BAD_SEVERITY.format(value=one_line(ctx.call.options["severity"], 40),
                                                      choices=", ".join(s.value for s in Severity)))
    title = one_line(ctx.call.text or parent.description, 120)
    parent, linked = I.declare(ctx, parent, title, severity)
    group = ctx.tx.incident_record(parent.id).group
    joined = (M.DECLARED_LINKED.format(count=len(linked), refs=I.refs(t.id for t in linked)) if linked
              else M.DECLARED_ALONE)
    ctx.ticket = parent
    return Reply(M.DECLARED.format(ref=parent.ref, title=title, linked=joined, group=group, id=parent.id), ticket=parent)


@command("incidents", usage="incidents", summary="Open major incidents with how many are affected, and proposals waiting.",
         role=Role.TECHNICIAN, verb="see major incidents", example="incidents", writes=False)
def incidents(ctx: Context) -> Reply:
    zone = ctx.settings.zone
    lines = []
    found = ctx.tx.open_incidents()
    if found:
        lines.append(M.INCIDENTS_TITLE.format(count=len(found)))
        for record, parent, tickets, people in found:
            lines.append(M.INCIDENTS_LINE.format(
                ref=record.ref, title=record.title, severity=parent.severity.value, people=people, tickets=tickets,
                declared=record.declared_at.astimezone(zone).strftime("%H:%M"), by=record.declared_by_name,
                lead=duration(record.declared_at - record.first_ticket_at)))
    else:
        lines.append(M.INCIDENTS_NONE)
    waiting = ctx.tx.open_proposals(ctx.now - I.PROPOSALS_OPEN_FOR)
    if waiting:
        lines.append(M.PROPOSALS_TITLE.format(count=len(waiting)))
        for proposal in waiting:
            lines.append(M.PROPOSAL_LINE.format(refs=I.refs(proposal.members), headline=proposal.headline,
                                                id=proposal.ticket_id))
    return Reply("\n".join(lines))


@command("broadcast", usage="broadcast <incident> <text>",
         summary="Tell everyone whose ticket is linked to this one, once each.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the update", verb="broadcast updates",
         example="broadcast 41 the VPN gateway is being restarted; reconnect in 10 minutes",
         guard=must_be_open("updated"))
def broadcast(ctx: Context) -> Reply:
    parent = ctx.ticket
    if not ctx.tx.linked_tickets(parent.id, open_only=True, limit=1):
        return Reply.refuse(M.BROADCAST_ALONE.format(ref=parent.ref, id=parent.id))
    text = ctx.call.text
    note = ctx.note(parent, M.BROADCAST_NOTE.format(text=text), internal=False)
    after = parent.with_changes(first_response_at=parent.first_response_at or ctx.now)
    told = I.broadcast(ctx, parent, text)
    parent = ctx.record("broadcast", ctx.tx.get_ticket(parent.id, lock=True), after, {"note": [None, note.id],
                                                                                     "told": [None, told]},
                        summary=ctx.line("broadcast", text=one_line(text, 300)))
    I.refresh_card(ctx, parent.id)
    return Reply(M.BROADCAST_DONE.format(count=told, ref=parent.ref, text=one_line(text, 300)), ticket=parent)


@command("dismiss", usage="dismiss <id>", summary="Not the same problem: turn down the incident proposal this ticket is in.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="turn down incident proposals", example="dismiss 41")
def dismiss(ctx: Context) -> Reply:
    proposal = ctx.tx.proposal_of(ctx.ticket.id)
    if proposal is None:
        return Reply.refuse(M.NOT_PROPOSED.format(ref=ctx.ticket.ref))
    if proposal.state != "open":
        return Reply.refuse(M.PROPOSAL_TAKEN.format(state=proposal.state, name=proposal.decided_by_name or "?"))
    ctx.tx.decide_proposal(proposal.id, "dismissed", ctx.actor.name, ctx.now)
    ctx.audit("dismissed", ctx.tx.get_ticket(proposal.ticket_id), {"proposal": [proposal.id, None],
                                                                   "members": [list(proposal.members), None]})
    return Reply(M.DISMISSED.format(refs=I.refs(proposal.members)))
