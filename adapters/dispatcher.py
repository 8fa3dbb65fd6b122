"""Delivers the outbox: one dispatcher per platform, claiming due messages under a lease and
delivering them in lanes, one lane per audience (a group's channel, a person, a ticket's cards):
a lane delivers its messages in order, lanes run side by side, so one busy channel never holds
up a requester's DM. The sender keeps each destination's pace (adapters/chat/pacing.py).

When more posts wait in one lane than the channel's pace lets through within about ten
seconds, those that can go together do (`Sender.deliver_many`), rather than falling minutes
behind: new-ticket cards as one post listing them, notices (pages, overdue tickets) as one post
of their lines.

At-least-once: a message is marked delivered only after its sender returns; senders make a
repeat harmless (they look for their own earlier post before posting again). A wait (a rate
limit, an outage, a card not posted yet) gives the message back without counting an attempt.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Callable, Protocol, Sequence, TypeVar

from adapters.together import Together
from storage.outbox import Message, Outbox

T = TypeVar("T")

log = logging.getLogger("helpdesk.outbox")

# The delivery side's own worker threads. In a surge many lanes wait on the database at once
# (claims, delivered marks, receipts); in asyncio's default pool they took every thread, and a
# form's answer, which needs one for a short read, waited behind them past Slack's 3 s.
_DELIVERY_THREADS = ThreadPoolExecutor(4, thread_name_prefix="outbox")


async def off_loop(work: Callable[..., T], *args: object) -> T:
    """`work(*args)` — a blocking call of the delivery side (the outbox, delivery receipts,
    conversation references) — in the outbox's own threads, never in the pool requests use."""
    return await asyncio.get_running_loop().run_in_executor(_DELIVERY_THREADS, functools.partial(work, *args))


LANE_LIMIT = 200  # messages held in memory for one audience; past it, that audience is not claimed
HELD_LIMIT = 2000  # messages held in memory in all


class RetryLater(Exception):
    """Wait `delay` seconds and try again: the platform asked us to (HTTP 429 Retry-After), it is
    down (5xx), or a prerequisite is not there yet. A wait, never counted as a failed attempt."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay:.0f} s")
        self.delay = delay


class Undeliverable(Exception):
    """No retry can fix this (unknown channel, user gone): straight to the dead letters."""


class Sender(Protocol):
    platform: str

    async def deliver(self, message: Message) -> None:
        """Deliver one message; raises RetryLater, Undeliverable, or anything else to be retried later."""
        ...

    def combinable(self, message: Message) -> str | None:
        """What the message may go in a combined post with (others of its lane the same), or None."""
        ...

    def together(self, first: Message, waiting: Sequence[Message]) -> list[Message]:
        """Which of `waiting` (combinable as `first` is) go in first's combined post."""
        ...

    def room(self, message: Message) -> int:
        """How many posts may go to the message's destination without falling behind (else: combine)."""
        ...

    async def deliver_many(self, messages: Sequence[Message]) -> None:
        """Deliver combinable messages of one lane as one post; raises as deliver does."""
        ...


