"""What every chat platform's outbox sender shares: routing a message by its audience, reading
the ticket it is about, and finding the ticket's cards (or waiting for the first one)."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from adapters.dispatcher import RetryLater, Undeliverable
from bot.config import Settings
from bot.model import Ticket
from storage.outbox import Message, Outbox
from storage.posts import Posts
from storage.repository import SqlStore

QUIET_FROM_THREAD = {"note", "internal_note"}  # typed in the card's thread: no line about it there


class ChatSender:
    platform = ""
    platform_errors: tuple[type[Exception], ...] = ()

    def __init__(self, settings: Settings, store: SqlStore, posts: Posts, outbox: Outbox,
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.store = store
        self.posts = posts
        self.outbox = outbox
        self.clock = clock

    async def deliver(self, message: Message) -> None:
        kind, _, who = message.audience.partition(":")
        route = {"ticket": lambda: self._ticket_changed(message), "group": lambda: self._to_group(message, who),
                 "user": lambda: self._to_person(message, who)}.get(kind)
        if route is None:
            raise Undeliverable(f"unknown audience {message.audience!r}")
        try:
            await route()
        except self.platform_errors as exc:
            raise self.classify(exc) from exc

    def classify(self, exc: Exception) -> Exception:
        """A platform error as RetryLater (wait as told), Undeliverable (dead letter) or itself (back off)."""
        return exc

    async def _ticket_changed(self, message: Message) -> None: ...

    async def _to_group(self, message: Message, name: str) -> None: ...

    async def _to_person(self, message: Message, identity: str) -> None: ...

    async def _ticket(self, ticket_id: int) -> Ticket | None:
        def read() -> Ticket | None:
            with self.store.transaction(write=False) as tx:
                return tx.get_ticket(ticket_id)
        return await asyncio.to_thread(read)

    async def _cards(self, message: Message) -> list[tuple[str, str]]:
        """Where the ticket's cards are; waits (RetryLater) while its first card is still queued."""
        cards = await asyncio.to_thread(self.posts.of, message.ticket_id, self.platform, "card")
        if not cards and await asyncio.to_thread(self.outbox.has_pending, self.platform, "new_ticket", message.ticket_id):
            raise RetryLater(5, "the ticket's card is not posted yet")
        return cards  # none: its group has no channel on this platform, nothing to edit

    async def _first_card(self, ticket_id: int | None) -> tuple[str, str] | None:
        """(channel, message id) of the ticket's first card: what pings link to."""
        if ticket_id is None:
            return None
        cards = await asyncio.to_thread(self.posts.of, ticket_id, self.platform, "card")
        return cards[0] if cards else None

    @staticmethod
    def quiet(message: Message) -> bool:
        return bool(message.data.get("from_thread")) and message.data.get("action") in QUIET_FROM_THREAD
