"""Adaptive Cards for the chat layer's views: the ticket card, messages with buttons, forms,
and replies as Teams markdown.

Buttons are `Action.Execute` (Universal Actions): Teams sends them to the bot as an
`adaptiveCard/action` invoke whose `verb` names the command and whose `data` carries the
ticket id, the form's inputs merged in. User text cannot become a link, and in messages
cannot look like markup or a mention.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from adapters.chat import messages as CM
from adapters.chat.text import Markup, clip, reply_text as chat_reply_text
from adapters.chat.views import Action, CardView, Fact, FormContext, IncidentView, ListedView, MessageView
from bot.forms import Form
from bot.replies import Reply

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


ACTIVITY_MAX = 28 * 1024  # Teams refuses a message over about 28 KB of UTF-8, cards included
BUDGET = 24 * 1024  # what our part of an activity may take: the envelope Teams adds needs the rest


def size(value: Any) -> int:
    """Bytes of `value` as it travels in an activity: JSON, UTF-8 (Teams' own unit)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


TEAMS = Markup(escape=escape, bold=lambda t: f"**{t}**", italic=lambda t: f"_{t}_",
               code=lambda t: f"`{t.translate(_HTML)}`", pre=lambda t: "```\n" + t.translate(_HTML) + "\n```",
               link=lambda url, text: f"[{text}]({url})", line_break="\n\n", limit=BUDGET, measure=size)


def reply_text(reply: Reply) -> str:
    """A reply as a Teams markdown message."""
    return chat_reply_text(reply, TEAMS)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """A card as a message attachment."""
    return {"contentType": CONTENT_TYPE, "content": card}


def image(url: str, name: str) -> dict[str, Any]:
    """A PNG image Teams shows in the message, fetched from `url` (the help desk's own server)."""
    return {"contentType": "image/png", "contentUrl": url, "name": name}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION, "body": body,
                            "msteams": {"width": "Full"}}
    if actions:
        card["actions"] = actions
    return card


def text_block(text: str, **style: Any) -> dict[str, Any]:
    """A wrapping TextBlock (`text`: Teams markdown, already made safe)."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def execute(title: str, verb: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    """An Action.Execute button: pressing it sends the bot `verb` and `data` (with the inputs)."""
    action = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def action(a: Action) -> dict[str, Any]:
    """A view's button as an Action.Execute: its verb, and its data carried back when pressed."""
    return execute(a.label, a.verb, dict(a.data), "positive" if a.style == "primary" else None)


def notice_card(text: str) -> dict[str, Any]:
    """A card with one line: what replaces buttons once they have been used."""
    return _card([text_block(unlinked(text))])


# The ticket card

def date(moment: datetime) -> str:
    """Shown in each reader's own time zone and format (Adaptive Cards' DATE/TIME functions)."""
    stamp = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def _fact(f: Fact) -> dict[str, str]:
    value = unlinked(f.value) or "—"
    if f.detail:
        value += " · " + unlinked(f.detail)
    return {"title": unlinked(f.label), "value": value}


def _head(view: CardView | IncidentView, text_max: int = 3000, **title_style: Any) -> list[dict[str, Any]]:
    """A card's title, body, facts and resolution (a ticket's or an incident's); long texts cut at
    `text_max` characters."""
    body: list[dict[str, Any]] = [
        text_block(unlinked(view.title), size="Medium", weight="Bolder", **title_style),
        text_block(unlinked(clip(view.body, text_max))),
        {"type": "FactSet", "facts": [_fact(f) for f in view.facts]},
    ]
    if view.resolution:
        body.append(text_block(f"**{CM.FACT_RESOLUTION}**\n\n" + unlinked(clip(view.resolution, text_max))))
    return body


