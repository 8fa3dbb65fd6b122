"""The directory port: who a requester is and which computers they look after.

The core asks a `Directory` (Active Directory through `adapters/ldap`, or nothing at
all) and only ever through a `Lookup`, which puts an overall time limit on every
question, caches answers for a while, and turns a directory that is down, slow or
refusing the bind into "no pre-fill" plus one warning in the log. A ticket is never
held hostage by the directory: the next lookup simply tries again.

Nothing here imports an LDAP library; values are plain and immutable.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

log = logging.getLogger("helpdesk.directory")

PASSWORD_ENV = "HELPDESK_LDAP_PASSWORD"
PEOPLE_FILTER = "(&(objectClass=user)(!(objectClass=computer)))"
COMPUTER_FILTER = "(objectClass=computer)"
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
    return "".join(ch for ch in text or "" if ch.isdigit())


def looks_like_phone(fragment: str) -> bool:
    return bool(PHONE_SHAPE.match(fragment.strip())) and len(digits_only(fragment)) >= 3


def same_phone(query: str, stored: str | None) -> bool:
    """`+1 (555) 0142` is `+1 555 0142`: numbers compare by their digits. A number written
    without its country code still matches when the shorter has at least six digits and
    the longer ends with it."""
    q, s = digits_only(query), digits_only(stored)
    if not q or not s:
        return False
    if q == s:
        return True
    return min(len(q), len(s)) >= SUFFIX_DIGITS and (s.endswith(q) or q.endswith(s))


# ---------------------------------------------------------------------------- settings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


class DirectoryAttributes(_Strict):
    """Which LDAP attribute holds each field. Active Directory's names by default; an empty
    string means the directory has no such attribute and it is left out."""

    display_name: str = "displayName"
    given_name: str = "givenName"
    surname: str = "sn"
    mail: str = "mail"
    upn: str = "userPrincipalName"
    sam: str = "sAMAccountName"
    telephone: str = "telephoneNumber"
    mobile: str = "mobile"
    title: str = "title"
    department: str = "department"
    office: str = "physicalDeliveryOfficeName"
    manager: str = "manager"
    account_control: str = "userAccountControl"
    computer_name: str = "cn"
    dns_host_name: str = "dNSHostName"
    operating_system: str = "operatingSystem"
    os_version: str = "operatingSystemVersion"
    location: str = "location"
    managed_by: str = "managedBy"

    @model_validator(mode="after")
    def _names(self) -> "DirectoryAttributes":
        for key, value in self.model_dump().items():
            if value and not ATTRIBUTE_NAME.match(value):
                raise ValueError(f"attributes.{key}: {value!r} is not an LDAP attribute name (letters, digits, hyphens)")
        if not self.display_name or not self.computer_name:
            raise ValueError("attributes: display_name and computer_name cannot be left out")
        return self


def _balanced_filter(text: str) -> str:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            break
    if not (text.startswith("(") and text.endswith(")")) or depth != 0:
        raise ValueError(f"{text!r} is not an LDAP filter in parentheses, e.g. {PEOPLE_FILTER}")
    return text


def _dn_shaped(text: str) -> str:
    text = text.strip()
    if "=" not in text:
        raise ValueError(f"{text!r} is not a DN (e.g. DC=corp,DC=example)")
    return text


class DirectorySettings(_Strict):
    """`[directory]`: Active Directory (or another LDAP server) for requester details.

    The bind password is never in the file: it comes from HELPDESK_LDAP_PASSWORD."""

    servers: list[str] = Field(min_length=1)  # ldaps:// or ldap:// URLs, tried in this order
    base_dn: str = Field(min_length=1)
    user_base: str | None = None  # where people are searched (default: base_dn)
    computer_base: str | None = None  # where computers are searched (default: base_dn)
    bind_dn: str | None = None  # a DN, user@domain or DOMAIN\user; none: anonymous
    start_tls: bool = True  # for ldap:// URLs: upgrade with StartTLS before binding
    allow_plaintext: bool = False  # ldap:// with start_tls = false sends the password in clear text
    verify_certificates: bool = True
    ca_file: str | None = None  # PEM file of the CA(s) that sign the servers' certificates (default: the system's)
    connect_timeout_seconds: float = Field(default=3, gt=0, le=60)
    receive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    lookup_timeout_seconds: float = Field(default=1.5, gt=0, le=60)  # then the form is offered without pre-fill
    retry_failed_server_seconds: float = Field(default=30, ge=0)  # a server that failed is tried last this long
    page_size: int = Field(default=500, ge=1, le=10000)
    cache_ttl_seconds: float = Field(default=300, ge=0)  # 0: ask the directory every time
    person_filter: str = PEOPLE_FILTER
    computer_filter: str = COMPUTER_FILTER
    attributes: DirectoryAttributes = Field(default_factory=DirectoryAttributes)

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_file(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in ("password", "bind_password"):
                if key in data:
                    raise ValueError(f"{key}: the bind password is read from the environment variable "
                                     f"{PASSWORD_ENV} only, never from the configuration file")
        return data

    @field_validator("servers")
    @classmethod
    def _urls(cls, servers: list[str]) -> list[str]:
        seen: list[str] = []
        for i, url in enumerate(servers, start=1):
            url = url.strip()
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
                raise ValueError(f"servers[{i}]: {url!r} is not an ldaps://host[:port] or ldap://host[:port] URL")
            try:
                parts.port
            except ValueError:
                raise ValueError(f"servers[{i}]: {url!r} has a port that is not a number") from None
            if parts.path not in ("", "/") or parts.query or parts.username:
                raise ValueError(f"servers[{i}]: {url!r}: give only scheme, host and port; the base DN is base_dn")
            if url not in seen:
                seen.append(url)
        return seen

    @field_validator("base_dn", "user_base", "computer_base")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        return None if value is None else _dn_shaped(value)

    @field_validator("person_filter", "computer_filter")
    @classmethod
    def _filters(cls, value: str) -> str:
        return _balanced_filter(value.strip())

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{value!r} does not exist or is not a file (a PEM file with your CA's certificate)")
        return value

    @field_validator("bind_dn")
    @classmethod
    def _bind(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @model_validator(mode="after")
    def _transport(self) -> "DirectorySettings":
        plain = [u for u in self.servers if urlsplit(u).scheme.lower() == "ldap"]
        if plain and not self.start_tls and not self.allow_plaintext:
            raise ValueError(f"{plain[0]} with start_tls = false would send the bind password in clear text: "
                             "use ldaps://, keep start_tls = true, or set allow_plaintext = true")
        return self

    # Derived views.

    @property
    def people_base(self) -> str:
        return self.user_base or self.base_dn

    @property
    def computers_base(self) -> str:
        return self.computer_base or self.base_dn

    def password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The bind password, from the environment only."""
        env = os.environ if env is None else env
        return env.get(PASSWORD_ENV) or None


