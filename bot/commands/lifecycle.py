"""Commands that open and change tickets. Each runs inside one transaction:
the ticket, its audit event, its notes and its outbox notices commit together."""
from __future__ import annotations

from dataclasses import replace

from bot import messages as M
from bot.commands.registry import REGISTRY, Role
from bot.context import Context
from bot.escalation import page, raise_level
from bot.people import EMAIL, MENTION, Person, from_directory, looks_like_phone, mention_identity, merge
from bot.model import Requester, Severity, Status, Ticket
from bot.replies import Reply
from bot.text import DESCRIPTION_MIN, FIELD_MAX, TEXT_MAX, clean, duration, one_line

command = REGISTRY.command

RESOLUTION_MIN = 10


def guess_category(ctx: Context, description: str) -> str:
    """The category whose keywords the description mentions most; the default if none."""
    words = description.lower()
    best, hits = ctx.settings.default_category, 0
    for name, category in ctx.settings.categories.items():
        found = sum(1 for k in category.keywords if k.lower() in words)
        if found > hits:
            best, hits = name, found
    return best


def refuse_long(ctx: Context, what: str, text: str) -> Reply | None:
    """Refuse text over the limit; hand the line back for editing unless it is huge."""
    if len(text) <= TEXT_MAX:
        return None
    draft = ctx.call.raw if len(text) <= 2 * TEXT_MAX else None
    return Reply.refuse(M.TOO_LONG.format(what=what, length=len(text), limit=TEXT_MAX), draft=draft)


INTAKE_FIELDS = ("severity", "category", "device", "location", "phone", "for", "via")
VIA = ("phone", "walk-in", "chat")


def find_people(ctx: Context, fragment: str, limit: int = 10) -> list[Person]:
    """The directory's matches (when there is a directory) and the help desk's known requesters."""
    found: list[Person] = []
    if ctx.directory is not None:
        found += [from_directory(p) for p in ctx.directory.search_people(fragment, limit)]
    found += ctx.tx.known_people(fragment, limit)
    return merge(found, limit)


def resolve_requester(ctx: Context, who: str) -> Person | Reply:
    """The person a technician opens a ticket for, or the sentence that says why not."""
    who = who.strip()
    mention = MENTION.match(who)
    identity = mention_identity(mention.group(1)) if mention else who
    if identity in ctx.mentioned:
        actor = ctx.mentioned[identity]
        return Person(actor.id, actor.name, actor.email, actor.phone, None, actor.department, actor.office)
    if mention or identity.startswith(("slack:", "teams:")):
        return Reply.refuse(M.FOR_UNKNOWN_MENTION.format(who=one_line(who, 60)))
    matches = find_people(ctx, who, limit=10)
    if EMAIL.match(who) or not looks_like_phone(who):
        exact = [p for p in matches if who.lower() in {p.identity.lower(), (p.email or "").lower()}]
        if exact:
            return exact[0]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = "; ".join(f"{p.name} ({p.email or p.identity}, {p.phone or p.mobile or 'no phone'}, {p.department or '—'})"
                           for p in matches[:5])
        return Reply.refuse(M.FOR_SEVERAL.format(who=one_line(who, 60), people=listed))
    near = find_people(ctx, who.split("@")[0][:3], limit=3) if len(who) >= 3 and not looks_like_phone(who) else []
    hint = M.FOR_CLOSEST.format(people=", ".join(f"{p.name} ({p.email or p.identity})" for p in near)) if near else M.FOR_WHOIS
    return Reply.refuse(M.FOR_UNKNOWN.format(who=one_line(who, 60), hint=hint))


