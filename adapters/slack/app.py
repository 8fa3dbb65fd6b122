"""The Bolt app: slash command, modals, card buttons, thread replies and DMs.

Each listener translates a Slack payload into the core's (actor, text) or a form
submission, runs it off the event loop, and answers within Slack's 3 seconds;
messages for anyone else leave through the outbox.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import replace
from typing import Any, Callable

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat_flow import direct_ticket, is_command, state_refusal, thread_line
from adapters.slack import blocks as B
from adapters.slack.people import SlackPeople
from bot import messages as M
from bot.commands import Role
from bot.desk import Desk
from bot.forms import action_form, intake_form, submission
from bot.model import Actor
from bot.replies import Reply
from storage.posts import Posts

log = logging.getLogger("helpdesk.slack")

ACK_BUDGET = 2.0  # seconds of work before acking with "working on it" instead
FORM_BUTTONS = {"note", "escalate", "resolve", "reopen"}
MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
USER_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
NOTE_REACTION = {"note": "white_check_mark", "internal": "lock"}


class SlackHandlers:
    def __init__(self, desk: Desk, client: AsyncWebClient, posts: Posts, wake: Callable[[], None],
                 enrich: Callable | None = None) -> None:
        self.desk = desk
        self.client = client
        self.posts = posts
        self.people = SlackPeople(client, desk, enrich=enrich)
        self.wake = wake

    async def run(self, actor: Actor, text: str, **kwargs: Any) -> Reply:
        reply = await asyncio.to_thread(self.desk.handle, actor, text, **kwargs)
        self.wake()
        return reply

    def answer(self, reply: Reply) -> str:
        return B.reply_text(reply)

    # Slash command

    async def slash(self, ack, command: dict, respond) -> None:
        text = (command.get("text") or "").strip()
        user = command["user_id"]
        if not is_command(self.desk, text):
            await ack()
            actor = await self.people.actor(user, timeout=1.0)
            form = intake_form(self.desk.settings, actor, description=text, technician=self.desk.is_technician(actor),
                               devices=self.people.devices.get(user, ()))
            await self.client.views_open(trigger_id=command["trigger_id"], view=B.modal(form, {}))
            return
        task = asyncio.ensure_future(self._slash_reply(user, text, command.get("trigger_id")))
        done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET)
        if done:
            reply = task.result()
            await ack() if reply.duplicate else await ack(response_type="ephemeral", text=self.answer(reply))
            return
        await ack(response_type="ephemeral", text=M.WORKING)
        reply = await task
        if not reply.duplicate:
            await respond(response_type="ephemeral", replace_original=True, text=self.answer(reply))

    async def _slash_reply(self, user: str, text: str, trigger_id: str | None) -> Reply:
        actor = await self.people.actor(user)
        return await self.run(actor, text, dedupe_key=f"slack:command:{trigger_id}" if trigger_id else None,
                              mentioned=await self.mentioned(text))

    async def mentioned(self, text: str) -> dict[str, Actor]:
        """The people @mentioned in a line (`<@U123>` or `<@U123|name>`), looked up in Slack."""
        return {f"slack:{uid}": await self.people.actor(uid) for uid in dict.fromkeys(USER_MENTION.findall(text))}

    # Forms

    async def submit(self, ack, body: dict, view: dict) -> None:
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            form_name, ticket_id = meta.get("form", "new"), meta.get("ticket_id")
            ticket_id = int(ticket_id) if ticket_id is not None else None
        except (ValueError, TypeError):
            await ack(response_action="errors", errors={"text": M.FORM_BROKEN})
            return
        command, text, options = submission(form_name, B.form_values(view))
        actor = await self.people.actor(body["user"]["id"])
        reply = await asyncio.to_thread(self.desk.submit, actor, command, text, options, ticket_id=ticket_id,
                                        mentioned=await self.mentioned(options.get("for", "")))
        self.wake()
        if reply.ok:
            await ack()
            return
        errors = dict(reply.field_errors) or {_main_block(view, form_name): reply.text}
        await ack(response_action="errors", errors={k: v[:2000] for k, v in errors.items()})

    # Buttons

    async def button(self, ack, body: dict, action: dict) -> None:
        await ack()
        name = action["action_id"].partition(":")[2]
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        name, _, position = name.partition(":")
        try:
            ticket_id = int(action.get("value", "").partition(":")[0])
        except ValueError:
            await self._whisper(channel, user, B.escape(M.BAD_BUTTON))
            return
        actor = await self.people.actor(user)
        if name in FORM_BUTTONS:
            await self._open_action_form(actor, name, ticket_id, body.get("trigger_id"), channel, user)
            return
        if name == "keep":
            await self._replace_message(body, channel, M.KEPT.format(ref=f"#{ticket_id}"))
            return
        reply = await self.run(actor, f"{name} {ticket_id} {position}".strip())
        if not reply.ok:
            await self._whisper(channel, user, B.escape(reply.text))
        elif name in ("confirm", "solved"):
            await self._replace_message(body, channel, reply.text)
        elif reply.suggestions:
            await self._whisper(channel, user, self.answer(replace(reply, text="")))

    async def _replace_message(self, body: dict, channel: str | None, text: str) -> None:
        """Answer a DM's buttons by replacing them with the outcome, so they cannot be pressed twice."""
        if body.get("message") and channel:
            await self.client.chat_update(channel=channel, ts=body["message"]["ts"], text=text,
                                          blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "👍 " + B.escape(text)}}])

    async def _open_action_form(self, actor: Actor, name: str, ticket_id: int, trigger_id: str | None,
                                channel: str | None, user: str) -> None:
        spec = self.desk.registry.get(name)
        if spec.role is Role.TECHNICIAN and not self.desk.is_technician(actor):
            await self._whisper(channel, user, B.escape(M.TECHNICIANS_ONLY.format(verb=spec.verb)))
            return
        shown = await asyncio.to_thread(self.desk.handle, actor, f"show {ticket_id}")
        if not shown.ok:
            await self._whisper(channel, user, B.escape(shown.text))
            return
        refusal = state_refusal(name, shown.ticket)
        if refusal:
            await self._whisper(channel, user, B.escape(refusal))
            return
        form = action_form(name, shown.ticket, self.desk.settings, self.desk.is_technician(actor))
        await self.client.views_open(trigger_id=trigger_id, view=B.modal(form, {"ticket_id": ticket_id}))

    async def _whisper(self, channel: str | None, user: str, mrkdwn: str, thread_ts: str | None = None) -> None:
        """An ephemeral message only `user` sees, where they acted (`mrkdwn`: already escaped)."""
        if channel:
            kwargs = {"thread_ts": thread_ts} if thread_ts else {}
            await self.client.chat_postEphemeral(channel=channel, user=user, text=mrkdwn, **kwargs)

    # Messages: card threads and direct messages

    async def message(self, event: dict, body: dict) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, bots (ourselves included)
        channel, thread_ts = event["channel"], event.get("thread_ts")
        key = f"slack:event:{body.get('event_id') or event.get('client_msg_id') or event['ts']}"
        if thread_ts and thread_ts != event["ts"]:
            ticket_id = await asyncio.to_thread(self.posts.ticket_for, "slack", channel, thread_ts)
            if ticket_id is not None:
                await self._in_ticket_thread(event, ticket_id, key)
                return
        if event.get("channel_type") == "im":
            await self._direct(event, key)

    async def _in_ticket_thread(self, event: dict, ticket_id: int, key: str) -> None:
        text = MENTION.sub("", event.get("text") or "").strip()
        if not text:
            return
        line, kind = thread_line(self.desk, text)
        actor = await self.people.actor(event["user"])
        reply = await self.run(actor, line, ticket_id=ticket_id, dedupe_key=key)
        await self._acknowledge(event, reply, kind, thread_ts=event.get("thread_ts"))

    async def _direct(self, event: dict, key: str) -> None:
        text = MENTION.sub("", event.get("text") or "").strip()
        if not text:
            return
        actor = await self.people.actor(event["user"])
        if is_command(self.desk, text):
            reply = await self.run(actor, text, dedupe_key=key)
            if not reply.duplicate:
                await self.client.chat_postMessage(channel=event["channel"], text=self.answer(reply))
            return
        ticket_id = await self._dm_ticket(actor, event)
        if isinstance(ticket_id, str):
            await self.client.chat_postMessage(channel=event["channel"], text=ticket_id)
            return
        reply = await self.run(actor, f"note {ticket_id} {text}", dedupe_key=key)
        await self._acknowledge(event, reply, "note")

    async def _dm_ticket(self, actor: Actor, event: dict) -> int | str:
        """The ticket a free-text DM answers: the thread it is in, else the one waiting on them."""
        if event.get("thread_ts"):
            known = await asyncio.to_thread(self.posts.ticket_for, "slack", event["channel"], event["thread_ts"])
            if known is not None:
                return known
        return await asyncio.to_thread(direct_ticket, self.desk, actor)

    async def _acknowledge(self, event: dict, reply: Reply, kind: str | None, thread_ts: str | None = None) -> None:
        """A note is confirmed with a reaction; other answers only the author sees."""
        if reply.duplicate:
            return
        if reply.ok and (kind or not reply.text or reply.ticket and not reply.notes and not reply.sections):
            await self.client.reactions_add(channel=event["channel"], timestamp=event["ts"],
                                            name=NOTE_REACTION.get(kind or "", "white_check_mark"))
            return
        await self._whisper(event["channel"], event["user"], self.answer(reply), thread_ts=thread_ts)

    async def mention(self, event: dict, body: dict) -> None:
        """`@helpdesk queue` in a channel (card threads are handled as messages)."""
        thread_ts = event.get("thread_ts")
        if thread_ts and await asyncio.to_thread(self.posts.ticket_for, "slack", event["channel"], thread_ts):
            return
        text = MENTION.sub("", event.get("text") or "").strip() or "help"
        actor = await self.people.actor(event["user"])
        reply = await self.run(actor, text, dedupe_key=f"slack:event:{body.get('event_id')}")
        if not reply.duplicate:
            await self._whisper(event["channel"], event["user"], self.answer(reply), thread_ts=thread_ts)


def _main_block(view: dict, form_name: str) -> str:
    ids = [b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"]
    preferred = "description" if form_name == "new" else "text"
    return preferred if preferred in ids or not ids else ids[0]


def build_app(desk: Desk, client: AsyncWebClient, signing_secret: str, posts: Posts, wake: Callable[[], None],
              command: str = "/ticket", enrich: Callable | None = None) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    handlers = SlackHandlers(desk, client, posts, wake, enrich)
    app.command(command)(handlers.slash)
    app.view(B.MODAL_CALLBACK)(handlers.submit)
    app.action(re.compile(r"^ticket:(claim|note|escalate|resolve|reopen|close|confirm|keep|solved:\d+)$"))(handlers.button)
    app.event("message")(handlers.message)
    app.event("app_mention")(handlers.mention)

    @app.error
    async def on_error(error: Exception, body: dict) -> None:
        log.exception("Slack listener failed for a %s request", body.get("type") or body.get("command"), exc_info=error)

    return app
