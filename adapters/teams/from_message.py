"""Teams messages that are not commands, translated for the chat layer (adapters/chat/
from_message.py decides what they mean):

- the message action "Open a ticket" (a message extension command with `context: ["message"]`,
  manifest/teams/manifest.json): `composeExtension/fetchTask` is answered with the intake form
  as a task module (a dialog), pre-filled from the message; `composeExtension/submitAction` is
  that form submitted, answered with the ticket's number (or the form again, with its errors);
- files in a message to the bot: in a personal chat (`application/vnd.microsoft.teams.file.
  download.info`, whose `downloadUrl` is pre-authenticated) and inline images anywhere (`image/*`,
  on the Connector's attachments service, fetched with the bot's own token).

A message action's payload names pasted images in its HTML (`<img src=…/hostedContents/…/$value>`,
Microsoft Graph; attachments themselves are not sent): they are fetched with the app's own Graph
token, which the resource-specific consent in the app package (ChannelMessage.Read.Group,
ChatMessage.Read.Chat) grants. Files attached to a channel message live in SharePoint, where
the bot has no access: they are recorded with that reason and their link. Teams gives bots no
way to read a thread's other messages, so a ticket from Teams keeps the message and its link.
"""
from __future__ import annotations

import asyncio
import html
import logging
import re
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.schema import Activity, ChannelAccount
from botframework.connector.auth import MicrosoftAppCredentials

from adapters.chat import messages as CM
from adapters.chat.attachments import FetchFailed, SharedFile, download
from adapters.chat.interactions import Interactions, opened_text
from adapters.chat.origin import ChatMessage
from adapters.chat.outcomes import Answer, Opened, Outcome, Refusal, ShowForm
from adapters.teams import answer, cards as C
from adapters.teams.adapter import tenant_of
from adapters.teams.people import TeamsPeople
from adapters.teams.sender import Connector
from adapters.teams.settings import TeamsSettings
from adapters.teams.text import AT_TAG, TAG
from bot.model import Actor

log = logging.getLogger("helpdesk.teams")

