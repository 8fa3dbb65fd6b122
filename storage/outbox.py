"""Delivery side of the outbox: claim due messages under a lease, then mark them.

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never
take the same message; a claim is a lease, so a worker that dies mid-delivery
leaves its messages to the others once the lease runs out.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Engine, and_, or_, select, update

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
        return [Message(r.id, r.platform, r.kind, r.audience, r.ticket_id, r.text, r.data, r.attempts, r.created_at) for r in rows]

    def delivered(self, message_id: int, now: datetime) -> bool:
        """Mark done; False when our lease was lost and another worker owns it now."""
        with self.engine.begin() as conn:
            result = conn.execute(update(outbox).where(and_(
                outbox.c.id == message_id, outbox.c.claimed_by == self.worker_id, outbox.c.status == "pending",
            )).values(status="delivered", delivered_at=now, claimed_until=None, last_error=None))
        return result.rowcount == 1

    def retry_later(self, message_id: int, now: datetime, error: str, delay: timedelta | None = None) -> None:
        """Back off exponentially (or as the platform's Retry-After says); give up after MAX_ATTEMPTS."""
        with self.engine.begin() as conn:
            attempts = conn.execute(select(outbox.c.attempts).where(outbox.c.id == message_id)).scalar_one()
            wait = delay if delay is not None else timedelta(seconds=min(3600, 2 ** attempts * 5))
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(
                status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                available_at=now + wait, claimed_until=None, last_error=error[:2000]))
