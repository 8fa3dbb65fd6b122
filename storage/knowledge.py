"""The knowledge base's view of the database: resolved tickets and imported history as
entries, and a change feed so every process's index follows every other's writes:
tickets by `updated_at` (re-reading OVERLAP before the last change seen, so a slow commit
is not missed), history, which is only ever appended to, by id (re-reading the last
ID_OVERLAP ids whenever new ones appear: concurrent imports on PostgreSQL may commit
out of id order).

Entry keys: a ticket's id, or `-history.id` for imported history (never colliding).
A feed cursor is `{"tickets": ISO time | None, "history_id": int}`: JSON, so an index
written to disk can say where the feed stood when its entries were read."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import Engine, and_, bindparam, func, select

from bot.config import Settings
from bot.knowledge import Entry, EntryRules, Past
from storage.database import reading
from storage.write_behind import blind
from storage.schema import history, tickets

DONE = ("resolved", "closed")
OVERLAP = timedelta(seconds=5)  # re-read this much before the last change seen: a slow commit is not missed
ID_OVERLAP = 5_000  # history ids re-read when new ones appear (two import batches in flight at once)
COLUMNS = (tickets.c.id, tickets.c.description, tickets.c.resolution, tickets.c.category, tickets.c.status,
           tickets.c.created_at, tickets.c.updated_at, tickets.c.parent_id)
HISTORY = (history.c.id, history.c.description, history.c.resolution, history.c.category, history.c.created_at)


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


_RESOLVED_TICKETS = blind(select(tickets.c.id, tickets.c.description, tickets.c.resolution, tickets.c.status).where(
    tickets.c.id.in_(bindparam("ids", expanding=True))))  # built once: every intake's suggestions read it
_HISTORY_ROWS = blind(select(history.c.id, history.c.source, history.c.source_id, history.c.description,
                             history.c.resolution).where(history.c.id.in_(bindparam("ids", expanding=True))))


def past_resolutions(conn, keys: list[int]) -> dict[int, Past]:
    """`past_resolution` for several entry keys at once (one query for tickets, one for history):
    the keys that still hold a resolution, each with its Past."""
    found: dict[int, Past] = {}
    ids = [k for k in keys if 0 < k < 2**31]
    if ids:
        for row in conn.execute(_RESOLVED_TICKETS, {"ids": ids}):
            if row.resolution and row.status in DONE:
                found[row.id] = Past(row.id, f"#{row.id}", row.description, row.resolution)
    imported = [-k for k in keys if -2**31 < k < 0]
    if imported:
        for row in conn.execute(_HISTORY_ROWS, {"ids": imported}):
            if row.resolution:
                found[-row.id] = Past(-row.id, history_ref(row.source, row.source_id), row.description, row.resolution)
    return found


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
        """A resolved ticket as an entry; None for one linked to a parent: an incident's resolution
        is offered once (its parent's), not once per ticket that was part of it."""
        if row.parent_id is not None:
            return None
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

    def newest_change(self) -> dict[str, Any]:
        """Where the change feed stands now: the newest ticket change time and the newest history row id."""
        with reading(self.engine) as conn:
            return {"tickets": _iso(conn.execute(select(func.max(tickets.c.updated_at))).scalar()),
                    "history_id": conn.execute(select(func.max(history.c.id))).scalar() or 0}

    def count_changes_since(self, since: dict[str, Any] | None) -> int:
        """How many entries appeared or changed after `since` (resolved tickets and history rows;
        the open tickets the feed also hands over cost next to nothing to withdraw)."""
        since = since or {}
        with reading(self.engine) as conn:
            done = select(func.count()).select_from(tickets).where(tickets.c.status.in_(DONE))
            if (start := _time(since.get("tickets"))) is not None:
                done = done.where(tickets.c.updated_at > start)
            imported = select(func.count()).select_from(history).where(history.c.id > int(since.get("history_id") or 0))
            return conn.execute(done).scalar_one() + conn.execute(imported).scalar_one()

    def changes_since(self, since: dict[str, Any] | None) -> tuple[list[Entry], list[int], dict[str, str | None]]:
        """Entries resolved, edited or imported since `since`, ids no longer entries, and the new position."""
        since = dict(since or {})
        upserts: list[Entry] = []
        removals: list[int] = []
        done = select(*COLUMNS).where(tickets.c.status.in_(DONE))
        still_open = select(tickets.c.id, tickets.c.updated_at).where(tickets.c.status.not_in(DONE))  # ids suffice
        if (start := _time(since.get("tickets"))) is not None:
            done = done.where(tickets.c.updated_at >= start - OVERLAP)
            still_open = still_open.where(tickets.c.updated_at >= start - OVERLAP)
        last_id = int(since.get("history_id") or 0)
        with reading(self.engine) as conn:
            rows = conn.execute(done.order_by(tickets.c.updated_at)).all()
            opened = conn.execute(still_open.order_by(tickets.c.updated_at)).all()
            newest_id = conn.execute(select(func.max(history.c.id))).scalar() or 0
            past = conn.execute(select(*HISTORY).where(history.c.id > last_id - ID_OVERLAP).order_by(history.c.id)
                                ).all() if newest_id > last_id else []
        for row in rows:
            entry = self._ticket(row)
            if entry is not None:
                upserts.append(entry)
            else:
                removals.append(row.id)  # resolved with no fix
        removals.extend(row.id for row in opened)
        for row in past:
            entry = self._history(row)
            if entry is not None:
                upserts.append(entry)
        changed = max((r.updated_at for r in (rows[-1:] if rows else []) + (opened[-1:] if opened else [])), default=None)
        newest = {"tickets": _iso(changed) if changed else since.get("tickets"),
                  "history_id": max(newest_id, last_id)}
        return upserts, removals, newest
