"""The Teams bot: a translator. Messages in personal chats, @mentions in channels, replies in a
card's thread and card buttons (`Action.Execute` invokes, answered within Teams' 5 seconds) are
mapped to chat-layer calls; their outcomes are shown (adapters/teams/answer.py)."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from http import HTTPStatus

from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ChannelAccount

from adapters.chat import messages as CM
from adapters.chat.interactions import Interactions
from adapters.teams import answer
from adapters.teams.adapter import tenant_of
from adapters.teams.from_message import ACTIONS, MessageActions, files_of
from adapters.teams.people import TeamsPeople
from adapters.teams.text import decode, identity_of, with_people
from bot.model import Actor

log = logging.getLogger("helpdesk.teams")

INVOKE_WAIT = 3.0  # seconds a submitted form's answer waits for its ticket's number (Teams allows 5 for an invoke)
CONTEXT_KEYS = {"ticket_id", "form", "form_id", "where", "position", "msteams", "message"}


class TeamsBot(ActivityHandler):
    def __init__(self, chat: Interactions, people: TeamsPeople, actions: MessageActions | None = None) -> None:
        self.chat = chat
        self.people = people
        self.actions = actions  # the message action and files in messages (adapters/teams/from_message.py)

    async def on_turn(self, turn: TurnContext) -> None:
        """Every activity: keep how to reach its sender and channel, then handle it."""
        await self._remember(turn)
        await super().on_turn(turn)

    async def on_message_activity(self, turn: TurnContext) -> None:
        """A message: in a card's thread, in a personal chat, or mentioning the bot in a channel."""
        activity = turn.activity
        text, people = await self._read(turn)
        key = request_key(activity)
        kind, ticket_id = activity.conversation.conversation_type, None
        if kind == "channel":
            channel, _, root = activity.conversation.id.partition(";messageid=")
            if root and root != activity.id:
                ticket_id = await self.chat.ticket_of("teams", channel, root)
        files = files_of(activity)
        if files and self.actions and (ticket_id is not None or kind == "personal"):  # its text, then its files
            return await self.actions.shared(turn, text, files, ticket_id, people, key)
        if ticket_id is not None:
            actor = await self.people.get(turn)
            await answer.show(turn, await self.chat.thread_reply(actor, ticket_id, text, key=key, people=people))
            return
        actor = await self.people.get(turn)
        outcome = await self.chat.line(actor, text, key=key, people=people,
                                       free="answer" if kind == "personal" else "grammar")
        await answer.show(turn, outcome)

    async def _read(self, turn: TurnContext) -> tuple[str, dict[str, Actor]]:
        """The message as typed (adapters/teams/text.py) with each mention as `<@teams:…>`, and
        those people looked up (one that cannot be named stays an unknown identity)."""
        text, mentioned = decode(turn.activity)
        found = await asyncio.gather(*(self.people.get(turn, account, strict=True) for _, account in mentioned))
        people = {actor.id: actor for actor in found if actor is not None}  # together: one look-up budget for all
        identities = [actor.id if actor else identity_of(account) for actor, (_, account) in zip(found, mentioned)]
        return with_people(text, identities), people

    async def on_invoke_activity(self, turn: TurnContext) -> InvokeResponse:
        """`adaptiveCard/action` answered with a card or a message (as Universal Actions define
        them, which botbuilder's own typed response cannot carry); other invokes as botbuilder does."""
        if turn.activity.name in ACTIONS and self.actions:  # the message action "Open a ticket"
            return await self.actions.invoke(turn, request_key(turn.activity))
        if turn.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn)
        value = turn.activity.value if isinstance(turn.activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        if action.get("type") != "Action.Execute":
            return InvokeResponse(status=int(HTTPStatus.BAD_REQUEST), body={
                "statusCode": 400, "type": "application/vnd.microsoft.error",
                "value": {"code": "BadRequest", "message": "expected an Action.Execute"}})
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        verb, actor = str(action.get("verb") or "").lower(), await self.people.get(turn)
        if verb == "submit":
            values, people = await self._values(turn, data)
            outcome = await self.chat.submit(actor, data, values, key=form_key(data) or request_key(turn.activity),
                                             people=people, wait=INVOKE_WAIT)
        else:
            outcome = await self.chat.press(actor, verb, data, key=request_key(turn.activity))
        return InvokeResponse(status=int(HTTPStatus.OK), body=await answer.invoke_answer(
            turn, outcome, self.chat, listed=bool(data.get("listed"))))

    async def _values(self, turn: TurnContext, data: dict) -> tuple[dict[str, str | None], dict[str, Actor]]:
        """A submitted card's inputs; the people picker's choice (an Azure AD object id) looked up."""
        values = {k: (str(v) if v is not None else None) for k, v in data.items() if k not in CONTEXT_KEYS}
        people: dict[str, Actor] = {}
        picked = values.get("requester")
        if picked:
            person = await self.people.get(turn, ChannelAccount(id=picked, aad_object_id=picked), strict=True)
            if person is not None:
                people[person.id] = person
            values["requester"] = f"<@{person.id if person else 'teams:' + picked}>"
        return values, people

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn: TurnContext) -> None:
        """The bot added to someone's personal chat: say hello and what to type."""
        if turn.activity.conversation.conversation_type != "personal":
            return
        bot_id = turn.activity.recipient.id if turn.activity.recipient else None
        if any(m.id != bot_id for m in members_added):
            await answer.say(turn, CM.WELCOME)

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
        await asyncio.to_thread(self.people.refs.remember, refs)


def request_key(activity: Activity) -> str:
    """Teams' activity ids are unique within a conversation only; a retry repeats both."""
    conversation = hashlib.sha1(activity.conversation.id.encode()).hexdigest()[:16] if activity.conversation else "-"
    return f"teams:{conversation}:{activity.id}"


def form_key(data: dict) -> str | None:
    """Each rendering of a form has its own id: its submit pressed twice counts once."""
    form_id = data.get("form_id")
    return f"teams:form:{form_id}"[:255] if isinstance(form_id, str) and form_id else None
