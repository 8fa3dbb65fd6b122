"""The terminal adapter: a chat with the bot in a shell, driving the same grammar."""
