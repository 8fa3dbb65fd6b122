"""Keeping to a chat platform's pace: how fast one destination (a channel, a chat) may be posted
to, and the pauses the platform asked for (HTTP 429 with Retry-After) or an outage forces (5xx).

A pause holds only what it names: one method into one destination (a 429), or one method
everywhere (a 5xx, a 429 without a destination, or 429s from two destinations at once: then the
limit is the method's, and calling every destination into it would only be refused again);
everything else keeps flowing. A call that
is refused is paused and made again in place, so nothing it was part of is done twice; only when
the wait would outlast the delivery's lease does the message go back to the outbox, as a wait
(RetryLater), never as a failed attempt.
"""
from __future__ import annotations

import asyncio
import contextvars
import math
import time
from typing import Any, Awaitable, Callable, TypeVar

from adapters.dispatcher import RetryLater

T = TypeVar("T")

# Until when (time.monotonic()) the delivery in hand may wait in place; set by the dispatcher
DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("delivery_deadline", default=math.inf)
OUTAGE_PAUSE = (1.0, 30.0)  # seconds a method pauses after a 5xx: doubling from the first to the last


class Pace:
    """Per-destination pace as a token bucket (GCRA): `rate` posts a second, up to `burst` at once.

    Reservations are made in call order, so waiting posts into one destination go in turn."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._due: dict[str, float] = {}  # destination → its theoretical next free moment

    def available(self, key: str) -> int:
        """How many posts into `key` may go right now without waiting."""
        ahead = self._due.get(key, 0.0) - self.clock()
        return max(0, self.burst - max(0, math.ceil(ahead * self.rate - 1e-9)))

    def wait(self, key: str) -> float:
        """Seconds a post into `key` would wait if its turn were taken now (nothing is taken)."""
        now = self.clock()
        return max(0.0, max(self._due.get(key, 0.0), now) - now - (self.burst - 1) / self.rate)

    def reserve(self, key: str) -> float:
        """Take the next turn into `key`; returns the seconds to wait before posting (0: at once)."""
        now = self.clock()
        due = max(self._due.get(key, 0.0), now)
        self._due[key] = due + 1 / self.rate
        if len(self._due) > 10_000:  # destinations idle long enough hold no state worth keeping
            self._due = {k: v for k, v in self._due.items() if v > now}
        return max(0.0, due - now - (self.burst - 1) / self.rate)


def status_of(exc: Exception) -> int | None:
    """The HTTP status of a platform client's error (its `response`'s status_code or status)."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) or getattr(response, "status", None)


