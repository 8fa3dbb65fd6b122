"""Bulk import of another help desk's resolved tickets, idempotent on the source id."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import Engine, insert, select

from storage.schema import audit_events, tickets

IMPORTER = "import"
BATCH = 2_000


def import_tickets(engine: Engine, rows: Iterable[dict], progress: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Insert tickets that are not there yet (by external_id); returns (added, seen)."""
    added = seen = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal added
        ids = [r["external_id"] for r in batch]
        with engine.begin() as conn:
            known = set(conn.execute(select(tickets.c.external_id).where(tickets.c.external_id.in_(ids))).scalars())
            fresh = [r for r in batch if r["external_id"] not in known]
            fresh = list({r["external_id"]: r for r in fresh}.values())  # a file listing an id twice
            if fresh:
                new_ids = conn.execute(insert(tickets).returning(tickets.c.id, tickets.c.external_id),
                                       [_ticket(r) for r in fresh]).all()
                conn.execute(insert(audit_events), [
                    {"ticket_id": tid, "actor_id": IMPORTER, "actor_name": "Import", "action": "imported",
                     "at": datetime.now(timezone.utc), "changes": {"external_id": [None, ext]}} for tid, ext in new_ids])
            added += len(fresh)
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


def _ticket(r: dict) -> dict:
    now = datetime.now(timezone.utc)
    created = r.get("created") or now
    resolved = r.get("resolved") or created
    description = "\n".join(x for x in (r.get("summary"), r.get("description")) if x) or "(no description)"
    return {
        "requester_id": IMPORTER, "requester_name": "Imported", "description": description[:20_000],
        "category": r["category"], "severity": "medium", "status": "closed", "group_name": None,
        "escalation_level": 1, "resolution": r.get("resolution"), "origin": IMPORTER, "external_id": r["external_id"],
        "created_at": created, "updated_at": now, "resolved_at": resolved, "closed_at": resolved, "version": 1,
        "top_pings": 0, "overdue_noticed": False,
    }
