"""Bulk import of another help desk's resolved tickets into `history`, idempotent on
(source, source id). Imported tickets take no ticket number, are not counted in live
reports, and feed the knowledge base (see storage/knowledge.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import Engine, insert, select

from storage.schema import history

BATCH = 2_000


def split_external_id(external_id: str) -> tuple[str, str]:
    """`source:id` → (source, id); an id without a source gets the source `import`."""
    source, _, source_id = external_id.partition(":")
    return (source, source_id) if source_id else ("import", source)


def import_tickets(engine: Engine, rows: Iterable[dict], progress: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Insert the rows not imported yet; returns (added, seen).

    Each row: `external_id` ("source:id"), `summary`, `description`, `resolution`, `category`,
    `created` and `resolved` (aware datetimes or None: the import time)."""
    added = seen = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal added
        now = datetime.now(timezone.utc)
        fresh = {split_external_id(r["external_id"]): r for r in batch}  # a file listing an id twice
        with engine.begin() as conn:
            known: set[tuple[str, str]] = set()
            by_source: dict[str, list[str]] = {}
            for source, source_id in fresh:
                by_source.setdefault(source, []).append(source_id)
            for source, ids in by_source.items():
                for i in range(0, len(ids), 500):  # keep a statement's parameters few
                    known.update((source, x) for x in conn.execute(select(history.c.source_id).where(
                        history.c.source == source, history.c.source_id.in_(ids[i:i + 500]))).scalars())
            new = [_row(key, r, now) for key, r in fresh.items() if key not in known]
            if new:
                conn.execute(insert(history), new)
            added += len(new)
        batch.clear()

    for row in rows:
        batch.append(row)
        seen += 1
        if len(batch) == BATCH:
            flush()
            progress(seen)
    if batch:
        flush()
    progress(seen)
    return added, seen


def _row(key: tuple[str, str], r: dict, now: datetime) -> dict:
    created = r.get("created") or now
    resolved = r.get("resolved") or created
    description = "\n".join(x for x in (r.get("summary"), r.get("description")) if x) or "(no description)"
    return {"source": key[0][:64], "source_id": key[1][:255], "description": description[:20_000],
            "resolution": r.get("resolution"), "category": r["category"], "created_at": created,
            "resolved_at": resolved, "imported_at": now}