def retry_after(exc: Exception, default: float = 30.0) -> float:
    """Seconds a refusal's Retry-After header asks for (`default` when it has none or no number)."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return max(0.0, float(headers.get("Retry-After", headers.get("retry-after", default)) or default))
    except (TypeError, ValueError):
        return default


def http_verdict(exc: Exception) -> tuple[float, bool] | None:
    """A pacer verdict from an HTTP refusal: a 429 pauses the method where the call went (the
    destination it names; everywhere for a call naming none) for Retry-After seconds; a 5xx
    pauses the method everywhere (-1: the pacer's outage back-off). Anything else is no wait."""
    status = status_of(exc)
    if status == 429:
        return retry_after(exc), False
    if status is not None and status >= 500:
        return -1.0, True
    return None


def as_wait(exc: Exception, platform: str) -> RetryLater | None:
    """A 429 or 5xx the pacer gave up waiting on in place, as a wait for the outbox; else None."""
    status = status_of(exc)
    if status == 429:
        return RetryLater(retry_after(exc), f"{platform} rate limit")
    if status is not None and status >= 500:
        return RetryLater(5, f"{platform} answered {status}")
    return None


Verdict = Callable[[Exception], "tuple[float, bool] | None"]  # (seconds to pause, whole method?) or not a wait


class Pacer:
    """Calls to one platform, paced and paused: `call(method, where, send)` waits for the pace of
    `where` (when `post`), for any pause on the method there, makes the call with at most
    `concurrency` in flight, and after a refusal `verdict` names (a 429, a 5xx) pauses and calls
    again. Raises RetryLater (a wait, not a failed attempt) when the wait would outlast DEADLINE."""

    def __init__(self, pace: Pace, verdict: Verdict, concurrency: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pace = pace
        self.verdict = verdict
        self.clock = clock
        self.slots = asyncio.Semaphore(concurrency)
        self._paused: dict[tuple[str, str | None], float] = {}  # (method, destination or None) → until
        self._why: dict[str, str] = {}  # method → why it was last paused
        self._probes: dict[str, asyncio.Lock] = {}  # method → one call at a time, after a pause everywhere
        self._outages: dict[str, int] = {}  # method → 5xx answers in a row
        self.refusals = 0  # calls the platform refused for its pace or an outage, in this process
        self.stopping = False  # shutting down: no more waiting in place, messages go back to the outbox

    def paused_for(self, method: str, where: str | None = None) -> float:
        """Seconds left of the pause on `method` into `where` (or on the method everywhere)."""
        now = self.clock()
        until = max(self._paused.get((method, None), 0.0), self._paused.get((method, where), 0.0) if where else 0.0)
        return max(0.0, until - now)

    def pause(self, method: str, where: str | None, seconds: float) -> None:
        """Hold `method` into `where` (None: everywhere) for `seconds` from now."""
        key, now = (method, where), self.clock()
        if len(self._paused) > 1000:  # pauses run out: keep only those still holding
            self._paused = {k: until for k, until in self._paused.items() if until > now}
        self._paused[key] = max(self._paused.get(key, 0.0), now + seconds)

    async def call(self, method: str, where: str | None, send: Callable[[], Awaitable[T]], *, post: bool = False) -> T:
        """`send()` when `method` may go into `where`; see the class. Raises what `send` raises
        when `verdict` makes no wait of it, and RetryLater when waiting would outlast the lease.
        After a pause of the whole method, calls of it go one at a time until one succeeds, so
        the end of a pause is not met by every waiting destination at once."""
        while True:
            wait = self.paused_for(method, where)
            if wait > 0:
                await self._wait(wait, self._why.get(method, f"{method} paused"))
                continue
            if post and where:
                self._check(self.pace.wait(where), f"keeping to the pace of {where}")  # give back before taking a turn
                await self._wait(self.pace.reserve(where), f"keeping to the pace of {where}")
            probe = self._probes.get(method)
            if probe is None:
                done, result = await self._try(method, where, send)
            else:
                async with probe:
                    if self.paused_for(method, where) > 0:
                        continue
                    done, result = await self._try(method, where, send)
            if done:
                return result

    async def _try(self, method: str, where: str | None, send: Callable[[], Awaitable[T]]) -> tuple[bool, Any]:
        """One call: (True, its result), or (False, None) after a refusal that is a wait (then paused)."""
        async with self.slots:
            try:
                result = await send()
            except Exception as exc:
                verdict = self.verdict(exc)
                if verdict is None:
                    raise
                seconds, everywhere = verdict
                self.refusals += 1
                self._why[method] = f"{method}: rate limit, waiting as told (Retry-After {seconds:g} s)"
                if seconds < 0:  # an outage: the method pauses, longer each time in a row
                    count = self._outages[method] = self._outages.get(method, 0) + 1
                    seconds = min(OUTAGE_PAUSE[1], OUTAGE_PAUSE[0] * 2 ** (count - 1))
                    self._why[method] = f"{method}: the platform is failing ({type(exc).__name__}: {str(exc)[:200]})"
                if not everywhere and where is not None and self._others_paused(method, where):
                    everywhere = True  # refused in two places at once: the limit is the method's, not a channel's
                self.pause(method, None if everywhere else where, seconds)
                if everywhere:
                    self._probes.setdefault(method, asyncio.Lock())
                return False, None
        self._outages.pop(method, None)
        self._probes.pop(method, None)
        return True, result

    def _others_paused(self, method: str, where: str) -> bool:
        """Whether `method` is paused right now somewhere other than `where` (or everywhere)."""
        now = self.clock()
        return any(m == method and w != where and until > now for (m, w), until in self._paused.items())

    def _check(self, seconds: float, reason: str) -> None:
        """Raise RetryLater when waiting `seconds` here would outlast the delivery's DEADLINE."""
        if seconds > 0 and (self.stopping or self.clock() + seconds > DEADLINE.get()):
            raise RetryLater(seconds, reason)

    async def _wait(self, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        self._check(seconds, reason)
        await asyncio.sleep(seconds)
