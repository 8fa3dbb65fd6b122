"""The knowledge base's view of the database: resolved tickets and imported history as
entries, and a change feed (`tickets.updated_at`, `history.imported_at`) so every process's
index follows every other's writes.

Entry keys: a ticket's id, or `-history.id` for imported history (never colliding).
A feed cursor is `{"tickets": ISO time | None, "history": ISO time | None}`: JSON, so an
index written to disk can say where the feed stood when its entries were read."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import Engine, and_, func, select

from bot.config import Settings
from bot.knowledge import Entry, EntryRules, Past
from storage.database import reading
from storage.schema import history, tickets

DONE = ("resolved", "closed")
OVERLAP = timedelta(seconds=5)  # re-read this much before the last change seen: a slow commit is not missed
COLUMNS = (tickets.c.id, tickets.c.description, tickets.c.resolution, tickets.c.category, tickets.c.status,
           tickets.c.created_at, tickets.c.updated_at)
HISTORY = (history.c.id, history.c.description, history.c.resolution, history.c.category, history.c.created_at,
           history.c.imported_at)


def history_ref(source: str, source_id: str) -> str:
    """How an imported ticket is shown: its own id when that names it (`HADOOP-1234`,
    `INC0012345`), else prefixed by its source (`hadoop_bugs:13404344`)."""
    return source_id if any(ch.isalpha() for ch in source_id) else f"{source}:{source_id}"


def past_resolution(conn, key: int) -> Past | None:
    """The ticket or history row behind an entry key, if it still holds a resolution."""
    if key > 0:
        row = conn.execute(select(tickets.c.description, tickets.c.resolution, tickets.c.status)
                           .where(tickets.c.id == key)).first()
        if row is None or not row.resolution or row.status not in DONE:
            return None
        return Past(key, f"#{key}", row.description, row.resolution)
    row = conn.execute(select(history.c.source, history.c.source_id, history.c.description, history.c.resolution)
                       .where(history.c.id == -key)).first()
    if row is None or not row.resolution:
        return None
    return Past(key, history_ref(row.source, row.source_id), row.description, row.resolution)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class TicketKnowledge:
    """`settings` may be Settings (categories, the not-fix list) or the EntryRules themselves."""

    def __init__(self, engine: Engine, settings: Settings | EntryRules, batch: int = 10_000) -> None:
        self.engine = engine
        self.rules = settings if isinstance(settings, EntryRules) else EntryRules.from_settings(settings)
        self.batch = batch

    def _ticket(self, row) -> Entry | None:
        return self.rules.entry(row.id, row.description, row.resolution, row.category, row.created_at)

    def _history(self, row) -> Entry | None:
        return self.rules.entry(-row.id, row.description, row.resolution, row.category, row.created_at)

    def all_entries(self) -> Iterator[Entry]:
        """Every resolved ticket with a fix, then every imported one, streamed in id order in
        batches (a million fit in memory only as an index)."""
        for table, columns, where, make in (
                (tickets, COLUMNS, and_(tickets.c.status.in_(DONE), tickets.c.resolution.is_not(None)), self._ticket),
                (history, HISTORY, history.c.resolution.is_not(None), self._history)):
            last = 0
            while True:
                with reading(self.engine) as conn:
                    rows = conn.execute(select(*columns).where(table.c.id > last, where)
                                        .order_by(table.c.id).limit(self.batch)).all()
                if not rows:
                    break
                for row in rows:
                    entry = make(row)
                    if entry is not None:
                        yield entry
                last = rows[-1].id

    def newest_change(self) -> dict[str, str | None]:
        with reading(self.engine) as conn:
            return {"tickets": _iso(conn.execute(select(func.max(tickets.c.updated_at))).scalar()),
                    "history": _iso(conn.execute(select(func.max(history.c.imported_at))).scalar())}

    def count_changes_since(self, since: dict[str, Any] | None) -> int:
        """How many rows the change feed would hand over from `since` (an upper bound on entries)."""
        since = since or {}
        with reading(self.engine) as conn:
            total = 0
            for column, key in ((tickets.c.updated_at, "tickets"), (history.c.imported_at, "history")):
                start = _time(since.get(key))
                query = select(func.count()).select_from(column.table)
                if start is not None:
                    query = query.where(column >= start - OVERLAP)
                total += conn.execute(query).scalar_one()
            return total

    def changes_since(self, since: dict[str, Any] | None) -> tuple[list[Entry], list[int], dict[str, str | None]]:
        since = dict(since or {})
        upserts: list[Entry] = []
        removals: list[int] = []
        query = select(*COLUMNS).order_by(tickets.c.updated_at)
        if (start := _time(since.get("tickets"))) is not None:
            query = query.where(tickets.c.updated_at >= start - OVERLAP)
        imported = select(*HISTORY).order_by(history.c.imported_at)
        if (start_history := _time(since.get("history"))) is not None:
            imported = imported.where(history.c.imported_at >= start_history - OVERLAP)
        with reading(self.engine) as conn:
            rows = conn.execute(query).all()
            past = conn.execute(imported).all()
        for row in rows:
            entry = self._ticket(row) if row.status in DONE else None
            if entry is not None:
                upserts.append(entry)
            else:
                removals.append(row.id)
        for row in past:
            entry = self._history(row)
            if entry is not None:
                upserts.append(entry)
        newest = {"tickets": _iso(rows[-1].updated_at) if rows else since.get("tickets"),
                  "history": _iso(past[-1].imported_at) if past else since.get("history")}
        return upserts, removals, newest
