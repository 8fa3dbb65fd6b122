"""Who is calling: finding a person by name, email, user name, platform mention or phone,
in the directory when there is one and among the help desk's known requesters always.

Phone numbers compare as `bot.directory.same_phone` says: digits only, so `+1 (555) 0142` finds
`+1 555 0142`, and a number dialled inside its country (`020 7946 0018`) finds the same number
written with its country code (`+44 20 7946 0018`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from bot.directory import digits_only as digits, same_phone  # one rule for the directory and known requesters
from bot.model import PHONE_PREFIX

# A person @mentioned in a line, as every chat adapter writes it before the core sees it:
# `<@identity>` (the identity is `<platform>:<id>`), optionally `<@identity|name>`.
MENTION = re.compile(r"^<@([^\s<>|]+)(?:\|[^>]*)?>$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PHONE_DIGITS = 6  # fewer digits than this is not a phone number to open a ticket for


@dataclass(frozen=True)
class Person:
    identity: str  # how the help desk knows them: an email, or <platform>:<id>
    name: str
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    department: str | None = None
    office: str | None = None
    title: str | None = None
    manager: str | None = None
    source: str = "help desk"  # or "directory"
    disabled: bool = False  # the directory says the account is disabled: they cannot sign in


def looks_like_phone(text: str) -> bool:
    """Whether `text` is a phone number to look someone up by: six digits or more, no letters."""
    return len(digits(text)) >= MIN_PHONE_DIGITS and not re.search(r"[A-Za-z@]", text)


def from_directory(entry: Any) -> Person:
    """The directory port's person as the core's Person (email is the identity)."""
    email = getattr(entry, "mail", None) or getattr(entry, "upn", None)
    return Person(
        identity=(email or getattr(entry, "sam", "") or "").lower(), name=getattr(entry, "display_name", None) or email or "?",
        email=email, phone=getattr(entry, "telephone", None), mobile=getattr(entry, "mobile", None),
        department=getattr(entry, "department", None), office=getattr(entry, "office", None),
        title=getattr(entry, "title", None), manager=getattr(entry, "manager_name", None), source="directory",
        disabled=bool(getattr(entry, "disabled", False)))


def merge(found: Iterable[Person], limit: int) -> list[Person]:
    """Directory entries first, one row per identity."""
    seen: dict[str, Person] = {}
    for person in sorted(found, key=lambda p: p.source != "directory"):
        seen.setdefault(person.identity, person)
    return list(seen.values())[:limit]


def new_caller(who: str, name: str) -> Person | None:
    """A first-time caller as a technician gives them: known by their email, or (no email) by their
    phone number as `tel:+<digits>`; None when `who` is neither an email nor a phone number."""
    who = who.strip()
    if EMAIL.match(who):
        return Person(who.lower(), name, email=who.lower(), source="given")
    if looks_like_phone(who):
        return Person(f"{PHONE_PREFIX}{'+' if who.startswith('+') else ''}{digits(who)}", name, phone=who, source="given")
    return None
