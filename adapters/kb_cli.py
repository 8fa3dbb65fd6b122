"""`helpdesk kb …`: import another help desk's history, look up suggestions, and measure them."""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterator

from bot.config import Settings
from bot.kb_eval import Report, replay
from bot.knowledge import Knowledge
from bot.text import clean

csv.field_size_limit(16 * 1024 * 1024)


def add_parser(sub: argparse._SubParsersAction) -> None:
    kb = sub.add_parser("kb", help="the knowledge base of past resolutions")
    kb_sub = kb.add_subparsers(dest="kb_cmd", required=True)

    def columns(p: argparse.ArgumentParser) -> None:
        p.add_argument("--id-column", default="Issue id")
        p.add_argument("--summary-column", default="Summary")
        p.add_argument("--description-column", default="Description")
        p.add_argument("--created-column", default="Created")
        p.add_argument("--date-format", default="%d/%b/%y %H:%M", help="strptime format of the date columns (UTC)")

    imp = kb_sub.add_parser("import", help="load resolved tickets from a CSV export (idempotent on the source id)")
    imp.add_argument("file")
    columns(imp)
    imp.add_argument("--resolution-column", default="Resolution")
    imp.add_argument("--category-column", default=None, help="default: every ticket gets --category")
    imp.add_argument("--category", default=None, help="category for rows without one (default: the configured default)")
    imp.add_argument("--resolved-column", default="Resolved")
    imp.add_argument("--source", default=None, help="prefix for source ids (default: the file name)")

    sim = kb_sub.add_parser("similar", help="what would be suggested for a problem, and why")
    sim.add_argument("text")
    sim.add_argument("--json", action="store_true")
    sim.add_argument("--limit", type=int, default=5)
    sim.add_argument("--requester", action="store_true", help="as a requester sees it (floor, public categories)")

    ev = kb_sub.add_parser("eval", help="replay duplicate-labelled history and print R@k and MRR as JSON")
    ev.add_argument("--tickets", required=True)
    ev.add_argument("--duplicates", required=True)
    columns(ev)
    ev.add_argument("--duplicate-id-column", default="Duplicate id")


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.kb_cmd == "eval":
        return evaluate(args)
    from adapters.runtime import build

    runtime = build(settings.model_copy(update={"knowledge": settings.knowledge.model_copy(update={"enabled": False})}))
    try:
        if args.kb_cmd == "import":
            return import_csv(runtime, args)
        return similar(runtime, args)
    finally:
        runtime.close()


def _date(value: str | None, fmt: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), fmt).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _rows(path: str, needed: list[str]) -> Iterator[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in needed if c and c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"helpdesk: {path} has no column {', '.join(repr(m) for m in missing)}; "
                             f"its columns are {', '.join(reader.fieldnames or [])}")
        yield from reader


def _progress(done: int, total: int | None, started: float) -> None:
    if not sys.stderr.isatty() and done % 10_000 and done != total:
        return
    rate = done / max(time.monotonic() - started, 1e-6)
    width = 30
    filled = int(width * done / total) if total else 0
    bar = "█" * filled + "·" * (width - filled)
    print(f"\r{bar} {done:,}/{total or '?':,} ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def import_csv(runtime, args: argparse.Namespace) -> int:
    from storage.importer import import_tickets

    source = args.source or args.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    needed = [args.id_column, args.summary_column, args.description_column, args.resolution_column,
              args.created_column, args.resolved_column, args.category_column]
    total = sum(1 for _ in _rows(args.file, needed))
    category_default = args.category or runtime.settings.default_category
    started = time.monotonic()

    def tickets():
        for row in _rows(args.file, needed):
            category = (row.get(args.category_column) or "").strip().lower() if args.category_column else ""
            yield {
                "external_id": f"{source}:{row[args.id_column].strip()}",
                "summary": clean(row.get(args.summary_column)), "description": clean(row.get(args.description_column)),
                "resolution": clean(row.get(args.resolution_column)) or None,
                "category": category if category in runtime.settings.categories else category_default,
                "created": _date(row.get(args.created_column), args.date_format),
                "resolved": _date(row.get(args.resolved_column), args.date_format),
            }

    added, seen = import_tickets(runtime.engine, tickets(), lambda n: _progress(n, total, started))
    print(file=sys.stderr)
    print(f"imported {added:,} new ticket(s); {seen - added:,} were already there")
    print(f"(imported tickets are history: they keep their ids, take no ticket number and stay out of reports "
          f"unless `helpdesk report --include-imported`)", file=sys.stderr)
    return 0


def similar(runtime, args: argparse.Namespace) -> int:
    from storage.kb_files import DiskIndex, index_dir
    from storage.knowledge import TicketKnowledge

    source = TicketKnowledge(runtime.engine, runtime.settings)
    directory = index_dir(runtime.settings, runtime.engine.url.render_as_string(hide_password=False))
    knowledge = Knowledge(source, builder=DiskIndex(runtime.engine, source.rules, directory) if directory else None)
    knowledge.load_from_disk() if directory else knowledge.load()  # the server's index files, when current
    config = runtime.settings.knowledge
    floor = config.requester_floor if args.requester else 0.0
    matches = knowledge.search(args.text, limit=args.limit, floor=floor, technician=not args.requester)
    with runtime.store.transaction(write=False) as tx:
        found = [(m, tx.past_resolution(m.ticket_id)) for m in matches]
    if args.json:
        print(json.dumps({"entries": len(knowledge.index), "matches": [
            {"ticket": m.ticket_id if m.ticket_id > 0 else None, "ref": p.ref if p else None, "headline": m.headline,
             "confidence": m.confidence, "shared_terms": list(m.terms), "resolution": p.resolution if p else None,
             "suggested_to_requesters": m.confidence >= config.requester_floor,
             "suggested_to_technicians": m.confidence >= config.technician_floor} for m, p in found]}, indent=2))
        return 0
    if not found:
        print(f"nothing similar among {len(knowledge.index):,} past resolutions")
    for m, p in found:
        print(f"{p.ref if p else m.ticket_id}  {m.confidence:.2f}  {m.headline}")
        print(f"      shared: {', '.join(m.terms) or '—'}   resolution: {p.resolution[:200] if p else '—'}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    reports = []
    for row in _rows(args.tickets, [args.id_column, args.summary_column, args.description_column, args.created_column]):
        created = _date(row[args.created_column], args.date_format)
        if created is None:
            continue
        reports.append(Report(row[args.id_column].strip(), created, row[args.summary_column] or "",
                              row[args.description_column] or ""))
    duplicates: dict[str, set[str]] = defaultdict(set)
    for row in _rows(args.duplicates, [args.id_column, args.duplicate_id_column]):
        a = row[args.id_column].strip()
        for b in (row[args.duplicate_id_column] or "").split(","):
            if b.strip():
                duplicates[a].add(b.strip())
                duplicates[b.strip()].add(a)
    print(json.dumps(replay(reports, duplicates), indent=2))
    return 0
