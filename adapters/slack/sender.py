"""Delivers outbox messages to Slack: cards, card updates with a line in their thread, DMs and
on-call pings, each rendered from the chat layer's views.

A message is at least once in the outbox's eyes; here it is at most once on Slack: each post
carries its outbox id in message metadata, and a retried delivery looks for that post before
posting again (a crash between posting and marking delivered).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat.pacing import Pace, Pacer, as_wait, http_verdict
from adapters.chat.sender import ChatSender
from adapters.chat.views import CardView, ListedView, MessageView
from adapters.dispatcher import RetryLater, Undeliverable
from adapters.slack import blocks as B
from adapters.slack.ledger import NOTHING, UNKNOWN, PostLedger
from bot.config import Settings
from bot.model import Ticket
from bot.ports import Store
from storage.outbox import Message

log = logging.getLogger("helpdesk.slack")

METADATA_TYPE = "helpdesk_outbox"
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "user_not_found", "user_disabled",
             "cannot_dm_bot", "invalid_blocks", "msg_too_long", "no_text", "invalid_auth", "account_inactive"}
DM_KINDS_WITH_THREADS = {"question", "resolved", "claimed", "note", "opened"}
# Slack's pace for posts into one channel: about one a second, a short burst allowed
# (docs.slack.dev/apis/web-api/rate-limits, "Posting messages"); beyond it, 429 with Retry-After.
CHANNEL_RATE, CHANNEL_BURST = 1.0, 3
# Errors after which "some aspect of the operation may have succeeded" (Slack's Web API errors
# reference): a post answered so may be on Slack, and its retry looks before posting again
MAYBE_DONE = {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
POST = "chat.postMessage"


class SlackSender(ChatSender):
    platform = "slack"
    platform_errors = (SlackApiError,)
    post_method = POST
    combines = True
    markup = B.SLACK
    most_listed = B.COMBINED_MAX

    def __init__(self, client: AsyncWebClient, settings: Settings, store: Store, clock: Callable[[], datetime],
                 pacer: Pacer | None = None) -> None:
        super().__init__(settings, store, clock)
        self.client = client
        self.pacer = pacer or Pacer(Pace(CHANNEL_RATE, CHANNEL_BURST), _verdict)
        self._workspace_url: str | None = None
        self.ledger = PostLedger()  # what this process's attempts posted: its own retries look nothing up

    async def deliver(self, message: Message) -> None:
        """ChatSender.deliver, the attempt noted in the ledger."""
        self.ledger.attempt(message.id, message.attempts)
        await super().deliver(message)

    async def deliver_many(self, messages: Sequence[Message]) -> None:
        """ChatSender.deliver_many, the attempt noted in the ledger for each message."""
        for message in messages:
            self.ledger.attempt(message.id, message.attempts)
        await super().deliver_many(messages)

    async def _update(self, channel: str, ts: str, text: str, blocks: list) -> Any:
        """chat.update, paced (a rate limit on it pauses it everywhere: it is a per-workspace tier)."""
        return await self.pacer.call("chat.update", channel, lambda: self.client.chat_update(
            channel=channel, ts=ts, text=text, blocks=blocks))

    def classify(self, exc: Exception) -> Exception:
        """Slack's errors: 429 → RetryLater; permanent ones (an unknown channel…) → Undeliverable."""
        return _classify(exc)

    async def _ticket_changed(self, message: Message) -> None:
        """Edit every card of the ticket to its current state and say what changed in the thread;
        when the ticket is an incident's parent, edit the incident's card too."""
        if message.kind != "incident_changed":
            await self._edit_cards(message)
        posts = await self._incident_posts(message)
        view = await self._incident(message.ticket_id) if posts else None
        if view is not None:
            summary, blocks = B.incident_card(view)
            for channel, ts in posts:
                await self._update(channel, ts, summary, blocks)

    async def _edit_cards(self, message: Message) -> None:
        cards = await self._cards(message)
        if not cards:
            cards = await self._from_listed(message)
        ticket = await self._ticket(message.ticket_id) if cards else None
        if ticket is None:
            return
        view = self.card(ticket)
        for channel, ts in cards:
            await self._with_card(view, lambda text, blocks: self._update(channel, ts, text, blocks))
            if not self.quiet(message):
                await self._post_once(message, channel, text=B.escape(message.text), thread_ts=ts)

    async def _to_group(self, message: Message, name: str) -> None:
        channel, mention = self.channel_of(name)
        if message.kind == "new_ticket":
            ticket = await self._ticket(message.ticket_id)
            if ticket is not None:
                await self._new_card(message, channel, ticket)
            return
        if message.kind == "incident":  # a major incident's card: recorded, so it is edited in place
            view = await self._incident(message.ticket_id)
            if view is None:
                return
            summary, blocks = B.incident_card(view)
            ts = await self._post_once(message, channel, text=summary, blocks=blocks)
            await self.record_post(view.ticket_id, "incident", channel, ts)
            return
        if message.kind == "incident_proposal":  # with its buttons: declare, or not the same
            ticket = await self._ticket(message.ticket_id)
            text, blocks = B.message(self.message(message, ticket), prefix=f"{mention} " if mention else "")
            await self._post_once(message, channel, text=text, blocks=blocks)
            return
        text = self._notice_line(message.kind, message.text, await self._thread_link(message.ticket_id))
        if mention:
            text = f"{mention} {text}"  # the group's mention, from the configuration: meant to notify
        await self._post_once(message, channel, text=text)

    async def _post_notices(self, lead: Message, group: str, text: str, ids: list[int]) -> None:
        """One message of the notices, after the group's mention (one notification), at most once:
        it carries the outbox ids it delivers."""
        channel, mention = self.channel_of(group)
        await self._post_once(lead, channel, text=f"{mention} {text}" if mention else text, group=ids)

    async def _show_listed(self, channel: str, posted: str, views: list[ListedView]) -> None:
        """The combined post updated in place with these lines."""
        await self._update(channel, posted, *B.combined(views))

    async def _post_card(self, message: Message, channel: str, ticket: Ticket) -> str:
        """The ticket's card, posted at most once (found again by its outbox id); returns its ts."""
        return await self._with_card(self.card(ticket), lambda text, blocks: self._post_once(
            message, channel, text=text, blocks=blocks))

    async def _post_listed(self, lead: Message, channel: str, views: list[ListedView], ids: list[int]) -> str:
        """The combined post of new tickets, posted at most once: it carries the outbox ids it
        delivers (a retry grouping others posts anew: a ticket shown twice, never lost)."""
        text, blocks = B.combined(views)
        return await self._post_once(lead, channel, text=text, blocks=blocks, group=ids)

    async def _with_card(self, view: CardView, post: Callable[[str, list], Awaitable[Any]]) -> Any:
        """`post(text, blocks)` with the card rendered; a card Slack refuses for its image (the
        file deleted since, or not the bot's to show) goes again without the image."""
        text, blocks = B.card(view)
        try:
            return await post(text, blocks)
        except SlackApiError as exc:
            if exc.response.get("error") != "invalid_blocks" or view.files is None or view.files.image is None:
                raise
            log.warning("Slack refused the card of #%s with its image (%s); posting it without", view.ticket_id,
                        exc.response.get("response_metadata"))
            text, blocks = B.card(view, with_image=False)
            return await post(text, blocks)

    async def _in_thread(self, message: Message) -> None:
        """The ticket's number in the thread of the message it was made from."""
        where = message.data.get("where") or {}
        if not where.get("channel") or not where.get("thread"):
            raise Undeliverable("no thread to answer in")
        await self._post_once(message, where["channel"], text=B.escape(message.text), thread_ts=where["thread"])

    async def _thread_link(self, ticket_id: int | None) -> str | None:
        card = await self._first_card(ticket_id)
        if card is None:
            return None
        if self._workspace_url is None:
            found = await self.pacer.call("auth.test", None, self.client.auth_test)
            self._workspace_url = found.get("url") or "https://slack.com/"
        channel, ts = card
        return f"{self._workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    async def _to_person(self, message: Message, identity: str) -> None:
        user = self._slack_user(identity)
        if user is None:
            raise Undeliverable(f"{identity} has no Slack id")
        # chat.postMessage given a user's id posts into the app's DM with them and answers with that
        # DM's channel id: no conversations.open (Tier 3, about 50 a minute) per message, which a
        # surge of confirmations to 2,000 different people would wait on for half an hour. A retry
        # opens the DM to look there for what an earlier attempt may have posted.
        async def their_dm() -> str:
            opened = await self.pacer.call("conversations.open", None, lambda: self.client.conversations_open(users=user))
            return opened["channel"]["id"]
        ticket = await self._ticket(message.ticket_id) if message.ticket_id else None
        view: MessageView = self.message(message, ticket)
        text, blocks = B.message(view)
        channel, ts = await self._post_once_in(message, user, text=text, blocks=blocks, look_in=their_dm)
        if ticket and message.kind in DM_KINDS_WITH_THREADS:
            await self.record_post(ticket.id, "dm", channel, ts)

    def _slack_user(self, identity: str) -> str | None:
        if identity.startswith("slack:"):
            return identity.removeprefix("slack:")
        tech = self.settings.technician_for({identity})
        for i in tech.ids if tech else []:
            if i.startswith("slack:"):
                return i.removeprefix("slack:")
        return None

    # Posting at most once

    async def _post_once(self, message: Message, channel: str, *, text: str, blocks: list | None = None,
                         thread_ts: str | None = None, group: list[int] | None = None) -> str:
        """Post unless an earlier attempt did (found by the outbox id, and for a combined post
        every outbox id it delivers, `group`, in the post's metadata); returns the post's ts."""
        return (await self._post_once_in(message, channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                         group=group))[1]

    async def _post_once_in(self, message: Message, channel: str, *, text: str, blocks: list | None = None,
                            thread_ts: str | None = None, group: list[int] | None = None,
                            look_in: Callable[[], Awaitable[str]] | None = None) -> tuple[str, str]:
        """`_post_once`, answering (the channel Slack posted in, ts): for a user's id as `channel`,
        their DM with the app (`look_in` gives its id when a retry must look there). A retry looks
        on Slack only when the ledger does not know what earlier attempts posted."""
        stamp: dict[str, Any] = {"outbox_id": message.id, **({"outbox_ids": group} if group else {})}
        ids, key = group or [message.id], (channel, thread_ts)
        if message.attempts > 1:
            known = self.ledger.earlier(ids, key)
            if known == UNKNOWN:
                where = await look_in() if look_in is not None else channel
                ts = await self._find_earlier(message, where, thread_ts, stamp)
                known = (where, ts) if ts else NOTHING
                self.ledger.record(ids, key, known)
            if known:
                return known
        kwargs: dict[str, Any] = {"channel": channel, "text": text,
                                  "metadata": {"event_type": METADATA_TYPE, "event_payload": stamp}}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        self.ledger.record(ids, key, None)  # unsure until Slack answers
        maybe = False  # an answer that leaves open whether it was posted (5xx, a timeout, internal_error…)

        async def send() -> Any:
            nonlocal maybe
            try:
                return await self.client.chat_postMessage(**kwargs)
            except SlackApiError as exc:
                maybe = maybe or exc.response.status_code >= 500 or exc.response.get("error") in MAYBE_DONE
                raise
            except BaseException:
                maybe = True
                raise
        try:
            response = await self.pacer.call(POST, channel, send, post=True)
        except (RetryLater, SlackApiError):
            if not maybe:
                self.ledger.record(ids, key, NOTHING)  # refused (a 429, an error), or never sent
            raise
        posted = (response.get("channel") or channel, response["ts"])
        self.ledger.record(ids, key, posted)
        return posted

    async def _find_earlier(self, message: Message, channel: str, thread_ts: str | None,
                            stamp: dict[str, Any]) -> str | None:
        """Our own post for this outbox message, if an earlier attempt made it before failing."""
        for ts, payload in await self._our_posts(channel, thread_ts, message.created_at):
            if payload == stamp:
                log.info("outbox %s was already posted as %s; not posting again", message.id, ts)
                return ts
        return None

    async def _notices_shown(self, group: str, messages: Sequence[Message]) -> set[int]:
        """The outbox ids of `messages` that a post of ours in the group's channel delivers (alone,
        or as one of the `outbox_ids` of a combined post)."""
        channel, _ = self.channel_of(group)
        wanted = {m.id for m in messages}
        key = (channel, None)
        shown = self.ledger.shown(wanted, key)
        if shown is not None:
            return shown
        shown = {i for i in wanted if self.ledger.posted(i, key)}  # known here, whatever the look-up's page holds
        for ts, payload in await self._our_posts(channel, None, min(m.created_at for m in messages)):
            delivers = {payload.get("outbox_id"), *(payload.get("outbox_ids") or ())} - {None}
            for message_id in (wanted & delivers) - shown:
                self.ledger.record([message_id], key, (channel, ts), delivers=delivers)
                shown.add(message_id)
        for message_id in wanted - shown:
            self.ledger.record([message_id], key, NOTHING)
        return shown

    async def _our_posts(self, channel: str, thread_ts: str | None, since: datetime) -> list[tuple[str, dict]]:
        """(ts, metadata payload) of the posts this app made in the channel (or the thread) from a
        minute before `since` on, newest first (Slack's first page: 200)."""
        oldest = f"{(since - timedelta(minutes=1)).timestamp():.6f}"
        if thread_ts:
            found = await self.pacer.call("conversations.replies", None, lambda: self.client.conversations_replies(
                channel=channel, ts=thread_ts, oldest=oldest, include_all_metadata=True, limit=200))
        else:
            found = await self.pacer.call("conversations.history", None, lambda: self.client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200))
        return [(posted["ts"], meta.get("event_payload") or {}) for posted in found.get("messages", [])
                if (meta := posted.get("metadata") or {}).get("event_type") == METADATA_TYPE]


def _verdict(exc: Exception) -> tuple[float, bool] | None:
    """For the pacer: Slack's 429 and 5xx as waits (see pacing.http_verdict)."""
    return http_verdict(exc) if isinstance(exc, SlackApiError) else None


def _classify(exc: SlackApiError) -> Exception:
    """429 or 5xx (left over by the pacer) → wait; errors no retry can fix → dead letter; the rest → back off."""
    wait = as_wait(exc, "Slack")
    if wait is not None:
        return wait
    response = exc.response
    error = response.data.get("error") if isinstance(getattr(response, "data", None), dict) else None
    if error in PERMANENT:
        return Undeliverable(f"Slack said {error}")
    return exc
