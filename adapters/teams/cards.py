"""Adaptive Cards for the core's plain values: the ticket card, forms, the requester's
resolution and suggestion cards, and replies as Teams markdown.

Buttons are `Action.Execute` (Universal Actions): Teams sends them to the bot as an
`adaptiveCard/action` invoke whose `verb` names the command and whose `data` carries the
ticket id, the form's inputs merged in. User text cannot become a link, and in messages
cannot look like markup or a mention.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from adapters.chat_text import SEVERITY_ICON, STATUS_ICON, Markup, clip, reply_text as chat_reply_text
from bot import messages as M
from bot.forms import Field, Form
from bot.model import Status, Ticket
from bot.replies import Reply
from bot.text import duration, one_line

CARD_VERSION = "1.4"  # Action.Execute needs 1.4; Teams renders it on every client
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_LINK = re.compile(r"\]\s*\(")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def unlinked(text: str | None) -> str:
    """Text for a card: `[x](url)` cannot become a link (a zero-width space parts the brackets).
    Nothing else is escaped: a card cannot mention anyone, and backslashes show on some clients."""
    return _LINK.sub("]\u200b(", text or "")


def escape(text: str | None) -> str:
    """Text for a message: no links, and `<at>` or other markup shows as typed."""
    return unlinked(text).translate(_HTML)


def html_safe(text: str) -> str:
    """Our own sentences for a message: their `code` spans kept, `<placeholders>` shown."""
    return text.translate(_HTML)


TEAMS = Markup(escape=escape, bold=lambda t: f"**{t}**", italic=lambda t: f"_{t}_",
               code=lambda t: f"`{t.translate(_HTML)}`", pre=lambda t: "```\n" + t.translate(_HTML) + "\n```",
               line_break="\n\n", limit=20000)


def reply_text(reply: Reply) -> str:
    """A reply as a Teams markdown message."""
    return chat_reply_text(reply, TEAMS)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CONTENT_TYPE, "content": card}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION, "body": body,
                            "msteams": {"width": "Full"}}
    if actions:
        card["actions"] = actions
    return card


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def execute(title: str, verb: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    action = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def notice_card(text: str) -> dict[str, Any]:
    """A card with one line: what replaces buttons once they have been used."""
    return _card([text_block(unlinked(text))])


# The ticket card

def date(moment: datetime) -> str:
    """Shown in each reader's own time zone and format (Adaptive Cards' DATE/TIME functions)."""
    stamp = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def _person(name: str | None) -> str:
    return unlinked(name) or "—"


def card(ticket: Ticket, now: datetime, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ticket card in its group's channel; updated in place on every change."""
    r = ticket.requester
    contact = " · ".join(unlinked(x) for x in (r.email, r.phone, r.department, r.office) if x)
    facts = [
        ("Severity", f"{SEVERITY_ICON[ticket.severity]} {ticket.severity.value}"),
        ("Status", f"{STATUS_ICON[ticket.status]} {ticket.status.label}"),
        ("Category", unlinked(ticket.category)),
        ("Assignee", _person(ticket.assignee_name) if ticket.assignee_id else "_unassigned_"),
        ("Requester", _person(r.name) + (f" · {contact}" if contact else "")),
    ]
    if r.manager:
        facts.append(("Manager", unlinked(r.manager)))
    facts += [("Group", f"{unlinked(ticket.group)} · level {ticket.escalation_level}"),
              ("Device", unlinked(ticket.device) or "—"), ("Location", unlinked(ticket.location) or "—")]
    body: list[dict[str, Any]] = [
        text_block(f"{ticket.ref} · {unlinked(one_line(ticket.description, 140))}", size="Medium", weight="Bolder"),
        text_block(unlinked(clip(ticket.description, 3000))),
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
    ]
    if ticket.resolution:
        body.append(text_block("**Resolution**\n\n" + unlinked(clip(ticket.resolution, 3000))))
    logged = f" by {_person(ticket.logged_by_name)} ({unlinked(ticket.via)})" if ticket.logged_by_name else ""
    opened = f"Opened{logged} {date(ticket.created_at)}"
    if ticket.status.is_open:
        opened += f" · waiting {duration(now - ticket.created_at)}"
    if flags:
        opened += " · ⚠️ " + ", ".join(flags)
    body.append(text_block(opened, isSubtle=True, size="Small"))
    return _card(body, card_actions(ticket))


