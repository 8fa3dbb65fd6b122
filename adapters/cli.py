"""The `helpdesk` command."""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys

from bot.config import ConfigError, Settings, load_settings
from adapters.runtime import NotMigrated, build

log = logging.getLogger("helpdesk")


def default_identity() -> str:
    return os.environ.get("HELPDESK_AS") or f"{getpass.getuser()}@localhost"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description="An IT help desk in Slack, Teams and the terminal.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="cmd")

    run = sub.add_parser("run", help="start the bot with whatever is configured (the terminal when no chat platform is)")
    run.add_argument("--as", dest="identity", default=None, help="who you are in the terminal (email or platform id)")

    shell = sub.add_parser("shell", help="chat with the help desk in this terminal")
    shell.add_argument("--as", dest="identity", default=None, help="who you are (email or platform id); default $HELPDESK_AS")
    shell.add_argument("-c", dest="command", default=None, help="run one command and exit (non-zero if refused)")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_cmd", required=True)
    db_sub.add_parser("upgrade", help="apply every pending migration")
    db_sub.add_parser("current", help="print the schema revision")

    cfg = sub.add_parser("config", help="configuration")
    cfg_sub = cfg.add_subparsers(dest="config_cmd", required=True)
    cfg_sub.add_parser("check", help="validate and print the effective configuration, secrets masked")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"helpdesk: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "config":
            return config_check(settings)
        if args.cmd == "db":
            return database(settings, args.db_cmd)
        return run(settings, args)
    except NotMigrated as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2


def config_check(settings: Settings) -> int:
    print(json.dumps(settings.masked(), indent=2))
    techs = settings.all_technicians()
    print(f"OK: {len(settings.categories)} categories, {len(settings.groups)} groups, {len(techs)} technicians.",
          file=sys.stderr)
    if not techs:
        print("Note: no technicians are configured, so nobody can claim tickets yet.", file=sys.stderr)
    return 0


def database(settings: Settings, action: str) -> int:
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
    from adapters.console.shell import run_shell

    if args.cmd in (None, "run") and (settings.slack.enabled or settings.teams.enabled):
        log.warning("chat platform credentials are set, but this build serves only the terminal; starting the shell")
    runtime = build(settings)
    try:
        identity = getattr(args, "identity", None) or default_identity()
        return run_shell(runtime.desk, runtime.outbox, identity, getattr(args, "command", None))
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
