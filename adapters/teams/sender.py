"""Delivers outbox messages to Teams: ticket cards posted to a group's channel as a new
thread, updated in place with a line in their thread, pings, and personal-chat messages.

Teams offers no way to find our own earlier post, so each step that posts writes a receipt
the moment the Bot Connector answers; a retried delivery skips the steps with a receipt.
The window left is between the Connector's answer and that write (milliseconds, where
Slack's metadata search closes it entirely).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from urllib.parse import quote, urlencode
from datetime import datetime
from typing import Callable, Sequence

from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, Mention
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AuthenticationConstants
from msrest.exceptions import HttpOperationError

from adapters.chat.pacing import Pace, Pacer, as_wait, http_verdict, status_of
from adapters.chat.sender import ChatSender
from adapters.chat.views import ListedView
from adapters.dispatcher import RetryLater, Undeliverable, off_loop
from adapters.teams import cards as C
from adapters.teams.adapter import HelpdeskCloudAdapter
from adapters.teams.auth import OffLoopCredentials
from bot.config import Settings
from bot.model import Ticket
from bot.ports import Store
from storage.conversations import ConversationRefs
from storage.outbox import Message

log = logging.getLogger("helpdesk.teams")

PERMANENT_STATUS = {400, 403, 404}  # bad activity, bot removed from the team, conversation gone
# A bot's pace in one conversation (learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit):
# 7 messages a second, 60 in 30 seconds; beyond it, 429 with Retry-After.
CONVERSATION_RATE, CONVERSATION_BURST = 2.0, 7
SEND = "send"
NOTICE_SHOWN = "notice"  # the receipt of a notice posted in a combined post (its message id: the post's)


def thread_id(channel: str, root: str) -> str:
    """The conversation id of a channel thread, as Teams writes it."""
    return f"{channel};messageid={root}"


class Connector:
    """The one seam to the Bot Connector REST API: a client per service URL, authenticated
    as the bot (its Azure AD token refreshed off the event loop before each use)."""

    def __init__(self, adapter: HelpdeskCloudAdapter, app_id: str) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self._clients: dict[str, ConnectorClient] = {}

    async def client(self, service_url: str) -> ConnectorClient:
        """The Connector client for a service URL, authenticated as the bot (made once, then reused)."""
        if service_url not in self._clients:
            claims = self.adapter.create_claims_identity(self.app_id)
            claims.claims[AuthenticationConstants.SERVICE_URL_CLAIM] = service_url
            factory = self.adapter.bot_framework_authentication.create_connector_factory(claims)
            self._clients[service_url] = await factory.create(service_url, None)
        client = self._clients[service_url]
        if isinstance(client.config.credentials, OffLoopCredentials):  # msrest signs synchronously: fetch first
            await client.config.credentials.refresh()
        return client

    async def close(self) -> None:
        """Close every client's connections."""
        for client in self._clients.values():
            await client.__aexit__(None, None, None)  # msrest's async client closes its session here
        self._clients.clear()


