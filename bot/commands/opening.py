"""Opening tickets: `new` (for yourself, or for a caller on the phone or at the desk) and
`whois`, which finds that caller. The ticket, its audit event and its notices commit together."""
from __future__ import annotations

import difflib
import re
from dataclasses import replace

from bot import incidents, messages as M
from bot.commands.registry import REGISTRY, Role, Source
from bot.context import Context
from bot.attachments import files_text, record_origin
from bot.escalation import page
from bot.directory import digits_only
from bot.forms import assumed_device
from bot.people import EMAIL, MENTION, Person, from_directory, looks_like_phone, merge, new_caller
from bot.model import Actor, Requester, Severity, Status, Ticket
from bot.replies import Reply
from bot.text import DESCRIPTION_MIN, FIELD_MAX, TEXT_MAX, duration, one_line

command = REGISTRY.command

INTAKE_FIELDS = ("severity", "category", "device", "location", "phone", "for", "via", "name")
VIA = ("phone", "walk-in", "chat")
PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 6, 15  # E.164 numbers have at most 15 digits, extension aside


def did_you_mean(value: str, choices: list[str]) -> str:
    """" Did you mean `x`?" for the choice `value` most likely meant, or "" when none is close."""
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    return M.DID_YOU_MEAN.format(choice=close[0]) if close else ""


def guess_category(ctx: Context, description: str) -> str:
    """The category whose keywords the description mentions most; the default if none."""
    words = description.lower()
    best, hits = ctx.settings.default_category, 0
    for name, category in ctx.settings.categories.items():
        found = sum(1 for k in category.keywords if k.lower() in words)
        if found > hits:
            best, hits = name, found
    return best


def find_people(ctx: Context, fragment: str, limit: int = 10) -> list[Person]:
    """The directory's matches (when there is a directory) and the help desk's known requesters,
    directory entries first, one per identity, at most `limit`."""
    found: list[Person] = []
    if ctx.directory is not None:
        found += [from_directory(p) for p in ctx.directory.search_people(fragment, limit)]
    found += ctx.tx.known_people(fragment, limit)
    return merge(found, limit)


def resolve_requester(ctx: Context, who: str, name: str | None = None) -> Person | Reply:
    """The person a technician opens a ticket for (`for=`: an @mention the adapter resolved, an
    email, a name or a phone number), or the refusal that says why not: nobody or several match,
    or the directory says their account is disabled. Nobody found and a `name` given: a
    first-time caller, as the technician gives them (their email or phone, and name)."""
    person = find_requester(ctx, who.strip(), name)
    if isinstance(person, Person) and person.disabled:
        return Reply.refuse(M.FOR_DISABLED.format(name=person.name, who=person.email or person.identity))
    return person


def mentioned_person(ctx: Context, actor: Actor) -> Person:
    """A person the adapter resolved from a mention or a people picker, with the directory's word
    on whether their account is disabled (the platform's profile does not say; the directory's
    answer is usually in its cache already, from filling in the actor)."""
    entry = ctx.directory.find_person(actor.email) if ctx.directory is not None and actor.email else None
    return Person(actor.id, actor.name, actor.email, actor.phone, None, actor.department, actor.office,
                  disabled=bool(entry is not None and entry.disabled))


def find_requester(ctx: Context, who: str, name: str | None = None) -> Person | Reply:
    """The one person `who` names (see resolve_requester), or why there is not one."""
    mention = MENTION.match(who)
    identity = mention.group(1) if mention else who
    if identity in ctx.mentioned:
        return mentioned_person(ctx, ctx.mentioned[identity])
    if mention:
        return Reply.refuse(M.FOR_UNKNOWN_MENTION.format(who=one_line(who, 60)))
    matches = find_people(ctx, who, limit=10)
    if EMAIL.match(who) or not looks_like_phone(who):
        exact = [p for p in matches if who.lower() in {p.identity.lower(), (p.email or "").lower()}]
        if exact:
            return exact[0]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = "; ".join(f"{p.name} ({p.email or p.identity}, {p.phone or p.mobile or 'no phone'}, {p.department or '—'}"
                           + (f", {M.PERSON_DISABLED})" if p.disabled else ")") for p in matches[:5])
        return Reply.refuse(M.FOR_SEVERAL.format(who=one_line(who, 60), people=listed))
    if name:
        if len(name) > FIELD_MAX:
            return Reply.refuse(M.FIELD_LONG.format(field="name", length=len(name), limit=FIELD_MAX))
        return new_caller(who, name) or Reply.refuse(M.FOR_NEED_CONTACT.format(who=one_line(who, 60)))
    near = find_people(ctx, who.split("@")[0][:3], limit=3) if len(who) >= 3 and not looks_like_phone(who) else []
    hint = M.FOR_CLOSEST.format(people=", ".join(f"{p.name} ({p.email or p.identity})" for p in near)) if near else M.FOR_WHOIS
    first_time = " " + M.FOR_FIRST_TIME if EMAIL.match(who) or looks_like_phone(who) else ""
    return Reply.refuse(M.FOR_UNKNOWN.format(who=one_line(who, 60), hint=hint) + first_time)


