"""Block Kit for the core's plain values: ticket cards, forms as modals, replies as text.

Everything a user typed is escaped, so a description holding `<!channel>` pings nobody.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from adapters.chat_text import SEVERITY_ICON, STATUS_ICON, Markup, clip as _clip, reply_text as chat_reply_text
from bot import messages as M
from bot.forms import Field, Form
from bot.model import Status, Ticket
from bot.replies import Reply
from bot.text import duration, one_line

MODAL_CALLBACK = "helpdesk_form"
SECTION_LIMIT = 2900


def escape(text: str | None) -> str:
    """Slack's three control characters; with them escaped, user text cannot mention or link."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def person(identity: str | None, name: str | None) -> str:
    if identity and identity.startswith("slack:"):
        return f"<@{identity.removeprefix('slack:')}>"
    return escape(name) or "—"


def date(moment: datetime) -> str:
    ts = int(moment.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='minutes')}>"


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return _clip(text, limit)


def button(label: str, action: str, ticket_id: int, style: str | None = None) -> dict[str, Any]:
    block = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": f"ticket:{action}",
             "value": str(ticket_id)}
    if style:
        block["style"] = style
    return block


def card(ticket: Ticket, now: datetime, flags: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The ticket card in its group's channel; edited in place on every change."""
    r = ticket.requester
    contact = " · ".join(escape(x) for x in (r.email, r.phone, r.department, r.office) if x)
    if r.manager:
        contact += f"\nManager: {escape(r.manager)}"
    fields = [
        f"*Severity*\n{SEVERITY_ICON[ticket.severity]} {ticket.severity.value}",
        f"*Status*\n{STATUS_ICON[ticket.status]} {ticket.status.label}",
        f"*Category*\n{escape(ticket.category)}",
        f"*Assignee*\n{person(ticket.assignee_id, ticket.assignee_name) if ticket.assignee_id else '_unassigned_'}",
        f"*Requester*\n{person(ticket.requester.id, r.name)}" + (f"\n{contact}" if contact else ""),
        f"*Group*\n{escape(ticket.group)} · level {ticket.escalation_level}",
        f"*Device*\n{escape(ticket.device) or '—'}",
        f"*Location*\n{escape(ticket.location) or '—'}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{ticket.ref} · {one_line(ticket.description, 140)}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(ticket.description))}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if ticket.resolution:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip("*Resolution*\n" + escape(ticket.resolution))}})
    logged = f" by {person(ticket.logged_by_id, ticket.logged_by_name)} ({escape(ticket.via)})" if ticket.logged_by_name else ""
    context = f"Opened{logged} {date(ticket.created_at)} · waiting {duration(now - ticket.created_at)}" if ticket.status.is_open \
        else f"Opened{logged} {date(ticket.created_at)}"
    if flags:
        context += " · ⚠️ " + ", ".join(flags)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    actions = card_buttons(ticket)
    if actions:
        blocks.append({"type": "actions", "block_id": f"ticket_actions:{ticket.id}", "elements": actions})
    return blocks


def card_buttons(ticket: Ticket) -> list[dict[str, Any]]:
    if ticket.status is Status.CLOSED:
        return []
    if ticket.status is Status.RESOLVED:
        return [button("Reopen", "reopen", ticket.id), button("Close", "close", ticket.id)]
    buttons = [] if ticket.assignee_id else [button("Claim", "claim", ticket.id, "primary")]
    return buttons + [button("Add note", "note", ticket.id), button("Escalate", "escalate", ticket.id),
                      button("Resolve", "resolve", ticket.id, None if ticket.assignee_id is None else "primary")]


def resolved_dm(ticket: Ticket, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(text))}},
        {"type": "actions", "block_id": f"ticket_confirm:{ticket.id}", "elements": [
            button(M.BUTTON_FIXED, "confirm", ticket.id, "primary"), button(M.BUTTON_STILL_BROKEN, "reopen", ticket.id)]},
    ]


