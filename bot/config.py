"""One typed settings object, loaded once from a TOML file and the environment.

A bad file fails at start-up with the key and the reason, never later at the
first ticket that happens to touch the broken part.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.knowledge import MIN_FIX_CHARS, NOT_FIXES
from bot.model import Severity

DEFAULT_CATEGORIES: dict[str, dict[str, Any]] = {
    "hardware": {"description": "Computers, screens, docks, peripherals", "keywords": ["laptop", "screen", "monitor", "keyboard", "mouse", "dock", "battery", "headset", "desktop"]},
    "software": {"description": "Applications, installs, licences, crashes", "keywords": ["install", "crash", "app", "application", "licence", "license", "update", "excel", "word"]},
    "network": {"description": "Wi-Fi, VPN, cabling, connectivity", "keywords": ["wifi", "wi-fi", "vpn", "network", "internet", "ethernet", "dns", "connection"]},
    "account": {"description": "Logins, passwords, access rights", "keywords": ["password", "login", "log in", "locked", "account", "access", "mfa", "permission"]},
    "email": {"description": "Mailboxes, calendars, distribution lists", "keywords": ["email", "e-mail", "outlook", "mailbox", "calendar", "inbox"]},
    "printer": {"description": "Printers, scanners, copiers", "keywords": ["printer", "print", "toner", "scanner", "paper", "jam", "jams"]},
    "security": {"description": "Phishing, malware, lost devices, suspicious activity", "keywords": ["phishing", "virus", "malware", "stolen", "lost", "suspicious", "breach", "ransomware"], "kb_public": False},
    "other": {"description": "Anything else", "keywords": []},
}

DEFAULT_SEVERITIES: dict[str, dict[str, Any]] = {
    "critical": {"guidance": "Many people or a whole site cannot work, or data or security is at risk right now.", "first_response_minutes": 15, "resolution_minutes": 4 * 60},
    "high": {"guidance": "You cannot work and there is no workaround, or a deadline today is at risk.", "first_response_minutes": 60, "resolution_minutes": 8 * 60},
    "medium": {"guidance": "Work is slowed or a workaround exists; needs fixing within days.", "first_response_minutes": 4 * 60, "resolution_minutes": 3 * 24 * 60},
    "low": {"guidance": "A question, a request or an annoyance that does not stop work.", "first_response_minutes": 24 * 60, "resolution_minutes": 5 * 24 * 60},
}

DEFAULT_GROUP = "service-desk"

# Environment variables that override or complete the file, and where they land. Each
# adapter adds its own (tokens, secrets) when it composes the full settings.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database_url",),
    "HELPDESK_TIMEZONE": ("timezone",),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Technician(_Strict):
    """A technician: their name, every identity they are known by, and whether they also want
    their groups' pages at the terminal when a chat channel already carries them (`terminal`)."""

    name: str = Field(min_length=1)
    ids: list[str] = Field(min_length=1)
    terminal: bool = False

    @field_validator("ids")
    @classmethod
    def _normalise_ids(cls, ids: list[str]) -> list[str]:
        return [normalise_identity(i) for i in ids]


class Group(_Strict):
    """An assignment group: who is in it, and where it is reached on each chat platform
    (`channels` and `mentions` map a platform's name to its channel id and to the mention that
    pages the group there; each platform's adapter checks the values' shape)."""

    description: str = ""
    members: list[str] = Field(default_factory=list)
    ack_timeout_minutes: float | None = Field(default=None, gt=0)  # overrides [escalation] for this level
    channels: dict[str, str] = Field(default_factory=dict)
    mentions: dict[str, str] = Field(default_factory=dict)

    @field_validator("members")
    @classmethod
    def _normalise_members(cls, members: list[str]) -> list[str]:
        return [normalise_identity(m) for m in members]


class Category(_Strict):
    description: str = ""
    escalation: list[str] = Field(default_factory=lambda: [DEFAULT_GROUP], min_length=1)
    keywords: list[str] = Field(default_factory=list)
    kb_public: bool = True  # its resolutions may be suggested to requesters, not only to technicians


class SeverityPolicy(_Strict):
    guidance: str = Field(min_length=1)
    first_response_minutes: float = Field(gt=0)
    resolution_minutes: float = Field(gt=0)
    pause_while_waiting: bool = True  # the resolution clock stands still while the ticket waits on its requester


class Escalation(_Strict):
    """Automatic escalation, like a pager's escalation policy."""

    enabled: bool = True
    ack_timeout_minutes: float = Field(default=30, gt=0)  # how long each level has to claim before the next is paged
    repeat: int = Field(default=2, ge=0)  # extra pages of the top level, one per timeout, before it stops
    warning_minutes: float = Field(default=5, ge=0)  # a warning in the ticket's thread this long before each breach
    page_critical_at_creation: bool = True
    sweep_seconds: float = Field(default=10, gt=0)  # how often `helpdesk serve` looks for due SLA steps


