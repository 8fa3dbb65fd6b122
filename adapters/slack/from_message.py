"""Slack messages that are not commands, translated for the chat layer (adapters/chat/
from_message.py decides what they mean):

- the message shortcut "Open a ticket" (`message_action`, callback `open_ticket`): acked at
  once, the intake modal opened on its trigger within Slack's 3 seconds;
- `reaction_added` with the configured emoji (`[slack] reaction`, default `ticket`) on a
  message in a channel (`[slack] reaction_channels`, when set);
- files in a message (`file_share`), handed over by the message listener (adapters/slack/app.py).

`SlackSource` is what the chat layer asks of Slack: a message and its thread
(`conversations.replies`), a link back to it (`chat.getPermalink`), who wrote it (`users.info`,
cached), and a file's bytes from its `url_private` with the bot token (scope `files:read`),
sent only to Slack's own hosts.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import messages as CM
from adapters.chat.attachments import FetchFailed, SharedFile, download
from adapters.chat.interactions import Interactions
from adapters.chat.origin import ChatMessage
from adapters.chat.outcomes import Refusal
from adapters.slack.answer import Place, SlackAnswers
from adapters.slack.people import SlackPeople
from adapters.slack.settings import SlackSettings
from adapters.slack.text import decode
from bot.model import Actor

log = logging.getLogger("helpdesk.slack")

SHORTCUT = "open_ticket"  # the message shortcut's callback id (manifest/slack/manifest.yaml)
PLATFORM = "slack"
SLACK_HOSTS = (".slack.com", ".slack-edge.com", ".slack-gov.com")
PERSON_WROTE = {None, "thread_broadcast", "file_share", "me_message"}  # a person's own message, not an event


def shared_file(file: dict[str, Any], user: str | None) -> SharedFile:
    """A Slack file object (as in a message's `files`) for the chat layer."""
    name = file.get("name") or file.get("title") or file.get("id") or "file"
    return SharedFile(name, file.get("mimetype") or "", file.get("size"),
                      file.get("url_private_download") or file.get("url_private") or "", file.get("permalink"),
                      file.get("user") or user)


def files_of(message: dict[str, Any]) -> tuple[SharedFile, ...]:
    """The files shared with a message (a deleted one, a tombstone, has none to fetch)."""
    return tuple(shared_file(f, message.get("user")) for f in message.get("files") or []
                 if isinstance(f, dict) and f.get("mode") != "tombstone")


def chat_message(channel: str, message: dict[str, Any], link: str | None = None) -> ChatMessage:
    """A Slack message (an event's, a shortcut's, or as read back) for the chat layer; an app's
    message (this bot's cards included) has no author a ticket could be for."""
    thread = message.get("thread_ts")
    author = None if message.get("bot_id") or message.get("subtype") == "bot_message" else message.get("user")
    return ChatMessage(PLATFORM, channel, message["ts"], author, decode(message.get("text")),
                       files_of(message), thread if thread and thread != message["ts"] else None, link)


class SlackSource:
    """Slack's side of adapters.chat.origin.MessageSource."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient, people: SlackPeople, api_url: str | None = None) -> None:
        self.client = client
        self.people = people
        self.api_host = urlsplit(api_url or "https://slack.com/api/").hostname or "slack.com"

    async def message(self, ref: ChatMessage) -> ChatMessage | None:
        """The message as it is now, with a permalink; None when Slack cannot find it."""
        found = [m for m in await self._replies(ref.channel, ref.message_id) if m.get("ts") == ref.message_id]
        if not found:
            return None
        message = chat_message(ref.channel, found[0], await self.link(ref.channel, ref.message_id))
        return message.with_files(await self._complete(message.files, found[0]))

    async def thread(self, message: ChatMessage) -> list[ChatMessage]:
        """The other messages people wrote in its thread, oldest first."""
        posts = await self._replies(message.channel, message.thread_id or message.message_id)
        return [chat_message(message.channel, m) for m in posts
                if m.get("ts") != message.message_id and not m.get("bot_id") and m.get("user")
                and m.get("subtype") in PERSON_WROTE]

    async def person(self, user: str) -> Actor | None:
        """Who a Slack user is (users.info through the people cache)."""
        return await self.people.get(user)

    async def link(self, channel: str, ts: str) -> str | None:
        """A link back to the message (chat.getPermalink); None when Slack gives none."""
        try:
            return (await self.client.chat_getPermalink(channel=channel, message_ts=ts)).get("permalink")
        except SlackApiError as exc:
            log.warning("Slack: no permalink for %s in %s: %s", ts, channel, exc.response.get("error"))
            return None

    async def fetch(self, file: SharedFile, limit: int) -> bytes:
        """A file's bytes from its url_private, with the bot token (sent to Slack's hosts only), at
        most `limit` bytes (raises TooLarge past it, FetchFailed with the reason otherwise)."""
        host = urlsplit(file.url).hostname or ""
        if host != self.api_host and not host.endswith(SLACK_HOSTS):
            raise FetchFailed(CM.FETCH_ELSEWHERE.format(platform="Slack"))
        session = self.client.session or aiohttp.ClientSession()
        try:
            return await download(session, file.url, {"Authorization": f"Bearer {self.client.token}"}, limit, "Slack")
        finally:
            if session is not self.client.session:
                await session.close()

    async def _replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        try:
            return (await self.client.conversations_replies(channel=channel, ts=ts, limit=200)).get("messages") or []
        except SlackApiError as exc:
            log.warning("Slack: could not read the thread of %s in %s: %s", ts, channel, exc.response.get("error"))
            return []

    async def _complete(self, files: tuple[SharedFile, ...], message: dict[str, Any]) -> tuple[SharedFile, ...]:
        """Files a Slack Connect message only names (`file_access: check_file_info`), described by files.info."""
        described = []
        for raw in message.get("files") or []:
            if raw.get("file_access") != "check_file_info":
                continue
            try:
                described.append(shared_file((await self.client.files_info(file=raw["id"]))["file"], message.get("user")))
            except SlackApiError as exc:
                described.append(SharedFile(raw.get("id", "file"), author_id=message.get("user")))
                log.warning("Slack: files.info refused %s: %s", raw.get("id"), exc.response.get("error"))
        return tuple(f for f in files if f.url) + tuple(described)


class MessageListeners:
    """The shortcut and the reaction, translated into chat-layer calls."""

    def __init__(self, chat: Interactions, people: SlackPeople, client: AsyncWebClient, settings: SlackSettings,
                 source: SlackSource) -> None:
        self.chat = chat
        self.people = people
        self.settings = settings
        self.source = source
        self.answers = SlackAnswers(client)

    async def shortcut(self, ack, body: dict) -> None:
        """"Open a ticket" on a message: the intake modal, pre-filled, on the shortcut's trigger."""
        await ack()
        channel, user = (body.get("channel") or {}).get("id"), body["user"]["id"]
        raw = body.get("message") or {}
        if not channel or not raw.get("ts"):
            return
        actor = await self.people.get(user, timeout=1.0)  # the modal must open within 3 s of the trigger
        message = chat_message(channel, raw, await self.source.link(channel, raw["ts"]))
        author = await self.people.get(message.author, timeout=0.5) if message.author else None
        outcome = self.chat.message_form(actor, message, author)
        await self.answers.show(outcome, Place(user, channel, trigger_id=body.get("trigger_id")))

    async def reaction(self, event: dict, context: dict) -> None:
        """The ticket emoji added to a message in a channel: its author's ticket (once)."""
        item = event.get("item") or {}
        channel, user = item.get("channel") or "", event.get("user")
        if (event.get("reaction") != self.settings.reaction or item.get("type") != "message"
                or not channel.startswith(("C", "G")) or not user or user == context.get("bot_user_id")
                or (self.settings.reaction_channels and channel not in self.settings.reaction_channels)):
            return
        actor = await self.people.get(user)
        outcome = await self.chat.reaction(actor, ChatMessage(PLATFORM, channel, item["ts"], event.get("item_user")),
                                           self.source)
        if isinstance(outcome, Refusal):
            await self.answers.show(outcome, Place(user, channel))


def add_listeners(app: AsyncApp, chat: Interactions, people: SlackPeople, client: AsyncWebClient,
                  settings: SlackSettings) -> None:
    """Register Slack as a message source of the chat layer, and the shortcut and reaction listeners."""
    source = SlackSource(client, people, settings.api_url)
    chat.sources[PLATFORM] = source
    listeners = MessageListeners(chat, people, client, settings, source)
    app.message_shortcut(SHORTCUT)(listeners.shortcut)
    app.event("reaction_added")(listeners.reaction)
