"""The Teams bot: messages in personal chats and @mentions in channels, card buttons
(`Action.Execute`), card forms. Each handler translates an activity into the core's
(actor, text) or a form submission, answers in the conversation (an invoke within
Teams' 5 seconds, with the refreshed card), and leaves the rest to the outbox.
"""
from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
from dataclasses import replace
from http import HTTPStatus
from typing import Any, Callable

from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ChannelAccount

from adapters.chat_flow import direct_ticket, is_command, state_refusal, thread_line
from adapters.teams import cards as C
from adapters.teams.adapter import tenant_of
from adapters.teams.people import TeamsPeople, identity_of
from bot import messages as M, sla
from bot.commands import Role
from bot.desk import Desk
from bot.forms import Form, action_form, intake_form, main_field, submission
from bot.model import Actor, Ticket
from bot.replies import Reply
from bot.text import one_line
from storage.conversations import ConversationRefs
from storage.posts import Posts

log = logging.getLogger("helpdesk.teams")

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
FORM_VERBS = {"note", "escalate", "resolve", "reopen"}
DIRECT_VERBS = {"claim", "close", "confirm", "solved", "keep"}
CONTEXT_KEYS = {"ticket_id", "form", "form_id", "where", "position", "msteams"}
AT_TAG = re.compile(r"<at>(.*?)</at>", re.S)
TAG = re.compile(r"<[^>]+>")
HELD = re.compile(r"\x00(\d+)\x00")
SAME_MENTION = re.compile(r"(<@teams:[^>]+>)(?:\s*\1)+")


