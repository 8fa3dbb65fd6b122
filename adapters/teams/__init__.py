"""Microsoft Teams: the botbuilder adapter (activities in), Adaptive Cards (views out) and the
outbox sender. Every botbuilder import stays in this folder."""
from adapters.chat.platform import Platform
from adapters.teams.settings import TeamsSettings, channel_id

PLATFORM = Platform(
    name="teams", label="Teams", settings=TeamsSettings, mount="adapters.teams.server:mount", channel=channel_id,
    env={"MICROSOFT_APP_ID": "app_id", "MICROSOFT_APP_PASSWORD": "app_password", "MICROSOFT_APP_TYPE": "app_type",
         "MICROSOFT_APP_TENANT_ID": "tenant_id", "HELPDESK_TEAMS_NO_AUTH": "no_auth"},
    legacy_group_keys={"teams_channel": ("channels", "teams")},
    manifest="adapters.teams.package:command",
)
