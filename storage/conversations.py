"""Conversation references (how to reach a Teams user or channel proactively) and
delivery receipts (which steps of an outbox message already reached the platform)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, select

from storage.database import reading, upsert
from storage.schema import conversation_refs, delivery_receipts


class ConversationRefs:
    def __init__(self, engine: Engine, platform: str) -> None:
        self.engine = engine
        self.platform = platform
        self._seen: dict[str, dict[str, Any]] = {}  # what this process last stored or found, per key

    def remember(self, refs: dict[str, dict[str, Any]], now: datetime) -> None:
        """Store or refresh references. Every activity carries them, so those this process has
        already seen cost nothing, and unchanged ones are not rewritten."""
        refs = {k: v for k, v in refs.items() if self._seen.get(k) != v}
        if not refs:
            return
        known = self.get_many(list(refs))
        fresh = {k: v for k, v in refs.items() if known.get(k) != v}
        if fresh:
            insert = upsert(self.engine.dialect.name, conversation_refs)
            with self.engine.begin() as conn:
                for key, reference in fresh.items():
                    conn.execute(insert.values(platform=self.platform, key=key, reference=reference, updated_at=now)
                                 .on_conflict_do_update(index_elements=["platform", "key"],
                                                        set_={"reference": reference, "updated_at": now}))
        self._seen.update(refs)  # only once stored: a failed write is tried again next time

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(conversation_refs.c.key, conversation_refs.c.reference).where(and_(
                conversation_refs.c.platform == self.platform, conversation_refs.c.key.in_(keys))))
            return {r.key: r.reference for r in rows}


class Receipts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def done(self, outbox_id: int, step: str) -> str | None:
        """The platform's id for what this step posted, if an earlier attempt posted it."""
        with reading(self.engine) as conn:
            return conn.execute(select(delivery_receipts.c.message_id).where(and_(
                delivery_receipts.c.outbox_id == outbox_id, delivery_receipts.c.step == step))).scalar()

    def record(self, outbox_id: int, step: str, message_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(upsert(self.engine.dialect.name, delivery_receipts).values(
                outbox_id=outbox_id, step=step[:300], message_id=message_id, created_at=now).on_conflict_do_nothing())
