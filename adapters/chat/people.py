"""Who a chat user is, for every platform: the platform's profile (name, email, phone) made an
Actor, completed from the directory (phone, office, department, manager, their computers), and
remembered for a while so a busy channel costs one look-up per person, not one per message."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from adapters.chat.pacing import retry_after, status_of
from bot.desk import Desk
from bot.model import Actor

log = logging.getLogger("helpdesk.chat")

LOOK_UP_LIMIT = 10.0  # seconds a profile look-up (and the directory after it) may take, whoever waits for it
UNPROFILED_MAX = 50_000  # people remembered for a later look-up (beyond it, they stay as served)
BACKFILL_TRIES = 3  # look-ups made for one of them (a refusal for the rate limit is not counted)
BACKFILL_GRACE = 10.0  # seconds after being served without a profile before one is looked up again: their
#                        ticket is written by then (a form's, by the intake queue), so it is there to complete

Enrich = Callable[[Actor], tuple[Actor, tuple[str, ...]]]


@dataclass(frozen=True)
class Profile:
    """What a platform says of one of its users: their identity (`<platform>:<id>`), the name to
    show, and the email and phone their profile holds, when it does."""

    identity: str
    name: str
    email: str | None = None
    phone: str | None = None


class PeopleCache:
    """Actors by a platform's user key, for `ttl` seconds (600 by default).

    `later`: whether a look-up can be made again after its request (Slack's users.info can; a
    Teams member look-up needs the turn it came with), so `backfill` can complete who was served
    without a profile.

    `enrich(actor)` adds what the directory knows (it answers within its own time limit, in a
    worker thread); `devices(actor)` then names the computers they manage, for the intake form."""

    later = False

    def __init__(self, desk: Desk, platform: str, enrich: Enrich | None = None, ttl: float = 600) -> None:
        self.desk = desk
        self.platform = platform
        self.enrich = enrich
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Actor]] = {}
        self._devices: dict[str, tuple[str, ...]] = {}
        # the platform refused a look-up with 429: none is made until its Retry-After ran out (in
        # a surge of different people Slack's users.info budget, Tier 4, runs out in seconds), and
        # for a minute after (the platform's window) one at a time: the others are served without
        self._resting_until = 0.0
        self._careful_until = 0.0
        # look-ups under way, by key: a second request from the same person waits for the first
        # one's answer rather than asking again, and one that outlives its request is still kept
        self._pending: dict[str, asyncio.Task[Actor | None]] = {}
        # people served without their profile (resting, or the look-up failed or was slow), oldest
        # first, with how to look them up: `backfill` asks again later, when the platform allows
        self._unprofiled: dict[str, tuple[float, Callable[[], Awaitable[Profile]]]] = {}  # key → (since, fetch)

    async def _ask(self, key: str, fetch: Callable[[], Awaitable[Profile]]) -> Actor | None:
        """The person behind `key`: `fetch()`, then the directory, cached; within LOOK_UP_LIMIT
        seconds. None when it fails (said in the log). A 429 starts a rest of its Retry-After,
        then a minute of asking one at a time."""
        async def both() -> Actor:
            return await self._learn(key, await fetch())
        try:
            return await asyncio.wait_for(both(), LOOK_UP_LIMIT)
        except Exception as exc:
            if status_of(exc) == 429:
                self._resting_until = time.monotonic() + retry_after(exc)
                self._careful_until = self._resting_until + 60
                log.warning("%s: looking up %s was refused for the rate limit; no look-ups for %.0f s, people are "
                            "served without their profiles meanwhile", self.platform, key, retry_after(exc))
            else:
                log.warning("%s: looking up %s failed (%s: %s); carrying on without their profile",
                            self.platform, key, type(exc).__name__, exc)
            return None

    def _start(self, key: str, fetch: Callable[[], Awaitable[Profile]]) -> asyncio.Task[Actor | None] | None:
        """The look-up under way for `key`, started now if none is and the platform is not resting
        (None when it is). It runs to its end whoever stops waiting for it, and caches what it finds."""
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        now = time.monotonic()
        if now < self._resting_until or (now < self._careful_until and self._pending):
            return None
        pending = self._pending[key] = asyncio.ensure_future(self._ask(key, fetch))

        def ended(done: asyncio.Task[Actor | None]) -> None:
            if self._pending.get(key) is done:
                del self._pending[key]
        pending.add_done_callback(ended)
        return pending

    async def _learn(self, key: str, profile: Profile) -> Actor:
        """The actor for `profile`, completed from the directory and cached under `key`."""
        actor = self.desk.actor(profile.identity, name=profile.name, email=profile.email, phone=profile.phone,
                                platform=self.platform)
        if self.enrich is not None:
            actor, devices = await asyncio.to_thread(self.enrich, actor)
            self._devices[actor.id] = devices
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        return actor

    def cached(self, key: str) -> Actor | None:
        """The actor remembered for this key, if still fresh."""
        hit = self._cache.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def devices(self, actor: Actor) -> tuple[str, ...]:
        """The computers the directory says `actor` manages (empty when unknown)."""
        return self._devices.get(actor.id, ())

    async def actor(self, key: str, fetch: Callable[[], Awaitable[Profile]], *, timeout: float = 2.0,
                    fallback: Callable[[], Actor | None] | Callable[[], Awaitable[Actor | None]] = lambda: None
                    ) -> Actor | None:
        """The actor for a platform user: from the cache, else from `fetch()` (the platform's
        profile look-up, given `timeout` seconds; one already under way for `key` is waited for,
        not repeated). When the look-up fails or is too slow, the request is still served:
        `fallback()` (not cached) says who they are, or None; a slow look-up's answer is cached
        when it lands, so their next request has it."""
        hit = self.cached(key)
        if hit is not None:
            return hit
        pending, actor = self._start(key, fetch), None
        if pending is not None:
            try:
                actor = await asyncio.wait_for(asyncio.shield(pending), timeout)
            except TimeoutError:
                log.warning("%s: looking up %s took over %.1f s; served without their profile, which is kept "
                            "when it comes", self.platform, key, timeout)
        if actor is not None:
            return actor
        # resting, or the platform slow, down or refusing: carry on without its profile
        if self.later and len(self._unprofiled) < UNPROFILED_MAX:
            self._unprofiled.setdefault(key, (time.monotonic(), fetch))
        found = fallback()
        return await found if asyncio.iscoroutine(found) else found

    async def close(self) -> None:
        """Stop the look-ups under way (at shutdown, before the platform's client closes)."""
        for pending in list(self._pending.values()):
            pending.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def backfill(self, complete: Callable[[Actor], Awaitable[object]], pace: float = 1.0) -> None:
        """Forever: every `pace` seconds, one person served without their profile at least
        BACKFILL_GRACE seconds ago, oldest first, is looked up again, and `complete(actor)` fills
        in what their requests lacked (the desk's `complete_requester`). None is asked while the
        platform rests after a 429, nor, in the minute after, while a request's look-up is under
        way (requests come first); one that fails keeps a place at the back, BACKFILL_TRIES
        times. One a request looked up since is completed without asking. At one a second,
        Slack's users.info (Tier 4, 100+ a minute) keeps room for requests. Survives any error
        (logged) but cancellation."""
        tries: dict[str, int] = {}
        while True:
            await asyncio.sleep(pace)
            try:
                await self._backfill_one(complete, tries)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: completing someone served without their profile failed", self.platform)

    async def _backfill_one(self, complete: Callable[[Actor], Awaitable[object]], tries: dict[str, int]) -> None:
        if not self._unprofiled:
            return
        key, (since, fetch) = next(iter(self._unprofiled.items()))
        if time.monotonic() - since < BACKFILL_GRACE:
            return
        actor = self.cached(key)
        if actor is None:
            pending = self._start(key, fetch)
            if pending is None:  # resting: its turn comes when the platform allows
                return
            actor = await asyncio.shield(pending)
            if actor is None:
                del self._unprofiled[key]
                tries[key] = tries.get(key, 0) + (0 if time.monotonic() < self._resting_until else 1)
                if tries[key] < BACKFILL_TRIES:
                    self._unprofiled[key] = (since, fetch)
                else:
                    del tries[key]
                return
        del self._unprofiled[key]
        tries.pop(key, None)
        await complete(actor)
