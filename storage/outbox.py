"""Delivery side of the outbox: claim due messages under a lease, then mark them.

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never
take the same message; a claim is a lease, so a worker that dies mid-delivery
leaves its messages to the others once the lease runs out.

`OutboxRows` are the statements, run in a transaction of the store like every other
(mixed into storage.repository.SqlTransaction); `Outbox` is one worker's view of them.
"""
from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Connection, and_, func, or_, select, update

from storage.schema import outbox

MAX_ATTEMPTS = 8  # failed attempts; waits (a rate limit, an outage, a card not posted yet) are not counted
MAX_WAITING = timedelta(days=1)  # a message only ever waiting becomes a dead letter after this long


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
    """This process's name in the outbox's leases: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


class OutboxRows:
    conn: Connection

    def claim_outbox(self, platform: str, now: datetime, worker: str, lease: timedelta,
                     audiences: Iterable[str] | None = None, limit: int = 20,
                     skip: Iterable[str] = ()) -> list[Message]:
        """Lease up to `limit` due messages for `platform` to `worker`, oldest first; only those
        for `audiences` when given, none for the audiences in `skip` (a worker's full queues),
        and none for an audience another worker holds a message of: one replica at a time
        delivers into a channel or chat, so its pace (and its combined posts) is one worker's."""
        held = outbox.alias("held")
        held_by_another = select(held.c.id).where(
            held.c.platform == outbox.c.platform, held.c.audience == outbox.c.audience, held.c.status == "pending",
            held.c.claimed_until >= now, held.c.claimed_by != worker).exists()
        due = and_(
            outbox.c.platform == platform,
            outbox.c.status == "pending",
            outbox.c.available_at <= now,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            ~held_by_another,
        )
        if audiences is not None:
            due = and_(due, outbox.c.audience.in_(sorted(set(audiences))))
        skip = sorted(set(skip))
        if skip:
            due = and_(due, outbox.c.audience.not_in(skip))
        ids = self.conn.execute(
            select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit).with_for_update(skip_locked=True)
        ).scalars().all()
        if not ids:
            return []
        self.conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
            claimed_by=worker, claimed_until=now + lease, attempts=outbox.c.attempts + 1))
        rows = self.conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id)).all()
        return [_message(r) for r in rows]

    def outbox_renew(self, message_ids: Iterable[int], worker: str, now: datetime, lease: timedelta) -> set[int]:
        """Extend `worker`'s lease on messages it still holds; returns those it still owns."""
        ids = list(message_ids)
        if not ids:
            return set()
        mine = and_(outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == "pending",
                    outbox.c.claimed_until >= now)
        self.conn.execute(update(outbox).where(mine).values(claimed_until=now + lease))
        return set(self.conn.execute(select(outbox.c.id).where(and_(
            outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == "pending",
            outbox.c.claimed_until == now + lease))).scalars())

    def outbox_delivered(self, message_ids: Iterable[int], worker: str, now: datetime) -> set[int]:
        """Mark done, in one statement; returns the ids marked (one whose lease was lost, now
        another worker's, is left to that worker)."""
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        return set(self.conn.execute(update(outbox).where(and_(
            outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == "pending",
        )).values(status="delivered", delivered_at=now, claimed_until=None, last_error=None)
            .returning(outbox.c.id)).scalars())

    def outbox_retry(self, message_id: int, now: datetime, error: str, delay: timedelta | None = None,
                     counts: bool = True) -> None:
        """Back off exponentially with jitter (or wait `delay`, as the platform's Retry-After says).
        A failed attempt (`counts`) uses up one of MAX_ATTEMPTS, after which the message becomes a
        dead letter (`failed`); a wait (`counts=False`: a rate limit, an outage) does not, and
        only a message waiting for longer than MAX_WAITING becomes one."""
        row = self.conn.execute(select(outbox.c.attempts, outbox.c.waits, outbox.c.created_at)
                                .where(outbox.c.id == message_id)).one()
        waits = row.waits + (0 if counts else 1)
        failures = row.attempts - waits
        if delay is None:
            delay = timedelta(seconds=min(3600, 2 ** max(failures, 0) * 5) * random.uniform(0.75, 1.25))
        dead = failures >= MAX_ATTEMPTS if counts else row.created_at + MAX_WAITING < now
        self.conn.execute(update(outbox).where(outbox.c.id == message_id).values(
            status="failed" if dead else "pending", waits=waits,
            available_at=now + delay, claimed_until=None, last_error=error[:2000]))

    def outbox_give_up(self, message_id: int, error: str) -> None:
        """A failure no retry can fix (an unknown channel): straight to the dead letters."""
        self.conn.execute(update(outbox).where(outbox.c.id == message_id).values(
            status="failed", claimed_until=None, last_error=error[:2000]))

    def outbox_listing(self, failed_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Undelivered messages (pending and dead letters) for an operator to read."""
        statuses = ["failed"] if failed_only else ["pending", "failed"]
        rows = self.conn.execute(select(outbox).where(outbox.c.status.in_(statuses)).order_by(outbox.c.id).limit(limit))
        return [dict(r._mapping) for r in rows]

    def outbox_requeue(self, now: datetime, message_ids: Iterable[int] | None = None) -> int:
        """Send dead letters again (all of them, or the ids given), with a fresh set of attempts."""
        where = outbox.c.status == "failed"
        if message_ids is not None:
            where = and_(where, outbox.c.id.in_(list(message_ids)))
        return self.conn.execute(update(outbox).where(where).values(
            status="pending", attempts=0, waits=0, available_at=now, claimed_until=None, claimed_by=None)).rowcount

    def outbox_pending(self, platform: str | None = None) -> int:
        """How many messages wait for delivery (on one platform, or on any)."""
        where = outbox.c.status == "pending"
        if platform:
            where = and_(where, outbox.c.platform == platform)
        return self.conn.execute(select(func.count()).select_from(outbox).where(where)).scalar_one()


class Outbox:
    """One delivery worker's view of the outbox, through the store's transactions: it claims
    messages under its own id for `lease`, then marks them delivered, retried or dead."""

    def __init__(self, store: Any, worker_id: str | None = None, lease: timedelta = timedelta(seconds=60)) -> None:
        self.store = store
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease

    def claim(self, platform: str, now: datetime, audiences: Iterable[str] | None = None, limit: int = 20,
              skip: Iterable[str] = ()) -> list[Message]:
        """Lease up to `limit` due messages for `platform`, oldest first (none for the audiences in `skip`)."""
        with self.store.transaction() as tx:
            return tx.claim_outbox(platform, now, self.worker_id, self.lease, audiences, limit, skip)

    def renew(self, message_ids: Iterable[int], now: datetime) -> set[int]:
        """Extend our lease on messages we hold (waiting in a lane); returns those still ours."""
        with self.store.transaction() as tx:
            return tx.outbox_renew(message_ids, self.worker_id, now, self.lease)

    def delivered(self, message_id: int, now: datetime) -> bool:
        """Mark done; False when our lease was lost and another worker owns it now."""
        return message_id in self.delivered_all([message_id], now)

    def delivered_all(self, message_ids: Iterable[int], now: datetime) -> set[int]:
        """Mark several done in one transaction; returns those marked (the rest: our lease was lost)."""
        with self.store.transaction() as tx:
            return tx.outbox_delivered(message_ids, self.worker_id, now)

    def retry_later(self, message_id: int, now: datetime, error: str, delay: timedelta | None = None,
                    counts: bool = True) -> None:
        """Back off (or wait `delay`); a dead letter after the last counted attempt (see outbox_retry)."""
        with self.store.transaction() as tx:
            tx.outbox_retry(message_id, now, error, delay, counts)

    def give_up(self, message_id: int, error: str) -> None:
        """Straight to the dead letters."""
        with self.store.transaction() as tx:
            tx.outbox_give_up(message_id, error)

    def listing(self, failed_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Undelivered messages (pending and dead letters), oldest first."""
        with self.store.transaction(write=False) as tx:
            return tx.outbox_listing(failed_only, limit)

    def requeue(self, now: datetime, message_ids: Iterable[int] | None = None) -> int:
        """Send dead letters again; returns how many."""
        with self.store.transaction() as tx:
            return tx.outbox_requeue(now, message_ids)

    def has_pending(self, platform: str, kind: str, ticket_id: int) -> bool:
        """Whether a message of this kind for the ticket still waits on this platform."""
        with self.store.transaction(write=False) as tx:
            return tx.has_pending(platform, kind, ticket_id)

    def pending_count(self, platform: str | None = None) -> int:
        """How many messages wait for delivery."""
        with self.store.transaction(write=False) as tx:
            return tx.outbox_pending(platform)
