"""`[slack]`: the app's credentials (from the environment: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_APP_TOKEN for Socket Mode), the Web API's address and the slash command's name."""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str | None = None
    command: str = Field(default="/ticket", pattern=r"^/[a-z0-9_-]{1,31}$")

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
