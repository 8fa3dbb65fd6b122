"""Teams users as Actors: name and email from the Bot Connector's member look-up
(`TeamsInfo.get_member`), through the chat layer's cache; when the look-up fails, what the bot
learnt of them before (their conversation references)."""
from __future__ import annotations

import asyncio

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import ChannelAccount

from adapters.chat.people import Enrich, PeopleCache, Profile
from adapters.teams.text import identity_of
from bot.desk import Desk
from bot.model import Actor
from storage.conversations import ConversationRefs


# seconds a member look-up may hold the request: an invoke (a button, a message action) is
# answered within Teams' 5 s, a message within its 15 s, so it can wait longer before carrying
# on without a profile (and a technician's first message is not taken for a stranger's): its
# mentions are looked up together, then its sender, 8 s at most
INVOKE_BUDGET = 1.5
MESSAGE_BUDGET = 4.0


class TeamsPeople(PeopleCache):
    def __init__(self, desk: Desk, refs: ConversationRefs, enrich: Enrich | None = None, ttl: float = 600) -> None:
        super().__init__(desk, "teams", enrich, ttl)
        self.refs = refs
        self._linked: set[str] = set()  # identities whose email already leads to their Teams account

    async def get(self, turn: TurnContext, account: ChannelAccount | None = None, timeout: float | None = None,
                  strict: bool = False) -> Actor | None:
        """Who sent this activity, or `account` (someone they mentioned or picked); the look-up
        is given `timeout` seconds, by default the activity's budget (above).

        Asked of the conversation's roster first; when that fails (the Connector slow, or the
        person not in this conversation, as a people-picker choice in a 1:1 chat is not), what
        the bot learnt of them before. Failing both: the person as Teams named them (a mention
        carries the name Teams shows), or, with `strict` and no name given (a people-picker
        choice, a message's author: an id only), None — a person we cannot name must not become a
        ticket's requester."""
        account = account or turn.activity.from_property

        async def fetch() -> Profile:
            member = await TeamsInfo.get_member(turn, account.id or account.aad_object_id)
            email = member.email or member.user_principal_name
            identity = identity_of(ChannelAccount(id=member.id or account.id,
                                                  aad_object_id=member.aad_object_id or account.aad_object_id))
            return Profile(identity, member.name or account.name or identity, email.lower() if email else None)

        if timeout is None:
            timeout = INVOKE_BUDGET if turn.activity.type == "invoke" else MESSAGE_BUDGET
        actor = await self.actor(account.aad_object_id or account.id, fetch, timeout=timeout,
                                 fallback=lambda: self._known(account, strict))
        if actor is not None and actor.email and actor.email != actor.id and actor.id not in self._linked:
            await self._link(actor)
        return actor

    async def _link(self, actor: Actor) -> None:
        """Once their email is known the bot keeps it: they can then be reached by it (groups and
        technicians are often configured by email) and named when a look-up fails."""
        member = await asyncio.to_thread(self.refs.get, f"member:{actor.id}")
        refs = {f"person:{actor.id}": {"name": actor.name, "email": actor.email}}
        if member:
            refs[f"member:{actor.email}"] = member
        await asyncio.to_thread(self.refs.remember, refs)
        self._linked.add(actor.id)

    async def _known(self, account: ChannelAccount, strict: bool) -> Actor | None:
        identity = identity_of(account)
        if not account.aad_object_id and account.id:  # a mention names the Teams id only
            linked = await asyncio.to_thread(self.refs.get, f"account:{account.id}")
            identity = linked["identity"] if linked else identity
        person = await asyncio.to_thread(self.refs.get, f"person:{identity}")
        if person:
            return self.desk.actor(identity, name=person["name"], email=person.get("email"), platform="teams")
        if strict and not account.name:
            return None
        return self.desk.actor(identity, name=account.name or identity, platform="teams")
