"""Who a chat user is, for every platform: the platform's profile (name, email, phone) made an
Actor, completed from the directory (phone, office, department, manager, their computers), and
remembered for a while so a busy channel costs one look-up per person, not one per message."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

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
        try:
            profile = await asyncio.wait_for(fetch(), timeout)
        except Exception as exc:  # the platform slow or down: carry on without its profile
            log.warning("%s: looking up %s failed (%s: %s); carrying on without their profile",
                        self.platform, key, type(exc).__name__, exc)
            found = fallback()
            return await found if asyncio.iscoroutine(found) else found
        actor = self.desk.actor(profile.identity, name=profile.name, email=profile.email, phone=profile.phone,
                                platform=self.platform)
        if self.enrich is not None:
            actor, devices = await asyncio.to_thread(self.enrich, actor)
            self._devices[actor.id] = devices
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        return actor
