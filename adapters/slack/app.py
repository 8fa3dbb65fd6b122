"""The Bolt app: a translator. Each listener acks within Slack's 3 seconds, maps its payload (decoded
once: adapters/slack/text.py) to a chat-layer call, and shows the outcome."""
from __future__ import annotations

import asyncio
import json
import logging
import re

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import messages as CM
from adapters.chat.interactions import Interactions
from adapters.chat.outcomes import Answer, Opened, Received, Refreshed, Refusal, Replaced, ShowForm
from adapters.slack import blocks as B
from adapters.slack.answer import MESSAGE_KEY, Place, SlackAnswers
from adapters.slack.from_message import files_of
from adapters.slack.people import SlackPeople
from adapters.slack.text import decode

log = logging.getLogger("helpdesk.slack")

ACK_BUDGET = 2.0  # seconds of work before a slash command is acked with "working on it" instead
BOT_MENTION = re.compile(r"^\s*<@slack:[A-Z0-9]+>\s*")
WRITTEN = {None, "thread_broadcast", "file_share", "me_message"}  # subtypes of messages a person wrote


class SlackListeners:
    def __init__(self, chat: Interactions, people: SlackPeople, client: AsyncWebClient) -> None:
        self.chat = chat
        self.people = people
        self.answers = SlackAnswers(client)

    async def slash(self, ack, command: dict, respond) -> None:
        """`/ticket [text]`: acked within 2 s with the answer, a modal, or "working on it" and the answer later."""
        text, user = decode(command.get("text")), command["user_id"]
        key = f"slack:command:{command['trigger_id']}" if command.get("trigger_id") else None
        work = asyncio.ensure_future(self._line(user, text, key, free="form", slash=True))
        done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET)
        at = Place(user, command.get("channel_id"), trigger_id=command.get("trigger_id"), respond=respond)
        if not done:
            await ack(response_type="ephemeral", text=CM.WORKING)
            at.say = lambda **kw: respond(replace_original=True, **kw)
        elif isinstance(work.result(), (Answer, Refusal, Opened)):
            at.say = ack  # a text answer goes in the ack itself
        else:
            await ack()
        await self.answers.show(await work, at)

    async def _line(self, user: str, text: str, key: str | None, free: str, slash: bool = False,
                    thread_ticket: int | None = None):
        # a form must open within 3 s of its trigger: less time for the profile when one may be shown
        quick = slash and self.chat.may_open_form(text)
        actor = await self.people.get(user, timeout=1.0 if quick else 2.0)
        return await self.chat.line(actor, text, key=key, people=await self.people.mentioned(text), free=free,
                                    thread_ticket=thread_ticket)

    async def submit(self, ack, body: dict, view: dict) -> None:
        """A modal submitted: acked empty (it closes), with errors on their fields, or with a notice;
        a person's own intake form before its ticket is written or they are looked up (chat/intake.py)."""
        try:
            context = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            context = None
        values, user = B.form_values(view), body["user"]["id"]
        outcome = await self.chat.submit(self.people.someone(body["user"]), context, values,
                                         key=f"slack:view:{view.get('id')}:{view.get('hash')}",
                                         people=await self.people.mentioned(values.get("requester") or ""),
                                         tell=lambda text: self.answers.tell(user, text))
        if isinstance(outcome, (Opened, Received)) and outcome.again:  # a repeat: nothing new is made
            await ack(response_action="update", view=B.notice_modal(CM.RECEIVED_AGAIN if isinstance(outcome, Received) else outcome))
        elif isinstance(outcome, ShowForm) and outcome.errors:
            await ack(response_action="errors", errors=B.form_errors(view, outcome.errors))
        elif isinstance(outcome, Refusal):
            await ack(response_action="errors", errors=B.form_errors(view, {"": outcome.text}))
        else:
            await ack()
        message = (context or {}).get(MESSAGE_KEY) if isinstance(context, dict) else None
        if isinstance(outcome, (Refreshed, Replaced)) and isinstance(message, list) and len(message) == 2:
            await self.answers.show(outcome, Place(body["user"]["id"], str(message[0]), message_ts=str(message[1])))

    async def button(self, ack, body: dict, action: dict, respond) -> None:
        """A button pressed on a card or a message: acked at once, then its outcome shown."""
        await ack()
        verb, data = B.read_button(action)
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        direct = str(channel or "").startswith("D")  # a direct message's channel
        if data is not None:
            data.setdefault("where", "dm" if direct else "card")
        actor = await self.people.get(user)
        outcome = await self.chat.press(actor, verb, data, key=f"slack:action:{body.get('trigger_id')}")
        await self.answers.show(outcome, Place(user, channel, message_ts=(body.get("message") or {}).get("ts"),
                                               trigger_id=body.get("trigger_id"), direct=direct,
                                               respond=respond if body.get("response_url") else None))

    async def message(self, event: dict, body: dict, context: dict) -> None:
        """A message someone wrote: in a card's thread, or in their direct chat with the bot."""
        if (event.get("subtype") not in WRITTEN or event.get("bot_id") or not event.get("user")
                or event.get("user") == context.get("bot_user_id")):
            return  # the bot itself, other bots, and events that are not someone writing
        channel, thread_ts, user = event["channel"], event.get("thread_ts"), event["user"]
        text = BOT_MENTION.sub("", decode(event.get("text")))
        key = f"slack:event:{body.get('event_id') or event.get('client_msg_id') or event['ts']}"
        at = Place(user, channel, thread_ts=thread_ts, message_ts=event["ts"], direct=event.get("channel_type") == "im")
        ticket_id = await self.chat.ticket_of("slack", channel, thread_ts) if thread_ts else None
        if event.get("files") and (at.direct or ticket_id is not None):  # a screenshot, a log: its text, then its files
            actor = await self.people.get(user)
            for outcome in await self.chat.shared(actor, text, files_of(event), self.chat.sources["slack"],
                                                  ticket_id=ticket_id, direct=at.direct, key=key,
                                                  people=await self.people.mentioned(text)):
                await self.answers.show(outcome, at)
            return
        if ticket_id is not None and not at.direct:
            actor = await self.people.get(user)
            outcome = await self.chat.thread_reply(actor, ticket_id, text, key=key,
                                                   people=await self.people.mentioned(text))
        elif at.direct and text.strip():
            outcome = await self._line(user, text, key, free="answer", thread_ticket=ticket_id)
        else:
            return
        await self.answers.show(outcome, at)

    async def mention(self, event: dict, body: dict) -> None:
        """`@helpdesk queue` in a channel (card threads are handled as messages)."""
        thread_ts = event.get("thread_ts")
        if thread_ts and await self.chat.ticket_of("slack", event["channel"], thread_ts):
            return
        text = BOT_MENTION.sub("", decode(event.get("text")))
        outcome = await self._line(event["user"], text, f"slack:event:{body.get('event_id')}", free="grammar")
        await self.answers.show(outcome, Place(event["user"], event["channel"], thread_ts=thread_ts))


def build_app(chat: Interactions, people: SlackPeople, client: AsyncWebClient, signing_secret: str,
              command: str = "/ticket") -> AsyncApp:
    """The Bolt app with its listeners (the slash command's name from `[slack] command`)."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    listeners = SlackListeners(chat, people, client)
    app.command(command)(listeners.slash)
    app.view(B.MODAL_CALLBACK)(listeners.submit)
    app.action(re.compile(r"^ticket:\w+(:\d+)?$"))(listeners.button)
    app.event("message")(listeners.message)
    app.event("app_mention")(listeners.mention)

    @app.error
    async def on_error(error: Exception, body: dict) -> None:
        log.exception("Slack listener failed for a %s request", body.get("type") or body.get("command"), exc_info=error)

    return app