def suggestions_dm(ticket_id: int, text: str, suggestions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requester's confirmation, with past fixes they can try, each with "This solved it"."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(text))}}]
    for g in suggestions:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(
            f"*{escape(g['headline'])}* _({g['likeness']})_\n> {escape(g['resolution'])}")},
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": M.BUTTON_SOLVED},
                          "action_id": f"ticket:solved:{g['position']}", "value": f"{ticket_id}:{g['position']}"}})
    blocks.append({"type": "actions", "block_id": f"ticket_keep:{ticket_id}", "elements": [
        button(M.BUTTON_STILL_NEED_HELP, "keep", ticket_id)]})
    return blocks


def modal(form: Form, private: dict[str, Any]) -> dict[str, Any]:
    """A form as a modal; block ids are field names, so errors land on the right field."""
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": clip(form.intro, 1900)}]})
    for f in form.fields:
        blocks.append(_input(f))
        if f.kind == "person":  # people not in Slack are typed in: name, email or phone
            blocks.append(_input(Field(f"{f.name}_text", M.FIELD_REQUESTER_TEXT.format(platform="Slack"), "text")))
    return {
        "type": "modal", "callback_id": MODAL_CALLBACK, "private_metadata": json.dumps({**private, "form": form.command}),
        "title": {"type": "plain_text", "text": clip(form.title, 24)},
        "submit": {"type": "plain_text", "text": clip(form.submit, 24)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _option(value: str, label: str, hint: str = "") -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": clip(label, 75)}, "value": value}
    if hint:
        option["description"] = {"type": "plain_text", "text": clip(hint, 75)}
    return option


def _input(f: Field) -> dict[str, Any]:
    if f.kind == "select":
        element: dict[str, Any] = {"type": "static_select", "action_id": "value",
                                   "options": [_option(c.value, c.label, c.hint) for c in f.choices]}
        chosen = next((c for c in f.choices if c.value == f.initial), None)
        if chosen:
            element["initial_option"] = _option(chosen.value, chosen.label, chosen.hint)
    elif f.kind == "person":
        element = {"type": "users_select", "action_id": "value"}
    elif f.kind == "checkbox":
        element = {"type": "checkboxes", "action_id": "value", "options": [_option("yes", f.hint or f.label)]}
    else:
        element = {"type": "plain_text_input", "action_id": "value", "multiline": f.kind == "multiline",
                   "max_length": min(f.max_length, 3000)}
        if f.min_length:
            element["min_length"] = f.min_length
        if f.initial:
            element["initial_value"] = f.initial[:3000]
    if f.placeholder and f.kind not in ("checkbox", "person"):
        element["placeholder"] = {"type": "plain_text", "text": clip(f.placeholder, 150)}
    block = {"type": "input", "block_id": f.name, "label": {"type": "plain_text", "text": f.label},
             "element": element, "optional": not f.required}
    if f.hint and f.kind != "checkbox":
        block["hint"] = {"type": "plain_text", "text": clip(f.hint, 2000)}
    return block


def form_values(view: dict[str, Any]) -> dict[str, str | None]:
    """The submitted values of a modal, by field name."""
    values: dict[str, str | None] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        state = actions.get("value") or {}
        kind = state.get("type")
        if kind == "static_select":
            values[block_id] = (state.get("selected_option") or {}).get("value")
        elif kind == "users_select":
            values[block_id] = f"<@{state['selected_user']}>" if state.get("selected_user") else None
        elif kind == "checkboxes":
            values[block_id] = "yes" if state.get("selected_options") else None
        else:
            values[block_id] = state.get("value")
    return values


SLACK = Markup(escape=escape, bold=lambda t: f"*{t}*", italic=lambda t: f"_{t}_", code=lambda t: f"`{escape(t)}`",
               pre=lambda t: "```" + escape(t) + "```")


def reply_text(reply: Reply) -> str:
    """A reply as mrkdwn for an ephemeral message or a DM."""
    return chat_reply_text(reply, SLACK)
