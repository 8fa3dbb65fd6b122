"""What this process posted to Slack for the outbox messages it delivers, so that a retry it makes
itself needs no look-up on Slack.

A message is at most once on Slack because a retry looks for an earlier attempt's post in the
channel (conversations.history, or conversations.replies in a thread, and conversations.open first
for a direct message): Tier 3 methods, about 50 calls a minute each for the whole app. In a surge
most retries are this process's own: a post that waited on a 429 or on the channel's pace past
its lease went back to the outbox and was claimed here again, and this process knows what every
one of its attempts posted. So only a message an attempt elsewhere touched (another replica, an
earlier run of this one) or a post whose answer never came (it may be on Slack) is looked up.
With every retry looking, two replicas delivering eight tickets' pages made 141 history calls and
ran out of the budget (tests/test_replicas.py); a 429 storm made one look-up per waiting message.

A post is taken as not made only when Slack said so (a 429, an error such as invalid_blocks) or it
was never sent; after a 5xx, a timeout or an error Slack documents as possibly done in part
(internal_error…) it stays unsure, and a retry looks.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

Key = tuple[str, "str | None"]  # (the channel argument of the post: a channel id, or a user's id for their DM; thread ts)
Posted = tuple[str, str]  # (the channel Slack posted in, ts)
UNKNOWN = "unknown"  # not known here: look on Slack
NOTHING = ""  # known: no post of it there
_UNSURE = None  # a post was sent and no answer came (or an answer saying it may have been done)
Known = Union[Posted, str]  # a post, NOTHING or UNKNOWN
CHAIN_WITHIN = 600.0  # seconds between two attempts here for the second to rely on the first (a dead letter
# sent again restarts the outbox's count: an old entry must not vouch for attempts made elsewhere since)


@dataclass(frozen=True)
class _Post:
    channel: str
    ts: str
    delivers: frozenset[int]  # the outbox ids the post carries (one, or a combined post's)


@dataclass
class _Entry:
    through: int  # the attempt number of the last attempt made here
    at: float  # time.monotonic() of that attempt
    complete: bool  # every attempt so far was made here
    posts: dict[Key, _Post | str | None] = field(default_factory=dict)  # key → a post, NOTHING, or _UNSURE


class PostLedger:
    """Per outbox id, the posts this process's attempts made, while every attempt is made here.
    Forgets the oldest beyond `kept` (forgotten: looked up on Slack, as before)."""

    def __init__(self, kept: int = 20_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.kept, self.clock = kept, clock
        self._entries: OrderedDict[int, _Entry] = OrderedDict()

    def attempt(self, message_id: int, attempts: int) -> None:
        """An attempt at delivering the message starts here (`attempts`: the outbox's count, this
        one included). An attempt elsewhere since the last one here (a gap in the count, or over
        CHAIN_WITHIN seconds) makes what was not posted here unsure."""
        entry, now = self._entries.pop(message_id, None), self.clock()
        if attempts <= 1:
            entry = _Entry(1, now, True)
        elif entry is not None and entry.through == attempts - 1 and now - entry.at < CHAIN_WITHIN:
            entry.through, entry.at = attempts, now
        else:  # attempts elsewhere in between: only what was posted here stays known
            kept = {k: known for k, known in entry.posts.items() if known} if entry is not None else {}
            entry = _Entry(attempts, now, False, kept)
        self._entries[message_id] = entry
        while len(self._entries) > self.kept:
            self._entries.popitem(last=False)

    def _known(self, message_id: int, key: Key) -> _Post | str | None:
        entry = self._entries.get(message_id)
        if entry is None:
            return _UNSURE
        return entry.posts.get(key, NOTHING if entry.complete else _UNSURE)

    def earlier(self, message_ids: Iterable[int], key: Key) -> Known:
        """The post at `key` that delivers exactly `message_ids` (one, or a combined post's), as a
        look-up by its metadata finds it; NOTHING when none can be there (then post: a post that
        delivered them with others, or some of them, counts as none, as for the look-up),
        UNKNOWN when it must be looked for."""
        ids = frozenset(message_ids)
        found = set()
        for message_id in ids:
            known = self._known(message_id, key)
            if known is _UNSURE:
                return UNKNOWN
            found.add(known)
        post = found.pop() if len(found) == 1 else None
        return (post.channel, post.ts) if isinstance(post, _Post) and post.delivers == ids else NOTHING

    def record(self, message_ids: Iterable[int], key: Key, known: Posted | str | None,
               delivers: Iterable[int] | None = None) -> None:
        """What is known now at `key` for these messages: the post (which delivers `delivers`, by
        default exactly these messages), NOTHING (Slack said no, or a look-up found none), or None
        while a post is on its way or may have been made (unsure: a retry looks)."""
        ids = list(message_ids)
        value = _Post(known[0], known[1], frozenset(ids if delivers is None else delivers)) \
            if isinstance(known, tuple) else known
        for message_id in ids:
            entry = self._entries.get(message_id)
            if entry is not None:
                entry.posts[key] = value

    def shown(self, message_ids: Iterable[int], key: Key) -> set[int] | None:
        """Which of the messages a post here shows at `key` (alone or with others), or None when
        any of them must be looked up."""
        shown = set()
        for message_id in message_ids:
            known = self._known(message_id, key)
            if known is _UNSURE:
                return None
            if isinstance(known, _Post):
                shown.add(message_id)
        return shown

    def posted(self, message_id: int, key: Key) -> Posted | None:
        """The post this process knows shows the message at `key` (alone or with others), if any."""
        known = self._known(message_id, key)
        return (known.channel, known.ts) if isinstance(known, _Post) else None
