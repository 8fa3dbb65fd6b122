"""Block Kit for the chat layer's views: ticket cards, messages with buttons, forms as modals,
replies as mrkdwn. Within Block Kit's limits (header 150 characters, a section's text 3,000,
a field 2,000, a button's label 75 and value 2,000, a modal's title 24).

One escaping rule: every string of a view is escaped here (`&`, `<`, `>`), whatever field of
the payload it lands in, so user text can never mention, broadcast or link; only what this
module writes itself (a mention of a person by their Slack id, a date, a group's configured
mention) stays live.
"""
from __future__ import annotations

import json
from dataclasses import replace
import re
from datetime import datetime
from typing import Any, Mapping

from adapters.chat import messages as CM
from adapters.chat.interactions import opened_text
from adapters.chat.outcomes import Opened
from adapters.chat.text import Markup, clip, reply_text as chat_reply_text
from adapters.chat.views import Action, CardView, Fact, FormContext, IncidentView, ListedView, MessageView, Who
from bot.forms import Field, Form
from bot.replies import Reply

MODAL_CALLBACK = "helpdesk_form"
MORE_SUFFIX = "__more"  # the second input of a field longer than one input holds
ACTION_PREFIX = "ticket:"
HEADER_MAX, SECTION_MAX, FIELD_MAX, CONTEXT_MAX, BUTTON_MAX, VALUE_MAX = 150, 3000, 2000, 2000, 75, 2000
MODAL_TITLE_MAX, INPUT_MAX, OPTION_MAX, PLACEHOLDER_MAX, TEXT_MAX = 24, 3000, 75, 150, 39_000
SLACK_IMAGES = ("image/png", "image/jpeg", "image/gif")  # what an image block shows of a Slack file


def escape(text: str | None) -> str:
    """Slack's three control characters; with them escaped, user text cannot mention or link."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def person(who: Who | None, fallback: str = "—") -> str:
    """A person as mrkdwn: a live mention when they have a Slack id, else their name (escaped)."""
    if who is not None and who.identity and who.identity.startswith("slack:"):
        return f"<@{who.identity.removeprefix('slack:')}>"
    return escape(who.name if who else "") or fallback


def date(moment: datetime) -> str:
    """A moment each reader sees in their own time zone (Slack's date formatting)."""
    ts = int(moment.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='minutes')}>"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object (`text`: already escaped where it holds user text)."""
    return {"type": "mrkdwn", "text": text}


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object: Slack shows it as typed (nothing in it is parsed), clipped to `limit`."""
    return {"type": "plain_text", "text": clip(text or " ", limit)}


def button(action: Action) -> dict[str, Any]:
    """A button whose action id names its verb and whose value carries the action's data back."""
    # a row may hold one verb several times (the rating's scores): the position keeps action ids unique
    position = action.data.get("position")
    action_id = ACTION_PREFIX + action.verb + (f":{position}" if action.verb == "rate" and position is not None else "")
    block = {"type": "button", "text": plain(action.label, BUTTON_MAX), "action_id": action_id,
             "value": json.dumps(dict(action.data), separators=(",", ":"))[:VALUE_MAX]}
    if action.style == "primary":
        block["style"] = "primary"
    return block


def read_button(action: Mapping[str, Any]) -> tuple[str, Any]:
    """(verb, data) of a pressed button; data is None when its value cannot be read."""
    verb = str(action.get("action_id", "")).removeprefix(ACTION_PREFIX).partition(":")[0]
    value = str(action.get("value") or "")
    try:
        data = json.loads(value) if value.startswith("{") else None
    except ValueError:
        data = None
    if data is None:  # a card posted before buttons carried their data as JSON: "12" or "12:2"
        ticket, _, position = value.partition(":")
        data = {"ticket_id": ticket, **({"position": position} if position else {})}
    return verb, data if isinstance(data, dict) else None


def _fact(f: Fact) -> str:
    value = person(f.who, escape(f.value)) if f.who is not None else escape(f.value)
    if f.detail:
        value += "\n" + escape(f.detail)
    return clip(f"*{escape(f.label)}*\n{value}", FIELD_MAX)