PLATFORM = "teams"
COMMAND = "openTicket"  # the message extension's command id (manifest/teams/manifest.json)
ACTIONS = {"composeExtension/fetchTask", "composeExtension/submitAction"}
FILE_INFO = "application/vnd.microsoft.teams.file.download.info"
GRAPH = "https://graph.microsoft.com"
IMAGE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']([^"']+/hostedContents/[^"']+)["']""", re.I)
BREAK = re.compile(r"<br\s*/?>|</p>|</div>", re.I)

Values = Callable[[TurnContext, dict], Awaitable[tuple[dict[str, str | None], dict[str, Actor]]]]


def sender_of(activity: Activity) -> str | None:
    """The Azure AD object id of who sent an activity (how a message action's payload names people)."""
    sender = activity.from_property
    return (sender.aad_object_id or sender.id) if sender else None


def files_of(activity: Activity) -> tuple[SharedFile, ...]:
    """The files a message to the bot carries: files sent in a personal chat, and inline images."""
    files = []
    for a in activity.attachments or []:
        kind = (a.content_type or "").lower()
        content = a.content if isinstance(a.content, dict) else {}
        if kind == FILE_INFO and content.get("downloadUrl"):
            files.append(SharedFile(a.name or "file", "", None, content["downloadUrl"], a.content_url,
                                    sender_of(activity), auth="download"))
        elif kind.startswith("image/") and a.content_url:
            files.append(SharedFile(a.name or "", kind, None, a.content_url, None, sender_of(activity), auth="bot"))
    return tuple(files)


def html_text(content: str) -> str:
    """A message's HTML body as typed: mentions as names, paragraphs as lines, no tags."""
    text = AT_TAG.sub(lambda m: m.group(1), BREAK.sub("\n", content or ""))
    text = html.unescape(TAG.sub("", text)).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def payload_message(activity: Activity, payload: dict[str, Any]) -> ChatMessage:
    """The message a message action was used on (`value.messagePayload`) for the chat layer."""
    conversation = activity.conversation.id if activity.conversation else ""
    channel, _, root = conversation.partition(";messageid=")
    message_id = str(payload.get("id") or "")
    author = ((payload.get("from") or {}).get("user") or {}).get("id")
    link = payload.get("linkToMessage")
    body = (payload.get("body") or {}).get("content") or ""
    files = [SharedFile("", "", None, html.unescape(src), link, author, auth="graph") for src in IMAGE.findall(body)]
    for a in payload.get("attachments") or []:
        if a.get("contentType") == "reference" or (a.get("contentUrl") and "sharepoint" in a.get("contentUrl", "")):
            files.append(SharedFile(a.get("name") or "file", "", None, a.get("contentUrl") or "", a.get("contentUrl"),
                                    author, auth="sharepoint"))
    thread = payload.get("replyToId") or (root if root and root != message_id else None)
    kind = activity.conversation.conversation_type if activity.conversation else None
    return ChatMessage(PLATFORM, channel, message_id, author, html_text(body), tuple(files), thread, link,
                       {"kind": kind or "channel"})


class TeamsTokens:
    """The bot's own credentials for files: its Bot Framework token (the Connector's attachments
    service, the same credentials every Connector call uses) and an app token for Microsoft
    Graph (images pasted into messages). None for both in Emulator mode (no app id)."""

    def __init__(self, connector: Connector, settings: TeamsSettings) -> None:
        self.connector = connector
        self.settings = settings
        self._graph: dict[str, MicrosoftAppCredentials] = {}

    async def bot(self, service_url: str) -> str | None:
        """The token the bot's Connector calls carry (botbuilder caches and renews it)."""
        credentials = (await self.connector.client(service_url)).config.credentials
        if not getattr(credentials, "microsoft_app_id", None):
            return None
        return await asyncio.to_thread(credentials.get_access_token)

    async def graph(self, tenant: str | None) -> str | None:
        """An app-only Graph token in the organisation's tenant (msal caches and renews it)."""
        app_id, password = self.settings.app_id, self.settings.app_password
        tenant = self.settings.tenant_id or tenant
        if not app_id or not password or not tenant:
            return None
        if tenant not in self._graph:
            self._graph[tenant] = MicrosoftAppCredentials(app_id, password.get_secret_value(), tenant, GRAPH)
        return await asyncio.to_thread(self._graph[tenant].get_access_token)


class TeamsSource:
    """Teams' side of adapters.chat.origin.MessageSource, for one activity (`turn`): the message
    a message action was used on is the one in its payload (`message`)."""

    platform = PLATFORM

    def __init__(self, turn: TurnContext | None, people: TeamsPeople | None, tokens: Any,
                 message: ChatMessage | None = None, service_url: str | None = None) -> None:
        self.turn = turn
        self.people = people
        self.tokens = tokens
        self.payload = message
        self.service_url = service_url or (turn.activity.service_url if turn else "")
        self.tenant = tenant_of(turn.activity) if turn else None

    async def message(self, ref: ChatMessage) -> ChatMessage | None:
        """The message as the activity carries it (Teams offers bots no way to read one again)."""
        return self.payload if self.payload is not None and self.payload.key == ref.key else None

    async def thread(self, message: ChatMessage) -> list[ChatMessage]:
        """Nothing: Teams gives bots no way to read a thread's other messages."""
        return []

    async def person(self, user: str) -> Actor | None:
        """Who an Azure AD user is: the conversation's roster, else what the bot learnt before."""
        if self.turn is None or self.people is None:
            return None
        return await self.people.get(self.turn, ChannelAccount(id=user, aad_object_id=user), strict=True)

    async def fetch(self, file: SharedFile, limit: int) -> bytes:
        """A file's bytes with the credentials its kind needs, sent only where they belong: the bot
        token to the Connector's own host, the Graph token to Graph; a pre-authenticated download
        URL (https, or the Connector's host) with none. Raises FetchFailed with the reason."""
        host, connector = urlsplit(file.url).hostname or "", urlsplit(self.service_url).hostname or ""
        headers: dict[str, str] = {}
        if file.auth == "sharepoint":
            raise FetchFailed(CM.FETCH_SHAREPOINT)
        if file.auth == "graph" and host in ("graph.microsoft.com", connector):
            token = await self.tokens.graph(self.tenant)
        elif file.auth == "bot" and host == connector:
            token = await self.tokens.bot(self.service_url)
        elif file.auth == "download" and (file.url.startswith("https://") or host == connector):
            token = None
        else:
            raise FetchFailed(CM.FETCH_ELSEWHERE.format(platform="Teams"))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as session:
            return await download(session, file.url, headers, limit, "Teams")


class MessageActions:
    """The message action and files in messages, translated into chat-layer calls."""

    def __init__(self, chat: Interactions, people: TeamsPeople, tokens: TeamsTokens, values: Values) -> None:
        self.chat = chat
        self.people = people
        self.tokens = tokens
        self.values = values  # a submitted card's inputs, the people picker's choice looked up (TeamsBot._values)

    async def invoke(self, turn: TurnContext, key: str) -> InvokeResponse:
        """`composeExtension/fetchTask` (the form, pre-filled) or `submitAction` (the form submitted)."""
        value = turn.activity.value if isinstance(turn.activity.value, dict) else {}
        payload = value.get("messagePayload")
        if value.get("commandId") != COMMAND or not isinstance(payload, dict):
            return InvokeResponse(status=int(HTTPStatus.OK), body=task_message(CM.NOT_A_MESSAGE))
        message = payload_message(turn.activity, payload)
        source = TeamsSource(turn, self.people, self.tokens, message)
        actor = await self.people.get(turn)
        if turn.activity.name == "composeExtension/fetchTask":
            author = await source.person(message.author) if message.author else None
            outcome: Outcome = self.chat.message_form(actor, message, author)
        else:
            data = value.get("data") if isinstance(value.get("data"), dict) else {}
            values, people = await self.values(turn, data)
            if isinstance(data.get("form_id"), str) and data["form_id"]:  # this rendering's submit counts once
                key = f"teams:form:{data['form_id']}"[:255]
            outcome = await self.chat.submit_from_message(actor, data, values, key=key, people=people, source=source)
        return InvokeResponse(status=int(HTTPStatus.OK), body=task_answer(outcome))

    async def shared(self, turn: TurnContext, text: str, files: tuple[SharedFile, ...], ticket_id: int | None,
                     people: dict[str, Actor], key: str) -> None:
        """A message with files in a ticket's thread or the personal chat: its text, then its files."""
        actor = await self.people.get(turn)
        direct = turn.activity.conversation.conversation_type == "personal"
        source = TeamsSource(turn, self.people, self.tokens)
        for outcome in await self.chat.shared(actor, text, files, source, ticket_id=ticket_id, direct=direct, key=key,
                                              people=people):
            await answer.show(turn, outcome)


def task_message(text: str) -> dict[str, Any]:
    """A dialog's answer that shows one line (and closes the form)."""
    return {"task": {"type": "message", "value": text}}


def task_answer(outcome: Outcome) -> dict[str, Any]:
    """What a message action's dialog shows for an outcome: the form (again, with its errors),
    or a line: the ticket opened, or why not."""
    if isinstance(outcome, ShowForm):
        card = C.form_card(outcome.form, outcome.context, dict(outcome.values), dict(outcome.errors), dialog=True)
        return {"task": {"type": "continue", "value": {"title": outcome.form.title[:64], "width": "large",
                                                       "height": "large", "card": C.attachment(card)}}}
    if isinstance(outcome, Opened):
        return task_message(opened_text(outcome))
    if isinstance(outcome, Refusal):
        return task_message(outcome.text)
    if isinstance(outcome, Answer):
        return task_message(outcome.reply.text)
    return task_message(getattr(outcome, "text", ""))
