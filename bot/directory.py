"""The directory port: who a requester is and which computers they look after.

`Directory` is what a directory implementation answers (blocking, may fail);
`DirectoryPort` is what the core calls: the same questions with an overall time limit,
never raising, which the directory's adapter provides (it turns a directory that is down,
slow or refusing the bind into "no pre-fill" plus one warning in the log). A ticket is
never held hostage by the directory.

Nothing here knows how a directory is reached or configured; values are plain and immutable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol, runtime_checkable

SEARCH_LIMIT = 10
KEY_MAX = 256  # longer keys are not names, addresses or account names: answered "unknown" without asking


class DirectoryError(Exception):
    """The directory could not answer (unreachable, too slow, TLS or bind refused, bad base DN).

    The message is a sentence an operator can act on."""


class DirectoryConfigError(DirectoryError):
    """The directory settings cannot work (a missing password, a base DN that is not a DN)."""


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Person:
    display_name: str
    mail: str | None = None
    upn: str | None = None  # userPrincipalName
    sam: str | None = None  # sAMAccountName
    telephone: str | None = None
    mobile: str | None = None
    title: str | None = None
    department: str | None = None
    office: str | None = None
    manager_name: str | None = None
    disabled: bool = False
    dn: str | None = None  # the directory's own name for the entry; never built from input

    @property
    def phone(self) -> str | None:
        """The number to offer on the intake form: the desk phone, else the mobile."""
        return self.telephone or self.mobile

    @property
    def identity(self) -> str | None:
        """The best key to find this person again."""
        return self.mail or self.upn or self.sam


@dataclass(frozen=True)
class Computer:
    name: str
    os: str | None = None
    os_version: str | None = None
    location: str | None = None
    dns_name: str | None = None
    dn: str | None = None

    @property
    def label(self) -> str:
        """`PC-0042 (Windows 11 Enterprise 10.0 (22631))`: how a device choice is shown."""
        system = " ".join(p for p in (self.os, self.os_version) if p)
        return f"{self.name} ({system})" if system else self.name


LookupState = Literal["found", "unknown", "unavailable", "off"]


@dataclass(frozen=True)
class Profile:
    """What the intake form can pre-fill for a requester, and why it may be empty.

    `state`: found; unknown (the directory answered: nobody by that key);
    unavailable (down, slow or refused: ask the requester); off (no directory)."""

    state: LookupState
    person: Person | None = None
    computers: tuple[Computer, ...] = ()

    @property
    def location(self) -> str | None:
        """Where the requester sits: their office, else the location of their only computer."""
        if self.person and self.person.office:
            return self.person.office
        places = {c.location for c in self.computers if c.location}
        return places.pop() if len(places) == 1 else None


@runtime_checkable
class Directory(Protocol):
    """What the core needs from a directory. Blocking; may raise (DirectoryError or anything
    else) when the directory cannot answer. Not found is None or an empty list, not an error."""

    def find_person(self, key: str) -> Person | None:
        """By email, userPrincipalName or account name (sAMAccountName, DOMAIN\\name)."""

    def computers_of(self, person: Person) -> list[Computer]:
        """The computers the person manages (managedBy), by name."""

    def find_computer(self, name: str) -> Computer | None:
        """By computer name, host name or account name (NAME$)."""

    def search_people(self, fragment: str, limit: int = SEARCH_LIMIT) -> list[Person]:
        """Display-name (or given/surname) prefix, mail, account name, or a phone number compared
        digits only; at most `limit` people, sorted by name."""


# ---------------------------------------------------------------------------- phone numbers

PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-/]+$")
SUFFIX_DIGITS = 6  # a number written without its country code matches when this many digits or more agree
# (the same rule as bot/people.py, so directory matches and known requesters agree)


def digits_only(text: str | None) -> str:
    """The digits of a phone number (or of anything), in order; "" for None."""
    return "".join(ch for ch in text or "" if ch.isdigit())


def looks_like_phone(fragment: str) -> bool:
    """Whether a search fragment is a phone number (digits, spaces, `+().-/`, three digits or more)."""
    return bool(PHONE_SHAPE.match(fragment.strip())) and len(digits_only(fragment)) >= 3


def same_phone(query: str | None, stored: str | None) -> bool:
    """Whether two written phone numbers are the same number; symmetric.

    - `+1 (555) 0142` is `+1 555 0142`: numbers compare by their digits;
    - a number written without its country code matches when the shorter has at least
      `SUFFIX_DIGITS` digits and the longer ends with it (`555 0142`, `020 7946 0018` for
      `+44 (0)20 7946 0018`);
    - a number written as it is dialled inside its country, with the trunk prefix, matches
      the number written with its country code: `020 7946 0018` is `+44 20 7946 0018`,
      `0171 234 5678` is `+49 171 2345678`, `8 495 123 4567` is `+7 495 123 4567`. Which
      prefix a country uses comes from libphonenumber's data (`national_forms`); a country
      without one (Italy: the 0 belongs to the number) matches by the suffix rule alone.

    Fewer than `SUFFIX_DIGITS` digits on either side match only an identical number, so a
    short fragment never matches everything."""
    q, s = digits_only(query), digits_only(stored)
    if not q or not s:
        return False
    if q == s:
        return True
    if min(len(q), len(s)) < SUFFIX_DIGITS:
        return False
    if s.endswith(q) or q.endswith(s):
        return True
    if q[-SUFFIX_DIGITS:] != s[-SUFFIX_DIGITS:]:  # every form of a number ends with its own last digits
        return False
    return s in national_forms(query or "") or q in national_forms(stored or "")


@lru_cache(maxsize=8192)
def national_forms(number: str) -> frozenset[str]:
    """The digit strings a number written with its country code (`+44 20 7946 0018`,
    `0044 20 7946 0018`, `+44 (0)20 7946 0018`) is known by: its international digits
    (`442079460018`) and, for each trunk prefix its country's regions use, how it is dialled
    inside the country (`02079460018`). Empty for a number written without a country code,
    or one libphonenumber cannot read."""
    text = number.strip()
    digits = digits_only(text)
    if text.startswith("00"):
        text, digits = "+" + digits[2:], digits[2:]
    if not text.startswith("+") or len(digits) < SUFFIX_DIGITS:
        return frozenset()
    import phonenumbers  # its metadata loads on first use; most lookups never need it
    from phonenumbers import NumberParseException, PhoneMetadata

    try:
        parsed = phonenumbers.parse(text, None)
    except NumberParseException:
        return frozenset()
    national = phonenumbers.national_significant_number(parsed)
    forms = {f"{parsed.country_code}{national}"}
    for region in phonenumbers.region_codes_for_country_code(parsed.country_code):
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is not None and metadata.national_prefix:
            forms.add(metadata.national_prefix + national)
    return frozenset(f for f in forms if len(f) >= SUFFIX_DIGITS)


@runtime_checkable
class DirectoryPort(Protocol):
    """What the core calls: a Directory's questions with an overall time limit each, never
    raising; a directory that cannot answer in time answers "nothing known" (None, [], or a
    Profile whose state says why)."""

    @property
    def enabled(self) -> bool:
        """Whether a directory is configured at all."""

    def profile(self, key: str, *, with_computers: bool = True) -> Profile:
        """The person by email or account name, and their computers: what an intake pre-fills."""

    def search_people(self, fragment: str, limit: int = SEARCH_LIMIT) -> list[Person]:
        """As Directory.search_people, within the time limit; [] when the directory cannot answer."""

    def find_person(self, key: str) -> Person | None:
        """As Directory.find_person, within the time limit; None when the directory cannot answer."""
