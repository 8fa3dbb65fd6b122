"""Which platforms carry a notice: decided when it is written, one outbox row each,
so each chat platform delivers (and retries) independently.

The core names no platform: the settings list the chat platforms that are set up
(`Settings.chat_platforms()`), an identity names its platform as `<platform>:<id>`, and a
group names its channel on each platform. Identities of no chat platform (an email typed in
the terminal) are the terminal's, CONSOLE.

A group's notice goes to its channel on each chat platform; its members who read none of
those channels (a technician known only by an email, or on a platform where the group has no
channel) get a copy at the terminal, addressed to them, and so does a technician who asked
for terminal copies (`terminal = true`); nobody else gets it twice."""
from __future__ import annotations

from bot.config import Settings

CONSOLE = "console"


class Router:
    """Decides, for an audience (`user:<identity>`, `group:<name>`, `ticket:<id>`, `thread:<platform>`:
    the conversation a ticket was made from, its address in the notice's data), the platforms
    whose outbox rows carry a notice."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = list(settings.chat_platforms())

    def platform_of(self, identity: str) -> str:
        """The platform an identity belongs to: its `<platform>:` prefix when that platform is
        set up, else the terminal."""
        prefix, sep, _ = identity.partition(":")
        return prefix if sep and prefix in self.enabled else CONSOLE

    def platforms(self, audience: str) -> list[str]:
        """The platforms that carry a notice for `audience`. Raises ValueError for an unknown kind."""
        kind, _, who = audience.partition(":")
        if kind == "user":
            return [self._person(who)]
        if kind == "group":
            group = self.settings.groups.get(who)
            if group is None:
                return []
            return [p for p in self.enabled if group.channels.get(p)]
        if kind == "ticket":
            return list(self.enabled)
        if kind == "thread":  # the chat conversation a ticket was made from, on its own platform
            return [who] if who in self.enabled else []
        raise ValueError(f"unknown audience {audience!r}")

    def _person(self, identity: str) -> str:
        """A technician known on several platforms is reached where the bot is running."""
        tech = self.settings.technician_for({identity})
        ids = [identity, *(tech.ids if tech else [])]
        for platform in self.enabled:
            if any(self.platform_of(i) == platform for i in ids):
                return platform
        return self.platform_of(identity)

    def terminal_members(self, name: str) -> list[str]:
        """The members of group `name` who get its notices at the terminal: those with no identity
        on a chat platform that carries the group's notices, and technicians with `terminal = true`;
        each named once, by their first configured identity."""
        group = self.settings.groups.get(name)
        if group is None:
            return []
        carried = set(self.platforms(f"group:{name}"))
        found: dict[str, None] = {}
        for member in group.members:
            tech = self.settings.technician_for({member})
            ids = tech.ids if tech else [member]
            reached = any(self.platform_of(i) in carried for i in ids)
            if not reached or (tech is not None and tech.terminal):
                found.setdefault(ids[0], None)
        return list(found)
