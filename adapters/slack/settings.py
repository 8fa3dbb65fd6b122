"""`[slack]`: the app's credentials (from the environment: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_APP_TOKEN for Socket Mode), the Web API's address, the slash command's name, and the emoji
that turns a message into a ticket (and where)."""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str | None = None
    command: str = Field(default="/ticket", pattern=r"^/[a-z0-9_-]{1,31}$")
    # The emoji that turns a message into a ticket for its author (its name, with or without
    # colons), and the channels where it does (ids; empty: every channel the bot is in).
    reaction: str = Field(default="ticket", pattern=r"^:?[a-z0-9_+'-]{1,100}:?$")
    reaction_channels: list[str] = Field(default_factory=list)

    @field_validator("reaction")
    @classmethod
    def _bare(cls, name: str) -> str:
        return name.strip(":")

    @field_validator("reaction_channels")
    @classmethod
    def _channels(cls, channels: list[str]) -> list[str]:
        return [channel_id(c) for c in channels]

    @property
    def enabled(self) -> bool:
        """Slack is served when the bot token and the signing secret are both set."""
        return bool(self.bot_token and self.signing_secret)


def channel_id(channel: str) -> str:
    """A group's Slack channel: its id (C…, G… for older private channels), from the channel's
    details. Raises ValueError for a name such as #service-desk, which Slack does not accept."""
    channel = channel.strip()
    if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel):
        raise ValueError(f"{channel[:80]!r} is not a Slack channel id like C0123ABCD "
                         "(the channel's details show it, at the bottom)")
    return channel
