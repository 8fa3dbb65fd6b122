"""The chat layer: what a message, a button or a form means, decided once for every platform.

Each platform's listener maps its payload to one of these calls (who, what, the platform's id
for the request so retries count once) and renders the Outcome it gets back. Every call runs
the core off the event loop and wakes the outbox when something changed.

- `line`: a command line typed to the bot outside a ticket's thread (a slash command, a direct
  message, a mention). `new` alone opens the intake form; free text opens the form pre-filled
  (`free="form"`), becomes the requester's answer on their ticket (`free="answer"`), or is
  answered by the grammar (`free="grammar"`).
- `thread_reply`: a message in a ticket's thread: a public note, `//…` an internal one, a
  command acting on that ticket.
- `press`: a button on a card or a message.
- `submit`: a submitted form.

Chat messages that are not commands (a message turned into a ticket, files arriving) are
adapters/chat/from_message.py's, mixed in here.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Callable, Mapping

from adapters.chat import messages as CM
from adapters.chat.attachments import Intake
from adapters.chat.charts import Chart, ReportCharts
from adapters.chat.from_message import FromMessages
from adapters.chat.intake import IntakeQueue, Someone, Tell
from adapters.chat.origin import MessageSource
from adapters.chat.outcomes import (Acknowledged, Answer, CardRefreshed, Nothing, Opened, Outcome, Received, Refreshed,
                                    Refusal, Replaced, ShowForm)
from adapters.chat.views import (CARD, DIRECT_VERBS, DM, FORM_VERBS, INCIDENT, PROPOSAL_VERBS, CardView, FormContext,
                                 IncidentView, current_card, incident_view, read_action, resolution_view)
from bot import messages as M
from bot.commands.closing import resolved_text
from bot.commands.registry import Call, Source
from bot.desk import Desk
from bot.forms import Form, action_form, intake_form, main_field, rating_form, submission
from bot.model import Actor, Origin, Ticket
from bot.replies import Reply, ReplyKind
from bot.text import clean, one_line

People = Mapping[str, Actor]
log = logging.getLogger("helpdesk")


class Interactions(FromMessages):
    """The chat layer over one Desk. `wake` is called after anything that may have queued
    messages (the outbox dispatchers deliver at once instead of at their next poll);
    `devices(actor)` names the computers the directory says the actor manages; `files` takes
    in shared files (None: none are kept, each is refused with that reason)."""

    def __init__(self, desk: Desk, wake: Callable[[], None] = lambda: None,
                 devices: Callable[[Actor], tuple[str, ...]] = lambda actor: (), files: Intake | None = None,
                 charts: ReportCharts | None = None) -> None:
        self.desk = desk
        self.wake = wake
        self.devices = devices
        self.files = files
        self.charts = charts  # a report's answer comes with its chart when set
        self.sources: dict[str, MessageSource] = {}  # each platform's, by name: see from_message.py
        self._later: set[asyncio.Task] = set()
        self.intake_queue = IntakeQueue(desk, wake)  # intake forms' tickets, written after the answer

    async def settled(self) -> None:
        """Wait for the follow-up work started so far (tests, shutdown): files being taken in, and
        submitted forms whose tickets are being written (up to 10 s for those)."""
        await super().settled()
        await self.intake_queue.drained()

    # Running the core

    async def execute(self, actor: Actor, call: Call, key: str | None = None) -> Reply:
        """Run a typed call off the event loop; wakes the outbox when it changed something."""
        reply = await asyncio.to_thread(self.desk.execute, actor, call, dedupe_key=key)
        if reply.kind is ReplyKind.CHANGED:
            self.wake()
        return reply

    async def run_line(self, actor: Actor, text: str, key: str | None = None, ticket_id: int | None = None,
                       people: People | None = None) -> Reply:
        """Run a command line a person typed, off the event loop."""
        reply = await asyncio.to_thread(self.desk.handle, actor, text, ticket_id=ticket_id, dedupe_key=key,
                                        people=people)
        if reply.kind is ReplyKind.CHANGED:
            self.wake()
        return reply

    def card(self, ticket: Ticket) -> CardView:
        """A ticket's card as it stands now (the one a button's answer shows the presser)."""
        return current_card(ticket, self.desk.settings, self.desk.clock())

    def may_open_form(self, text: str) -> bool:
        """Whether a slash command's text may be answered with the intake form (it is not a
        command line), so the platform leaves itself time to open one."""
        return not self.desk.registry.is_command(text)

    async def ticket_of(self, platform: str, channel: str, message_id: str) -> int | None:
        """The ticket whose card or message this is, so a reply in its thread belongs to it."""
        def find() -> int | None:
            with self.desk.store.transaction(write=False) as tx:
                return tx.ticket_for_post(platform, channel, message_id)
        return await asyncio.to_thread(find)

    def intake(self, actor: Actor, description: str = "") -> Form:
        """The new-ticket form for `actor`, pre-filled with what is known of them."""
        return intake_form(self.desk.settings, actor, description=description,
                           technician=self.desk.is_technician(actor), devices=self.devices(actor))

    # Lines typed to the bot

    async def line(self, actor: Actor, text: str, *, key: str | None = None, people: People | None = None,
                   free: str = "grammar", thread_ticket: int | None = None) -> Outcome:
        """A command line outside a ticket's thread (see the module's docstring for `free`);
        `thread_ticket` is the ticket a direct message's thread belongs to, if any."""
        text = text.strip()
        if not text or text.lower() in ("new", "/new"):
            if key and not await asyncio.to_thread(self.desk.first_time, key):
                return Nothing()  # a retried message shows one form, not two
            return ShowForm(self.intake(actor), FormContext("new"))
        if self.desk.registry.is_command(text) or free == "grammar":
            reply = await self.run_line(actor, text, key, people=people)
            if reply.duplicate:
                return Nothing()
            drawn = self.charts is not None and reply.ok and reply.report is not None
            return Answer(reply, (lambda: self.chart(reply)) if drawn else None)
        if free == "form":
            return ShowForm(self.intake(actor, text), FormContext("new"))
        call = (Call("note", thread_ticket, text, source=Source.DIRECT) if thread_ticket is not None
                else Call("answer", None, text, source=Source.DIRECT))
        reply = await self.execute(actor, call, key)
        return self._acknowledged(reply, "note", echoed=False)

    async def thread_reply(self, actor: Actor, ticket_id: int, text: str, *, key: str | None = None,
                           people: People | None = None) -> Outcome:
        """A message in a ticket's thread: `//…` an internal note, a command line acting on the
        ticket, anything else a public note (its text stored exactly as written)."""
        text = text.strip()
        if not text:
            return Nothing()
        if text.startswith("//"):
            reply = await self.execute(actor, Call("internal", ticket_id, text[2:], source=Source.THREAD, people=people or {}), key)
            return self._acknowledged(reply, "internal", echoed=False)
        if self.desk.registry.is_command(text):
            reply = await self.run_line(actor, text, key, ticket_id=ticket_id, people=people)
            return self._acknowledged(reply, "done", echoed=True)
        reply = await self.execute(actor, Call("note", ticket_id, text, source=Source.THREAD, people=people or {}), key)
        return self._acknowledged(reply, "note", echoed=False)

    async def chart(self, reply: Reply) -> Chart | None:
        """The chart of a report the reply carries (None: no report, no charts here, or it could not
        be drawn: the table is shown all the same)."""
        if self.charts is None or not reply.ok or reply.report is None:
            return None
        try:
            return await self.charts.draw(reply.report)
        except Exception:
            log.exception("could not draw the report's chart; the table goes without it")
            return None

    @staticmethod
    def _acknowledged(reply: Reply, mark: str, echoed: bool) -> Outcome:
        if reply.duplicate:
            return Nothing()
        if reply.kind is not ReplyKind.CHANGED:
            return Answer(reply)
        aside = replace(reply, text="", ticket=None) if reply.suggestions else None
        return Acknowledged(mark, reply.text, echoed, aside)

    # Buttons

    async def press(self, actor: Actor, verb: str, data: Any, *, key: str | None = None) -> Outcome:
        """A button: `verb` as the button's view named it, `data` what it carried back."""
        if verb == "intake":  # "Open the form", offered where a form cannot open by itself
            return ShowForm(self.intake(actor), FormContext("new"))
        action = read_action(data)
        if action is None:
            return Refusal(CM.BAD_BUTTON)
        ticket_id, where, position = action
        if verb == "keep":
            return Replaced(CM.KEPT.format(ref=f"#{ticket_id}"))
        if verb == "cancel":  # a form shown in place of a card or a message: back to what was there
            if data.get("form") == "rate":
                return await self._rated(actor, ticket_id)
            return await self._done(actor, Reply(""), ticket_id, where)
        if verb == "rate" and position is not None:  # a score: rated at once, the message shows it
            reply = await self.execute(actor, Call("rate", ticket_id, str(position), source=Source.BUTTON), key)
            return await self._rated(actor, ticket_id) if reply.ok else Refusal(reply.text)
        if verb in FORM_VERBS:
            return await self.open_form(actor, verb, ticket_id, where)
        if verb in PROPOSAL_VERBS:  # an incident proposal answered: the message says so, its buttons go
            options = {"proposal": str(data.get("proposal"))} if verb == "declare" and data.get("proposal") else {}
            reply = await self.execute(actor, Call(PROPOSAL_VERBS[verb], ticket_id, "", options, Source.BUTTON), key)
            if reply.duplicate:
                return Nothing()
            return Replaced(CM.DONE.format(text=reply.text)) if reply.ok else Refusal(reply.text)
        if verb not in DIRECT_VERBS:
            return Refusal(CM.BAD_CARD)
        text = str(position) if verb == "solved" and position is not None else ""
        reply = await self.execute(actor, Call(verb, ticket_id, text, source=Source.BUTTON), key)
        if not reply.ok:
            return Refusal(reply.text)
        return await self._done(actor, reply, ticket_id, where)

    async def open_form(self, actor: Actor, verb: str, ticket_id: int, where: str = CARD) -> Outcome:
        """The form behind a button, if the person may use it on this ticket in its state now."""
        checked = await asyncio.to_thread(self.desk.check, actor, Call(verb, ticket_id, source=Source.BUTTON))
        if not checked.ok:
            return Refusal(checked.text)
        if verb == "rate":  # only the requester's to give; pre-selected with the score given so far
            person = await asyncio.to_thread(self.desk.whoami, actor)
            if not person.is_(checked.ticket.requester.id):
                return Refusal(M.RATE_REQUESTER_ONLY.format(ref=checked.ticket.ref))
            rating = await asyncio.to_thread(self._rating, checked.ticket)
            return ShowForm(rating_form(checked.ticket, rating.score if rating else None), FormContext(verb, ticket_id, where))
        form = action_form(verb, checked.ticket, self.desk.settings, self.desk.is_technician(actor))
        return ShowForm(form, FormContext(verb, ticket_id, where))

    def _rating(self, ticket: Ticket):
        """The rating the ticket's current resolution asked for (bot.satisfaction.Rating), or None."""
        if ticket.resolved_at is None:
            return None
        with self.desk.store.transaction(write=False) as tx:
            return tx.rating_of(ticket.id, ticket.resolved_at)

    async def _rated(self, actor: Actor, ticket_id: int) -> Outcome:
        """The resolution message again after a rating (or a rating form put away): its text, the
        buttons still meaningful, the score given so far."""
        ticket = await self._ticket(actor, ticket_id)
        if ticket is None or ticket.resolved_at is None:
            return Replaced(CM.STATUS_NOW.format(ref=f"#{ticket_id}", status=ticket.status.label) if ticket else
                            CM.KEPT.format(ref=f"#{ticket_id}"))
        rating = await asyncio.to_thread(self._rating, ticket)
        return Refreshed(resolution_view(ticket, resolved_text(ticket), rating, self.desk.settings.zone))

    async def _done(self, actor: Actor, reply: Reply, ticket_id: int, where: str) -> Outcome:
        """What a button or form that worked (or was a repeat) shows: on a message, a line in
        place of its buttons; on a card, the card as it is now."""
        ticket = reply.ticket if reply.ticket is not None and reply.ticket.id == ticket_id else None
        if where == DM:
            if reply.duplicate or not reply.text:
                ticket = ticket or await self._ticket(actor, ticket_id)
                return Replaced(CM.STATUS_NOW.format(ref=f"#{ticket_id}", status=ticket.status.label) if ticket else
                                CM.KEPT.format(ref=f"#{ticket_id}"))
            return Replaced(CM.DONE.format(text=reply.text))
        ticket = ticket or await self._ticket(actor, ticket_id)
        if ticket is None:
            return Nothing()
        aside = replace(reply, text="", ticket=None) if reply.suggestions else None
        if where == INCIDENT:
            return CardRefreshed(ticket, aside, await self.incident(ticket_id))
        return CardRefreshed(ticket, aside)

    async def _intake(self, who: Actor | Someone, call: Call, form_context: FormContext, values: dict[str, Any],
                      key: str | None, tell: Tell | None, wait: float) -> Outcome:
        """A person's own intake form: checked, then accepted into the intake queue (see submit)."""
        identity = who.identity if isinstance(who, Someone) else who.id
        problems = self.desk.intake_problems(self.desk.actor(identity), call)
        if problems:  # shown next to their fields, in the platform's answer
            actor = await who.look_up() if isinstance(who, Someone) else who
            return ShowForm(self.intake(actor), form_context, values, problems)
        earlier = self.intake_queue.earlier(key)
        if earlier is None and key:  # written before, by this process before a restart or by another replica
            ticket = await self.intake_queue.written(key)
            if ticket is not None:
                return Opened(ticket, again=True)
            earlier = self.intake_queue.earlier(key)  # a repeat accepted while this one looked
        accepted = earlier or self.intake_queue.accept(who, call, key, tell)
        if wait > 0 or earlier is not None:
            try:
                reply = await asyncio.wait_for(asyncio.shield(accepted.done), max(wait, 0.5 if earlier else 0))
            except asyncio.TimeoutError:
                return Received(again=earlier is not None)
            if reply.ticket is not None:
                return Opened(reply.ticket, again=earlier is not None or reply.duplicate)
            if not reply.ok:  # the person is told by message too; the form stays open to correct it
                return ShowForm(self.intake(await accepted.who), form_context, values,
                                dict(reply.field_errors) or {"description": reply.text})
        return Received(again=earlier is not None)

    async def incident(self, ticket_id: int) -> IncidentView | None:
        """The card of the incident `ticket_id` is the parent of, as it stands now (None: not one)."""
        def read() -> IncidentView | None:
            with self.desk.store.transaction(write=False) as tx:
                found = tx.incident(ticket_id)
            return incident_view(found, self.desk.clock()) if found else None
        return await asyncio.to_thread(read)

    async def _ticket(self, actor: Actor, ticket_id: int):
        checked = await asyncio.to_thread(self.desk.check, actor, Call("show", ticket_id, source=Source.BUTTON))
        return checked.ticket if checked.ok else None

    # Forms

    async def submit(self, actor: Actor | Someone, context: Any, values: Mapping[str, Any], *, key: str | None = None,
                     people: People | None = None, origin: Origin | None = None, tell: Tell | None = None,
                     wait: float = 0.0) -> Outcome:
        """A submitted form: `context` what the shown form carried (FormContext.as_data), `values`
        the fields by name (a person picked in a picker written `<@identity>`, resolved in `people`);
        `origin` the chat message an intake form was opened from.

        A person's own intake form is answered before its ticket is written (see
        adapters/chat/intake.py): its field problems (ShowForm), a repeat of one already
        written (Opened, `again`), or Received, the ticket then written within moments and
        confirmed by message. `wait` is how many seconds the platform's answer may wait for the
        ticket's number instead (Opened); `tell` messages the person directly if the ticket
        cannot be written after all. `actor` may be Someone still being looked up."""
        form_context = context if isinstance(context, FormContext) else FormContext.read(context)
        if form_context is None or (form_context.form != "new" and (form_context.form not in FORM_VERBS
                                                                    or form_context.ticket_id is None)):
            return Refusal(CM.FORM_BROKEN)
        values = {k: (clean(str(v)) if v is not None else None) for k, v in values.items()}
        command, text, options = submission(form_context.form, dict(values))
        own = form_context.form == "new" and origin is None and not form_context.extra.get("message")
        if own and not {"for", "name", "via"} & set(options):  # their own ticket: the store waits
            call = Call(command, None, text, options, Source.FORM)
            return await self._intake(actor, call, form_context, values, key, tell, wait)
        if isinstance(actor, Someone):
            actor = await actor.look_up()
        if origin is None and form_context.extra.get("message"):  # opened from a chat message
            return await self.submit_from_message(actor, form_context, values, key=key, people=people)
        call = Call(command, form_context.ticket_id, text, options, Source.FORM, people=people or {}, origin=origin)
        reply = await self.execute(actor, call, key)
        if form_context.form == "new":
            if reply.ok and reply.ticket is not None:
                return Opened(reply.ticket, again=reply.duplicate)
            if reply.duplicate:
                return Nothing()
            form = self.intake(actor)
            return ShowForm(form, form_context, values, dict(reply.field_errors) or {main_field(form): reply.text})
        if reply.ok and form_context.form == "rate":
            return await self._rated(actor, form_context.ticket_id)
        if reply.ok:
            return await self._done(actor, reply, form_context.ticket_id, form_context.where)
        shown = await self.open_form(actor, form_context.form, form_context.ticket_id, form_context.where)
        if not isinstance(shown, ShowForm):
            return Refusal(reply.text)
        return replace(shown, values=values, errors=dict(reply.field_errors) or {main_field(shown.form): reply.text})


def opened_text(outcome: Opened) -> str:
    """What a person sees once their intake form went through (or went through before)."""
    ticket = outcome.ticket
    sentence = CM.ALREADY_OPENED if outcome.again else CM.OPENED_CARD
    return sentence.format(ref=ticket.ref, headline=one_line(ticket.description, 80))