def check_intake(ctx: Context, description: str, options: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Validate every intake field at once: the values to store, and a message per bad field."""
    settings = ctx.settings
    errors: dict[str, str] = {}
    if len(description) < DESCRIPTION_MIN:
        errors["description"] = M.DESCRIPTION_SHORT.format(min=DESCRIPTION_MIN)
    elif len(description) > TEXT_MAX:
        errors["description"] = M.DESCRIPTION_LONG.format(length=len(description), limit=TEXT_MAX)
    severity = settings.default_severity
    if options.get("severity"):
        try:
            severity = Severity(options["severity"].lower())
        except ValueError:
            errors["severity"] = M.BAD_SEVERITY.format(value=one_line(options["severity"], 40), choices=", ".join(s.value for s in Severity))
    category = (options.get("category") or "").lower() or guess_category(ctx, description)
    if category not in settings.categories:
        errors["category"] = M.BAD_CATEGORY.format(value=one_line(options["category"], 40), choices=", ".join(settings.categories))
    values = {"severity": severity, "category": category}
    for name in ("device", "location", "phone"):
        value = clean(options.get(name)) or None
        if value and len(value) > FIELD_MAX:
            errors[name] = M.FIELD_LONG.format(field=name, length=len(value), limit=FIELD_MAX)
        values[name] = value
    return values, errors


@command("new", usage="new <description> [severity=… category=… device=… location=… phone=…]",
         summary="Open a ticket; the description comes first and matters most.",
         text="the description", options=INTAKE_FIELDS,
         example="new the printer on floor 3 jams on every page severity=medium device=HP-4050 location=\"Floor 3\"",
         aliases=("open",))
def new(ctx: Context) -> Reply:
    call, settings = ctx.call, ctx.settings
    description = clean(call.text)
    values, errors = check_intake(ctx, description, call.options)
    if errors:
        draft = call.raw if len(call.raw) <= 2 * TEXT_MAX else None
        return Reply(M.NEW_REFUSED.format(problems=" ".join(errors.values()), draft=one_line(call.raw, 300)),
                     ok=False, draft=draft, field_errors=errors)
    severity, category = values["severity"], values["category"]
    requester, logged_by, via = Requester.from_actor(ctx.actor), None, "chat"
    if call.options.get("for"):
        if not ctx.is_technician:
            return Reply.refuse(M.FOR_TECHNICIANS_ONLY.format(text=one_line(description, 200)), draft=call.raw)
        person = resolve_requester(ctx, call.options["for"])
        if isinstance(person, Reply):
            return replace(person, draft=call.raw, field_errors={"requester": person.text})
        requester = Requester(person.identity, person.name, person.email, person.phone or person.mobile,
                              person.department, person.office)
        logged_by, via = ctx.actor, (call.options.get("via") or "phone").lower()
    elif call.options.get("via"):
        via = call.options["via"].lower()
    if via not in VIA:
        return Reply.refuse(M.BAD_VIA.format(value=one_line(via, 20), choices=", ".join(VIA)), draft=call.raw)
    if values["phone"]:
        requester = replace(requester, phone=values["phone"])  # a correction lives on the ticket; the directory is never written
    group = settings.chain(category)[0]
    if values["location"] is None and requester.office:
        values["location"] = requester.office  # from the directory; the form showed it to be corrected
    ticket = ctx.record("opened", None, Ticket(
        id=None, requester=requester, description=description, category=category,
        severity=severity, status=Status.NEW, created_at=ctx.now, updated_at=ctx.now, group=group,
        escalation_level=1, origin=ctx.actor.platform, device=values["device"], location=values["location"],
        logged_by_id=logged_by.id if logged_by else None, logged_by_name=logged_by.name if logged_by else None, via=via,
    ), {"requester": [None, requester.id], "logged_by": [None, logged_by.id if logged_by else None], "via": [None, via]})
    headline = one_line(description)
    ctx.notify("new_ticket", f"group:{group}", ticket, M.OPENED_FOR_GROUP.format(
        ref=ticket.ref, severity=severity.value, category=category, requester=ctx.actor.name, headline=headline))
    if severity is Severity.CRITICAL and settings.escalation.page_critical_at_creation:
        page(ctx, ticket, group, "critical", "")
    suggestions = ctx.suggest(ticket, technician=False)
    if suggestions:
        ctx.audit("suggested", ticket, {"suggestions": [None, [s.ticket_id for s in suggestions]],
                                        "confidence": [None, [s.confidence for s in suggestions]]})
    if logged_by is not None:  # they did not type it: tell them, so they can correct what was taken down
        ctx.notify("opened", f"user:{requester.id}", ticket, M.LOGGED_FOR_REQUESTER.format(
            name=logged_by.name, via=via, ref=ticket.ref, headline=headline, phone=requester.phone or "—",
            location=ticket.location or "—", id=ticket.id))
    elif not ctx.reply_visible:  # a submitted form closes without an answer: confirm by message instead
        ctx.notify("opened", f"user:{requester.id}", ticket, M.OPENED_FOR_REQUESTER.format(ref=ticket.ref, headline=headline, group=group),
                   suggestions=[{"position": s.position, "headline": s.headline, "resolution": s.resolution,
                                 "likeness": s.likeness} for s in suggestions])
    target = duration(ctx.response_due(ticket) - ticket.created_at)
    if logged_by is not None:
        return Reply(M.LOGGED.format(ref=ticket.ref, name=requester.name, via=via, headline=headline, target=target),
                     ticket=ticket, suggestions=suggestions)
    contact = ""
    if requester.phone or ticket.location:  # always confirm contact details: they change
        contact = M.CONTACT_CONFIRM.format(phone=requester.phone or "no phone", location=ticket.location or requester.office or "no location",
                                           id=ticket.id)
    return Reply(M.OPENED.format(ref=ticket.ref, severity=severity.value, category=category, group=group,
                                 headline=headline, target=target), ticket=ticket, suggestions=suggestions, detail=contact)


def not_open(ticket: Ticket, verb: str) -> str | None:
    """Why a finished ticket cannot be `verb` (claimed, resolved…) and what to do instead; None if open."""
    if ticket.status.is_open:
        return None
    hint = (M.HINT_REOPEN if ticket.status is Status.RESOLVED else M.HINT_NEW).format(id=ticket.id, ref=ticket.ref)
    return M.NOT_OPEN.format(ref=ticket.ref, status=ticket.status.label, verb=verb, hint=hint)


def refuse_unless_open(ctx: Context, verb: str) -> Reply | None:
    reason = not_open(ctx.ticket, verb)
    return Reply.refuse(reason) if reason else None


def take(ctx: Context, ticket: Ticket, assignee_id: str, assignee_name: str) -> Ticket:
    """The changes of a technician starting work: assignee, in progress, first response."""
    return ticket.with_changes(
        assignee_id=assignee_id, assignee_name=assignee_name,
        status=Status.IN_PROGRESS if ticket.status is Status.NEW else ticket.status,
        first_response_at=ticket.first_response_at or ctx.now,
    )


@command("claim", usage="claim <id>", summary="Take a ticket: it becomes yours and in progress.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="claim tickets", example="claim 12", aliases=("take",))
def claim(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "claimed"):
        return refused
    if ctx.actor.is_(ticket.assignee_id):
        return Reply.refuse(M.ALREADY_YOURS.format(ref=ticket.ref))
    if ticket.assignee_id:
        return Reply.refuse(M.CLAIMED_BY_OTHER.format(ref=ticket.ref, name=ticket.assignee_name, id=ticket.id))
    ticket = ctx.record("claimed", ticket, take(ctx, ticket, ctx.actor.id, ctx.actor.name))
    ctx.notify_requester("claimed", ticket, M.CLAIMED_FOR_REQUESTER.format(
        name=ctx.actor.name, ref=ticket.ref, headline=one_line(ticket.description)))
    return Reply(M.CLAIMED.format(ref=ticket.ref, headline=one_line(ticket.description)), ticket=ticket,
                 suggestions=ctx.suggest(ticket, technician=True))


@command("similar", usage="similar <id>", summary="Resolved tickets like this one, with what fixed them.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="search past resolutions", example="similar 12", writes=False)
def similar(ctx: Context) -> Reply:
    suggestions = ctx.suggest(ctx.ticket, technician=True)
    if not suggestions:
        return Reply(M.NO_SIMILAR.format(ref=ctx.ticket.ref))
    return Reply(M.SUGGESTED_FOR_TECH, suggestions=suggestions)


@command("solved", usage="solved <id> <suggestion number>",
         summary="A suggested past resolution fixed it: close your ticket.", role=Role.PARTICIPANT, takes_ticket=True,
         text="the suggestion number", example="solved 12 1")
def solved(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "marked solved"):
        return refused
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


def find_technician(ctx: Context, who: str):
    """A technician by id, email, name or unique name prefix; 'me' is the caller."""
    who_norm = who.strip().lstrip("@").lower()
    techs = ctx.settings.all_technicians()
    if who_norm in ("me", "myself"):
        return ctx.settings.technician_for(ctx.actor.ids)
    for tech in techs:
        if who_norm in (i.lower() for i in tech.ids) or who_norm == tech.name.lower():
            return tech
    prefixed = [t for t in techs if t.name.lower().startswith(who_norm)
                or any(i.lower().split("@")[0] == who_norm for i in t.ids)]
    return prefixed[0] if len(prefixed) == 1 else None


def technician_list(ctx: Context) -> str:
    return ", ".join(f"{t.name} ({t.ids[0]})" for t in ctx.settings.all_technicians()) or "none configured"


@command("assign", usage="assign <id> <technician>", summary="Hand a ticket to a technician (name, email or `me`).",
         role=Role.TECHNICIAN, takes_ticket=True, text="the technician", verb="assign tickets", example="assign 12 carol")
def assign(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "assigned"):
        return refused
    tech = find_technician(ctx, ctx.call.text)
    if tech is None:
        return Reply.refuse(M.UNKNOWN_TECHNICIAN.format(who=one_line(ctx.call.text, 60), choices=technician_list(ctx)))
    if ticket.assignee_id in tech.ids:
        return Reply.refuse(M.ASSIGNED_ALREADY.format(ref=ticket.ref, name=tech.name))
    ticket = ctx.record("assigned", ticket, take(ctx, ticket, tech.ids[0], tech.name))
    headline = one_line(ticket.description)
    if not ctx.actor.ids.intersection(tech.ids):
        ctx.notify("assigned", f"user:{tech.ids[0]}", ticket, M.ASSIGNED_TO_YOU.format(by=ctx.actor.name, ref=ticket.ref, headline=headline))
    ctx.notify_requester("claimed", ticket, M.CLAIMED_FOR_REQUESTER.format(name=tech.name, ref=ticket.ref, headline=headline))
    return Reply(M.ASSIGNED.format(ref=ticket.ref, name=tech.name), ticket=ticket)


def add_note(ctx: Context, internal: bool) -> Reply:
    ticket = ctx.ticket
    body = clean(ctx.call.text)
    if refused := refuse_long(ctx, "The note", body):
        return refused
    after = ticket
    by_technician = ctx.is_technician and not ctx.is_requester(ticket)
    if not internal and ctx.is_requester(ticket) and ticket.status is Status.WAITING:
        after = ticket.with_changes(status=Status.IN_PROGRESS)
    elif not internal and by_technician and ticket.first_response_at is None:
        after = ticket.with_changes(first_response_at=ctx.now)
    note = ctx.note(ticket, body, internal)
    action = "internal_note" if internal else "note"
    ticket = ctx.record(action, ticket, after, {"note": [None, note.id]}, summary=ctx.line(action, note=one_line(body, 300)))
    if not internal:
        preview = one_line(body, 300)
        if by_technician:
            ctx.notify_requester("note", ticket, M.NOTE_FOR_REQUESTER.format(name=ctx.actor.name, ref=ticket.ref, body=preview))
        else:
            ctx.notify_handlers("note", ticket, M.NOTE_FOR_TECH.format(name=ctx.actor.name, ref=ticket.ref, body=preview))
    return Reply((M.INTERNAL_ADDED if internal else M.NOTE_ADDED).format(ref=ticket.ref), ticket=ticket)


@command("note", usage="note <id> <text>", summary="Add a progress note everyone on the ticket can read.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the note", example="note 12 restarted the spooler, testing now",
         aliases=("comment",))
def note(ctx: Context) -> Reply:
    return add_note(ctx, internal=False)


@command("internal", usage="internal <id> <text>", summary="Add a note only technicians can read.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the note", verb="write internal notes",
         example="internal 12 user has admin rights on this box")
def internal(ctx: Context) -> Reply:
    return add_note(ctx, internal=True)


@command("wait", usage="wait <id> <question for the requester>",
         summary="Ask the requester something; the ticket waits on their answer.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the question", verb="put tickets on hold",
         example="wait 12 which room is the printer in?")
def wait(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "put on hold"):
        return refused
    body = clean(ctx.call.text)
    if refused := refuse_long(ctx, "The question", body):
        return refused
    after = take(ctx, ticket, ticket.assignee_id or ctx.actor.id, ticket.assignee_name or ctx.actor.name)
    after = after.with_changes(status=Status.WAITING)
    note = ctx.note(ticket, body, internal=False)
    ticket = ctx.record("waiting", ticket, after, {"note": [None, note.id]}, summary=ctx.line("waiting", note=one_line(body, 300)))
    ctx.notify_requester("question", ticket, M.QUESTION_FOR_REQUESTER.format(
        name=ctx.actor.name, ref=ticket.ref, body=one_line(body, 500), id=ticket.id))
    return Reply(M.WAITING.format(ref=ticket.ref), ticket=ticket)


@command("escalate", usage="escalate <id> [group] <reason>",
         summary="Raise a ticket one level up its category's chain, or to a named group.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the reason", verb="escalate tickets",
         example="escalate 12 network-eng switch port is dead")
def escalate(ctx: Context) -> Reply:
    ticket, settings = ctx.ticket, ctx.settings
    if refused := refuse_unless_open(ctx, "escalated"):
        return refused
    first, _, remainder = ctx.call.text.partition(" ")
    chain = settings.chain(ticket.category)
    groups = ", ".join(settings.groups)
    if first in settings.groups:
        target, reason = first, clean(remainder)
        if not reason:
            return Reply.refuse(M.NEED_REASON.format(ref=ticket.ref, id=ticket.id))
        if target == ticket.group:
            return Reply.refuse(M.SAME_GROUP.format(ref=ticket.ref, group=target))
        level = chain.index(target) + 1 if target in chain else ticket.escalation_level + 1
    else:
        reason = clean(ctx.call.text)
        if ticket.escalation_level >= len(chain):
            return Reply.refuse(M.TOP_LEVEL.format(ref=ticket.ref, group=ticket.group, level=ticket.escalation_level, id=ticket.id, choices=groups))
        level = ticket.escalation_level + 1
        target = chain[level - 1]
    if refused := refuse_long(ctx, "The reason", reason):
        return refused
    ticket = raise_level(ctx, ticket, target, level, reason)
    return Reply(M.ESCALATED.format(ref=ticket.ref, group=target, level=level), ticket=ticket)


@command("urgent", usage="urgent <id> <why>", summary="Ask the group working on your ticket to hurry, and say why.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the reason", example="urgent 12 the board meeting starts at 2 pm")
def urgent(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "hurried"):
        return refused
    why = clean(ctx.call.text)
    if refused := refuse_long(ctx, "The reason", why):
        return refused
    note = ctx.note(ticket, M.URGENT_NOTE.format(why=why), internal=False)
    ticket = ctx.record("urgent", ticket, ticket, {"note": [None, note.id]}, summary=ctx.line("urgent", reason=one_line(why, 300)))
    page(ctx, ticket, ticket.group, "urgent", why)
    return Reply(M.URGENT_DONE.format(group=ticket.group, ref=ticket.ref), ticket=ticket)


@command("resolve", usage="resolve <id> <resolution>", summary="Record what fixed it; the requester is told.",
         role=Role.TECHNICIAN, takes_ticket=True, text="the resolution", verb="resolve tickets",
         example="resolve 12 replaced the fuser unit; test page prints clean", aliases=("solve",))
def resolve(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if refused := refuse_unless_open(ctx, "resolved"):
        return refused
    resolution = clean(ctx.call.text)
    if len(resolution) < RESOLUTION_MIN:
        return Reply.refuse(M.RESOLUTION_SHORT.format(min=RESOLUTION_MIN, id=ticket.id), draft=ctx.call.raw)
    if refused := refuse_long(ctx, "The resolution", resolution):
        return refused
    after = take(ctx, ticket, ticket.assignee_id or ctx.actor.id, ticket.assignee_name or ctx.actor.name)
    ticket = ctx.record("resolved", ticket, after.with_changes(status=Status.RESOLVED, resolution=resolution, resolved_at=ctx.now))
    ctx.notify_requester("resolved", ticket, M.RESOLVED_FOR_REQUESTER.format(ref=ticket.ref, resolution=one_line(resolution, 500), id=ticket.id))
    return Reply(M.RESOLVED.format(ref=ticket.ref), ticket=ticket)


@command("reopen", usage="reopen <id> <why>", summary="The problem is back: the ticket returns to in progress.",
         role=Role.PARTICIPANT, takes_ticket=True, text="the reason", example="reopen 12 it jams again since this morning")
def reopen(ctx: Context) -> Reply:
    ticket = ctx.ticket
    if ticket.status is Status.CLOSED:
        return Reply.refuse(M.NOT_OPEN.format(ref=ticket.ref, status=ticket.status.label, verb="reopened",
                                              hint=M.HINT_NEW.format(ref=ticket.ref)))
    if ticket.status is not Status.RESOLVED:
        return Reply.refuse(M.REOPEN_NOT_RESOLVED.format(ref=ticket.ref, status=ticket.status.label, id=ticket.id))
    why = clean(ctx.call.text)
    if refused := refuse_long(ctx, "The reason", why):
        return refused
    note = ctx.note(ticket, M.REOPEN_NOTE.format(why=why), internal=False)
    ticket = ctx.record("reopened", ticket, ticket.with_changes(status=Status.IN_PROGRESS, resolution=None, resolved_at=None),
                        {"note": [None, note.id], "previous_resolution": [ticket.resolution, None]},
                        summary=ctx.line("reopened", reason=one_line(why, 300)))
    text = M.REOPENED_FOR_TECH.format(name=ctx.actor.name, ref=ticket.ref, why=one_line(why, 300))
    ctx.notify_handlers("reopened", ticket, text)
    ctx.notify_requester("reopened", ticket, text)
    return Reply(M.REOPENED.format(ref=ticket.ref), ticket=ticket)


def close_resolved(ctx: Context, action: str, not_resolved: str) -> Reply | Ticket:
    """Resolved → closed; the refusal for a ticket that is not resolved (yet) or already closed."""
    ticket = ctx.ticket
    if ticket.status is Status.CLOSED:
        return Reply.refuse(M.ALREADY_CLOSED.format(ref=ticket.ref))
    if ticket.status is not Status.RESOLVED:
        return Reply.refuse(not_resolved.format(ref=ticket.ref, status=ticket.status.label, id=ticket.id))
    return ctx.record(action, ticket, ticket.with_changes(status=Status.CLOSED, closed_at=ctx.now))


@command("close", usage="close <id>", summary="Close a resolved ticket for good.",
         role=Role.TECHNICIAN, takes_ticket=True, verb="close tickets", example="close 12")
def close(ctx: Context) -> Reply:
    closed = close_resolved(ctx, "closed", M.CLOSE_NOT_RESOLVED)
    if isinstance(closed, Reply):
        return closed
    return Reply(M.CLOSED.format(ref=closed.ref), ticket=closed)


@command("confirm", usage="confirm <id>", summary="The fix works: close your resolved ticket.",
         role=Role.PARTICIPANT, takes_ticket=True, example="confirm 12", aliases=("fixed",))
def confirm(ctx: Context) -> Reply:
    closed = close_resolved(ctx, "confirmed", M.CONFIRM_NOT_RESOLVED)
    if isinstance(closed, Reply):
        return closed
    ctx.notify_handlers("confirmed", closed, M.CONFIRMED_FOR_TECH.format(name=ctx.actor.name, ref=closed.ref))
    return Reply(M.CONFIRMED.format(ref=closed.ref), ticket=closed)


@command("whois", usage="whois <name | email | phone>", summary="Find a caller: name, email, user name or phone number.",
         role=Role.TECHNICIAN, text="who to look for", verb="look people up", example="whois +1 555 0142", writes=False)
def whois(ctx: Context) -> Reply:
    found = find_people(ctx, ctx.call.text, limit=10)
    if not found:
        return Reply.refuse(M.WHOIS_NONE.format(who=one_line(ctx.call.text, 60)))
    return Reply(M.WHOIS_FOUND.format(count=len(found)), people=tuple(found))
