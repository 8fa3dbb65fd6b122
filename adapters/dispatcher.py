"""Delivers the outbox: one loop per platform, claiming due messages under a lease.

At-least-once: a message is marked delivered only after its sender returns; senders
make a repeat harmless (they look for their own earlier post before posting again).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Callable, Protocol

from storage.outbox import Message, Outbox

log = logging.getLogger("helpdesk.outbox")


class RetryLater(Exception):
    """The platform asked us to wait (HTTP 429 Retry-After) or a prerequisite is not there yet."""

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


class Dispatcher:
    def __init__(self, outbox: Outbox, sender: Sender, clock: Callable[[], datetime], *, batch: int = 20,
                 poll_seconds: float = 1.0) -> None:
        self.outbox = outbox
        self.sender = sender
        self.clock = clock
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.stopping = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after a request queued messages)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, claim no more, and return from run(). Cancelling run()
        instead would abandon a delivery half done: the platform call carries on (Teams' runs in a
        thread) while its receipt and delivered mark are never written, so it is posted again
        after the restart. Messages claimed but not started wait out their lease."""
        self.stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped or cancelled: everything due, then wait to be woken or for the next poll."""
        while not self.stopping:
            try:
                while await self.deliver_due() and not self.stopping:
                    pass
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

    async def deliver_due(self) -> int:
        """Deliver one batch of due messages; returns how many were claimed."""
        platform = self.sender.platform
        messages = await asyncio.to_thread(self.outbox.claim, platform, self.clock(), None, self.batch)
        for message in messages:
            if self.stopping:
                break
            await self._deliver(message)
        return len(messages)

    async def _deliver(self, message: Message) -> None:
        try:
            await self.sender.deliver(message)
        except RetryLater as wait:
            log.info("outbox %s (%s) waits %.0f s: %s", message.id, message.kind, wait.delay, wait)
            await asyncio.to_thread(self.outbox.retry_later, message.id, self.clock(), str(wait), timedelta(seconds=wait.delay))
        except Undeliverable as exc:
            log.error("outbox %s (%s to %s) cannot be delivered: %s", message.id, message.kind, message.audience, exc)
            await asyncio.to_thread(self.outbox.give_up, message.id, str(exc))
        except Exception as exc:
            log.warning("outbox %s (%s to %s) failed on attempt %s: %s", message.id, message.kind, message.audience,
                        message.attempts, exc)
            await asyncio.to_thread(self.outbox.retry_later, message.id, self.clock(), f"{type(exc).__name__}: {exc}")
        else:
            await asyncio.to_thread(self.outbox.delivered, message.id, self.clock())