class Stale(_Strict):
    """Tickets waiting on their requester: a reminder after `nudge_after_days`, then resolved for
    want of an answer after `close_after_days` (business days since the question; 0 turns a step
    off, `enabled = false` both)."""

    enabled: bool = True
    nudge_after_days: int = Field(default=2, ge=0, le=365)
    close_after_days: int = Field(default=5, ge=0, le=365)

    @model_validator(mode="after")
    def _nudge_before_close(self) -> "Stale":
        if self.nudge_after_days and self.close_after_days and self.close_after_days <= self.nudge_after_days:
            raise ValueError(f"stale: close_after_days ({self.close_after_days}) must be more than "
                             f"nudge_after_days ({self.nudge_after_days}), or 0 to never resolve")
        return self


class KnowledgeSettings(_Strict):
    """Suggestions from past resolutions: how sure the match must be, and how many to show."""

    enabled: bool = True
    requester_floor: float = Field(default=0.35, ge=0, le=1)
    technician_floor: float = Field(default=0.25, ge=0, le=1)
    requester_limit: int = Field(default=3, ge=1, le=10)
    technician_limit: int = Field(default=5, ge=1, le=20)
    # Resolutions that say why nothing was fixed are offered to nobody (compared case-insensitively),
    # nor are ones with fewer than min_fix_chars letters and digits.
    not_fixes: list[str] = Field(default_factory=lambda: list(NOT_FIXES))
    min_fix_chars: int = Field(default=MIN_FIX_CHARS, ge=0, le=100)
    # Where the index files live (relative to the working directory); default: next to the
    # SQLite file (helpdesk.db.kb/), or .helpdesk-cache/knowledge/ for PostgreSQL.
    index_dir: str | None = None
    # The server searches in a process of its own (storage/kb_process.py), off the lock its answers
    # need; false keeps the index in the serving process (a host that cannot start processes).
    own_process: bool = True


class ReportSettings(_Strict):
    """The weekly digest each group gets in its channel."""

    digest: bool = False
    digest_day: str = "mon"
    digest_hour: int = Field(default=9, ge=0, le=23)
    timezone: str | None = None  # default: the help desk's time zone

    @field_validator("digest_day")
    @classmethod
    def _day(cls, day: str) -> str:
        day = day.lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"unknown day {day!r} (use mon, tue, wed, thu, fri, sat, sun)")
        return day

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        return zone if zone is None else Settings._known_zone(zone)


class Delivery(_Strict):
    """How the outbox is delivered by `helpdesk serve`."""

    lease_seconds: float = Field(default=60, gt=0)  # a replica that dies holding messages frees them after this
    poll_seconds: float = Field(default=1, gt=0)  # how often to look for messages queued by other replicas


class IncidentSettings(_Strict):
    """Major incidents: when alike open tickets are proposed as one incident (at least
    `min_tickets` opened within `window_minutes`), and how alike is alike. Two tickets are alike
    when the knowledge base's similarity (confidence 0..1) reaches `likeness`; a ticket belongs
    to a group when it is alike to one of its members and its mean similarity to all of them
    reaches `cohesion` (the same rule decides whether a new ticket joins an open incident)."""

    enabled: bool = True  # look for surges and propose incidents (declaring and linking by hand always work)
    min_tickets: int = Field(default=5, ge=2)
    window_minutes: float = Field(default=15, gt=0)
    likeness: float = Field(default=0.3, ge=0, le=1)
    cohesion: float = Field(default=0.2, ge=0, le=1)
    join_open: bool = True  # a new ticket like an open incident is linked to it at once
    # The server looks in a process of its own (adapters/surge_look.py), off the lock its answers
    # need (not on an in-memory database); false keeps it in the SLA sweep.
    own_process: bool = True


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHours(_Strict):
    """When the low and medium clocks run; outside these hours they stand still."""

    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="17:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    severities: list[Severity] = Field(default_factory=lambda: [Severity.LOW, Severity.MEDIUM])

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        days = [d.lower()[:3] for d in days]
        for d in days:
            if d not in WEEKDAYS:
                raise ValueError(f"unknown day {d!r} (use mon, tue, wed, thu, fri, sat, sun)")
        return days

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        return Settings._known_zone(zone)

    @model_validator(mode="after")
    def _start_before_end(self) -> "BusinessHours":
        if self.start >= self.end:
            raise ValueError(f"business_hours: start {self.start} must be before end {self.end}")
        return self


