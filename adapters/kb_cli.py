"""`helpdesk kb …`: import another help desk's history, look up suggestions, and measure them."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from adapters.csv_export import CsvExport, DateColumns, ExportError
from bot.config import Settings
from bot.kb_eval import Report, replay
from bot.knowledge import Knowledge
from bot.text import clean

ENCODING_HELP = ("text encoding of the file(s), e.g. cp1252 or utf-16 (default: detected: a byte-order mark, "
                 "else UTF-8 when the whole file is valid UTF-8, else Windows-1252 as Excel writes it)")
DELIMITER_HELP = "column separator: , ; or tab (default: whichever of them the header row uses most)"
DATE_FORMAT_HELP = ("strptime pattern of the date columns, e.g. '%%d/%%m/%%Y %%H:%%M'; dates without an offset "
                    "are UTC (default: detected once per file: ISO 8601, Jira's 30/Sep/21 17:20, "
                    "2021-09-30 17:20:00, 09/30/2021 17:20, 30/09/2021 17:20, 30.09.2021 17:20, "
                    "with or without seconds)")


def _delimiter(text: str) -> str:
    value = "\t" if text.lower() in ("tab", "\\t") else text
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not one character; use , or ; or tab")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`helpdesk kb import|similar|eval` and their options (defaults shown in --help)."""
    kb = sub.add_parser("kb", help="the knowledge base of past resolutions")
    kb_sub = kb.add_subparsers(dest="kb_cmd", required=True)

    def file_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--encoding", default=None, help=ENCODING_HELP)
        p.add_argument("--delimiter", type=_delimiter, default=None, help=DELIMITER_HELP)

    def columns(p: argparse.ArgumentParser) -> None:
        p.add_argument("--id-column", default="Issue id", help="column of the ticket's id (default: %(default)s)")
        p.add_argument("--summary-column", default="Summary", help="column of the one-line problem (default: %(default)s)")
        p.add_argument("--description-column", default="Description",
                       help="column of the full problem text (default: %(default)s)")
        p.add_argument("--created-column", default="Created", help="column of the date it was filed (default: %(default)s)")
        p.add_argument("--date-format", default=None, help=DATE_FORMAT_HELP)
        file_options(p)

    imp = kb_sub.add_parser("import", help="load resolved tickets from a CSV export (idempotent on the source id)",
                            description="Load resolved tickets from another help desk's CSV export. "
                                        "Importing the same file again adds only the rows not there yet.")
    imp.add_argument("file", help="the CSV export")
    columns(imp)
    imp.add_argument("--resolution-column", default="Resolution",
                     help="column of how it was resolved (default: %(default)s)")
    imp.add_argument("--resolved-column", default="Resolved", help="column of the date it was resolved (default: %(default)s)")
    imp.add_argument("--category-column", default=None, help="column of the category (default: none; every ticket gets --category)")
    imp.add_argument("--category", default=None, help="category for rows without a known one (default: the configured default)")
    imp.add_argument("--source", default=None, help="prefix for source ids (default: the file name without its extension)")

    sim = kb_sub.add_parser("similar", help="what would be suggested for a problem, and why")
    sim.add_argument("text", help="the problem, as a new ticket would describe it")
    sim.add_argument("--json", action="store_true", help="print JSON instead of lines (default: lines)")
    sim.add_argument("--limit", type=int, default=5, help="how many matches at most (default: %(default)s)")
    sim.add_argument("--requester", action="store_true",
                     help="as a requester sees it: their floor and public categories only (default: as a technician)")

    ev = kb_sub.add_parser("eval", help="replay duplicate-labelled history and print R@k and MRR as JSON",
                           description="Replay each ticket that has an earlier labelled duplicate as a new ticket "
                                       "against the tickets filed before it; print R@1, R@5, R@10 and MRR as JSON.")
    ev.add_argument("--tickets", required=True, help="CSV of the tickets")
    ev.add_argument("--duplicates", required=True, help="CSV of duplicate pairs: an id and the ids it duplicates")
    columns(ev)
    ev.add_argument("--duplicate-id-column", default="Duplicate id",
                    help="column of the duplicates' ids, several separated by commas (default: %(default)s)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run `helpdesk kb …`; a file that cannot be read is one sentence on stderr and exit code 2."""
    try:
        if args.kb_cmd == "eval":
            return evaluate(args)
        export = _read_import(args) if args.kb_cmd == "import" else None  # a bad file never touches the database
        from adapters.runtime import build

        runtime = build(settings.model_copy(update={"knowledge": settings.knowledge.model_copy(update={"enabled": False})}))
        try:
            if export is not None:
                return import_csv(runtime, args, *export)
            return similar(runtime, args)
        finally:
            runtime.close()
    except ExportError as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2


def _note(text: str) -> None:
    print(f"helpdesk: note: {text}", file=sys.stderr)


def _progress(done: int, total: int | None, started: float) -> None:
    if not sys.stderr.isatty() and done % 10_000 and done != total:
        return
    rate = done / max(time.monotonic() - started, 1e-6)
    width = 30
    filled = int(width * done / total) if total else 0
    bar = "█" * filled + "·" * (width - filled)
    of = "?" if total is None else f"{total:,}"  # `total or '?'` with `:,` broke on a file of no rows
    print(f"\r{bar} {done:,}/{of} ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def _read_import(args: argparse.Namespace) -> tuple[CsvExport, DateColumns, int]:
    """Read the whole file once before anything is written: its encoding, columns and date format, and its size."""
    export = CsvExport(args.file, {
        args.id_column: "--id-column", args.summary_column: "--summary-column",
        args.description_column: "--description-column", args.resolution_column: "--resolution-column",
        args.created_column: "--created-column", args.resolved_column: "--resolved-column",
        **({args.category_column: "--category-column"} if args.category_column else {})},
        args.encoding, args.delimiter)
    dates = DateColumns(args.file, {args.created_column: "--created-column", args.resolved_column: "--resolved-column"},
                        args.date_format)
    total = 0
    for row in export.rows():
        dates.see(row)
        total += 1
    for note in dates.decide():
        _note(note)
    return export, dates, total


def import_csv(runtime, args: argparse.Namespace, export: CsvExport, dates: DateColumns, total: int) -> int:
    """Import the export's rows as imported history (idempotent on the source id); 0, the counts printed."""
    from storage.importer import import_tickets

    source = args.source or Path(args.file).stem
    category_default = args.category or runtime.settings.default_category
    started = time.monotonic()

    def tickets():
        for row in export.rows():
            category = (row.get(args.category_column) or "").strip().lower() if args.category_column else ""
            yield {
                "external_id": f"{source}:{(row[args.id_column] or '').strip()}",
                "summary": clean(row.get(args.summary_column)), "description": clean(row.get(args.description_column)),
                "resolution": clean(row.get(args.resolution_column)) or None,
                "category": category if category in runtime.settings.categories else category_default,
                "created": dates.parse(args.created_column, row.get(args.created_column)),
                "resolved": dates.parse(args.resolved_column, row.get(args.resolved_column)),
            }

    added, seen = import_tickets(runtime.engine, tickets(), lambda n: _progress(n, total, started))
    print(file=sys.stderr)
    for note in dates.failures({args.created_column: "those tickets were imported as created now",
                                args.resolved_column: "those tickets were imported as resolved when created"}):
        _note(note)
    print(f"imported {added:,} new ticket(s); {seen - added:,} were already there")
    print(f"(imported tickets are history: they keep their ids, take no ticket number and stay out of reports "
          f"unless `helpdesk report --include-imported`)", file=sys.stderr)
    return 0


def similar(runtime, args: argparse.Namespace) -> int:
    """`helpdesk kb similar`: what would be suggested for a problem and why (text or JSON); 0."""
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
    """`helpdesk kb eval`: the replay's figures as JSON; 0. Raises ExportError for a file it cannot
    read, or when no ticket has a labelled duplicate filed before it."""
    tickets = CsvExport(args.tickets, {
        args.id_column: "--id-column", args.summary_column: "--summary-column",
        args.description_column: "--description-column", args.created_column: "--created-column"},
        args.encoding, args.delimiter)
    pairs = CsvExport(args.duplicates, {args.id_column: "--id-column", args.duplicate_id_column: "--duplicate-id-column"},
                      args.encoding, args.delimiter)
    rows = list(tickets.rows())
    dates = DateColumns(args.tickets, {args.created_column: "--created-column"}, args.date_format)
    for row in rows:
        dates.see(row)
    for note in dates.decide(required=[args.created_column]):
        _note(note)
    reports = []
    for row in rows:
        created = dates.parse(args.created_column, row.get(args.created_column))
        if created is not None:
            reports.append(Report((row[args.id_column] or "").strip(), created, row[args.summary_column] or "",
                                  row[args.description_column] or ""))
    for note in dates.failures({args.created_column: "those tickets were left out of the replay"}):
        _note(note)
    duplicates: dict[str, set[str]] = defaultdict(set)
    for row in pairs.rows():
        a = (row[args.id_column] or "").strip()
        for b in (row[args.duplicate_id_column] or "").split(","):
            if a and b.strip():
                duplicates[a].add(b.strip())
                duplicates[b.strip()].add(a)
    result = replay(reports, duplicates)
    if not result["queries"]:
        raise ExportError(f"none of the {len(reports):,} tickets in {args.tickets} has a labelled duplicate filed "
                          f"before it in {args.duplicates}, so there is nothing to measure; check that "
                          "--id-column and --duplicate-id-column name the ids both files share")
    print(json.dumps(result, indent=2))
    return 0
