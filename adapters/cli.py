"""The `helpdesk` command."""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys

from adapters import kb_cli
from adapters.ldap import cli as directory_cli
from adapters.platforms import PLATFORMS, platform
from adapters.runtime import NotMigrated, build
from adapters.settings import ConfigSource, config_source, load as load_settings
from bot import messages as M
from bot.config import ConfigError, Settings
from bot.directory import DirectoryConfigError

log = logging.getLogger("helpdesk")


def default_identity() -> str:
    """Who the terminal user is when `--as` is not given: $HELPDESK_AS, else `<login>@localhost`."""
    return os.environ.get("HELPDESK_AS") or f"{getpass.getuser()}@localhost"


def version() -> str:
    """The installed package's version ("unknown" when run from files that were never installed)."""
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("helpdesk-bot")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description="An IT help desk in Slack, Teams and the terminal.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=f"helpdesk {version()}")
    sub = parser.add_subparsers(dest="cmd")

    run = sub.add_parser("run", help="start the bot with whatever is configured (the terminal when no chat platform is)")
    run.add_argument("--as", dest="identity", default=None, help="who you are in the terminal (email or platform id)")

    shell = sub.add_parser("shell", help="chat with the help desk in this terminal")
    shell.add_argument("--as", dest="identity", default=None, help="who you are (email or platform id); default $HELPDESK_AS")
    shell.add_argument("-c", dest="command", default=None, help="run one command and exit (non-zero if refused)")

    srv = sub.add_parser("serve", help="serve Slack (and Teams) over HTTP, and deliver the outbox")
    srv.add_argument("--host", default=os.environ.get("HELPDESK_HOST", "0.0.0.0"))
    srv.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))

    box = sub.add_parser("outbox", help="messages waiting to be delivered, and dead letters")
    box_sub = box.add_subparsers(dest="outbox_cmd", required=True)
    listing = box_sub.add_parser("list", help="pending and failed messages")
    listing.add_argument("--failed", action="store_true", help="only dead letters")
    retry = box_sub.add_parser("retry", help="send dead letters again")
    retry.add_argument("ids", nargs="*", type=int, help="message ids (default: every dead letter)")

    sub.add_parser("sla", help="open tickets by time left to their target, breached first")
    rep = sub.add_parser("report", help="how the help desk is doing over a period")
    rep.add_argument("--since", default="7d", help="7d, 30d, 24h, 2w or a date (default 7d)")
    rep.add_argument("--until", default="now", help="a date (inclusive) or now")
    rep.add_argument("--by", choices=["category", "severity", "group", "technician"])
    rep.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rep.add_argument("--chart", metavar="FILE.png", nargs="?", const="", default=None,
                     help="also draw the chart (per day, time to resolution against target, satisfaction); without a "
                          "file name: helpdesk-report-<since>-to-<until>.png in the current folder")
    for name in ("category", "severity", "group", "technician"):
        rep.add_argument(f"--{name}", default=None, help=f"only this {name}")
    rep.add_argument("--include-imported", action="store_true",
                     help="also count history imported with `helpdesk kb import` (as closed tickets)")
    kb_cli.add_parser(sub)
    directory_cli.add_parser(sub)

    man = sub.add_parser("manifest", help="what a chat platform's admin uploads to install the bot "
                                          "(Slack: the app manifest; Teams: the app package)")
    man.add_argument("platform", choices=[p.name for p in PLATFORMS if p.manifest])
    man.add_argument("--url", help="your server's public base URL, e.g. https://helpdesk.example.com (Slack: required)")
    man.add_argument("--app-id", help="Teams: the Azure bot's Microsoft App ID (default $MICROSOFT_APP_ID)")
    man.add_argument("--out", default="helpdesk-teams.zip", help="Teams: the zip to write (default helpdesk-teams.zip)")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_cmd", required=True)
    db_sub.add_parser("upgrade", help="apply every pending migration")
    db_sub.add_parser("current", help="print the schema revision")

    cfg = sub.add_parser("config", help="configuration")
    cfg_sub = cfg.add_subparsers(dest="config_cmd", required=True)
    cfg_sub.add_parser("check", help="validate and print the effective configuration, secrets masked")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The `helpdesk` command: parse `argv`, load the configuration, run the subcommand; returns the
    exit code (0 done, 1 refused or not found, 2 bad configuration or usage). Output piped into a
    reader that stops early (`| head`) ends quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader is gone: say nothing more, and let the interpreter's final flush go nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    source = config_source()
    try:
        settings = load_settings(source.path)
    except ConfigError as exc:
        print(f"helpdesk: bad configuration ({source.describe().removeprefix('Configuration: ')}):\n{exc}",
              file=sys.stderr)
        return 2
    if _interactive(args):
        print(source.describe(), file=sys.stderr)
    try:
        if args.cmd == "config":
            return config_check(settings, source)
        if args.cmd == "db":
            return database(settings, args.db_cmd)
        if args.cmd == "manifest":
            return platform(args.platform).manifester()(settings, args)
        if args.cmd == "outbox":
            return outbox(settings, args)
        if args.cmd == "sla":
            return sla_board(settings)
        if args.cmd == "kb":
            return kb_cli.run(settings, args)
        if args.cmd == "directory":
            return directory_cli.run(settings, args)
        if args.cmd == "report":
            return report(settings, args)
        return run(settings, args)
    except NotMigrated as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2
    except DirectoryConfigError as exc:
        print(f"helpdesk: bad directory configuration: {exc}", file=sys.stderr)
        return 2