def _head(view: CardView | IncidentView) -> list[dict[str, Any]]:
    """A card's title, body, facts and resolution (a ticket's or an incident's)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(view.title, HEADER_MAX)},
        {"type": "section", "text": mrkdwn(clip(escape(view.body), SECTION_MAX))},
        {"type": "section", "fields": [mrkdwn(_fact(f)) for f in view.facts[:10]]},
    ]
    if view.resolution:
        blocks.append({"type": "section", "text": mrkdwn(clip("*Resolution*\n" + escape(view.resolution), SECTION_MAX))})
    return blocks


def card(view: CardView, with_image: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """A ticket's card: (notification text, blocks). The first image shared in Slack shows on it
    (an image block naming the Slack file) unless `with_image` is False."""
    blocks = _head(view)
    footer = escape(CM.OPENED)
    if view.opened_by is not None:
        footer += " " + CM.OPENED_BY.format(who=person(view.opened_by), via=escape(view.via))
    footer += f" {date(view.opened_at)}{escape(view.footer_after)}"
    if view.paused_since is not None:
        footer += f" · {escape(CM.PAUSED_SINCE)} {date(view.paused_since)}"
    blocks.append({"type": "context", "elements": [mrkdwn(clip(footer, CONTEXT_MAX))]})
    image = view.files.image if view.files is not None and with_image else None
    if image is not None and image.origin == "slack" and image.link and image.content_type in SLACK_IMAGES:
        blocks.append({"type": "image", "slack_file": {"url": image.link}, "alt_text": clip(image.name, 2000),
                       "title": plain(CM.FIRST_IMAGE, 2000)})
    if view.actions:
        blocks.append({"type": "actions", "block_id": f"ticket_actions:{view.ticket_id}",
                       "elements": [button(a) for a in view.actions]})
    return escape(view.summary), blocks


def incident_card(view: IncidentView) -> tuple[str, list[dict[str, Any]]]:
    """A major incident's card: (notification text, blocks). People are named, never mentioned:
    a card naming fifty requesters must not ping fifty people."""
    blocks = _head(view)
    names = ", ".join(escape(n) for n in view.people)
    if view.more:
        names += " " + escape(CM.AFFECTED_MORE.format(count=view.more))
    blocks.append({"type": "section", "text": mrkdwn(clip(f"*{escape(CM.AFFECTED_WHO)}*\n{names}", SECTION_MAX))})
    blocks.append({"type": "context", "elements": [mrkdwn(f"{escape(CM.DECLARED_ON)} {date(view.declared_at)}")]})
    if view.actions:
        blocks.append({"type": "actions", "block_id": f"incident_actions:{view.ticket_id}",
                       "elements": [button(a) for a in view.actions]})
    return escape(view.summary), blocks


def message(view: MessageView, prefix: str = "") -> tuple[str, list[dict[str, Any]] | None]:
    """A message: (text, blocks or None when plain text says it all). `prefix` is mrkdwn this
    module's caller wrote itself (a group's configured mention)."""
    text = prefix + escape(view.text)
    if not view.items and not view.actions and not view.rating:
        return clip(text, TEXT_MAX), None
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(clip(text, SECTION_MAX))}]
    for item in view.items:
        section: dict[str, Any] = {"type": "section", "text": mrkdwn(clip(
            f"*{escape(item.title)}* _({escape(item.note)})_\n> {escape(item.body)}", SECTION_MAX))}
        if item.action is not None:
            section["accessory"] = button(item.action)
        blocks.append(section)
    if view.actions:
        blocks.append({"type": "actions", "elements": [button(a) for a in view.actions]})
    if view.rating:
        blocks.append({"type": "context", "elements": [mrkdwn(clip(escape(view.rating_text), CONTEXT_MAX))]})
        blocks.append({"type": "actions", "block_id": "rating", "elements": [button(a) for a in view.rating]})
    return clip(text, TEXT_MAX), blocks


def notice(text: str) -> list[dict[str, Any]]:
    """One line replacing a message's buttons once they have been used."""
    return [{"type": "section", "text": mrkdwn(clip(escape(text), SECTION_MAX))}]


