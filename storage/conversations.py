"""Where the chat platforms put things, as rows a transaction reads and writes (mixed into
storage.repository.SqlTransaction): each ticket's cards and messages (to edit them and to
recognise replies in their threads), conversation references (how to reach a person or a
channel proactively on platforms that cannot be addressed by a bare id), and delivery
receipts (which steps of an outbox message already reached the platform)."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, select

from storage.database import one_or_many, upsert
from storage.schema import conversation_refs, delivery_receipts, outbox, ticket_posts


@lru_cache(maxsize=None)
def _record_post(dialect: str):
    """INSERT INTO ticket_posts … ON CONFLICT DO NOTHING: built once per database kind."""
    return upsert(dialect, ticket_posts).on_conflict_do_nothing()


class ChatRows:
    conn: Connection

    # Cards and messages

    def record_post(self, ticket_id: int, platform: str, kind: str, channel: str, message_id: str,
                    now: datetime) -> None:
        """See bot.ports.Transaction.record_post (a post recorded twice is kept once)."""
        self.record_posts([(ticket_id, platform, kind, channel, message_id)], now)

    def record_posts(self, posts: list[tuple[int, str, str, str, str]], now: datetime) -> None:
        """See bot.ports.Transaction.record_posts."""
        if posts:
            self.conn.execute(_record_post(self.conn.dialect.name), one_or_many([
                {"ticket_id": t, "platform": p, "kind": k, "channel": c, "message_id": m, "created_at": now}
                for t, p, k, c, m in posts]))

    def ticket_for_post(self, platform: str, channel: str, message_id: str) -> int | None:
        """See bot.ports.Transaction.ticket_for_post."""
        return self.conn.execute(select(ticket_posts.c.ticket_id).where(and_(
            ticket_posts.c.platform == platform, ticket_posts.c.channel == channel,
            ticket_posts.c.message_id == message_id))).scalar()

    def posts_of(self, ticket_id: int, platform: str, kind: str = "card") -> list[tuple[str, str]]:
        """See bot.ports.Transaction.posts_of."""
        rows = self.conn.execute(select(ticket_posts.c.channel, ticket_posts.c.message_id).where(and_(
            ticket_posts.c.ticket_id == ticket_id, ticket_posts.c.platform == platform,
            ticket_posts.c.kind == kind)).order_by(ticket_posts.c.id))
        return [(r.channel, r.message_id) for r in rows]

    def listed_with(self, platform: str, channel: str, message_id: str) -> list[int]:
        """The tickets listed in one combined post (recorded as kind "listed", message id
        "<post's id>/<ticket id>"), in the order they were listed."""
        rows = self.conn.execute(select(ticket_posts.c.ticket_id).where(and_(
            ticket_posts.c.platform == platform, ticket_posts.c.kind == "listed", ticket_posts.c.channel == channel,
            ticket_posts.c.message_id.startswith(f"{message_id}/", autoescape=True))).order_by(ticket_posts.c.id))
        return list(rows.scalars())

    # Conversation references

    def conversation_refs(self, platform: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """See bot.ports.Transaction.conversation_refs."""
        if not keys:
            return {}
        rows = self.conn.execute(select(conversation_refs.c.key, conversation_refs.c.reference).where(and_(
            conversation_refs.c.platform == platform, conversation_refs.c.key.in_(keys))))
        return {r.key: r.reference for r in rows}

    def remember_refs(self, platform: str, refs: dict[str, dict[str, Any]], now: datetime) -> None:
        """See bot.ports.Transaction.remember_refs."""
        insert = upsert(self.conn.dialect.name, conversation_refs)
        for key, reference in refs.items():
            self.conn.execute(insert.values(platform=platform, key=key, reference=reference, updated_at=now)
                              .on_conflict_do_update(index_elements=["platform", "key"],
                                                     set_={"reference": reference, "updated_at": now}))

    # Delivery receipts

    def receipt(self, outbox_id: int, step: str) -> str | None:
        """See bot.ports.Transaction.receipt."""
        return self.conn.execute(select(delivery_receipts.c.message_id).where(and_(
            delivery_receipts.c.outbox_id == outbox_id, delivery_receipts.c.step == step[:300]))).scalar()

    def record_receipt(self, outbox_id: int, step: str, message_id: str, now: datetime) -> None:
        """See bot.ports.Transaction.record_receipt (recorded twice: kept once)."""
        self.conn.execute(upsert(self.conn.dialect.name, delivery_receipts).values(
            outbox_id=outbox_id, step=step[:300], message_id=message_id, created_at=now).on_conflict_do_nothing())

    def has_pending(self, platform: str, kind: str, ticket_id: int) -> bool:
        """See bot.ports.Transaction.has_pending."""
        return self.conn.execute(select(outbox.c.id).where(and_(
            outbox.c.platform == platform, outbox.c.kind == kind, outbox.c.ticket_id == ticket_id,
            outbox.c.status == "pending")).limit(1)).first() is not None


class ConversationRefs:
    """A platform's conversation references through the store, remembering what this process
    already stored: every activity carries them, so those already seen cost nothing."""

    def __init__(self, store: Any, platform: str, clock: Any) -> None:
        self.store = store
        self.platform = platform
        self.clock = clock
        self._seen: dict[str, dict[str, Any]] = {}

    def remember(self, refs: dict[str, dict[str, Any]]) -> None:
        """Store or refresh references; unchanged ones are not rewritten."""
        refs = {k: v for k, v in refs.items() if self._seen.get(k) != v}
        if not refs:
            return
        with self.store.transaction() as tx:
            known = tx.conversation_refs(self.platform, list(refs))
            fresh = {k: v for k, v in refs.items() if known.get(k) != v}
            if fresh:
                tx.remember_refs(self.platform, fresh, self.clock())
        self._seen.update(refs)  # only once stored: a failed write is tried again next time

    def get(self, key: str) -> dict[str, Any] | None:
        """One reference, or None."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The references known for these keys."""
        with self.store.transaction(write=False) as tx:
            return tx.conversation_refs(self.platform, keys)
