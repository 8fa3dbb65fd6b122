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
from storage.conversations import ConversationRefs

log = logging.getLogger("helpdesk.teams")


def identity_of(account: ChannelAccount) -> str:
    """`teams:<Azure AD object id>`: stable across teams, chats and bots (the 29:… id is per bot)."""
    return f"teams:{account.aad_object_id or account.id}"


class TeamsPeople:
    def __init__(self, desk: Desk, refs: ConversationRefs, ttl_seconds: float = 600,
                 enrich: Callable[[Actor], tuple[Actor, tuple[str, ...]]] | None = None) -> None:
        self.desk = desk
        self.refs = refs
        self.enrich = enrich
        self.ttl = ttl_seconds
        self.devices: dict[str, tuple[str, ...]] = {}
        self._cache: dict[str, tuple[float, Actor]] = {}

    async def actor(self, turn: TurnContext, account: ChannelAccount | None = None, timeout: float = 1.5,
                    strict: bool = False) -> Actor | None:
        """Who sent this activity, or `account` (someone they mentioned or picked).

        Asked of the conversation's roster first; when that fails (the Connector slow, or the
        person not in this conversation, as a people-picker choice in a 1:1 chat is not), what
        the bot learnt of them before. Failing both: the sender as Teams named them, or, with
        `strict`, None (a person we cannot name must not become a ticket's requester)."""
        account = account or turn.activity.from_property
        key = account.aad_object_id or account.id
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            member = await asyncio.wait_for(TeamsInfo.get_member(turn, account.id or account.aad_object_id), timeout)
        except Exception as exc:
            log.info("Teams member look-up for %s failed (%s); trying what the bot knows of them", key, exc)
            return await self._known(account, strict)
        email = member.email or member.user_principal_name
        identity = identity_of(ChannelAccount(id=member.id or account.id, aad_object_id=member.aad_object_id or account.aad_object_id))
        actor = self.desk.actor(identity, name=member.name or account.name or identity,
                                email=email.lower() if email else None, platform="teams")
        if self.enrich is not None:  # the directory answers within its own time limit or not at all
            actor, self.devices[identity] = await asyncio.to_thread(self.enrich, actor)
        self._cache[key] = (time.monotonic() + self.ttl, actor)
        return actor

    async def _known(self, account: ChannelAccount, strict: bool) -> Actor | None:
        identity = identity_of(account)
        if not account.aad_object_id and account.id:  # a mention names the Teams id only
            linked = await asyncio.to_thread(self.refs.get, f"account:{account.id}")
            identity = linked["identity"] if linked else identity
        person = await asyncio.to_thread(self.refs.get, f"person:{identity}")
        if person:
            return self.desk.actor(identity, name=person["name"], email=person.get("email"), platform="teams")
        if strict:
            return None
        return self.desk.actor(identity, name=account.name or identity, platform="teams")
