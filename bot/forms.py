"""Forms the core asks adapters to show: plain field lists each chat platform renders its own
way (a modal, a card). Submitting one runs the named command, with the values `submission`
turns into the command's text and options."""
from __future__ import annotations

from dataclasses import dataclass

from bot import messages as M
from bot.config import Settings
from bot.model import Actor, Severity, Ticket
from bot.text import DESCRIPTION_MIN, FIELD_MAX, TEXT_MAX, one_line


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    hint: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | multiline | select | checkbox | person (a platform's people picker)
    required: bool = False
    choices: tuple[Choice, ...] = ()
    initial: str | None = None
    placeholder: str = ""
    hint: str = ""
    min_length: int = 0
    max_length: int = FIELD_MAX


@dataclass(frozen=True)
class Form:
    """A form: the command its submission runs, its title, submit label and fields, and the
    ticket it acts on (None for the intake form)."""

    command: str
    title: str
    submit: str
    fields: tuple[Field, ...]
    ticket_id: int | None = None
    intro: str = ""


def assumed_device(devices: tuple[str, ...]) -> str | None:
    """The device a new ticket is about when the requester did not say: the computer the directory
    says they manage when there is exactly one; None for none or several (they choose)."""
    return devices[0] if len(devices) == 1 else None


def intake_form(settings: Settings, actor: Actor, description: str = "", technician: bool = False,
                devices: tuple[str, ...] = ()) -> Form:
    """The new-ticket form: the description first and required; contact details pre-filled
    from what we know of the requester, so they confirm or correct them. Technicians also
    get the caller's field, to open it for someone on the phone or at the desk."""
    for_caller: tuple[Field, ...] = ()
    if technician:
        for_caller = (
            Field("requester", M.FIELD_REQUESTER, "person", hint=M.FIELD_REQUESTER_HINT),
            Field("requester_text", M.FIELD_REQUESTER_TEXT),
            Field("requester_name", M.FIELD_REQUESTER_NAME, hint=M.FIELD_REQUESTER_NAME_HINT),
            Field("via", M.FIELD_VIA, "select", initial="phone", choices=tuple(Choice(v, v.capitalize()) for v in ("phone", "walk-in", "chat"))),
        )
    return Form("new", M.FORM_NEW_TITLE, M.FORM_NEW_SUBMIT, for_caller + (
        Field("description", M.FIELD_DESCRIPTION, "multiline", required=True, initial=description or None,
              placeholder=M.FIELD_DESCRIPTION_PLACEHOLDER, hint=M.FIELD_DESCRIPTION_HINT,
              min_length=DESCRIPTION_MIN, max_length=TEXT_MAX),
        Field("category", M.FIELD_CATEGORY, "select", hint=M.FIELD_CATEGORY_HINT, choices=tuple(
            Choice(name, name.capitalize(), one_line(c.description, 75)) for name, c in settings.categories.items())),
        Field("severity", M.FIELD_SEVERITY, "select", required=True, initial=settings.default_severity.value, choices=tuple(
            Choice(s.value, s.value.capitalize(), one_line(settings.policy(s).guidance, 75)) for s in Severity)),
        Field("device", M.FIELD_DEVICE, placeholder=M.FIELD_DEVICE_PLACEHOLDER, initial=assumed_device(devices),
              hint=M.FIELD_DEVICE_YOURS.format(devices=", ".join(devices[:8])) if devices else ""),
        Field("location", M.FIELD_LOCATION, initial=actor.office, placeholder=M.FIELD_LOCATION_PLACEHOLDER),
        Field("phone", M.FIELD_PHONE, initial=actor.phone, hint=M.FIELD_PHONE_HINT, max_length=64),
    ), intro=M.FORM_NEW_INTRO)


def rating_form(ticket: Ticket, score: int | None = None) -> Form:
    """The small form for a rating with a comment: the score (pre-selected with the one given so
    far, if any) and the comment."""
    from bot.satisfaction import COMMENT_MAX, SCORES

    return Form("rate", M.FORM_RATE_TITLE.format(ref=ticket.ref), M.FORM_RATE_SUBMIT, (
        Field("score", M.FIELD_SCORE, "select", required=True, initial=str(score) if score else None,
              choices=tuple(Choice(str(s), M.FIELD_SCORE_CHOICES[s]) for s in SCORES)),
        Field("comment", M.FIELD_COMMENT, "multiline", placeholder=M.FIELD_COMMENT_PLACEHOLDER, max_length=COMMENT_MAX),
    ), ticket_id=ticket.id, intro=one_line(ticket.resolution or ticket.description, 150))


def action_form(command: str, ticket: Ticket, settings: Settings, is_technician: bool) -> Form:
    """The small form behind a button that needs words: note, escalate, resolve, reopen; link (or
    merge) to another ticket, declare a major incident, update everyone affected; a rating's comment."""
    if command == "rate":
        return rating_form(ticket)
    text = Field("text", M.FORM_TEXT_LABEL[command], "multiline", required=True, max_length=TEXT_MAX,
                 min_length=10 if command == "resolve" else 1, placeholder=M.FORM_TEXT_PLACEHOLDER[command])
    fields: tuple[Field, ...] = (text,)
    if command == "escalate":
        chain = settings.chain(ticket.category)
        nxt = chain[ticket.escalation_level] if 0 < ticket.escalation_level < len(chain) else None  # 0: off the chain
        groups = tuple(Choice(g, g, one_line(settings.groups[g].description, 75)) for g in settings.groups if g != ticket.group)
        fields = (Field("group", M.FIELD_GROUP, "select", required=nxt is None, initial=nxt, choices=groups,
                        hint=M.FIELD_GROUP_HINT), text)
    if command == "note" and is_technician:
        fields = (text, Field("internal", M.FIELD_INTERNAL, "checkbox", hint=M.FIELD_INTERNAL_HINT))
    if command == "link":  # the other ticket's number, and whether this one stays open (link) or goes (merge)
        fields = (Field("text", M.FORM_TEXT_LABEL[command], required=True, max_length=12,
                        placeholder=M.FORM_TEXT_PLACEHOLDER[command]),
                  Field("how", M.FIELD_LINK_HOW, "select", required=True, initial="link",
                        choices=(Choice("link", M.LINK_HOW_LINK), Choice("merge", M.LINK_HOW_MERGE))))
    if command == "incident":  # a title people will read; the ticket's headline unless changed
        fields = (Field("text", M.FORM_TEXT_LABEL[command], max_length=120, initial=one_line(ticket.description, 120),
                        placeholder=M.FORM_TEXT_PLACEHOLDER[command]),)
    return Form(command, M.FORM_TITLE[command].format(ref=ticket.ref), M.FORM_SUBMIT[command], fields,
                ticket_id=ticket.id, intro=one_line(ticket.description, 150))


def submission(form: str, values: dict[str, str | None]) -> tuple[str, str, dict[str, str]]:
    """A submitted form's values (by field name; empty ones ignored) as (command, text, options)."""
    values = {k: v for k, v in values.items() if v not in (None, "")}
    if form == "new":
        text = values.pop("description", "")
        caller = values.pop("requester", None) or values.pop("requester_text", None)
        values.pop("requester_text", None)
        name = values.pop("requester_name", None)
        if caller:
            values["for"] = caller
            if name:
                values["name"] = name  # a first-time caller, known by the email or phone typed above
        else:
            values.pop("via", None)
        return "new", text, values
    if form == "rate":
        return "rate", f"{values.get('score', '')} {values.get('comment', '')}".strip(), {}
    text = values.get("text", "")
    if form == "link":
        return ("merge" if values.get("how") == "merge" else "link"), text, {}
    if form == "note":
        return ("internal" if values.get("internal") else "note"), text, {}
    if form == "escalate" and values.get("group"):
        return "escalate", f"{values['group']} {text}", {}
    return form, text, {}


def main_field(form: Form) -> str:
    """The field a refusal that names no field is shown on."""
    for field in form.fields:
        if field.kind == "multiline":
            return field.name
    return form.fields[0].name
