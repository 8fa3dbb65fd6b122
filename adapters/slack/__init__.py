"""Slack: the Bolt app (requests in), Block Kit (views out) and the outbox sender."""
from adapters.chat.platform import Platform
from adapters.slack.settings import SlackSettings, channel_id

PLATFORM = Platform(
    name="slack", label="Slack", settings=SlackSettings, mount="adapters.slack.server:mount", channel=channel_id,
    env={"SLACK_BOT_TOKEN": "bot_token", "SLACK_SIGNING_SECRET": "signing_secret", "SLACK_APP_TOKEN": "app_token",
         "SLACK_API_URL": "api_url"},
    legacy_group_keys={"slack_channel": ("channels", "slack"), "mention": ("mentions", "slack")},
    manifest="adapters.slack.manifest:manifest",
)