class TeamsSender(ChatSender):
    platform = "teams"
    platform_errors = (HttpOperationError,)
    post_method = SEND
    combines = True
    markup = C.TEAMS
    most_listed = C.COMBINED_MAX

    def __init__(self, connector: Connector, settings: Settings, store: Store, refs: ConversationRefs,
                 clock: Callable[[], datetime], pacer: Pacer | None = None) -> None:
        super().__init__(settings, store, clock)
        self.connector = connector
        self.refs = refs
        self.pacer = pacer or Pacer(Pace(CONVERSATION_RATE, CONVERSATION_BURST), _verdict)

    async def _update(self, client: ConnectorClient, conversation: str, root: str, activity: Activity) -> None:
        """Update an activity in place, paced in its conversation."""
        await self.pacer.call("update", conversation, lambda: client.conversations.update_activity(
            conversation, root, activity))

    def classify(self, exc: Exception) -> Exception:
        """The Connector's errors: 429 → RetryLater; 400, 403, 404 → Undeliverable; the rest retried."""
        return _classify(exc)

    # Where to post

    async def _service(self) -> tuple[str, str | None]:
        """The service URL and tenant for channels the bot has not heard from yet: the config's,
        else the last ones Teams used."""
        teams = self.settings.teams
        if teams.service_url:
            return teams.service_url, teams.tenant_id
        known = await off_loop(self.refs.get, "service:default")
        if not known:
            raise RetryLater(60, "no Teams service URL yet: set [teams] service_url, or message the bot once")
        return known["service_url"], teams.tenant_id or known.get("tenant")

    async def _channel_service(self, channel: str) -> tuple[str, str | None]:
        known = await off_loop(self.refs.get, f"channel:{channel}")
        return (known["service_url"], known.get("tenant")) if known else await self._service()

    def _card_activity(self, ticket: Ticket) -> Activity:
        view = self.card(ticket)
        return Activity(type="message", summary=C.unlinked(view.summary), attachments=[C.attachment(C.card(view))])

    # Tickets

    async def _ticket_changed(self, message: Message) -> None:
        """Update every card of the ticket in place and say what changed in its thread; when the
        ticket is an incident's parent, update the incident's card too."""
        if message.kind != "incident_changed":
            await self._edit_cards(message)
        posts = await self._incident_posts(message)
        view = await self._incident(message.ticket_id) if posts else None
        if view is None:
            return
        activity = Activity(type="message", summary=view.summary, attachments=[C.attachment(C.incident_card(view))])
        for channel, root in posts:
            service_url, _ = await self._channel_service(channel)
            client = await self.connector.client(service_url)
            activity.id = root
            await self._update(client, thread_id(channel, root), root, activity)

    async def _edit_cards(self, message: Message) -> None:
        cards = await self._cards(message) or await self._from_listed(message)
        ticket = await self._ticket(message.ticket_id) if cards else None
        if ticket is None:
            return
        quiet = self.quiet(message)
        activity = self._card_activity(ticket)
        for channel, root in cards:
            service_url, _ = await self._channel_service(channel)
            client = await self.connector.client(service_url)
            conversation = thread_id(channel, root)
            activity.id = root
            await self._update(client, conversation, root, activity)
            if not quiet:
                await self._post_once(message, f"line:{channel}:{root}", service_url, conversation,
                                      Activity(type="message", text=C.escape(message.text)))

    async def _show_listed(self, channel: str, posted: str, views: list[ListedView]) -> None:
        """The combined card updated in place with these lines."""
        client = await self.connector.client((await self._channel_service(channel))[0])
        await self._update(client, thread_id(channel, posted), posted, self._combined_activity(views, posted))

    async def _post_card(self, message: Message, channel: str, ticket: Ticket) -> str:
        """The ticket's card as a thread of its own, posted at most once (its receipt); returns its root."""
        service_url, tenant = await self._channel_service(channel)
        return await self._new_thread(message, service_url, tenant, channel, self._card_activity(ticket))

    async def _post_listed(self, lead: Message, channel: str, views: list[ListedView], ids: list[int]) -> str:
        """The combined post of new tickets as a thread of its own, posted at most once for these
        outbox rows (a retry grouping others posts anew: a ticket shown twice, never lost)."""
        service_url, tenant = await self._channel_service(channel)
        step = f"listed:{channel}:{_ids_digest(ids)}"
        return await self._new_thread(lead, service_url, tenant, channel, self._combined_activity(views), step=step)

    @staticmethod
    def _combined_activity(views: list[ListedView], root: str | None = None) -> Activity:
        return Activity(type="message", id=root, summary=C.combined_summary(views),
                        attachments=[C.attachment(C.combined(views))])

    # Groups

    async def _to_group(self, message: Message, name: str) -> None:
        channel, _ = self.channel_of(name)
        group = self.settings.groups[name]
        service_url, tenant = await self._channel_service(channel)
        if message.kind == "new_ticket":
            ticket = await self._ticket(message.ticket_id)
            if ticket is not None:
                await self._new_card(message, channel, ticket)
            return
        if message.kind == "incident":  # a major incident's card: a thread of its own, updated in place
            view = await self._incident(message.ticket_id)
            if view is None:
                return
            root = await self._new_thread(message, service_url, tenant, channel, Activity(
                type="message", summary=view.summary, attachments=[C.attachment(C.incident_card(view))]))
            await self.record_post(view.ticket_id, "incident", channel, root)
            return
        if message.kind == "incident_proposal":  # with its buttons; the group's members are @mentioned
            ticket = await self._ticket(message.ticket_id)
            activity = Activity(type="message", text="", attachments=[
                C.attachment(C.message_card(self.message(message, ticket)))])
            await self._mention_members(activity, group.members)
            await self._new_thread(message, service_url, tenant, channel, activity)
            return
        activity = Activity(type="message", text=self._notice_line(message.kind, message.text,
                                                                   await self._thread_link(message.ticket_id)))
        if message.kind != "digest":  # a weekly summary notifies nobody
            await self._mention_members(activity, group.members)
        await self._new_thread(message, service_url, tenant, channel, activity)

    async def _post_notices(self, lead: Message, group: str, text: str, ids: list[int]) -> None:
        """One thread of the notices, the group's members @mentioned once, at most once for these
        outbox rows (its receipt, and one for each of them, which a retry grouping others finds)."""
        channel, _ = self.channel_of(group)
        service_url, tenant = await self._channel_service(channel)
        activity = Activity(type="message", text=text)
        await self._mention_members(activity, self.settings.groups[group].members)
        root = await self._new_thread(lead, service_url, tenant, channel, activity,
                                      step=f"notices:{channel}:{_ids_digest(ids)}")
        now = self.clock()
        await self.write(lambda tx: [tx.record_receipt(i, NOTICE_SHOWN, root, now) for i in ids])

    async def _notices_shown(self, group: str, messages: Sequence[Message]) -> set[int]:
        """The outbox ids of `messages` posted already: alone (the receipt of their thread) or in a
        combined post (a receipt each)."""
        channel, _ = self.channel_of(group)
        return set(await self.read(lambda tx: [m.id for m in messages if tx.receipt(m.id, NOTICE_SHOWN)
                                               or tx.receipt(m.id, f"thread:{channel}")]))

    async def _new_thread(self, message: Message, service_url: str, tenant: str | None, channel: str,
                          activity: Activity, step: str | None = None) -> str:
        """Post `activity` as a new thread in a channel, at most once per message and `step` (its
        receipt); returns its message id (the thread's root)."""
        step = step or f"thread:{channel}"
        earlier = await self._earlier(message, step)
        if earlier:
            return earlier
        client = await self.connector.client(service_url)
        params = ConversationParameters(is_group=True, bot=ChannelAccount(id=f"28:{self.connector.app_id}"),
                                        channel_data={"channel": {"id": channel}, **({"tenant": {"id": tenant}} if tenant else {})},
                                        activity=activity, tenant_id=tenant)
        created = await self.pacer.call(SEND, channel, lambda: client.conversations.create_conversation(params),
                                        post=True)
        root = created.activity_id or created.id.partition(";messageid=")[2]
        await self._receipt(message, step, root)
        return root

    async def _mention_members(self, activity: Activity, members: list[str]) -> None:
        """@mention the group's members the bot knows on Teams, so on-call people get notified."""
        ids = list(members)
        for identity in members:
            tech = self.settings.technician_for({identity})
            ids += tech.ids if tech else []
        found = await off_loop(self.refs.get_many, [f"member:{i}" for i in dict.fromkeys(ids)])
        known = {m["id"]: m for m in found.values()}  # by Teams id: one person known by email and by id
        mentions = []
        for member in known.values():
            tag = f"<at>{C.escape(member['name'])}</at>"
            mentions.append(tag)
            activity.entities = (activity.entities or []) + [
                Mention(mentioned=ChannelAccount(id=member["id"], name=member["name"]), text=tag, type="mention")]
        if mentions:
            activity.text = " ".join(mentions) + " " + activity.text

    async def _thread_link(self, ticket_id: int | None) -> str | None:
        """A deep link to the card's thread; Teams opens it best with the tenant and the team's group id."""
        card = await self._first_card(ticket_id)
        if card is None:
            return None
        channel, root = card
        known = await off_loop(self.refs.get, f"channel:{channel}") or {}
        query = {"tenantId": known.get("tenant") or self.settings.teams.tenant_id, "groupId": known.get("group"),
                 "parentMessageId": root}
        return (f"https://teams.microsoft.com/l/message/{quote(channel, safe='')}/{root}?"
                + urlencode({k: v for k, v in query.items() if v}))

    async def _in_thread(self, message: Message) -> None:
        """The ticket's number in the thread (in a channel) or the chat a ticket was made from."""
        where = message.data.get("where") or {}
        channel, thread = where.get("channel"), where.get("thread")
        if not channel:
            raise Undeliverable("no conversation to answer in")
        conversation = thread_id(channel, thread) if where.get("kind") == "channel" and thread else channel
        service_url, _ = await self._channel_service(channel)
        await self._post_once(message, f"thread:{conversation}", service_url, conversation,
                              Activity(type="message", text=C.escape(message.text)))

    # People

    async def _to_person(self, message: Message, identity: str) -> None:
        reference = await self._personal_chat(identity)
        ticket = await self._ticket(message.ticket_id) if message.ticket_id else None
        view = self.message(message, ticket)
        activity = Activity(type="message", text=C.escape(view.text))
        if view.items or view.actions:
            activity = Activity(type="message", attachments=[C.attachment(C.message_card(view))])
        await self._post_once(message, "personal", reference["service_url"], reference["conversation"], activity)

    async def _personal_chat(self, identity: str) -> dict[str, str]:
        """The person's 1:1 chat with the bot: known from their messages, or created from what a
        channel told us about them (their Teams id and tenant)."""
        ids = [identity]
        tech = self.settings.technician_for({identity})
        ids += [i for i in (tech.ids if tech else []) if i.startswith("teams:")]
        keys = [f"{kind}:{i}" for i in ids for kind in ("user", "member")]
        known = await off_loop(self.refs.get_many, keys)
        for i in ids:
            if f"user:{i}" in known:
                return known[f"user:{i}"]
        member = next((known[f"member:{i}"] for i in ids if f"member:{i}" in known), None)
        if member is None:
            raise Undeliverable(f"{identity} has not talked to the bot in Teams yet")
        client = await self.connector.client(member["service_url"])
        tenant = member.get("tenant") or self.settings.teams.tenant_id
        params = ConversationParameters(
            is_group=False, bot=ChannelAccount(id=f"28:{self.connector.app_id}"),
            members=[ChannelAccount(id=member["id"])], tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}} if tenant else None)
        created = await self.pacer.call("create", None, lambda: client.conversations.create_conversation(params))
        reference = {"service_url": member["service_url"], "conversation": created.id, "tenant": tenant}
        await off_loop(self.refs.remember, {f"user:{member['identity']}": reference})
        return reference

    # Posting at most once

    async def _earlier(self, message: Message, step: str) -> str | None:
        """What an earlier attempt posted for this step; a first attempt has none to look for."""
        if message.attempts <= 1:
            return None
        return await self.read(lambda tx: tx.receipt(message.id, step))

    async def _receipt(self, message: Message, step: str, posted: str) -> None:
        now = self.clock()
        await self.write(lambda tx: tx.record_receipt(message.id, step, posted, now))

    async def _post_once(self, message: Message, step: str, service_url: str, conversation: str,
                         activity: Activity) -> str:
        earlier = await self._earlier(message, step)
        if earlier:
            log.info("outbox %s step %s was already posted as %s; not posting again", message.id, step, earlier)
            return earlier
        client = await self.connector.client(service_url)
        sent = await self.pacer.call(SEND, conversation, lambda: client.conversations.send_to_conversation(
            conversation, activity), post=True)
        posted = (sent.id if sent else None) or "?"
        await self._receipt(message, step, posted)
        return posted


def _verdict(exc: Exception) -> tuple[float, bool] | None:
    """For the pacer: the Connector's 429 and 5xx as waits (see pacing.http_verdict)."""
    return http_verdict(exc) if isinstance(exc, HttpOperationError) else None


def _classify(exc: HttpOperationError) -> Exception:
    """429 or 5xx (left over by the pacer) → wait; the bot removed or the conversation gone →
    dead letter; else back off and retry."""
    wait = as_wait(exc, "Teams")
    if wait is not None:
        return wait
    status = status_of(exc)
    if status in PERMANENT_STATUS:
        return Undeliverable(f"the Bot Connector answered {status}: {str(exc)[:200]}")
    return exc


def _ids_digest(ids: list[int]) -> str:
    """A short name for a set of outbox ids: the receipt of the one post that delivers them."""
    return hashlib.blake2b(",".join(map(str, sorted(ids))).encode(), digest_size=8).hexdigest()
