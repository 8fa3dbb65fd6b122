"""A chat message as the chat layer sees it, and what it asks of its platform.

A ticket can start from any message (a Slack shortcut or emoji reaction, a Teams message
action); files arrive with messages. Each platform reads its payloads into `ChatMessage`
values and implements `MessageSource` (reading a message and its thread, naming its author,
fetching a file with the bot's own credentials); the chat layer decides the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol

from adapters.chat.attachments import SharedFile
from bot.model import Actor


@dataclass(frozen=True)
class ChatMessage:
    """A message on a platform: where it is (`channel`, its `message_id`, the `thread_id` of
    the thread it is a reply in, None for a message at the top), `author` (the platform's user
    id; None for an app's message), its text as typed (decoded), its files, `link` back to it,
    and `extra`: what else its platform needs to find it again (small, plain values)."""

    platform: str
    channel: str
    message_id: str
    author: str | None = None
    text: str = ""
    files: tuple[SharedFile, ...] = ()
    thread_id: str | None = None
    link: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The message's name across replicas: what makes two reactions to it one ticket."""
        return f"{self.platform}:message:{self.channel}:{self.message_id}"[:255]

    @property
    def reply_to(self) -> dict[str, str]:
        """Where to answer about it: its thread (its own, when it starts one)."""
        return {"platform": self.platform, "channel": self.channel, "thread": self.thread_id or self.message_id,
                **self.extra}

    def as_data(self) -> dict[str, Any]:
        """The message as a shown form carries it (no text or files: they are read again)."""
        return {"platform": self.platform, "channel": self.channel, "message_id": self.message_id,
                "author": self.author, "thread_id": self.thread_id, "link": self.link, **dict(self.extra)}

    @classmethod
    def read(cls, data: Any) -> "ChatMessage | None":
        """A message from what a form carried (`as_data`); None when it cannot be read."""
        if not isinstance(data, Mapping):
            return None
        fields = {k: data.get(k) for k in ("platform", "channel", "message_id")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            return None
        known = {"platform", "channel", "message_id", "author", "thread_id", "link"}
        extra = {k: str(v) for k, v in data.items() if k not in known and isinstance(v, (str, int))}
        return cls(**fields, author=_text(data.get("author")), thread_id=_text(data.get("thread_id")),
                   link=_text(data.get("link")), extra=extra)

    def with_files(self, files: tuple[SharedFile, ...]) -> "ChatMessage":
        """The same message with these files."""
        return replace(self, files=files)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class MessageSource(Protocol):
    """What the chat layer asks of a platform about its messages (each call bounded in time by
    the platform; none raises for a message it cannot read)."""

    platform: str

    async def message(self, ref: ChatMessage) -> ChatMessage | None:
        """The message `ref` names as it is now (text, files, author, link); None if it cannot be read."""
        ...

    async def thread(self, message: ChatMessage) -> list[ChatMessage]:
        """The other messages of its thread, oldest first ([] when none, or unreadable)."""
        ...

    async def person(self, user: str) -> Actor | None:
        """Who a platform user is (None: not a person the help desk can name)."""
        ...

    async def fetch(self, file: SharedFile, limit: int) -> bytes:
        """The file's bytes, fetched with the bot's own credentials. Raises FetchFailed (why, in
        words), TooLarge past `limit` bytes."""
        ...
