"""What every chat platform's outbox sender shares: routing a message by its audience, the views
it shows (a ticket's card, a message with its buttons), and where the ticket's cards are
(or waiting for the first one). A platform's sender renders and posts; it decides nothing.

Everything goes through the store's transactions, as commands do."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Sequence

from adapters.chat import messages as CM
from adapters.chat.pacing import Pacer
from adapters.chat.text import Markup, group_text
from adapters.chat.views import (CardView, IncidentView, ListedView, MessageView, current_card, incident_view,
                                 listed_view, message_view)
from adapters.dispatcher import RetryLater, Undeliverable, off_loop
from adapters.together import Together
from bot.config import Settings
from bot.model import Ticket
from bot.ports import Store
from storage.outbox import Message

log = logging.getLogger("helpdesk")

BEHIND = 10  # seconds a channel's posts may fall behind at its pace before they are combined
# Group messages never combined: cards and proposals with buttons of their own, and the weekly digest.
# Every other message to a group's channel is a notice (a page, an overdue ticket, a move).
APART = frozenset({"incident", "incident_proposal", "digest"})
NOTICES_MAX = 30  # notices in one combined post
NOTICES_BYTES = 10_000  # their texts (UTF-8; with a thread link each, well within Slack's 40,000 characters and Teams' 28 KB activity)
QUIET_FROM_THREAD = {"note", "internal_note"}  # typed in the card's thread: no line about it there
# Changes the help desk makes by itself (the SLA sweep) or in bulk (an incident): a ticket listed
# in a combined post gets its line shown anew for them, not a card of its own
NO_OWN_CARD = {"sla_warning", "repaged", "overdue", "replanned", "escalated", "auto_escalated", "nudged",
               "stale_resolved", "linked", "merged", "merged_in", "broadcast", "declared"}


class ChatSender:
    """A platform's outbox sender: `deliver(message)` routes it to `_ticket_changed`,
    `_to_group`, `_to_person` or `_in_thread`, which the platform implements.

    Raises RetryLater (wait and try again), Undeliverable (a dead letter at once), or the
    platform's own error (backed off and retried), as `classify` decides."""

    platform = ""
    platform_errors: tuple[type[Exception], ...] = ()
    post_method = ""  # the pacer's name for posting into a channel
    combines = False  # whether the platform posts waiting new tickets together (`_post_listed`)
    most_listed = 1  # how many tickets one combined post holds
    markup: Markup  # how the platform writes chat text
    pacer: Pacer

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._files: dict[int, list[Any]] = {}  # ticket id → its files, as last read with it
        self._relisting: dict[str, asyncio.Lock] = {}  # combined post id → its updates, one at a time
        # the lanes' reads of tickets, and their records of where posts went, those made at the
        # same moment in one transaction each (adapters/together.py)
        self._reads: Together[int, tuple[Ticket, list[Any]]] = Together(self._read_tickets, off_loop, 200,
                                                                         f"{self.platform}-ticket-reads")
        self._records: Together[tuple[int, str, str, str], None] = Together(self._record_posts, off_loop, 500,
                                                                            f"{self.platform}-post-records")

    async def deliver(self, message: Message) -> None:
        """Deliver one outbox message by its audience (`ticket:`, `group:`, `user:` or `thread:`).

        Raises Undeliverable for an audience of no known kind, and what `classify` makes of the
        platform's own errors: RetryLater (wait as told), Undeliverable, or the error itself (retried)."""
        kind, _, who = message.audience.partition(":")
        notice = self.combinable(message) == "notice"  # a retry of one may find it in an earlier combined post
        route = {"ticket": lambda: self._ticket_changed(message),
                 "group": lambda: self._notices([message], who) if notice else self._to_group(message, who),
                 "user": lambda: self._to_person(message, who), "thread": lambda: self._in_thread(message)}.get(kind)
        if route is None:
            raise Undeliverable(f"unknown audience {message.audience!r}")
        try:
            await route()
        except self.platform_errors as exc:
            raise self.classify(exc) from exc

    def classify(self, exc: Exception) -> Exception:
        """A platform error as RetryLater (wait as told), Undeliverable (dead letter) or itself (back off)."""
        return exc

    # New tickets posted together

    def combinable(self, message: Message) -> str | None:
        """What the message may be posted together with when its group's channel falls behind:
        "new_ticket" (cards, listed in one post with a Claim button each), "notice" (pages, overdue
        tickets, moves: their lines in one post, the group notified once), None (alone)."""
        if not self.combines or not message.audience.startswith("group:") or message.kind in APART:
            return None
        return "new_ticket" if message.kind == "new_ticket" else "notice"

    def together(self, first: Message, waiting: Sequence[Message]) -> list[Message]:
        """Which of `waiting` (combinable as `first` is, in their lane's order) go in first's combined
        post: as many as one post holds (`most_listed` tickets; notices up to NOTICES_MAX and
        NOTICES_BYTES of text)."""
        if self.combinable(first) == "new_ticket":
            return list(waiting[:self.most_listed - 1])
        taken, size = [], len(first.text.encode())
        for message in waiting[:NOTICES_MAX - 1]:
            size += len(message.text.encode())
            if size > NOTICES_BYTES:
                break
            taken.append(message)
        return taken

    def room(self, message: Message) -> int:
        """How many posts may go into the message's group channel without falling more than
        BEHIND seconds behind at its pace (0 while it is paused): more waiting, and they are combined."""
        try:
            channel, _ = self.channel_of(message.audience.partition(":")[2])
        except Undeliverable:
            return 1
        if self.pacer.paused_for(self.post_method, channel) > 0:
            return 0
        return self.pacer.pace.available(channel) + int(self.pacer.pace.rate * BEHIND)

    async def deliver_many(self, messages: Sequence[Message]) -> None:
        """Messages of one group's channel, combinable alike (see `together`), as one post: new
        tickets each recorded as listed in it (kind "listed", message id "<post>/<ticket id>") so a
        later change finds it; notices each as its line. Raises as `deliver` does."""
        name = messages[0].audience.partition(":")[2]
        if self.combinable(messages[0]) == "notice":
            try:
                await self._notices(messages, name)
            except self.platform_errors as exc:
                raise self.classify(exc) from exc
            return
        lead = replace(messages[0], attempts=max(m.attempts for m in messages))  # a retry looks for its post
        channel, _ = self.channel_of(name)
        numbers = [m.ticket_id for m in messages]
        found = await self.read(lambda tx: tx.get_tickets(numbers))
        tickets = [found[i] for i in numbers if i in found]
        if not tickets:
            return
        try:
            posted = await self._post_listed(lead, channel, [listed_view(t) for t in tickets], [m.id for m in messages])
        except self.platform_errors as exc:
            raise self.classify(exc) from exc
        await self._records.all([(t.id, "listed", channel, f"{posted}/{t.id}") for t in tickets])

    async def _post_listed(self, lead: Message, channel: str, views: list[ListedView], ids: list[int]) -> str:
        """Post a combined post of `views` into `channel` at most once (`lead` and the outbox
        `ids` it delivers name it); returns its id."""
        raise NotImplementedError

    async def _notices(self, messages: Sequence[Message], group: str) -> None:
        """Notices for a group's channel: alone as the platform posts one (`_to_group`), several as
        one post of their lines. A retry (an earlier attempt may have posted, alone or with others
        grouped differently) leaves out those an earlier post of ours shows already."""
        if any(m.attempts > 1 for m in messages):
            shown = await self._notices_shown(group, messages)
            messages = [m for m in messages if m.id not in shown]
        if len(messages) <= 1:
            for message in messages:
                await self._to_group(message, group)
            return
        m = self.markup
        lines = [m.escape(CM.NOTICES_HEAD.format(count=len(messages)))]
        lines += [self._notice_line(n.kind, n.text, await self._thread_link(n.ticket_id)) for n in messages]
        lead = replace(messages[0], attempts=max(n.attempts for n in messages))
        await self._post_notices(lead, group, "\n\n".join(lines), [n.id for n in messages])

    async def _notices_shown(self, group: str, messages: Sequence[Message]) -> set[int]:
        """The outbox ids of `messages` an earlier post of ours in the group's channel delivers."""
        raise NotImplementedError

    def _notice_line(self, kind: str, text: str, link: str | None) -> str:
        """A notice to a group as the platform shows it: its text, escaped, and on a line of its own
        a link to its ticket's thread (None: no card to link to)."""
        m = self.markup
        line = group_text(kind, text, m)
        return line + m.line_break + m.link(link, m.escape(CM.THREAD_LINK)) if link else line

    async def _post_notices(self, lead: Message, group: str, text: str, ids: list[int]) -> None:
        """Post `text` (the notices' head and lines) into `group`'s channel as one message, at most
        once (`lead` and the outbox `ids` it delivers name it), notifying the group as one notice does."""
        raise NotImplementedError

    async def _thread_link(self, ticket_id: int | None) -> str | None:
        """A link that opens the ticket's card in its thread (None: no card posted yet)."""
        raise NotImplementedError

    async def _listed(self, ticket_id: int) -> tuple[str, str, list[ListedView]] | None:
        """The combined post the ticket is listed in: (channel, post id, its lines as they stand now)."""
        def find(tx: Any) -> tuple[str, str, list[ListedView]] | None:
            posts = tx.posts_of(ticket_id, self.platform, "listed")
            if not posts:
                return None
            channel, ref = posts[0]
            posted = ref.rpartition("/")[0]
            tickets = [tx.get_ticket(i) for i in tx.listed_with(self.platform, channel, posted)]
            return channel, posted, [listed_view(t) for t in tickets if t is not None]
        return await self.read(find)

    async def _from_listed(self, message: Message) -> list[tuple[str, str]]:
        """A ticket listed in a combined post changed: the post shown anew (`_show_listed`) and, when
        `own_card_due`, the ticket's own card posted and recorded (`_post_card`), which every later
        change edits; returns where that card is (none: the ticket is in no combined post, or needs
        no card of its own yet).

        The post is read and shown under a lock per post, so the updates for several of its tickets
        land one after another, each with the lines as they are when it is sent. A post the platform
        refuses for good (deleted since) is left as it is, said in the log: its tickets still get
        their own cards."""
        found = await self._listed(message.ticket_id)
        if found is None:
            return []
        channel, posted, _ = found
        async with self._relisting.setdefault(posted, asyncio.Lock()):
            channel, posted, views = await self._listed(message.ticket_id) or found
            try:
                await self._show_listed(channel, posted, views)
            except self.platform_errors as exc:
                verdict = self.classify(exc)
                if not isinstance(verdict, Undeliverable):
                    raise verdict from exc
                log.warning("%s: the combined post %s in %s cannot be updated (%s); its tickets go on without it",
                            self.platform, posted, channel, verdict)
        while len(self._relisting) > 256:  # only recent posts change; their locks are small
            self._relisting.pop(next(iter(self._relisting)))
        ticket = await self._ticket(message.ticket_id)
        if ticket is None or not self.own_card_due(ticket, message):
            return []
        return [(channel, await self._new_card(message, channel, ticket))]

    async def _new_card(self, message: Message, channel: str, ticket: Ticket) -> str:
        """Post the ticket's card into `channel` at most once for `message`, and record it; returns its id."""
        posted = await self._post_card(message, channel, ticket)
        await self.record_post(ticket.id, "card", channel, posted)
        return posted

    async def _post_card(self, message: Message, channel: str, ticket: Ticket) -> str:
        """Post the ticket's card into `channel` at most once for `message`; returns the post's id."""
        raise NotImplementedError

    async def _show_listed(self, channel: str, posted: str, views: list[ListedView]) -> None:
        """Show the combined post `posted` in `channel` with these lines (an update in place)."""
        raise NotImplementedError

    @staticmethod
    def own_card_due(ticket: Ticket, message: Message) -> bool:
        """A ticket listed in a combined post gets its own card when someone works on it (not
        for a change the help desk made by itself or in bulk: NO_OWN_CARD) while it is still
        open and on its own (not resolved, closed, merged or linked to a parent)."""
        return (message.data.get("action") not in NO_OWN_CARD and ticket.status.is_open
                and ticket.parent_id is None and ticket.merged_into_id is None)

    async def _ticket_changed(self, message: Message) -> None: ...

    async def _to_group(self, message: Message, name: str) -> None: ...

    async def _to_person(self, message: Message, identity: str) -> None: ...

    async def _in_thread(self, message: Message) -> None:
        """A line in the conversation a ticket was made from (its address: `message.data["where"]`)."""
        raise Undeliverable(f"{self.platform} cannot answer in a message's thread")

    # Reading and writing through the store, off the event loop

    async def read(self, work: Callable[[Any], Any]) -> Any:
        """`work(tx)` in a read-only transaction, in a worker thread."""
        def run() -> Any:
            with self.store.transaction(write=False) as tx:
                return work(tx)
        return await off_loop(run)

    async def write(self, work: Callable[[Any], Any]) -> Any:
        """`work(tx)` in a transaction, in a worker thread."""
        def run() -> Any:
            with self.store.transaction() as tx:
                return work(tx)
        return await off_loop(run)

    async def _ticket(self, ticket_id: int) -> Ticket | None:
        """The ticket as it is now, and (for its card) its files, read together (with the other
        lanes' reads made at the same moment: `_read_tickets`)."""
        ticket, files = await self._reads.one(ticket_id) or (None, [])
        self._files[ticket_id] = files
        while len(self._files) > 256:  # only recent tickets' are needed: a card is rendered right after
            self._files.pop(next(iter(self._files)))
        return ticket

    def _read_tickets(self, ticket_ids: list[int]) -> dict[int, tuple[Ticket, list[Any]]]:
        """Tickets and their files, by id, in one read-only transaction (in a worker thread)."""
        with self.store.transaction(write=False) as tx:
            tickets = tx.get_tickets(ticket_ids)
            files = tx.attachments_of(list(tickets))
        return {i: (ticket, files.get(i, [])) for i, ticket in tickets.items()}

    async def record_post(self, ticket_id: int, kind: str, channel: str, message_id: str) -> None:
        """Remember where a card (kind "card") or a message about the ticket ("dm") went (with the
        other lanes' records made at the same moment, in one transaction: `_record_posts`)."""
        await self._records.one((ticket_id, kind, channel, message_id))

    def _record_posts(self, posts: list[tuple[int, str, str, str]]) -> dict[tuple[int, str, str, str], None]:
        """Record where these posts went, in one transaction (in a worker thread)."""
        now = self.clock()
        with self.store.transaction() as tx:
            tx.record_posts([(ticket_id, self.platform, kind, channel, ref) for ticket_id, kind, channel, ref in posts],
                            now)
        return {}

    async def _cards(self, message: Message) -> list[tuple[str, str]]:
        """Where the ticket's cards are; waits (RetryLater) while its first card is still queued."""
        def find(tx: Any) -> tuple[list[tuple[str, str]], bool]:
            cards = tx.posts_of(message.ticket_id, self.platform, "card")
            return cards, not cards and tx.has_pending(self.platform, "new_ticket", message.ticket_id)
        cards, waiting = await self.read(find)
        if waiting:
            raise RetryLater(5, "the ticket's card is not posted yet")
        return cards  # none: its group has no channel on this platform, nothing to edit

    async def _incident_posts(self, message: Message) -> list[tuple[str, str]]:
        """Where the incident's cards are (the message's ticket is its parent); an update waits
        (RetryLater) while the card itself is still queued. Any other change of the parent ticket
        finds none when it is no incident."""
        def find(tx: Any) -> tuple[list[tuple[str, str]], bool]:
            posts = tx.posts_of(message.ticket_id, self.platform, "incident")
            waiting = (not posts and message.kind == "incident_changed"
                       and tx.has_pending(self.platform, "incident", message.ticket_id))
            return posts, waiting
        if message.ticket_id is None:
            return []
        posts, waiting = await self.read(find)
        if waiting:
            raise RetryLater(5, "the incident's card is not posted yet")
        return posts

    async def _incident(self, ticket_id: int) -> IncidentView | None:
        """The incident's card as it stands now; None when the ticket is no incident's parent."""
        found = await self.read(lambda tx: tx.incident(ticket_id))
        return incident_view(found, self.clock()) if found is not None else None

    async def _first_card(self, ticket_id: int | None) -> tuple[str, str] | None:
        """(channel, message id) of the ticket's first card, or else of the combined post it is listed
        in (a page about a listed ticket nobody works on yet: the line with its Claim button): what
        pings link to. None: the ticket is shown nowhere on this platform yet."""
        if ticket_id is None:
            return None

        def find(tx: Any) -> tuple[str, str] | None:
            cards = tx.posts_of(ticket_id, self.platform, "card")
            if cards:
                return cards[0]
            listed = tx.posts_of(ticket_id, self.platform, "listed")  # message id "<post>/<ticket id>"
            return (listed[0][0], listed[0][1].rpartition("/")[0]) if listed else None
        return await self.read(find)

    # Views

    def card(self, ticket: Ticket) -> CardView:
        """The ticket's card as it stands now, with the files read with it (`_ticket`)."""
        return current_card(ticket, self.settings, self.clock(), self._files.get(ticket.id, ()))

    @staticmethod
    def message(message: Message, ticket: Ticket | None) -> MessageView:
        """An outbox message for a person, with the buttons its kind comes with."""
        return message_view(message.kind, message.text, ticket, message.data)

    def channel_of(self, name: str) -> tuple[str, str | None]:
        """A group's channel on this platform and the mention that pages the group there.
        Raises Undeliverable when the group has no channel here."""
        group = self.settings.groups.get(name)
        channel = group.channels.get(self.platform) if group else None
        if not channel:
            raise Undeliverable(f"group {name!r} has no {self.platform} channel")
        return channel, group.mentions.get(self.platform)

    @staticmethod
    def quiet(message: Message) -> bool:
        """A change made in the card's own thread needs no line there about itself."""
        return bool(message.data.get("from_thread")) and message.data.get("action") in QUIET_FROM_THREAD
