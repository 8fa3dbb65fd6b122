"""Reports on how the help desk is doing: the query, the figures, and period parsing.

The figures are computed by storage (SQL aggregates, in one snapshot); this module
holds the plain values every renderer (table, JSON, CSV, chart, chat) works from.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

BREAKDOWNS = ("category", "severity", "group", "technician")
AGE_BUCKETS = (("under 1 day", 1), ("1–3 days", 3), ("3–7 days", 7), ("over 7 days", None))
_RELATIVE = re.compile(r"^(\d{1,4})\s*([hdw])$")


class PeriodError(ValueError):
    """A period the user typed that cannot be read; the message says what to type."""


def parse_moment(text: str, now: datetime, zone: tzinfo, *, end: bool = False) -> datetime:
    """`7d`, `24h`, `2w` back from now, or a date (YYYY-MM-DD, local midnight in `zone`; with
    `end`, the end of that day) or a date and time; as an aware UTC datetime.

    Raises PeriodError, with what to type instead, for anything else."""
    text = text.strip().lower()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
    if text in ("now", "today") and end:
        return now
    if text == "today":
        return datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(timezone.utc)
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end:
            parsed += timedelta(days=1)  # --until 2026-03-31 includes that whole day
        return parsed.replace(tzinfo=zone).astimezone(timezone.utc)
    raise PeriodError(f"`{text[:40]}` is not a period; use 7d, 30d, 24h, 2w or a date like 2026-03-01")


@dataclass(frozen=True)
class ReportQuery:
    since: datetime
    until: datetime
    category: str | None = None
    severity: str | None = None
    group: str | None = None
    technician: str | None = None  # an identity: the assignee
    by: str | None = None
    include_imported: bool = False  # count imported history (`helpdesk kb import`) as closed tickets too

    @property
    def previous(self) -> "ReportQuery":
        """The period of the same length just before, for trends."""
        length = self.until - self.since
        return ReportQuery(self.since - length, self.since, self.category, self.severity, self.group, self.technician,
                           include_imported=self.include_imported)


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of durations in seconds (nearest rank), and how many."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class Compliance:
    met: int = 0
    breached: int = 0

    @property
    def percent(self) -> float | None:
        """The share of targets met, in percent to one decimal; None when there were none."""
        total = self.met + self.breached
        return round(100 * self.met / total, 1) if total else None


@dataclass(frozen=True)
class IncidentFigures:
    """Major incidents declared in the period: how many, how many tickets each had (the parent and
    those linked or merged into it; `tickets_max` the largest), how long from an incident's first
    ticket to its declaration (seconds), and of the tickets opened in the period, how many were
    part of an incident (declared at any time) and that share in percent (None: no tickets)."""

    declared: int = 0
    tickets: int = 0
    tickets_max: int = 0
    to_declare: Spread = Spread()
    opened_in_one: int = 0
    share_percent: float | None = None

    @property
    def tickets_per_incident(self) -> float | None:
        """The mean number of tickets per incident, to one decimal; None without incidents."""
        return round(self.tickets / self.declared, 1) if self.declared else None


@dataclass(frozen=True)
class Satisfaction:
    """The requesters' ratings of resolutions made in a period: how many resolutions asked for a
    rating (`asked`), how many got one (`rated`), the sum of their scores (`total`) and how many
    were 4 or 5 (`good`)."""

    asked: int = 0
    rated: int = 0
    total: int = 0
    good: int = 0

    @property
    def average(self) -> float | None:
        """The average score (1–5) to one decimal; None when nothing was rated."""
        return round(self.total / self.rated, 1) if self.rated else None

    @property
    def good_percent(self) -> float | None:
        """The share of ratings that were 4 or 5, in percent to one decimal; None when nothing was rated."""
        return round(100 * self.good / self.rated, 1) if self.rated else None

    @property
    def response_percent(self) -> float | None:
        """The share of resolutions that were rated, in percent to one decimal; None when none asked."""
        return round(100 * self.rated / self.asked, 1) if self.asked else None


SATISFACTION_BY = ("technician", "group", "category")


@dataclass(frozen=True)
class Figures:
    opened: int = 0
    resolved: int = 0
    closed: int = 0
    reopened: int = 0
    still_open: dict[str, int] = field(default_factory=dict)
    first_response: Spread = Spread()
    resolution: Spread = Spread()  # paused time (waiting on the requester) taken out
    paused: Spread = Spread()  # time the resolved tickets that waited on their requester stood paused
    resolution_by_severity: dict[str, Spread] = field(default_factory=dict)
    sla_response: dict[str, Compliance] = field(default_factory=dict)
    sla_resolution: dict[str, Compliance] = field(default_factory=dict)
    escalations: dict[int, int] = field(default_factory=dict)
    deflected: int = 0
    confirmed: int = 0
    reopened_after_resolution: int = 0
    busiest_devices: list[tuple[str, int]] = field(default_factory=list)
    busiest_locations: list[tuple[str, int]] = field(default_factory=list)
    trending: list[tuple[str, int, int]] = field(default_factory=list)  # category, this period, previous
    daily: list[tuple[str, int, int]] = field(default_factory=list)  # local date, opened, resolved
    incidents: IncidentFigures = IncidentFigures()
    satisfaction: Satisfaction = Satisfaction()

    @property
    def still_open_total(self) -> int:
        """Open tickets of every age."""
        return sum(self.still_open.values())


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    zone: str
    figures: Figures
    breakdown: list[tuple[str, Figures]] = field(default_factory=list)
    # satisfaction by technician, group and category: (key, name to show, figures), best first
    satisfaction: dict[str, list[tuple[str, str, Satisfaction]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # a breakdown key's name to show (technicians)
    targets: dict[str, float] = field(default_factory=dict)  # resolution target per severity, seconds

    def name(self, key: object) -> str:
        """A breakdown key as people read it: a technician's name rather than their identity."""
        return self.names.get(str(key), str(key))

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data: the period and filters, the figures, and any breakdown."""
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, (Spread, Compliance, IncidentFigures, Satisfaction)):
                data = asdict(value)
                if isinstance(value, Compliance):
                    data["percent"] = value.percent
                if isinstance(value, IncidentFigures):
                    data["tickets_per_incident"] = value.tickets_per_incident
                if isinstance(value, Satisfaction):
                    data.update(average=value.average, good_percent=value.good_percent,
                                response_percent=value.response_percent)
                return data
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            return value

        def figures(f: Figures) -> dict[str, Any]:
            data = {k: plain(getattr(f, k)) for k in f.__dataclass_fields__}
            data["still_open_total"] = f.still_open_total
            return data

        return {"since": self.query.since.isoformat(), "until": self.query.until.isoformat(), "timezone": self.zone,
                "filters": {k: getattr(self.query, k) for k in ("category", "severity", "group", "technician")},
                "figures": figures(self.figures),
                "by": self.query.by,
                "breakdown": [{"key": k, **({"name": self.names[k]} if k in self.names else {}), **figures(f)}
                              for k, f in self.breakdown],
                "satisfaction": {by: [{"key": k, "name": n, **plain(s)} for k, n, s in rows]
                                 for by, rows in self.satisfaction.items()},
                "targets": {"resolution_seconds": self.targets}}


def nearest_rank(count: int, q: float) -> int:
    """The 0-based position of the q-quantile among `count` sorted values (nearest-rank method)."""
    import math

    return max(0, math.ceil(q * count) - 1)


def local_days(hourly: list[tuple[datetime, int, int]], zone: tzinfo, since: datetime, until: datetime) -> list[tuple[str, int, int]]:
    """Fold UTC hourly counts into the configured zone's calendar days (DST-correct), with empty days kept."""
    days: dict[date, list[int]] = {}
    day = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        days[day] = [0, 0]
        day += timedelta(days=1)
    for hour, opened, resolved in hourly:
        key = hour.astimezone(zone).date()
        if key in days:
            days[key][0] += opened
            days[key][1] += resolved
    return [(d.isoformat(), o, r) for d, (o, r) in days.items()]
