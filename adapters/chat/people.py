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

    `enrich(actor)` adds what the directory knows (it answers within its own time limit, in a
    worker thread); `devices(actor)` then names the computers they manage, for the intake form."""

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
        self._asking = False

    async def _look_up(self, key: str, fetch: Callable[[], Awaitable[Profile]], timeout: float) -> Profile | None:
        """`fetch()` within `timeout`; None when it fails or is too slow (said in the log). A 429
        starts a rest of its Retry-After, then a minute of asking one at a time."""
        self._asking = True
        try:
            return await asyncio.wait_for(fetch(), timeout)
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
        finally:
            self._asking = False

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
        profile look-up, given `timeout` seconds). When the look-up fails or is too slow, the
        request is still served: `fallback()` (not cached) says who they are, or None."""
        hit = self.cached(key)
        if hit is not None:
            return hit
        now = time.monotonic()
        resting = now < self._resting_until or (now < self._careful_until and self._asking)
        profile = None if resting else await self._look_up(key, fetch, timeout)
        if profile is None:  # resting, or the platform slow, down or refusing: carry on without its profile
            found = fallback()
            return await found if asyncio.iscoroutine(found) else found
        actor = self.desk.actor(profile.identity, name=profile.name, email=profile.email, phone=profile.phone,
                                platform=self.platform)
        if self.enrich is not None:
            actor, devices = await asyncio.to_thread(self.enrich, actor)
            self._devices[actor.id] = devices
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        return actor
