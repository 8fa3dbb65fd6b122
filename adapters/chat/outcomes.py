"""What an interaction comes to, as plain values each chat platform renders its own way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from adapters.chat.views import FormContext, MessageView
from bot.forms import Form
from bot.model import Ticket
from bot.replies import Reply


@dataclass(frozen=True)
class Nothing:
    """Nothing to show (a retry already answered, an empty message)."""


@dataclass(frozen=True)
class Answer:
    """Show the reply to the person who asked, and only to them where the platform can. A report's
    answer comes with `chart`: awaited, it draws the report's chart (adapters/chat/charts.py;
    about a second of work, so a platform that must answer quickly shows the table first)."""

    reply: Reply
    chart: Callable[[], Awaitable[Any]] | None = None


@dataclass(frozen=True)
class Refusal:
    """Nothing was done: tell the person who acted why; the card or form stays as it was."""

    text: str


@dataclass(frozen=True)
class ShowForm:
    """Show a form (a modal, a card). With `errors` (field name → sentence) it is a submitted
    form coming back with its problems; `values` are what the person had typed."""

    form: Form
    context: FormContext
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Acknowledged:
    """A message in a ticket's thread or a direct message did something. `mark` is what it
    was ("note", "internal", "done"); `echoed` says whether the ticket's conversation will
    carry a line about it (then a platform that cannot react needs to say nothing); `text` is
    the sentence to say otherwise; `aside` is extra information for the author (similar tickets)."""

    mark: str
    text: str
    echoed: bool
    aside: Reply | None = None


@dataclass(frozen=True)
class CardRefreshed:
    """A card's button or form did its work: the card as it is now (the outbox updates it for
    everyone else), and extra information for the person who pressed."""

    ticket: Ticket
    aside: Reply | None = None
    incident: Any = None  # adapters.chat.views.IncidentView: the button was on the incident's card, shown instead


@dataclass(frozen=True)
class Replaced:
    """A message's buttons did their work: replace them with this line, so they cannot be pressed twice."""

    text: str


@dataclass(frozen=True)
class Refreshed:
    """A message's button or form did its work and the message now reads differently (a rating
    given): show this view in place of the message, its remaining buttons still live."""

    view: MessageView


@dataclass(frozen=True)
class Opened:
    """An intake form opened a ticket (`again`: it had already, this submission was a repeat)."""

    ticket: Ticket
    again: bool = False


@dataclass(frozen=True)
class Received:
    """An intake form accepted; its ticket is being written and its number comes by message
    (`again`: this was a repeat of one accepted a moment ago; one ticket is made)."""

    again: bool = False


Outcome = Nothing | Answer | Refusal | ShowForm | Acknowledged | CardRefreshed | Replaced | Refreshed | Opened | Received