class Settings(_Strict):
    database_url: str = "sqlite:///helpdesk.db"
    timezone: str = "UTC"
    default_severity: Severity = Severity.MEDIUM
    default_category: str = "other"
    technicians: list[Technician] = Field(default_factory=list)
    groups: dict[str, Group] = Field(default_factory=lambda: {DEFAULT_GROUP: Group(description="First-line triage")})
    categories: dict[str, Category] = Field(default_factory=lambda: {k: Category(**v) for k, v in DEFAULT_CATEGORIES.items()})
    severities: dict[Severity, SeverityPolicy] = Field(default_factory=dict, validate_default=True)
    escalation: Escalation = Field(default_factory=Escalation)
    stale: Stale = Field(default_factory=Stale)
    delivery: Delivery = Field(default_factory=Delivery)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    business_hours: BusinessHours | None = None
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)

    @field_validator("severities", mode="before")
    @classmethod
    def _complete_severities(cls, given: Any) -> Any:
        """Each severity keeps its defaults for whatever the file leaves out."""
        if not isinstance(given, Mapping):
            return given
        merged: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_SEVERITIES.items()}
        for name, policy in given.items():
            key = name.value if isinstance(name, Severity) else name
            if key in merged and isinstance(policy, Mapping):
                merged[key].update(policy)
            elif key in merged and isinstance(policy, SeverityPolicy):
                merged[key] = policy.model_dump()
            else:
                merged[key] = policy
        return merged

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)") from None
        return zone

    @model_validator(mode="after")
    def _references_resolve(self) -> "Settings":
        if not self.categories:
            raise ValueError("categories: at least one category is needed")
        if self.default_category not in self.categories:
            raise ValueError(f"default_category: {self.default_category!r} is not one of the categories ({', '.join(self.categories)})")
        for name, category in self.categories.items():
            for level, group in enumerate(category.escalation, start=1):
                if group not in self.groups:
                    raise ValueError(f"categories.{name}.escalation[{level}]: group {group!r} is not defined under [groups]")
        seen: dict[str, str] = {}
        for tech in self.technicians:
            for ident in tech.ids:
                if ident in seen and seen[ident] != tech.name:
                    raise ValueError(f"technicians: id {ident!r} belongs to both {seen[ident]!r} and {tech.name!r}")
                seen[ident] = tech.name
        return self

    # Derived views, computed once per settings object.

    def chat_platforms(self) -> list[str]:
        """The chat platforms that are set up and deliver messages, by name. The core knows of
        none: the adapters' settings (adapters/settings.py) list those configured."""
        return []

    @property
    def zone(self) -> ZoneInfo:
        """The help desk's time zone, for dates shown and days counted in reports."""
        return ZoneInfo(self.timezone)

    def policy(self, severity: Severity) -> SeverityPolicy:
        """The first-response and resolution targets (minutes) and the guidance for a severity."""
        return self.severities[severity]

    def all_technicians(self) -> list[Technician]:
        """Listed technicians plus group members that are not listed (named by their id)."""
        known = {i for t in self.technicians for i in t.ids}
        extra: dict[str, Technician] = {}
        for group in self.groups.values():
            for member in group.members:
                if member not in known and member not in extra:
                    extra[member] = Technician(name=member.split("@")[0].split(":")[-1], ids=[member])
        return [*self.technicians, *extra.values()]

    def technician_for(self, ids: frozenset[str] | set[str]) -> Technician | None:
        """The technician any of these identities belongs to (listed, or a member of a group); None if nobody's."""
        for tech in self.all_technicians():
            if ids.intersection(tech.ids):
                return tech
        return None

    def groups_of(self, ids: frozenset[str] | set[str]) -> list[str]:
        """The groups a person (any of their identities, or their technician entry's) is a member of, in config order."""
        tech = self.technician_for(ids)
        all_ids = set(ids) | set(tech.ids if tech else [])
        return [name for name, group in self.groups.items() if all_ids.intersection(group.members)]

    def chain(self, category: str) -> list[str]:
        """The escalation chain of a category: group names, level 1 first. Raises KeyError for an unknown category."""
        return self.categories[category].escalation

    def ack_timeout(self, group: str | None) -> float:
        """Minutes a level has to claim an escalated ticket before the next level is paged."""
        own = self.groups[group].ack_timeout_minutes if group in self.groups else None
        return own or self.escalation.ack_timeout_minutes

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets replaced by asterisks."""
        data = self.model_dump(mode="json")
        data["technicians"] = [t.model_dump(mode="json") for t in self.all_technicians()]
        data["database_url"] = mask_url(self.database_url)
        return data


def normalise_identity(identity: str) -> str:
    """Emails compare case-insensitively; platform ids (`<platform>:<id>`) keep their case."""
    identity = identity.strip()
    if ":" not in identity and "@" in identity:
        return identity.lower()
    return identity


def mask_url(url: str) -> str:
    """Hide the password in a database URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for problem in error.errors():
        loc = ".".join(str(p) for p in problem["loc"])
        msg = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against helpdesk.example.toml)"
        lines.append(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}")
    return "\n".join(lines)


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read: $HELPDESK_CONFIG, else ./helpdesk.toml when it exists, else None."""
    env = os.environ if env is None else env
    if env.get("HELPDESK_CONFIG"):
        return Path(env["HELPDESK_CONFIG"])
    default = Path("helpdesk.toml")
    return default if default.exists() else None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None, *, model: type[Settings] = Settings,
                  env_keys: Mapping[str, tuple[str, ...]] = ENV_KEYS) -> Settings:
    """Read the TOML file (if any), lay the environment over it, validate everything into
    `model` (the core's Settings, or the adapters' fuller one with their sections).

    Raises ConfigError naming the file, the key and the reason when anything is wrong."""
    env = os.environ if env is None else env
    path = path if path is not None else config_path(env)
    data: dict[str, Any] = {}
    source = str(path) if path else "configuration"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: the configuration file does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for var, key_path in env_keys.items():
        if env.get(var):
            _set_path(data, key_path, env[var])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
