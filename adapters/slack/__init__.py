"""Slack: the Bolt app (requests in) and the outbox sender (messages out)."""
