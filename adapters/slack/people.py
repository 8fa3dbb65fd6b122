"""Slack users as Actors: name, email and phone from users.info, through the chat layer's cache."""
from __future__ import annotations

import re
from typing import Mapping

from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat.intake import Someone
from adapters.chat.people import Enrich, PeopleCache, Profile
from bot.desk import Desk
from bot.model import Actor

MENTION = re.compile(r"<@slack:([A-Z0-9]+)>")


class SlackPeople(PeopleCache):
    later = True  # users.info can be asked again after the request: `backfill` completes them
    def __init__(self, client: AsyncWebClient, desk: Desk, enrich: Enrich | None = None, ttl: float = 600) -> None:
        super().__init__(desk, "slack", enrich, ttl)
        self.client = client

    async def get(self, user_id: str, timeout: float = 2.0, known_as: str | None = None) -> Actor:
        """Who a Slack user is; on a slow or failing users.info (refused past its Tier 4 budget in
        a surge of different people), the bare id, named `known_as` (the username a payload gave)
        when known (not cached)."""
        async def fetch() -> Profile:
            info = await self.client.users_info(user=user_id)
            user = info.get("user") or {}
            profile = user.get("profile") or {}
            name = (profile.get("real_name") or user.get("real_name") or profile.get("display_name")
                    or user.get("name") or user_id)
            return Profile(f"slack:{user_id}", name, profile.get("email"), profile.get("phone") or None)

        return await self.actor(user_id, fetch, timeout=timeout, fallback=lambda: self.desk.actor(
            f"slack:{user_id}", name=known_as or user_id, platform="slack"))

    def someone(self, user: Mapping[str, str]) -> Someone:
        """A payload's user (`{"id", "name" or "username", …}`) to look up after the answer, named by
        the payload should users.info be refused."""
        user_id, known_as = user["id"], user.get("name") or user.get("username")
        return Someone(f"slack:{user_id}", lambda: self.get(user_id, known_as=known_as))

    async def mentioned(self, text: str) -> Mapping[str, Actor]:
        """The people @mentioned in decoded text (`<@slack:U…>`), looked up, by identity."""
        return {f"slack:{uid}": await self.get(uid) for uid in dict.fromkeys(MENTION.findall(text or ""))}
