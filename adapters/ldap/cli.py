"""`helpdesk directory …`: what the bot knows about a person, and whether the directory works.

    helpdesk directory whois alice@corp.example      # or a userPrincipalName, sAMAccountName, CORP\\alice
    helpdesk directory search "+1 (555) 0142"         # name prefix, mail, account name or phone number
    helpdesk directory check                          # connect, TLS, bind, search once: timings and problems
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any, Mapping, TextIO

from adapters.ldap.settings import PASSWORD_ENV, DirectorySettings
from bot.directory import DirectoryConfigError, DirectoryError, Person

NOT_CONFIGURED = ("no directory is configured: add a [directory] section to the configuration (see "
                  "helpdesk.example.toml). Without one the bot works and asks requesters for their contact details.")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`helpdesk directory whois|search|check`: the subcommands and their options."""
    directory = sub.add_parser("directory", help="Active Directory (LDAP): look people up, check the connection")
    dir_sub = directory.add_subparsers(dest="directory_cmd", required=True)
    whois = dir_sub.add_parser("whois", help="what the bot knows about a person")
    whois.add_argument("key", help="email, userPrincipalName or account name (sAMAccountName, DOMAIN\\name)")
    whois.add_argument("--json", action="store_true", help="print JSON")
    search = dir_sub.add_parser("search", help="people by name prefix, mail, account name or phone number")
    search.add_argument("fragment")
    search.add_argument("--limit", type=int, default=10)
    dir_sub.add_parser("check", help="connect, bind and search once on every server; timings and problems in plain words")


def run(settings: Any, args: argparse.Namespace, env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Entry point from `helpdesk`: `settings` is the bot's Settings (its `directory` section is used)."""
    return run_directory(getattr(settings, "directory", None), args, env, out)


def run_directory(settings: DirectorySettings | None, args: argparse.Namespace,
                  env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """0: done; 1: not found, or the directory did not answer; 2: not configured or unusable settings."""
    out = out or sys.stdout
    if settings is None:
        print(NOT_CONFIGURED, file=out)
        return 2
    from adapters.ldap.directory import LdapDirectory

    try:
        directory = LdapDirectory.from_settings(settings, env)
    except DirectoryConfigError as exc:
        print(f"the directory settings cannot work: {exc}", file=out)
        return 2
    if args.directory_cmd == "check":
        return check(directory, out)
    if args.directory_cmd == "search":
        return search(directory, args.fragment, args.limit, out)
    return whois(directory, args.key, getattr(args, "json", False), out)


def _field(out: TextIO, label: str, value: str | None) -> None:
    print(f"  {label + ':':<12} {value or '—'}", file=out)


def whois(directory: Any, key: str, as_json: bool, out: TextIO) -> int:
    """Print what the directory holds about one person (by email, user name or DOMAIN\name)."""
    started = time.perf_counter()
    try:
        person = directory.find_person(key)
        computers = directory.computers_of(person) if person else []
    except DirectoryError as exc:
        print(f"the directory did not answer: {exc}", file=out)
        print("The bot carries on without it and asks requesters for their contact details.", file=out)
        return 1
    took = time.perf_counter() - started
    if as_json:
        print(json.dumps({"person": asdict(person) if person else None, "computers": [asdict(c) for c in computers],
                          "seconds": round(took, 3)}, indent=2), file=out)
        return 0 if person else 1
    if person is None:
        base = directory.settings.people_base
        print(f"nobody in the directory is known as {key!r} (searched {base} by "
              f"{'mail and userPrincipalName' if '@' in key else 'account name (sAMAccountName)'}, "
              f"in {took:.2f} s)", file=out)
        return 1
    headline = ", ".join(p for p in (person.title, person.department) if p)
    print(f"{person.display_name}{' — ' + headline if headline else ''}", file=out)
    _field(out, "mail", person.mail)
    _field(out, "UPN", person.upn)
    _field(out, "account", (person.sam or "—") + (
        "  DISABLED (userAccountControl bit 2 is set: the account cannot log on)" if person.disabled else "  (enabled)"))
    _field(out, "telephone", person.telephone)
    _field(out, "mobile", person.mobile)
    _field(out, "title", person.title)
    _field(out, "department", person.department)
    _field(out, "office", person.office)
    _field(out, "manager", person.manager_name)
    if not computers:
        _field(out, "computers", "none managed by this person")
    for i, c in enumerate(computers):
        system = " ".join(p for p in (c.os, c.os_version) if p) or "unknown system"
        print(f"  {'computers:' if i == 0 else '':<12} {c.name}  {system}{', ' + c.location if c.location else ''}",
              file=out)
    _field(out, "DN", person.dn)
    print(f"(answered in {took:.2f} s)", file=out)
    return 0


def _one_line(p: Person) -> str:
    parts = [p.mail or p.upn or p.sam or "", p.telephone or p.mobile or "", p.department or ""]
    flag = "  [disabled]" if p.disabled else ""
    return f"{p.display_name}{flag}  " + "  ".join(x for x in parts if x)


def search(directory: Any, fragment: str, limit: int, out: TextIO) -> int:
    """Print the people whose name, address, account name or phone number matches."""
    started = time.perf_counter()
    try:
        people = directory.search_people(fragment, limit)
    except DirectoryError as exc:
        print(f"the directory did not answer: {exc}", file=out)
        return 1
    for p in people:
        print(_one_line(p), file=out)
    print(f"({len(people)} {'person' if len(people) == 1 else 'people'} in {time.perf_counter() - started:.2f} s)",
          file=out)
    return 0 if people else 1


def check(directory: Any, out: TextIO) -> int:
    """Bind and search on every server in turn, timing each step, and say in plain words what failed."""
    settings: DirectorySettings = directory.settings
    who = f"as {settings.bind_dn} (password from {PASSWORD_ENV})" if settings.bind_dn else "anonymously"
    print(f"Checking {len(settings.servers)} server(s) in failover order, binding {who}, "
          f"timeouts: connect {settings.connect_timeout_seconds:g} s, answer {settings.receive_timeout_seconds} s.",
          file=out)
    reports = directory.check()
    for report in reports:
        print(report.url, file=out)
        for step in report.steps:
            print(f"  {'ok' if step.ok else 'FAIL':<5} {step.name:<9} {step.seconds * 1000:7.1f} ms  {step.detail}",
                  file=out)
    for warning in directory.warnings():
        print(f"Warning: {warning}", file=out)
    working = [r.url for r in reports if r.ok]
    if len(working) == len(reports):
        print("OK: every server answered; lookups will pre-fill the ticket form.", file=out)
        return 0
    if working:
        print(f"Lookups will work through {', '.join(working)}, but "
              f"{len(reports) - len(working)} of {len(reports)} servers failed (see above).", file=out)
    else:
        print("The directory cannot be used: every server failed a step (see above). The bot still works "
              "without it and asks requesters for their contact details.", file=out)
    return 1