def card(view: CardView, text_max: int = 3000) -> dict[str, Any]:
    """A ticket's card, updated in place on every change; its description and resolution are cut
    (at `text_max` characters, less if need be) so the card stays within Teams' budget."""
    body = _head(view, text_max)
    footer = CM.OPENED
    if view.opened_by is not None:
        footer += " " + CM.OPENED_BY.format(who=unlinked(view.opened_by.name), via=unlinked(view.via))
    footer += f" {date(view.opened_at)}{unlinked(view.footer_after)}"
    if view.paused_since is not None:
        footer += f" · {unlinked(CM.PAUSED_SINCE)} {date(view.paused_since)}"
    body.append(text_block(footer, isSubtle=True, size="Small"))
    made = _card(body, [action(a) for a in view.actions])
    if size(made) > BUDGET and text_max > 200:
        return card(view, text_max // 2)
    return made


def incident_card(view: IncidentView) -> dict[str, Any]:
    """A major incident's card, updated in place as tickets join; people are named, not mentioned."""
    body = _head(view, color="Attention")
    names = ", ".join(unlinked(n) for n in view.people)
    if view.more:
        names += " " + CM.AFFECTED_MORE.format(count=view.more)
    body.append(text_block(f"**{CM.AFFECTED_WHO}**\n\n{names}"))
    body.append(text_block(f"{CM.DECLARED_ON} {date(view.declared_at)}", isSubtle=True, size="Small"))
    return _card(body, [action(a) for a in view.actions])


COMBINED_MAX = 25  # tickets in one combined card: a line and a button each, within BUDGET at worst


def combined(views: list[ListedView], headline_max: int = 140) -> dict[str, Any]:
    """A combined post of new tickets (more for one channel than its pace shows one by one): a head,
    then a line per ticket (number, severity, headline, requester, state) with a *Claim #N* button
    while it is unclaimed; its buttons carry `listed` so the answer leaves this card in place (the
    outbox shows the claim on its line and posts the ticket's own card). At most COMBINED_MAX
    tickets, every one shown: headlines are cut shorter if the lines would outgrow Teams' budget."""
    views = views[:COMBINED_MAX]
    body: list[dict[str, Any]] = [text_block(unlinked(CM.COMBINED_HEAD.format(count=len(views))))]
    for v in views:
        state = CM.COMBINED_CLAIMED.format(assignee=clip(v.assignee.name, 40)) if v.assignee else v.status
        line = (f"**{unlinked(v.ref)}** · {unlinked(v.severity)} · {unlinked(clip(v.headline, headline_max))} · "
                f"{unlinked(CM.COMBINED_FROM.format(requester=clip(v.requester.name, 40)))} · {unlinked(state)}")
        body.append(text_block(line, separator=True, spacing="Small"))
        if v.claim is not None:
            claim = action(replace(v.claim, label=f"{v.claim.label} {v.ref}", data={**v.claim.data, "listed": 1}))
            body.append({"type": "ActionSet", "actions": [claim]})
    made = _card(body)
    if size(made) > BUDGET and headline_max > 30:
        return combined(views, headline_max // 2)
    return made


def combined_summary(views: list[ListedView]) -> str:
    """The notification text of a combined post."""
    return clip(CM.COMBINED_SUMMARY.format(count=len(views[:COMBINED_MAX]),
                                           refs=", ".join(v.ref for v in views[:COMBINED_MAX])), 1000)


def message_card(view: MessageView) -> dict[str, Any]:
    """A message with buttons (a resolution to confirm, past fixes to try)."""
    body: list[dict[str, Any]] = [text_block(unlinked(view.text))]
    for item in view.items:
        entries: list[dict[str, Any]] = [text_block(f"**{unlinked(item.title)}** _({unlinked(item.note)})_"),
                                         text_block(unlinked(item.body))]
        if item.action is not None:
            entries.append({"type": "ActionSet", "actions": [action(item.action)]})
        body.append({"type": "Container", "separator": True, "items": entries})
    if view.rating:
        body.append({"type": "Container", "separator": True, "items": [
            text_block(unlinked(view.rating_text), isSubtle=True),
            {"type": "ActionSet", "actions": [action(a) for a in view.rating]}]})
    return _card(body, [action(a) for a in view.actions])


# Forms

def form_card(form: Form, context: FormContext, values: dict[str, Any] | None = None,
              errors: dict[str, str] | None = None, above: list[dict[str, Any]] | None = None,
              dialog: bool = False) -> dict[str, Any]:
    """A form as a card: `values` keep what was typed, `errors` show next to their field;
    submitting sends verb `submit` with `context` (which form, which ticket) and the inputs.
    In a `dialog` (a message extension's task module) the submit is an Action.Submit, which
    Teams sends back as `composeExtension/submitAction`, and the dialog closes by itself."""
    values, errors = dict(values or {}), dict(errors or {})
    body: list[dict[str, Any]] = list(above or [])
    body.append(text_block(f"**{unlinked(form.title)}**", size="Medium"))
    if form.intro:
        body.append(text_block(unlinked(form.intro), isSubtle=True))
    if errors.get("_form"):
        body.append(text_block(unlinked(errors["_form"]), color="Attention"))
    for f in form.fields:
        body.append(_input(f, values))
        if f.hint and f.kind != "checkbox":
            body.append(text_block(unlinked(f.hint), isSubtle=True, size="Small", spacing="None"))
        if errors.get(f.name):
            body.append(text_block("⚠️ " + unlinked(errors[f.name]), color="Attention", spacing="None"))
    # each rendering gets its own id: pressing its submit twice (or on a second device) counts once
    submit = {**context.as_data(), "form_id": uuid.uuid4().hex}
    if dialog:
        return _card(body, [{"type": "Action.Submit", "title": form.submit, "data": submit, "style": "positive"}])
    actions = [execute(form.submit, "submit", submit, "positive")]
    if form.command != "new":  # Cancel must work on an empty form: skip the client's required-field check
        actions.append({**execute(CM.BUTTON_CANCEL, "cancel", context.as_data()), "associatedInputs": "none"})
    return _card(body, actions)


def _input(f: Any, values: dict[str, Any]) -> dict[str, Any]:
    value = values[f.name] if f.name in values else f.initial
    if f.kind == "select":
        element: dict[str, Any] = {"type": "Input.ChoiceSet", "style": "compact",
                                   "choices": [{"title": clip(c.label + (f" — {c.hint}" if c.hint else ""), 120),
                                                "value": c.value} for c in f.choices]}
    elif f.kind == "person":  # Teams' people picker: the chosen user's Azure AD object id
        element = {"type": "Input.ChoiceSet", "choices": [],
                   "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}}
        picked = re.fullmatch(r"<@teams:([^>]+)>", value or "")
        value = picked.group(1) if picked else None  # pre-set to a Teams user (the author of a message), by name
        if picked:
            element["choices"] = [{"title": c.label, "value": value} for c in f.choices if c.value == f"teams:{value}"]
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
