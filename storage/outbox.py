"""Delivery side of the outbox: claim due messages under a lease, then mark them.

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never
take the same message; a claim is a lease, so a worker that dies mid-delivery
leaves its messages to the others once the lease runs out.
"""
from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Engine, and_, func, or_, select, update

from storage.database import reading
from storage.schema import outbox

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Message:
    id: int
    platform: str
    kind: str
    audience: str
    ticket_id: int | None
    text: str
    data: dict[str, Any]
    attempts: int
    created_at: datetime


def _message(r) -> Message:
    return Message(r.id, r.platform, r.kind, r.audience, r.ticket_id, r.text, r.data, r.attempts, r.created_at)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


class Outbox:
    def __init__(self, engine: Engine, worker_id: str | None = None, lease: timedelta = timedelta(seconds=60)) -> None:
        self.engine = engine
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease

    def claim(self, platform: str, now: datetime, audiences: Iterable[str] | None = None, limit: int = 20) -> list[Message]:
        """Lease up to `limit` due messages for `platform`, oldest first."""
        due = and_(
            outbox.c.platform == platform,
            outbox.c.status == "pending",
            outbox.c.available_at <= now,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
        )
        if audiences is not None:
            due = and_(due, outbox.c.audience.in_(sorted(set(audiences))))
        with self.engine.begin() as conn:
            ids = conn.execute(
                select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit).with_for_update(skip_locked=True)
            ).scalars().all()
            if not ids:
                return []
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
                claimed_by=self.worker_id, claimed_until=now + self.lease, attempts=outbox.c.attempts + 1))
            rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id)).all()
        return [_message(r) for r in rows]

    def delivered(self, message_id: int, now: datetime) -> bool:
        """Mark done; False when our lease was lost and another worker owns it now."""
        with self.engine.begin() as conn:
            result = conn.execute(update(outbox).where(and_(
                outbox.c.id == message_id, outbox.c.claimed_by == self.worker_id, outbox.c.status == "pending",
            )).values(status="delivered", delivered_at=now, claimed_until=None, last_error=None))
        return result.rowcount == 1

    def retry_later(self, message_id: int, now: datetime, error: str, delay: timedelta | None = None) -> None:
        """Back off exponentially with jitter (or as the platform's Retry-After says);
        after MAX_ATTEMPTS the message becomes a dead letter (`failed`)."""
        with self.engine.begin() as conn:
            attempts = conn.execute(select(outbox.c.attempts).where(outbox.c.id == message_id)).scalar_one()
            if delay is None:
                delay = timedelta(seconds=min(3600, 2 ** attempts * 5) * random.uniform(0.75, 1.25))
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(
                status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                available_at=now + delay, claimed_until=None, last_error=error[:2000]))

    def give_up(self, message_id: int, error: str) -> None:
        """A failure no retry can fix (an unknown channel): straight to the dead letters."""
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(
                status="failed", claimed_until=None, last_error=error[:2000]))

    def listing(self, failed_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Undelivered messages (pending and dead letters) for an operator to read."""
        statuses = ["failed"] if failed_only else ["pending", "failed"]
        with reading(self.engine) as conn:
            rows = conn.execute(select(outbox).where(outbox.c.status.in_(statuses)).order_by(outbox.c.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    def requeue(self, now: datetime, message_ids: Iterable[int] | None = None) -> int:
        """Send dead letters again (all of them, or the ids given), with a fresh set of attempts."""
        where = outbox.c.status == "failed"
        if message_ids is not None:
            where = and_(where, outbox.c.id.in_(list(message_ids)))
        with self.engine.begin() as conn:
            return conn.execute(update(outbox).where(where).values(
                status="pending", attempts=0, available_at=now, claimed_until=None, claimed_by=None)).rowcount

    def has_pending(self, platform: str, kind: str, ticket_id: int) -> bool:
        with reading(self.engine) as conn:
            return conn.execute(select(outbox.c.id).where(and_(
                outbox.c.platform == platform, outbox.c.kind == kind, outbox.c.ticket_id == ticket_id,
                outbox.c.status == "pending")).limit(1)).first() is not None

    def pending_count(self, platform: str | None = None) -> int:
        where = outbox.c.status == "pending"
        if platform:
            where = and_(where, outbox.c.platform == platform)
        with reading(self.engine) as conn:
            return conn.execute(select(func.count()).select_from(outbox).where(where)).scalar_one()
