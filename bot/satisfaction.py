"""Satisfaction: the requester's rating of the help, 1 (poor) to 5 (excellent), with an optional
comment; one per resolution (a reopen and a new resolution ask again), given or changed for
RATING_WINDOW after the resolution. Plain values and rules; storage keeps them, reports count them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model import Ticket

SCORES = (1, 2, 3, 4, 5)
GOOD = 4  # 4 and 5 count as satisfied
LOW = 2  # 1 and 2 are told to the ticket's group, in its thread
RATING_WINDOW = timedelta(days=7)
COMMENT_MAX = 1000  # characters
_SCORE = re.compile(r"^\s*(\S+)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Rating:
    """The rating of one resolution of a ticket: who resolved it (`assignee_*`), in which group,
    category and severity (as they were at the resolution), and, once given, the `score` (1–5),
    `comment`, when it was first given (`rated_at`) and last changed (`changed_at`), UTC."""

    ticket_id: int
    resolved_at: datetime
    requester_id: str
    assignee_id: str | None
    assignee_name: str | None
    group: str | None
    category: str
    severity: str
    score: int | None = None
    comment: str | None = None
    rated_at: datetime | None = None
    changed_at: datetime | None = None
    id: int | None = None

    @classmethod
    def asked(cls, ticket: Ticket) -> "Rating":
        """The rating a resolution asks for (not given yet), from the resolved ticket.
        Raises ValueError for a ticket that is not resolved."""
        if ticket.resolved_at is None:
            raise ValueError(f"{ticket.ref} is not resolved")
        return cls(ticket.id, ticket.resolved_at, ticket.requester.id, ticket.assignee_id, ticket.assignee_name,
                   ticket.group, ticket.category, ticket.severity.value)

    @property
    def open_until(self) -> datetime:
        """Until when (UTC) the rating may be given or changed."""
        return self.resolved_at + RATING_WINDOW


def read_score(text: str) -> tuple[int | None, str, str]:
    """A typed rating, "4" or "4 quick and friendly": (score or None when the first word is not
    a whole number from 1 to 5, the comment, the first word as typed)."""
    match = _SCORE.match(text or "")
    if not match:
        return None, "", ""
    word, comment = match.group(1), match.group(2).strip()
    number = word.removesuffix("/5")
    score = int(number) if number.isdigit() and int(number) in SCORES else None
    return score, comment, word
