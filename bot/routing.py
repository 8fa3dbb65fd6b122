"""Which platforms carry a notice: decided when it is written, one outbox row each,
so Slack and Teams deliver (and retry) independently."""
from __future__ import annotations

from bot.config import Settings

CHAT_PLATFORMS = ("slack", "teams")
CONSOLE = "console"


def platform_of(identity: str) -> str:
    prefix, sep, _ = identity.partition(":")
    return prefix if sep and prefix in CHAT_PLATFORMS else CONSOLE


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = [p for p in CHAT_PLATFORMS if getattr(settings, p).enabled]

    def platforms(self, audience: str) -> list[str]:
        kind, _, who = audience.partition(":")
        if kind == "user":
            return [self._person(who)]
        if kind == "group":
            group = self.settings.groups.get(who)
            if group is None:
                return []
            channels = {"slack": group.slack_channel, "teams": group.teams_channel}
            return [p for p in self.enabled if channels[p]]
        if kind == "ticket":
            return list(self.enabled)
        raise ValueError(f"unknown audience {audience!r}")

    def _person(self, identity: str) -> str:
        """A technician known on several platforms is reached where the bot is running."""
        tech = self.settings.technician_for({identity})
        ids = [identity, *(tech.ids if tech else [])]
        for platform in self.enabled:
            if any(platform_of(i) == platform for i in ids):
                return platform
        return platform_of(identity)