def check_intake(ctx: Context, description: str, options: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Validate every intake field at once: the values to store, and a message per bad field
    (keyed by the form field's name), so a form shows each problem next to its field."""
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
            errors["severity"] = M.BAD_SEVERITY.format(value=one_line(options["severity"], 40),
                                                       choices=", ".join(s.value for s in Severity),
                                                       suggest=did_you_mean(options["severity"], [s.value for s in Severity]))
    category = (options.get("category") or "").lower() or guess_category(ctx, description)
    if category not in settings.categories:
        errors["category"] = M.BAD_CATEGORY.format(value=one_line(options["category"], 40), choices=", ".join(settings.categories),
                                                   suggest=did_you_mean(options["category"], list(settings.categories)))
    values = {"severity": severity, "category": category}
    for name in ("device", "location", "phone"):
        value = options.get(name) or None
        if value and len(value) > FIELD_MAX:
            errors[name] = M.FIELD_LONG.format(field=name, length=len(value), limit=FIELD_MAX)
        values[name] = value
    if values["phone"] and "phone" not in errors:
        number = re.split(r"(?i)\s*(?:x|ext\.?|extension)\s*(?=\d)", values["phone"])[0]
        digits = len(digits_only(number))
        if not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
            errors["phone"] = M.BAD_PHONE.format(value=one_line(values["phone"], 40), min=PHONE_MIN_DIGITS,
                                                 max=PHONE_MAX_DIGITS)
    return values, errors


@command("new", usage="new <description> [severity=… category=… device=… location=… phone=…]",
         summary="Open a ticket; the description comes first and matters most.",
         text="the description", options=INTAKE_FIELDS, text_limit=None,
         example="new the printer on floor 3 jams on every page severity=medium device=HP-4050 location=\"Floor 3\"",
         aliases=("open",))
def new(ctx: Context) -> Reply:
    call, settings = ctx.call, ctx.settings
    description = call.text
    draft = call.raw if call.raw and len(call.raw) <= 2 * TEXT_MAX else None
    values, errors = check_intake(ctx, description, dict(call.options))
    if errors:
        return Reply.refuse(M.NEW_REFUSED.format(problems=" ".join(errors.values()),
                                                 draft=one_line(call.raw or description, 300)),
                            draft=draft, field_errors=errors)
    severity, category = values["severity"], values["category"]
    requester, logged_by, via = Requester.from_actor(ctx.actor), None, "chat"
    origin = call.origin
    if origin is not None and origin.author is not None and not ctx.actor.is_(origin.author.id):
        # a chat message turned into a ticket by someone else (an emoji reaction): its author's
        requester, logged_by = Requester.from_actor(origin.author), ctx.actor
    elif call.options.get("for"):
        if not ctx.is_technician:
            return Reply.refuse(M.FOR_TECHNICIANS_ONLY.format(text=one_line(description, 200)), draft=draft)
        person = resolve_requester(ctx, call.options["for"], call.options.get("name"))
        if isinstance(person, Reply):
            return replace(person, draft=draft, field_errors={"requester": person.text})
        requester = Requester(person.identity, person.name, person.email, person.phone or person.mobile,
                              person.department, person.office)
        logged_by, via = ctx.actor, (call.options.get("via") or "phone").lower()
    elif call.options.get("via"):
        via = call.options["via"].lower()
    if call.options.get("name") and not call.options.get("for"):
        return Reply.refuse(M.NAME_WITHOUT_FOR, draft=draft)
    if via not in VIA:
        return Reply.refuse(M.BAD_VIA.format(value=one_line(via, 20), choices=", ".join(VIA)), draft=draft)
    # The requester's computers, from the directory: the only one is assumed, as the form pre-fills
    # it; several are listed. Not after a form (it offered them: an empty field was meant), and
    # not for a caller (theirs are not known here).
    devices = ctx.actor.devices if logged_by is None and call.source is not Source.FORM else ()
    assumed = assumed_device(devices) if values["device"] is None else None
    values["device"] = values["device"] or assumed
    if values["phone"]:
        requester = replace(requester, phone=values["phone"])  # a correction lives on the ticket; the directory is never written
    group = settings.chain(category)[0]
    if values["location"] is None and requester.office:
        values["location"] = requester.office  # from the directory; the form showed it to be corrected
    incident = incidents.matching_incident(ctx, description)  # an open incident it is part of: no card of its own
    ticket = ctx.record("opened", None, Ticket(
        id=None, requester=requester, description=description, category=category,
        severity=severity, status=Status.NEW, created_at=ctx.now, updated_at=ctx.now, group=group,
        escalation_level=1, origin=ctx.actor.platform, device=values["device"], location=values["location"],
        logged_by_id=logged_by.id if logged_by else None, logged_by_name=logged_by.name if logged_by else None, via=via,
        parent_id=incident.ticket_id if incident else None,
    ), {"requester": [None, requester.id], "logged_by": [None, logged_by.id if logged_by else None], "via": [None, via],
        **({"parent_id": [None, incident.ticket_id]} if incident else {})})
    if incident is not None:
        return Reply(incidents.joined_at_intake(ctx, ticket, incident, logged_by), ticket=ctx.ticket)
    headline = one_line(description)
    files = record_origin(ctx, ticket, origin) if origin is not None else []
    listed = (" " + M.FILES_FOR_REQUESTER.format(names=files_text(files))) if files else ""
    ctx.notify("new_ticket", f"group:{group}", ticket, M.OPENED_FOR_GROUP.format(
        ref=ticket.ref, severity=severity.value, category=category, requester=ctx.actor.name, headline=headline))
    if severity is Severity.CRITICAL and settings.escalation.page_critical_at_creation:
        page(ctx, ticket, group, "critical", "")
    suggestions = ctx.suggest(ticket, technician=False)
    if suggestions:
        ctx.audit("suggested", ticket, {"suggestions": [None, [s.ticket_id for s in suggestions]],
                                        "confidence": [None, [s.confidence for s in suggestions]]})
    if logged_by is not None:  # they did not type it: tell them, so they can correct what was taken down
        ctx.notify_requester("opened", ticket, M.LOGGED_FOR_REQUESTER.format(
            name=logged_by.name, via=via, ref=ticket.ref, headline=headline, phone=requester.phone or "—",
            location=ticket.location or "—", id=ticket.id) + listed)
    elif not ctx.reply_visible:  # a submitted form closes without an answer: confirm by message instead
        ctx.notify("opened", f"user:{requester.id}", ticket, M.OPENED_FOR_REQUESTER.format(ref=ticket.ref, headline=headline, group=group) + listed,
                   suggestions=[{"position": s.position, "headline": s.headline, "resolution": s.resolution,
                                 "likeness": s.likeness} for s in suggestions])
    target = duration(ctx.response_due(ticket) - ticket.created_at)
    if logged_by is not None:
        return Reply(M.LOGGED.format(ref=ticket.ref, name=requester.name, via=via, headline=headline, target=target),
                     ticket=ticket, suggestions=suggestions, attachments=tuple(files))
    contact = []
    if requester.phone or ticket.location or assumed:  # always confirm contact details: they change
        contact.append(M.CONTACT_CONFIRM.format(
            phone=requester.phone or "no phone", location=ticket.location or requester.office or "no location", id=ticket.id,
            device=M.CONTACT_DEVICE.format(device=assumed) if assumed else ""))
    if ticket.device is None and len(devices) > 1:
        contact.append(M.DEVICES_YOURS.format(devices=", ".join(devices[:8]) + (", …" if len(devices) > 8 else ""),
                                              id=ticket.id))
    return Reply(M.OPENED.format(ref=ticket.ref, severity=severity.value, category=category, group=group,
                                 headline=headline, target=target), ticket=ticket, suggestions=suggestions, detail=" ".join(contact),
                 attachments=tuple(files))


@command("whois", usage="whois <name | email | phone>", summary="Find a caller: name, email, user name or phone number.",
         role=Role.TECHNICIAN, text="who to look for", verb="look people up", example="whois +1 555 0142", writes=False)
def whois(ctx: Context) -> Reply:
    found = find_people(ctx, ctx.call.text, limit=10)
    if not found:
        return Reply.refuse(M.WHOIS_NONE.format(who=one_line(ctx.call.text, 60)))
    return Reply(M.WHOIS_FOUND.format(count=len(found)), people=tuple(found))