# Forms as modals

def notice_modal(outcome: Opened | str) -> dict[str, Any]:
    """A modal that only says something (an intake form submitted again: already opened, or
    being recorded: the sentence given)."""
    text = opened_text(outcome) if isinstance(outcome, Opened) else outcome
    return {"type": "modal", "title": plain(CM.OPENED_TITLE, MODAL_TITLE_MAX), "close": plain(CM.BUTTON_CLOSE, MODAL_TITLE_MAX),
            "blocks": [{"type": "section", "text": mrkdwn(clip(escape(text), SECTION_MAX))}]}


def modal(form: Form, context: FormContext, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A form as a modal; block ids are field names, so errors land on the right field."""
    values = values or {}
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks.append({"type": "context", "elements": [plain(form.intro, 1900)]})
    for f in form.fields:
        blocks += _inputs(f, values.get(f.name, f.initial))
    return {
        "type": "modal", "callback_id": MODAL_CALLBACK, "private_metadata": json.dumps(context.as_data())[:3000],
        "title": plain(form.title, MODAL_TITLE_MAX), "submit": plain(form.submit, MODAL_TITLE_MAX),
        "close": plain(CM.BUTTON_CANCEL, MODAL_TITLE_MAX), "blocks": blocks,
    }


def _option(value: str, label: str, hint: str = "") -> dict[str, Any]:
    option = {"text": plain(label, OPTION_MAX), "value": value}
    if hint:
        option["description"] = plain(hint, OPTION_MAX)
    return option


def _inputs(f: Field, initial: str | None) -> list[dict[str, Any]]:
    """A field's input; when what it is pre-filled with is longer than an input holds (3,000
    characters), a second input takes the rest, so nothing the person typed is cut (joined again
    by `form_values`)."""
    if f.kind not in ("text", "multiline") or len(initial or "") <= INPUT_MAX:
        return [_input(f, initial)]
    first, rest = _split(initial or "", INPUT_MAX)
    more = Field(f.name + MORE_SUFFIX, CM.FIELD_CONTINUED, f.kind, max_length=f.max_length - INPUT_MAX)
    return [_input(replace(f, max_length=INPUT_MAX), first), _input(more, rest)]


def _split(text: str, limit: int) -> tuple[str, str]:
    """`text` in two at the last space or line break before `limit` characters (or at `limit`)."""
    if len(text) <= limit:
        return text, ""
    cut = max(text.rfind(" ", limit - 300, limit), text.rfind("\n", limit - 300, limit))
    cut = cut + 1 if cut > 0 else limit
    return text[:cut], text[cut:]


def _input(f: Field, initial: str | None) -> dict[str, Any]:
    if f.kind == "select":
        element: dict[str, Any] = {"type": "static_select", "action_id": "value",
                                   "options": [_option(c.value, c.label, c.hint) for c in f.choices]}
        chosen = next((c for c in f.choices if c.value == initial), None)
        if chosen:
            element["initial_option"] = _option(chosen.value, chosen.label, chosen.hint)
    elif f.kind == "person":
        element = {"type": "users_select", "action_id": "value"}
        picked = re.fullmatch(r"<@slack:([UW][A-Z0-9]+)>", initial or "")
        if picked:  # pre-filled: the author of the message a ticket is made from
            element["initial_user"] = picked.group(1)
    elif f.kind == "checkbox":
        element = {"type": "checkboxes", "action_id": "value", "options": [_option("yes", f.hint or f.label)]}
    else:
        element = {"type": "plain_text_input", "action_id": "value", "multiline": f.kind == "multiline",
                   "max_length": min(f.max_length, INPUT_MAX)}
        if f.min_length:
            element["min_length"] = f.min_length
        if initial:
            element["initial_value"] = initial[:INPUT_MAX]
    if f.placeholder and f.kind not in ("checkbox", "person"):
        element["placeholder"] = plain(f.placeholder, PLACEHOLDER_MAX)
    block = {"type": "input", "block_id": f.name, "label": plain(f.label, 2000), "element": element,
             "optional": not f.required}
    if f.hint and f.kind != "checkbox":
        block["hint"] = plain(f.hint, 2000)
    return block


def form_values(view: Mapping[str, Any]) -> dict[str, str | None]:
    """The submitted values of a modal, by field name; a picked person as `<@slack:U…>`."""
    values: dict[str, str | None] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        state = actions.get("value") or {}
        kind = state.get("type")
        if kind == "static_select":
            values[block_id] = (state.get("selected_option") or {}).get("value")
        elif kind == "users_select":
            values[block_id] = f"<@slack:{state['selected_user']}>" if state.get("selected_user") else None
        elif kind == "checkboxes":
            values[block_id] = "yes" if state.get("selected_options") else None
        else:
            values[block_id] = state.get("value")
    for name in [k for k in values if k.endswith(MORE_SUFFIX)]:  # a field given two inputs: one value again
        more, base = values.pop(name) or "", name.removesuffix(MORE_SUFFIX)
        first = values.get(base) or ""
        glue = "" if not first or not more or first[-1].isspace() or more[0].isspace() else " "
        values[base] = (first + glue + more) or None
    return values


def form_errors(view: Mapping[str, Any], errors: Mapping[str, str]) -> dict[str, str]:
    """Errors by block id: each on its field when the modal has it, else on its main input."""
    ids = [b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"]
    shown: dict[str, str] = {}
    for name, text in errors.items():
        target = name if name in ids else next((i for i in ("description", "text") if i in ids), ids[0] if ids else name)
        shown[target] = (shown[target] + " " if target in shown else "") + text
    return {k: clip(v, 2000) for k, v in shown.items()}


SLACK = Markup(escape=escape, bold=lambda t: f"*{t}*", italic=lambda t: f"_{t}_", code=lambda t: f"`{escape(t)}`",
               pre=lambda t: "```" + escape(t) + "```", link=lambda url, text: f"<{url}|{text}>")


def reply_text(reply: Reply) -> str:
    """A reply as mrkdwn for an ephemeral message or a DM."""
    return chat_reply_text(reply, SLACK)


COMBINED_CHUNK = 5  # tickets to a section (their lines) and the actions block under it (their claim buttons)
COMBINED_MAX = 120  # tickets in one combined post: 1 + 2 blocks for every 5, within Slack's 50


def combined(views: list[ListedView]) -> tuple[str, list[dict[str, Any]]]:
    """A combined post of new tickets: (notification text, blocks): a head, then for every five
    tickets a section with a line each (number, severity, headline, requester, state) and an
    actions block with a *Claim #N* button for each still unclaimed. At most COMBINED_MAX tickets."""
    views = views[:COMBINED_MAX]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(CM.COMBINED_HEAD.format(count=len(views)))}]
    for start in range(0, len(views), COMBINED_CHUNK):
        chunk = views[start:start + COMBINED_CHUNK]
        lines = []
        for v in chunk:
            state = CM.COMBINED_CLAIMED.format(assignee=person(v.assignee)) if v.assignee else escape(v.status)
            lines.append(clip(f"*{escape(v.ref)}* · {escape(v.severity)} · {escape(v.headline)} · "
                              f"{CM.COMBINED_FROM.format(requester=person(v.requester))} · {state}",
                              SECTION_MAX // COMBINED_CHUNK - 1))
        blocks.append({"type": "section", "text": mrkdwn("\n".join(lines))})
        claims = [{**button(replace(v.claim, label=f"{v.claim.label} {v.ref}")),
                   "action_id": f"{ACTION_PREFIX}claim:{v.ticket_id}"}  # unique in the block; read as "claim"
                  for v in chunk if v.claim is not None]
        if claims:
            blocks.append({"type": "actions", "elements": claims})
    refs = ", ".join(v.ref for v in views)
    return clip(CM.COMBINED_SUMMARY.format(count=len(views), refs=refs), 3000), blocks
