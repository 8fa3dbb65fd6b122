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

A 5xx is taken as "not posted", as the pacer already does when it calls again in place after one.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Union

Key = tuple[str, "str | None"]  # (the channel argument of the post: a channel id, or a user's id for their DM; thread ts)
Posted = tuple[str, str]  # (the channel Slack posted in, ts)
UNKNOWN = "unknown"  # not known here: look on Slack
NOTHING = ""  # known: no post of it there
_UNSURE = None  # a post was sent and no answer came
Known = Union[Posted, str]  # a post, NOTHING or UNKNOWN


@dataclass
class _Entry:
    through: int  # the attempt number of the last attempt made here
    complete: bool  # every attempt so far was made here
    posts: dict[Key, Posted | str | None] = field(default_factory=dict)  # key → a post, NOTHING, or _UNSURE


class PostLedger:
    """Per outbox id, the posts this process's attempts made, while every attempt is made here.
    Forgets the oldest beyond `kept` (forgotten: looked up on Slack, as before)."""

    def __init__(self, kept: int = 20_000) -> None:
        self.kept = kept
        self._entries: OrderedDict[int, _Entry] = OrderedDict()

    def attempt(self, message_id: int, attempts: int) -> None:
        """An attempt at delivering the message starts here (`attempts`: the outbox's count, this
        one included). An attempt elsewhere since the last one here makes what was known unsure."""
        entry = self._entries.pop(message_id, None)
        if attempts <= 1:
            entry = _Entry(1, True)
        elif entry is not None and entry.through == attempts - 1:
            entry.through = attempts
        else:  # attempts elsewhere in between: only what was posted here stays known
            kept = {k: known for k, known in entry.posts.items() if known} if entry is not None else {}
            entry = _Entry(attempts, False, kept)
        self._entries[message_id] = entry
        while len(self._entries) > self.kept:
            self._entries.popitem(last=False)

    def earlier(self, message_ids: Iterable[int], key: Key) -> Known:
        """The post that delivers all of `message_ids` at `key` (one post or a combined one),
        NOTHING when none can be there (then post), UNKNOWN when it must be looked for."""
        found = set()
        for message_id in message_ids:
            entry = self._entries.get(message_id)
            if entry is None:
                return UNKNOWN
            known = entry.posts.get(key, NOTHING if entry.complete else _UNSURE)
            if known is _UNSURE:
                return UNKNOWN
            found.add(known)
        if len(found) == 1:
            return found.pop()
        return NOTHING  # posted before with others (a different combination): posted anew, as after a look-up

    def record(self, message_ids: Iterable[int], key: Key, known: Posted | str | None) -> None:
        """What is known now at `key` for these messages: the post, NOTHING (refused, or not found
        by a look-up), or None while a post is on its way (unsure until it answers)."""
        for message_id in message_ids:
            entry = self._entries.get(message_id)
            if entry is not None:
                entry.posts[key] = known

    def shown(self, message_ids: Iterable[int], key: Key) -> set[int] | None:
        """Which of the messages a post of theirs here shows at `key` (alone or combined), or None
        when any of them must be looked up."""
        shown = set()
        for message_id in message_ids:
            known = self.earlier([message_id], key)
            if known == UNKNOWN:
                return None
            if known:
                shown.add(message_id)
        return shown
