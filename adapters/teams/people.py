"""Teams users as the core's Actors: name and email from the Bot Connector's member look-up
(`TeamsInfo.get_member`), completed from the directory, cached."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import ChannelAccount

from bot.desk import Desk
from bot.model import Actor

log = logging.getLogger("helpdesk.teams")


def identity_of(account: ChannelAccount) -> str:
    """`teams:<Azure AD object id>`: stable across teams, chats and bots (the 29:… id is per bot)."""
    return f"teams:{account.aad_object_id or account.id}"


class TeamsPeople:
    def __init__(self, desk: Desk, ttl_seconds: float = 600,
                 enrich: Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None = None) -> None:
        self.desk = desk
        self.enrich = enrich
        self.ttl = ttl_seconds
        self.devices: dict[str, tuple[str, ...]] = {}
        self._cache: dict[str, tuple[float, Actor]] = {}
        self.accounts: dict[str, str] = {}  # identity → the Teams (29:…) id, to mention or message them

    async def actor(self, turn: TurnContext, account: ChannelAccount | None = None, timeout: float = 1.5) -> Actor:
        """Who sent this activity (or `account`: someone they mentioned or picked); on a slow or
        failing look-up, the name Teams sent (not cached)."""
        account = account or turn.activity.from_property
        key = account.aad_object_id or account.id
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            member = await asyncio.wait_for(TeamsInfo.get_member(turn, account.id or account.aad_object_id), timeout)
        except Exception as exc:  # the Connector slow or refusing: the request still gets answered
            log.warning("Teams member look-up for %s failed (%s); continuing with the name Teams sent", key, exc)
            return self.desk.actor(identity_of(account), name=account.name or key, platform="teams")
        email = member.email or member.user_principal_name
        identity = identity_of(ChannelAccount(id=member.id or account.id, aad_object_id=member.aad_object_id or account.aad_object_id))
        actor = self.desk.actor(identity, name=member.name or account.name or identity,
                                email=email.lower() if email else None, platform="teams")
        if self.enrich is not None:  # the directory answers within its own time limit or not at all
            actor, self.devices[identity] = await asyncio.to_thread(self.enrich, actor)
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        self.accounts[identity] = member.id or account.id
        return actor
