"""`[teams]`: the Azure bot's app id and password (from the environment: MICROSOFT_APP_ID,
MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TYPE, MICROSOFT_APP_TENANT_ID), where to post before the
bot has heard from a channel, and the emulator switch."""
from __future__ import annotations

import re
from typing import Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class TeamsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str | None = None
    app_password: SecretStr | None = None
    app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = "MultiTenant"
    tenant_id: str | None = None
    service_url: str | None = None  # e.g. https://smba.trafficmanager.net/teams/ : post before hearing from a channel
    # Bot Framework auth is enforced whenever app_id is set; only without one, and only when this
    # is set (HELPDESK_TEAMS_NO_AUTH=1, as for the Bot Framework Emulator), does the bot accept
    # unauthenticated requests, warning at start-up and on every request.
    no_auth: bool = False
    # Where the Bot Connector's signing keys are published (sovereign clouds, test doubles).
    openid_metadata_url: str | None = None

    @property
    def enabled(self) -> bool:
        """Teams is served with an app id, or (for the Emulator) with authentication switched off."""
        return bool(self.app_id) or self.no_auth

    @property
    def auth_disabled(self) -> bool:
        """Emulator mode: no app id, and HELPDESK_TEAMS_NO_AUTH set."""
        return not self.app_id and self.no_auth

    @model_validator(mode="after")
    def _complete(self) -> "TeamsSettings":
        if self.app_id and self.app_type != "UserAssignedMSI" and not self.app_password:
            raise ValueError("app_id is set but app_password (MICROSOFT_APP_PASSWORD) is not")
        if self.app_type != "MultiTenant" and self.app_id and not self.tenant_id:
            raise ValueError(f"app_type {self.app_type} needs tenant_id (MICROSOFT_APP_TENANT_ID)")
        return self


def channel_id(channel: str) -> str:
    """A group's Teams channel id. Teams' "Get link to channel" gives it URL-encoded
    (19%3a…%40thread.tacv2): both are accepted. Raises ValueError for anything else."""
    channel = unquote(channel.strip())
    if not re.fullmatch(r"19:[^\s;/]+@thread\.(tacv2|skype)", channel):
        raise ValueError(f"{channel[:80]!r} is not a Teams channel id like 19:…@thread.tacv2 "
                         "(from the channel's link: the part after /channel/)")
    return channel