class Dispatcher:
    """Claims due messages for one platform into lanes (one per audience) and delivers them: each
    lane in order, the lanes side by side (the sender bounds how many calls are in flight).

    `batch`: messages claimed at a time. What a combined post holds is the sender's to say (`together`)."""

    def __init__(self, outbox: Outbox, sender: Sender, clock: Callable[[], datetime], *, batch: int = 100,
                 poll_seconds: float = 1.0) -> None:
        self.outbox = outbox
        self.sender = sender
        self.clock = clock
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.stopping = False
        self._wake = asyncio.Event()
        self._lanes: dict[str, collections.deque[Message]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._held = 0
        self._leased: dict[int, float] = {}  # message held → when its lease was taken or renewed (monotonic)
        self._renewed = time.monotonic()
        # the lanes' delivered marks, those made at the same moment in one transaction
        self._marks: Together[int, bool] = Together(
            lambda ids: dict.fromkeys(self.outbox.delivered_all(ids, self.clock()), True), off_loop, name="outbox-marks")

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after a request queued messages)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the messages in hand (one per lane), claim no more, and return from run().
        Cancelling run() instead would abandon a delivery half done: the platform call carries on
        (Teams' runs in a thread) while its receipt and delivered mark are never written, so it is
        posted again after the restart. Messages claimed but not started wait out their lease."""
        self.stopping = True
        pacer = getattr(self.sender, "pacer", None)
        if pacer is not None:
            pacer.stopping = True  # a delivery waiting on the platform's pace gives its message back
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped or cancelled: claim what is due into the lanes, then wait to be
        woken or for the next poll; once stopped, wait for the lanes' deliveries in hand."""
        try:
            while not self.stopping:
                try:
                    while await self.deliver_due() and not self.stopping:
                        pass
                    await self._renew()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database went away: keep the loop alive, try again shortly
                    log.exception("outbox delivery loop failed; retrying")
                try:  # not wait_for: on 3.11 it swallows a cancel that lands as the wait ends
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
            if self._workers:
                await asyncio.gather(*self._workers.values(), return_exceptions=True)
        finally:  # cancelled or stopped: what is still held waits out its lease, and run() may start afresh
            for worker in list(self._workers.values()):
                worker.cancel()
            self._workers.clear()
            self._lanes.clear()
            self._leased.clear()
            self._held = 0

    async def deliver_due(self) -> int:
        """Claim a batch of due messages into their lanes (none for a lane already full) and
        start the lanes' deliveries; returns how many were claimed."""
        limit = min(self.batch, HELD_LIMIT - self._held)
        if limit <= 0:
            return 0
        full = [audience for audience, lane in self._lanes.items() if len(lane) >= LANE_LIMIT]
        taken = time.monotonic()
        messages = await off_loop(self.outbox.claim, self.sender.platform, self.clock(), None, limit, full)
        for message in messages:
            self._leased[message.id] = taken
            self._lanes.setdefault(message.audience, collections.deque()).append(message)
            self._held += 1
            if message.audience not in self._workers:
                self._workers[message.audience] = asyncio.create_task(self._lane(message.audience))
        return len(messages)

    async def _lane(self, audience: str) -> None:
        """Deliver one audience's messages in order until its lane is empty."""
        lane = self._lanes[audience]
        try:
            while lane and not self.stopping:
                group = self._next(lane)
                half = time.monotonic() - self._lease_seconds() / 2
                fresh = [m for m in group if self._leased.get(m.id, 0.0) > half]  # the rest: maybe another's by now
                try:
                    if fresh:
                        await self._deliver(fresh)
                finally:
                    self._held -= len(group)
                    for m in group:
                        self._leased.pop(m.id, None)
                if len(lane) == LANE_LIMIT // 2:
                    self._wake.set()  # room again for this audience: claim more of it
        finally:
            self._workers.pop(audience, None)
            if not lane:
                self._lanes.pop(audience, None)
                if self._held < HELD_LIMIT // 2:
                    self._wake.set()

    def _lease_seconds(self) -> float:
        return self.outbox.lease.total_seconds() if isinstance(self.outbox.lease, timedelta) else 60.0

    async def _renew(self) -> None:
        """Every third of a lease, extend the lease of every message held in the lanes, so one
        waiting behind a channel's pace stays ours; any no longer ours is dropped from its lane."""
        now = time.monotonic()
        if not self._leased or now - self._renewed < self._lease_seconds() / 3:
            return
        self._renewed = now
        held = list(self._leased)
        kept = await off_loop(self.outbox.renew, held, self.clock())
        for message_id in held:
            if message_id in kept and message_id in self._leased:
                self._leased[message_id] = now
        lost = set(held) - kept
        for lane in self._lanes.values():
            for m in [m for m in lane if m.id in lost]:
                lane.remove(m)
                self._leased.pop(m.id, None)
                self._held -= 1

    def _next(self, lane: collections.deque[Message]) -> list[Message]:
        """The lane's next delivery: its first message, or with it every combinable one waiting
        when more wait than the destination's pace lets through now."""
        first = lane.popleft()
        kind = self.sender.combinable(first)
        if kind is None:
            return [first]
        waiting = [m for m in lane if self.sender.combinable(m) == kind]
        if not waiting or len(lane) < self.sender.room(first):
            return [first]
        group = [first] + self.sender.together(first, waiting)
        taken = {m.id for m in group}
        kept = [m for m in lane if m.id not in taken]
        lane.clear()
        lane.extend(kept)
        return group

    async def _deliver(self, group: list[Message]) -> None:
        from adapters.chat.pacing import DEADLINE  # the chat layer imports this module
        DEADLINE.set(min(self._leased.get(m.id, time.monotonic()) for m in group) + self._lease_seconds() / 2)
        first = group[0]
        what = f"outbox {first.id} ({first.kind} to {first.audience})" + (f" and {len(group) - 1} more" if len(group) > 1 else "")
        try:
            if len(group) == 1:
                await self.sender.deliver(first)
            else:
                await self.sender.deliver_many(group)
        except RetryLater as wait:
            log.info("%s waits %.1f s: %s", what, wait.delay, wait)
            await self._each(group, self.outbox.retry_later, self.clock(), str(wait),
                             timedelta(seconds=wait.delay), False)
        except Undeliverable as exc:
            log.error("%s cannot be delivered: %s", what, exc)
            await self._each(group, self.outbox.give_up, str(exc))
        except Exception as exc:
            log.warning("%s failed on attempt %s: %s", what, first.attempts, exc)
            await self._each(group, self.outbox.retry_later, self.clock(), f"{type(exc).__name__}: {exc}")
        else:
            await self._marks.all([m.id for m in group])

    async def _each(self, group: list[Message], mark: Callable, *args) -> None:
        """`mark(message id, *args)` for each message of a delivery, in one worker thread."""
        await off_loop(lambda: [mark(m.id, *args) for m in group])