class TeamsBot(ActivityHandler):
    def __init__(self, desk: Desk, posts: Posts, refs: ConversationRefs, wake: Callable[[], None],
                 enrich: Callable | None = None) -> None:
        self.desk = desk
        self.posts = posts
        self.refs = refs
        self.people = TeamsPeople(desk, refs, enrich=enrich)
        self.wake = wake
        self._linked: set[str] = set()  # identities whose email already leads to their Teams account

    async def on_turn(self, turn: TurnContext) -> None:
        await self._remember(turn)
        await super().on_turn(turn)

    async def actor(self, turn: TurnContext) -> Actor:
        """The sender. Once their email is known the bot keeps it: they can then be reached by it
        (groups and technicians are often configured by email) and named when a look-up fails."""
        actor = await self.people.actor(turn)
        if actor.email and actor.email != actor.id and actor.id not in self._linked:
            member = await asyncio.to_thread(self.refs.get, f"member:{actor.id}")
            refs = {f"person:{actor.id}": {"name": actor.name, "email": actor.email}}
            if member:
                refs[f"member:{actor.email}"] = member
            await asyncio.to_thread(self.refs.remember, refs, self.desk.clock())
            self._linked.add(actor.id)
        return actor

    async def run(self, actor: Actor, text: str, **kwargs: Any) -> Reply:
        reply = await asyncio.to_thread(self.desk.handle, actor, text, **kwargs)
        self.wake()
        return reply

    async def say(self, turn: TurnContext, reply: Reply | str) -> None:
        text = reply if isinstance(reply, str) else C.reply_text(reply)
        await turn.send_activity(Activity(type="message", text=text, text_format="markdown"))

    # Messages

    async def on_message_activity(self, turn: TurnContext) -> None:
        activity = turn.activity
        text, mentioned = await self._read(turn)
        key = request_key(activity)
        if activity.conversation.conversation_type == "channel":
            channel, _, root = activity.conversation.id.partition(";messageid=")
            if root and root != activity.id:
                ticket_id = await asyncio.to_thread(self.posts.ticket_for, "teams", channel, root)
                if ticket_id is not None:
                    await self._in_ticket_thread(turn, text, ticket_id, key, mentioned)
                    return
        actor = await self.actor(turn)
        if not text or text.lower() in ("new", "/new"):
            if await asyncio.to_thread(self.desk.first_time, key):  # a retried "new" shows one form
                await self._send_intake(turn, actor, "")
            return
        if is_command(self.desk, text) or activity.conversation.conversation_type != "personal":
            reply = await self.run(actor, text, dedupe_key=key, mentioned=mentioned)
            if not reply.duplicate:
                await self.say(turn, reply)
            return
        ticket_id = await asyncio.to_thread(direct_ticket, self.desk, actor)
        if isinstance(ticket_id, str):
            await self.say(turn, C.html_safe(ticket_id))
            return
        reply = await self.run(actor, f"note {ticket_id} {text}", dedupe_key=key)
        if not reply.duplicate:
            await self.say(turn, reply)

    async def _in_ticket_thread(self, turn: TurnContext, text: str, ticket_id: int, key: str,
                                mentioned: dict[str, Actor]) -> None:
        """An @mention reply in a card's thread: a note (`//`: internal), or a command on its ticket."""
        if not text:
            return
        line, kind = thread_line(self.desk, text)
        actor = await self.actor(turn)
        reply = await self.run(actor, line, ticket_id=ticket_id, dedupe_key=key, mentioned=mentioned)
        if reply.duplicate:
            return
        answered = reply.sections or reply.notes or reply.suggestions or reply.help or reply.people or reply.report
        if reply.ok and kind is None and not answered:
            return  # a change made from the thread: the outbox's line in the thread says it, once
        await self.say(turn, reply)

    async def _send_intake(self, turn: TurnContext, actor: Actor, description: str) -> None:
        form = self._intake_form(actor, description)
        await turn.send_activity(Activity(type="message", attachments=[C.attachment(C.form_card(form, {}))]))

    def _intake_form(self, actor: Actor, description: str = "") -> Form:
        return intake_form(self.desk.settings, actor, description=description, technician=self.desk.is_technician(actor),
                           devices=self.people.devices.get(actor.id, ()))

    async def _read(self, turn: TurnContext) -> tuple[str, dict[str, Actor]]:
        """The message's text with the bot's mention removed and people's mentions written as
        `<@teams:…>` (what `for=` understands), and those people looked up."""
        activity = turn.activity
        text = activity.text or ""
        mentioned: dict[str, Actor] = {}
        tokens: list[str] = []  # a person's mention, held out of the tag clean-up below
        for entity in activity.entities or []:
            if entity.type != "mention":
                continue
            props = entity.additional_properties or {}
            who = props.get("mentioned") or {}
            tag = props.get("text") or ""
            if not tag or tag not in text:
                continue
            if who.get("id") == (activity.recipient.id if activity.recipient else None):
                text = text.replace(tag, " ")
                continue
            actor = await self.people.actor(turn, ChannelAccount(id=who.get("id"), name=who.get("name")), strict=True)
            if actor is not None:
                mentioned[actor.id] = actor
            tokens.append(f"<@{actor.id if actor else 'teams:' + str(who.get('id'))}>")
            text = text.replace(tag, f"\x00{len(tokens) - 1}\x00")
        text = AT_TAG.sub(lambda m: m.group(1), text)  # mentions without an entity: just the name
        text = html.unescape(TAG.sub(" ", text)).replace("\xa0", " ")
        text = HELD.sub(lambda m: tokens[int(m.group(1))], text)
        # the new Teams client sends one mention per word of a name: one person, one token
        return SAME_MENTION.sub(r"\1", text).strip(), mentioned

    # Card buttons and forms (Action.Execute)

    async def on_invoke_activity(self, turn: TurnContext) -> InvokeResponse:
        """`adaptiveCard/action` answered with a card or a message (as Universal Actions define
        them, which botbuilder's own typed response cannot carry); other invokes as botbuilder does."""
        if turn.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn)
        value = turn.activity.value if isinstance(turn.activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        if action.get("type") != "Action.Execute":
            return InvokeResponse(status=int(HTTPStatus.BAD_REQUEST), body={
                "statusCode": 400, "type": "application/vnd.microsoft.error",
                "value": {"code": "BadRequest", "message": "expected an Action.Execute"}})
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        response = await self._execute(turn, str(action.get("verb") or "").lower(), dict(data))
        return InvokeResponse(status=int(HTTPStatus.OK), body=response)

    async def _execute(self, turn: TurnContext, verb: str, data: dict) -> dict[str, Any]:
        actor = await self.actor(turn)
        if verb == "submit" and data.get("form") == "new":
            return await self._submit_intake(turn, actor, data)
        try:
            ticket_id = int(data.get("ticket_id"))
        except (TypeError, ValueError):
            return _message(M.BAD_BUTTON)
        key = request_key(turn.activity)
        if verb in FORM_VERBS:
            return await self._open_form(actor, verb, ticket_id, data)
        if verb == "submit":
            return await self._submit_action(turn, actor, ticket_id, data, key)
        if verb == "cancel":
            return await self._card_or_notice(actor, ticket_id, data)
        if verb == "keep":
            return _card(C.notice_card(M.KEPT.format(ref=f"#{ticket_id}")))
        if verb not in DIRECT_VERBS:
            return _message(M.TEAMS_BAD_CARD)
        line = f"{verb} {ticket_id} {data.get('position', '')}".strip()
        reply = await self.run(actor, line, dedupe_key=key)
        if reply.duplicate:
            return await self._card_or_notice(actor, ticket_id, data)
        if not reply.ok:
            return _message(reply.text)
        if data.get("where") == "chat":
            return _card(C.notice_card("👍 " + reply.text))
        if reply.suggestions:  # similar past tickets, for the technicians in the card's thread
            try:
                await self.say(turn, replace(reply, text=""))
            except Exception as exc:  # a hint; the claim itself is done and is answered below
                log.warning("Teams: could not post similar tickets for #%s: %s", ticket_id, exc)
        return await self._card_or_notice(actor, ticket_id, data, reply)

    async def _open_form(self, actor: Actor, verb: str, ticket_id: int, data: dict) -> dict[str, Any]:
        """Note, Escalate, Resolve, Reopen need words: the card turns into their form, for this user."""
        spec = self.desk.registry.get(verb)
        if spec.role is Role.TECHNICIAN and not self.desk.is_technician(actor):
            return _message(M.TECHNICIANS_ONLY.format(verb=spec.verb))
        shown = await asyncio.to_thread(self.desk.handle, actor, f"show {ticket_id}")
        if not shown.ok:
            return _message(shown.text)
        refusal = state_refusal(verb, shown.ticket)
        if refusal:
            return _message(refusal)
        form = action_form(verb, shown.ticket, self.desk.settings, self.desk.is_technician(actor))
        return _card(C.form_card(form, _context(data)))

    async def _submit_action(self, turn: TurnContext, actor: Actor, ticket_id: int, data: dict,
                             key: str) -> dict[str, Any]:
        form_name = str(data.get("form") or "")
        if form_name not in FORM_VERBS:
            return _message(M.FORM_BROKEN)
        values = _values(data)
        command, text, options = submission(form_name, values)
        reply = await asyncio.to_thread(self.desk.submit, actor, command, text, options, ticket_id=ticket_id,
                                        dedupe_key=form_key(data) or key)
        self.wake()
        if reply.duplicate or reply.ok:
            if data.get("where") == "chat":
                return _card(C.notice_card("👍 " + (reply.text or M.KEPT.format(ref=f"#{ticket_id}"))))
            return await self._card_or_notice(actor, ticket_id, data, reply)
        shown = await asyncio.to_thread(self.desk.handle, actor, f"show {ticket_id}")
        if not shown.ok:
            return _message(reply.text)
        form = action_form(form_name, shown.ticket, self.desk.settings, self.desk.is_technician(actor))
        return _card(C.form_card(form, _context(data), values, dict(reply.field_errors) or {main_field(form): reply.text}))

    async def _submit_intake(self, turn: TurnContext, actor: Actor, data: dict) -> dict[str, Any]:
        values = _values(data)
        mentioned: dict[str, Actor] = {}
        picked = values.get("requester")
        if picked:  # the people picker gives the Azure AD object id
            person = await self.people.actor(turn, ChannelAccount(id=picked, aad_object_id=picked), strict=True)
            if person is not None:
                mentioned[person.id] = person
            values["requester"] = f"<@{person.id if person else 'teams:' + picked}>"
        command, text, options = submission("new", values)
        reply = await asyncio.to_thread(self.desk.submit, actor, command, text, options,
                                        dedupe_key=form_key(data) or request_key(turn.activity), mentioned=mentioned)
        self.wake()
        if reply.ok or reply.duplicate:
            ticket = reply.ticket
            text = M.TEAMS_OPENED_CARD.format(ref=ticket.ref, headline=one_line(ticket.description, 80)) if ticket else reply.text
            return _card(C.notice_card("✅ " + text))
        form = self._intake_form(actor)
        return _card(C.form_card(form, {}, _values(data), dict(reply.field_errors) or {main_field(form): reply.text}))

    async def _card_or_notice(self, actor: Actor, ticket_id: int, data: dict,
                              reply: Reply | None = None) -> dict[str, Any]:
        """The ticket's card as it is now (for the person who pressed; the outbox updates it for everyone)."""
        ticket = reply.ticket if reply is not None and reply.ticket is not None else None
        if ticket is None or ticket.id != ticket_id:
            shown = await asyncio.to_thread(self.desk.handle, actor, f"show {ticket_id}")
            if not shown.ok:
                return _message(shown.text)
            ticket = shown.ticket
        if data.get("where") == "chat":
            return _card(C.notice_card(f"{ticket.ref}: {ticket.status.label}"))
        return _card(self.card(ticket))

    def card(self, ticket: Ticket) -> dict[str, Any]:
        now = self.desk.clock()
        return C.card(ticket, now, sla.flags(self.desk.settings, ticket, now))

    # Conversations

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn: TurnContext) -> None:
        if turn.activity.conversation.conversation_type != "personal":
            return
        bot_id = turn.activity.recipient.id if turn.activity.recipient else None
        if any(m.id != bot_id for m in members_added):
            await self.say(turn, C.html_safe(M.TEAMS_WELCOME))

    async def _remember(self, turn: TurnContext) -> None:
        """Keep how to reach this person and this channel later, proactively (cards, pings, DMs)."""
        a = turn.activity
        sender = a.from_property
        if not a.service_url or a.conversation is None:
            return
        channel_data = a.channel_data if isinstance(a.channel_data, dict) else {}
        where = {"service_url": a.service_url, "tenant": tenant_of(a)}
        refs: dict[str, dict] = {"service:default": where}
        if sender is not None and sender.id and sender.id != (a.recipient.id if a.recipient else None):
            identity = identity_of(sender)
            refs[f"member:{identity}"] = {**where, "id": sender.id, "name": sender.name or "", "identity": identity}
            refs[f"account:{sender.id}"] = {"identity": identity}
            if a.conversation.conversation_type == "personal":
                refs[f"user:{identity}"] = {**where, "conversation": a.conversation.id}
        if a.conversation.conversation_type == "channel":
            group = (channel_data.get("team") or {}).get("aadGroupId")  # for deep links to threads
            refs[f"channel:{a.conversation.id.partition(';messageid=')[0]}"] = {**where, **({"group": group} if group else {})}
        await asyncio.to_thread(self.refs.remember, refs, self.desk.clock())


def request_key(activity: Activity) -> str:
    """Teams' activity ids are unique within a conversation only; a retry repeats both."""
    conversation = hashlib.sha1(activity.conversation.id.encode()).hexdigest()[:16] if activity.conversation else "-"
    return f"teams:{conversation}:{activity.id}"


def form_key(data: dict) -> str | None:
    form_id = data.get("form_id")
    return f"teams:form:{form_id}"[:255] if isinstance(form_id, str) and form_id else None


def _context(data: dict) -> dict[str, Any]:
    return {k: data[k] for k in ("ticket_id", "where") if k in data}


def _values(data: dict) -> dict[str, str | None]:
    return {k: (str(v) if v is not None else None) for k, v in data.items() if k not in CONTEXT_KEYS}


def _card(card: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": C.CONTENT_TYPE, "value": card}


def _message(text: str) -> dict[str, Any]:
    """Teams shows this to the person who pressed, and leaves the card as it was."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}

