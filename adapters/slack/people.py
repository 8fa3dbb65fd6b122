"""Slack users as the core's Actors: name, email and phone from users.info, cached."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.desk import Desk
from bot.model import Actor

log = logging.getLogger("helpdesk.slack")


class SlackPeople:
    def __init__(self, client: AsyncWebClient, desk: Desk, ttl_seconds: float = 600,
                 enrich: Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None = None) -> None:
        self.client = client
        self.desk = desk
        self.enrich = enrich
        self.devices: dict[str, tuple[str, ...]] = {}  # the computers each user manages, from the directory
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Actor]] = {}

    async def actor(self, user_id: str, timeout: float = 2.0) -> Actor:
        """Who a Slack user is; on a slow or failing users.info, the bare id (not cached)."""
        hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            info = await asyncio.wait_for(self.client.users_info(user=user_id), timeout)
        except Exception as exc:  # Slack slow or down: the request still gets answered
            log.warning("users.info for %s failed (%s); continuing with the bare id", user_id, exc)
            return self.desk.actor(f"slack:{user_id}", name=user_id, platform="slack")
        user = info.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name") or user_id
        actor = self.desk.actor(f"slack:{user_id}", name=name, email=profile.get("email"), platform="slack",
                                phone=profile.get("phone") or None)
        if self.enrich is not None:  # the directory's details; it answers within its own time limit or not at all
            actor, self.devices[user_id] = await asyncio.to_thread(self.enrich, actor)
        self._cache[user_id] = (time.monotonic() + self.ttl, actor)
        return actor