def card_actions(ticket: Ticket) -> list[dict[str, Any]]:
    data = {"ticket_id": ticket.id}
    if ticket.status is Status.CLOSED:
        return []
    if ticket.status is Status.RESOLVED:
        return [execute("Reopen", "reopen", data), execute("Close", "close", data)]
    claim = [] if ticket.assignee_id else [execute("Claim", "claim", data, "positive")]
    return claim + [execute("Note", "note", data), execute("Escalate", "escalate", data),
                    execute("Resolve", "resolve", data, None if ticket.assignee_id is None else "positive")]


# The requester's cards in their personal chat

def resolved_card(ticket: Ticket, text: str) -> dict[str, Any]:
    data = {"ticket_id": ticket.id, "where": "chat"}
    return _card([text_block(unlinked(text))], [execute(M.BUTTON_FIXED, "confirm", data, "positive"),
                                              execute(M.BUTTON_STILL_BROKEN, "reopen", data)])


def suggestions_card(ticket_id: int, text: str, suggestions: list[dict[str, Any]]) -> dict[str, Any]:
    """The requester's confirmation with past fixes to try, each with "This solved it"."""
    body: list[dict[str, Any]] = [text_block(unlinked(text))]
    for g in suggestions:
        body.append({"type": "Container", "separator": True, "items": [
            text_block(f"**{unlinked(g['headline'])}** _({unlinked(g['likeness'])})_"),
            text_block(unlinked(g["resolution"])),
            {"type": "ActionSet", "actions": [execute(M.BUTTON_SOLVED, "solved", {
                "ticket_id": ticket_id, "position": g["position"], "where": "chat"})]}]})
    return _card(body, [execute(M.BUTTON_STILL_NEED_HELP, "keep", {"ticket_id": ticket_id, "where": "chat"})])


# Forms

def form_card(form: Form, context: dict[str, Any], values: dict[str, str | None] | None = None,
              errors: dict[str, str] | None = None, above: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A form as a card: `values` keep what was typed, `errors` show next to their field;
    submitting sends verb `submit` with `context` (which form, which ticket) and the inputs."""
    values, errors = values or {}, errors or {}
    body: list[dict[str, Any]] = list(above or [])
    body.append(text_block(f"**{unlinked(form.title)}**", size="Medium"))
    if form.intro:
        body.append(text_block(unlinked(form.intro), isSubtle=True))
    if errors.get("_form"):
        body.append(text_block(unlinked(errors["_form"]), color="Attention"))
    for f in form.fields:
        body.append(_input(f, values))
        if f.kind == "person":  # people not in Teams are typed in: name, email or phone
            body.append(_input(Field(f"{f.name}_text", M.FIELD_REQUESTER_TEXT.format(platform="Teams")), values))
        if f.hint and f.kind != "checkbox":
            body.append(text_block(unlinked(f.hint), isSubtle=True, size="Small", spacing="None"))
        if errors.get(f.name):
            body.append(text_block("⚠️ " + unlinked(errors[f.name]), color="Attention", spacing="None"))
    # each rendering gets its own id: pressing its submit twice (or on a second device) counts once
    submit = {**context, "form": form.command, "form_id": uuid.uuid4().hex}
    actions = [execute(form.submit, "submit", submit, "positive")]
    if form.command != "new":  # Cancel must work on an empty form: skip the client's required-field check
        actions.append({**execute(M.TEAMS_CANCEL, "cancel", {**context, "form": form.command}), "associatedInputs": "none"})
    return _card(body, actions)


def _input(f: Field, values: dict[str, str | None]) -> dict[str, Any]:
    value = values[f.name] if f.name in values else f.initial
    if f.kind == "select":
        element: dict[str, Any] = {"type": "Input.ChoiceSet", "style": "compact",
                                   "choices": [{"title": clip(c.label + (f" — {c.hint}" if c.hint else ""), 120),
                                                "value": c.value} for c in f.choices]}
    elif f.kind == "person":  # Teams' people picker: the chosen user's Azure AD object id
        element = {"type": "Input.ChoiceSet", "choices": [],
                   "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}}
    elif f.kind == "checkbox":
        element = {"type": "Input.Toggle", "title": f.hint or f.label, "valueOn": "yes", "valueOff": ""}
    else:
        element = {"type": "Input.Text", "isMultiline": f.kind == "multiline", "maxLength": f.max_length}
        if f.placeholder:
            element["placeholder"] = f.placeholder
    element.update({"id": f.name, "label": f.label, "isRequired": f.required})
    if f.required:
        element["errorMessage"] = f"{f.label} is required"
    if value:
        element["value"] = value
    return element