def _interactive(args: argparse.Namespace) -> bool:
    """A person at a terminal (the shell's prompt, `run` without a chat platform): they are told
    which configuration file was loaded. One-shot and piped runs keep stderr for errors."""
    if args.cmd not in (None, "run", "shell") or getattr(args, "command", None) is not None:
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def config_check(settings: Settings, source: ConfigSource | None = None) -> int:
    """`helpdesk config check`: print the effective configuration as JSON, secrets masked, and (on
    stderr) which file it came from and what it holds; 0."""
    print(json.dumps(settings.masked(), indent=2))
    techs = settings.all_technicians()
    if source is not None:
        print(source.describe(), file=sys.stderr)
    print(f"OK: {M.plural(len(settings.categories), 'category', 'categories')}, "
          f"{M.plural(len(settings.groups), 'group')}, {M.plural(len(techs), 'technician')}.", file=sys.stderr)
    if not techs:
        print("Note: no technicians are configured, so nobody can claim tickets yet.", file=sys.stderr)
    return 0


def database(settings: Settings, action: str) -> int:
    """`helpdesk db upgrade|current`: apply the migrations, or say the schema revision; 0."""
    from storage.database import current_revision, head_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        if action == "upgrade":
            upgrade(engine)
        current = current_revision(engine)
        print(f"schema revision {current or '(empty)'}; newest is {head_revision()}")
        return 0
    finally:
        engine.dispose()


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`shell` is the terminal; `serve` the chat server; `run` picks by what is configured."""
    serving = args.cmd == "serve" or (args.cmd in (None, "run") and bool(settings.chat_platforms()))
    runtime = build(settings, serving=serving)
    try:
        if serving:
            from adapters.server import serve

            logging.getLogger().setLevel(logging.INFO)
            log.info("%s", config_source().describe())
            serve(runtime, getattr(args, "host", "0.0.0.0"), getattr(args, "port", 3000))
            return 0
        from adapters.console.shell import run_shell

        identity = getattr(args, "identity", None) or default_identity()
        return run_shell(runtime.desk, runtime.outbox, identity, getattr(args, "command", None),
                         enrich=runtime.with_directory, files=runtime.files)
    finally:
        runtime.close()


def outbox(settings: Settings, args: argparse.Namespace) -> int:
    """`helpdesk outbox list [--failed]` and `retry [IDS…]`: undelivered messages and dead letters."""
    from datetime import datetime, timezone

    from storage.outbox import Outbox

    runtime = build(settings)
    box = Outbox(runtime.store)
    try:
        if args.outbox_cmd == "retry":
            count = box.requeue(datetime.now(timezone.utc), args.ids or None)
            print(f"{M.plural(count, 'message')} queued again")
            return 0 if count or not args.ids else 1
        rows = box.listing(failed_only=args.failed)
        if not rows:
            print("no dead letters" if args.failed else "the outbox is empty")
        for row in rows:
            error = f"  last error: {row['last_error']}" if row["last_error"] else ""
            print(f"#{row['id']:<6} {row['status']:<9} {row['platform']:<7} {row['kind']:<15} {row['audience']:<28} "
                  f"attempts {row['attempts']}  {row['created_at']:%Y-%m-%d %H:%M}{error}")
        return 0
    finally:
        runtime.close()


def sla_board(settings: Settings) -> int:
    """`helpdesk sla`: take due SLA steps, then list open tickets by time left; 0 (1 if refused)."""
    from adapters.console.render import Style, TextRenderer
    from bot.history import technician_names
    from bot.model import SYSTEM_ID

    runtime = build(settings)
    try:
        runtime.desk.sweep()
        reply = runtime.desk.handle(runtime.desk.actor(SYSTEM_ID, "operator", platform="system"), "sla")
        print(TextRenderer(settings.zone, Style.for_stream(sys.stdout), technician_names(settings)).reply(reply))
        return 0 if reply.ok else 1
    finally:
        runtime.close()


def report(settings: Settings, args: argparse.Namespace) -> int:
    """`helpdesk report`: a period's figures as a table, JSON or CSV, and a chart if asked; 2 for a
    period that cannot be read."""
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from adapters.report_render import chart, csv_text, table
    from bot.reports import PeriodError, ReportQuery, parse_moment

    now = datetime.now(timezone.utc)
    try:
        since = parse_moment(args.since, now, settings.zone)
        until = parse_moment(args.until, now, settings.zone, end=True)
    except PeriodError as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2
    if since >= until:
        print("helpdesk: --since must come before --until", file=sys.stderr)
        return 2
    technician_ids = None
    if args.technician:
        tech = settings.technician_for({args.technician}) or next(
            (t for t in settings.all_technicians() if t.name.lower() == args.technician.lower()), None)
        technician_ids = tech.ids if tech else [args.technician]
    query = ReportQuery(since, until, args.category, args.severity, args.group, args.technician, args.by,
                        include_imported=args.include_imported)
    runtime = build(settings.model_copy(update={"knowledge": settings.knowledge.model_copy(update={"enabled": False})}))
    try:
        with runtime.store.transaction(write=False) as tx:
            result = tx.report(query, settings, technician_ids)
    finally:
        runtime.close()
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2))
    elif args.format == "csv":
        print(csv_text(result), end="")
    else:
        print(table(result))
    if args.chart is not None:
        zone = settings.zone
        path = Path(args.chart or f"helpdesk-report-{since.astimezone(zone):%Y-%m-%d}-to-"
                                  f"{(until - timedelta(microseconds=1)).astimezone(zone):%Y-%m-%d}.png")
        chart(result, str(path))
        print(f"chart written to {path.resolve()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