# ---------------------------------------------------------------------------- the guard

T = TypeVar("T")
_MISSING = object()


class TTLCache:
    """A small thread-safe cache whose entries expire; the oldest go first when it is full."""

    def __init__(self, ttl: float, max_entries: int = 2048, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return _MISSING
            if hit[0] <= self.clock():
                del self._data[key]
                return _MISSING
            return hit[1]

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if ttl <= 0:
            return
        with self._lock:
            self._data.pop(key, None)
            self._data[key] = (self.clock() + ttl, value)
            while len(self._data) > self.max_entries:
                del self._data[next(iter(self._data))]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def _normal_key(key: str | None) -> str | None:
    key = (key or "").strip()
    if not key or len(key) > KEY_MAX:
        return None
    return key


class Lookup:
    """Any Directory, made safe for the core to call.

    Each question gets at most `time_limit` seconds. When the directory is down, slow or
    refuses the bind, the answer is "nothing known" (None, [] or Profile state
    "unavailable") and exactly one warning is logged for that question; nothing is
    remembered about the failure, so the next question asks the directory again. An answer
    that arrives after the time limit still lands in the cache for the next question.

    Answers (including "nobody by that key", for a shorter while) are cached for
    `cache_ttl` seconds. Blocking: call it from a worker thread (asyncio.to_thread)."""

    def __init__(self, directory: Directory | None, *, time_limit: float = 1.5, cache_ttl: float = 300.0,
                 negative_ttl: float = 60.0, workers: int = 4, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger | None = None) -> None:
        self.directory = directory
        self.time_limit = time_limit
        self.negative_ttl = negative_ttl
        self.cache = TTLCache(cache_ttl, clock=clock)
        self.log = logger or log
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_settings(cls, directory: Directory | None, settings: DirectorySettings | None, **kw: Any) -> "Lookup":
        if directory is None or settings is None:
            return cls(None)
        return cls(directory, time_limit=settings.lookup_timeout_seconds, cache_ttl=settings.cache_ttl_seconds, **kw)

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    # The Directory protocol, never raising.

    def find_person(self, key: str) -> Person | None:
        return self.profile(key, with_computers=False).person

    def computers_of(self, person: Person) -> list[Computer]:
        if self.directory is None:
            return []
        value = self._guarded(f"the computers of {person.identity or person.display_name!r}",
                              lambda: self._computers(person), _MISSING)
        return [] if value is _MISSING else list(value)

    def find_computer(self, name: str) -> Computer | None:
        name_key = _normal_key(name)
        if self.directory is None or name_key is None:
            return None
        directory, key = self.directory, ("computer", name_key.casefold())
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return hit
        return self._guarded(f"computer {name_key!r}", lambda: self._cached(
            key, lambda: directory.find_computer(name_key)), None)

    def search_people(self, fragment: str, limit: int = SEARCH_LIMIT) -> list[Person]:
        fragment_key = _normal_key(fragment)
        if self.directory is None or fragment_key is None or limit < 1:
            return []
        directory, key = self.directory, ("search", fragment_key.casefold(), limit)
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return list(hit)
        return list(self._guarded(f"people matching {fragment_key!r}", lambda: self._cached(
            key, lambda: tuple(directory.search_people(fragment_key, limit))), []))

    def profile(self, key: str, *, with_computers: bool = True) -> Profile:
        """The requester and their computers, in one time budget: what the intake form pre-fills."""
        if self.directory is None:
            return Profile("off")
        person_key = _normal_key(key)
        if person_key is None:
            return Profile("unknown")
        directory, key = self.directory, ("person", person_key.casefold())
        cached = self._cached_profile(key, with_computers)
        if cached is not None:
            return cached
        known: list[Person] = []  # the person, once found, even if their computers fail or come late

        def ask() -> Profile:
            person = self._cached(key, lambda: directory.find_person(person_key))
            if person is None:
                return Profile("unknown")
            known.append(person)
            computers = self._computers(person) if with_computers else ()
            return Profile("found", person, tuple(computers))

        value = self._guarded(f"person {person_key!r}", ask, _MISSING)
        if value is _MISSING:
            return Profile("found", known[0]) if known else Profile("unavailable")
        return value

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    # Internals.

    def _cached_profile(self, key: Any, with_computers: bool) -> Profile | None:
        """The answer from the cache alone, without a trip to a worker thread; None if not all there."""
        person = self.cache.get(key)
        if person is _MISSING:
            return None
        if person is None:
            return Profile("unknown")
        if not with_computers:
            return Profile("found", person)
        computers = self.cache.get(self._computers_key(person))
        return None if computers is _MISSING else Profile("found", person, computers)

    @staticmethod
    def _computers_key(person: Person) -> Any:
        return ("computers", (person.dn or person.identity or person.display_name).casefold())

    def _computers(self, person: Person) -> tuple[Computer, ...]:
        assert self.directory is not None
        directory = self.directory
        return self._cached(self._computers_key(person), lambda: tuple(directory.computers_of(person)))

    def _cached(self, key: Any, ask: Callable[[], T]) -> T:
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return hit
        value = ask()
        self.cache.put(key, value, ttl=self.negative_ttl if value is None or value == () or value == [] else None)
        return value

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="directory")
            return self._pool

    def _guarded(self, what: str, ask: Callable[[], T], failed: Any) -> Any:
        """Run `ask` within the time limit; on failure log one warning and return `failed`."""
        started = time.monotonic()
        future: Future = self._executor().submit(ask)
        try:
            return future.result(timeout=self.time_limit)
        except FutureTimeout:
            future.cancel()  # still queued behind slow lookups: never runs; running: finishes into the cache
            future.add_done_callback(_late(self.log, what))
            self.log.warning("directory: no answer about %s within %.1f s; carrying on without it "
                             "(the next lookup asks again)", what, self.time_limit)
        except DirectoryError as exc:
            self.log.warning("directory: could not look up %s after %.1f s: %s; carrying on without it "
                             "(the next lookup asks again)", what, time.monotonic() - started, exc)
        except Exception as exc:  # a bug or an unexpected library error must not cost the ticket either
            self.log.warning("directory: looking up %s failed unexpectedly (%s: %s); carrying on without it",
                             what, type(exc).__name__, exc, exc_info=True)
        return failed


def _late(logger: logging.Logger, what: str) -> Callable[[Future], None]:
    def done(future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            logger.debug("directory: the late answer about %s arrived and is cached", what)
        else:  # already warned once at the time limit
            logger.debug("directory: the late lookup of %s failed too: %s", what, exc)
    return done
