"""The knowledge base's view of the tickets table: resolved tickets as entries, and a
change feed on `updated_at` so every process's index follows every other's writes."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy import Engine, and_, func, select

from bot.config import Settings
from bot.knowledge import Entry
from storage.database import reading
from storage.schema import tickets

DONE = ("resolved", "closed")
OVERLAP = timedelta(seconds=5)  # re-read this much before the last change seen: a slow commit is not missed
COLUMNS = (tickets.c.id, tickets.c.description, tickets.c.resolution, tickets.c.category, tickets.c.status,
           tickets.c.updated_at, tickets.c.parent_id)


def _entry_worthy(row) -> bool:
    """Resolved with a resolution, and not linked to a parent: an incident's resolution is offered
    once (its parent's), not once per ticket that was part of it."""
    return row.status in DONE and bool(row.resolution) and row.parent_id is None


class TicketKnowledge:
    def __init__(self, engine: Engine, settings: Settings, batch: int = 10_000) -> None:
        self.engine = engine
        self.settings = settings
        self.batch = batch

    def _entry(self, row) -> Entry:
        category = self.settings.categories.get(row.category)
        public = category.kb_public if category else False
        return Entry(row.id, row.description, row.resolution or "", row.category, public)

    def all_entries(self) -> Iterator[Entry]:
        """Every resolved ticket, streamed in id order in batches (a million fit in memory only as an index)."""
        last = 0
        while True:
            with reading(self.engine) as conn:
                rows = conn.execute(select(*COLUMNS).where(and_(
                    tickets.c.id > last, tickets.c.status.in_(DONE), tickets.c.resolution.is_not(None),
                    tickets.c.parent_id.is_(None)))
                    .order_by(tickets.c.id).limit(self.batch)).all()
            if not rows:
                return
            for row in rows:
                yield self._entry(row)
            last = rows[-1].id

    def newest_change(self) -> datetime | None:
        with reading(self.engine) as conn:
            return conn.execute(select(func.max(tickets.c.updated_at))).scalar()

    def changes_since(self, since: datetime | None) -> tuple[list[Entry], list[int], datetime | None]:
        query = select(*COLUMNS).order_by(tickets.c.updated_at)
        if since is not None:
            query = query.where(tickets.c.updated_at >= since - OVERLAP)
        with reading(self.engine) as conn:
            rows = conn.execute(query).all()
        upserts = [self._entry(r) for r in rows if _entry_worthy(r)]
        removals = [r.id for r in rows if not _entry_worthy(r)]
        return upserts, removals, (rows[-1].updated_at if rows else since)
