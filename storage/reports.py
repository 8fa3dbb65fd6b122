"""Report figures as SQL aggregates, for SQLite and PostgreSQL alike, inside the caller's
transaction (one snapshot). Durations and percentiles are computed by the database;
only hourly counts come back to be folded into local calendar days."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Float, String

from bot.config import Settings
from bot.model import OPEN_STATUSES, Severity
from bot.reports import AGE_BUCKETS, Compliance, Figures, Report, ReportQuery, Spread, local_days, nearest_rank
from storage.schema import audit_events, tickets

T = tickets.c
OPEN = [s.value for s in OPEN_STATUSES]
BREAKDOWN_COLUMN = {"category": T.category, "severity": T.severity, "group": T.group_name, "technician": T.assignee_id}


class seconds_between(FunctionElement):
    """`end - start` in seconds, whatever the backend."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


class hour_of(FunctionElement):
    """The UTC hour a timestamp falls in, as text `YYYY-MM-DD HH`."""

    type = String()
    inherit_cache = True


@compiles(hour_of, "sqlite")
def _hour_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m-%d %H', {compiler.process(list(element.clauses)[0], **kw)})"


@compiles(hour_of, "postgresql")
def _hour_pg(element, compiler, **kw):
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"


def _filters(q: ReportQuery, technician_ids: list[str]) -> list[ColumnElement]:
    found = []
    if q.category:
        found.append(T.category == q.category)
    if q.severity:
        found.append(T.severity == q.severity)
    if q.group:
        found.append(T.group_name == q.group)
    if q.technician:
        found.append(T.assignee_id.in_(technician_ids or [q.technician]))
    return found


def _between(column, q: ReportQuery) -> ColumnElement:
    return and_(column >= q.since, column < q.until)


class ReportBuilder:
    def __init__(self, conn: Connection, settings: Settings, technician_ids: list[str] | None = None) -> None:
        self.conn = conn
        self.settings = settings
        self.technician_ids = technician_ids or []

    def count(self, *where) -> int:
        return self.conn.execute(select(func.count()).select_from(tickets).where(*where)).scalar_one()

    def spread(self, duration, *where) -> Spread:
        """Median and p90 by nearest rank, each a single-row ORDER BY … OFFSET in the database."""
        where = (*where, duration.is_not(None))
        n = self.count(*where)
        if n == 0:
            return Spread()
        values = []
        for q in (0.5, 0.9):
            query = select(duration.label("d")).where(*where).order_by(duration).limit(1).offset(nearest_rank(n, q))
            values.append(round(float(self.conn.execute(query).scalar_one()), 1))
        return Spread(n, values[0], values[1])

    def compliance(self, done, due, until: datetime, *where) -> Compliance:
        met = func.sum(case((and_(done.is_not(None), done <= due), 1), else_=0))
        breached = func.sum(case((or_(done > due, and_(done.is_(None), due < until)), 1), else_=0))
        row = self.conn.execute(select(met, breached).select_from(tickets).where(*where, due.is_not(None))).one()
        return Compliance(int(row[0] or 0), int(row[1] or 0))

    def actions(self, names: tuple[str, ...], q: ReportQuery, filters) -> int:
        query = (select(func.count()).select_from(audit_events.join(tickets, tickets.c.id == audit_events.c.ticket_id))
                 .where(audit_events.c.action.in_(names), _between(audit_events.c.at, q), *filters))
        return self.conn.execute(query).scalar_one()

    def top(self, column, where, limit: int = 5) -> list[tuple[str, int]]:
        n = func.count().label("n")
        rows = self.conn.execute(select(column, n).where(*where, column.is_not(None), column != "")
                                 .group_by(column).order_by(n.desc(), column).limit(limit))
        return [(r[0], r[1]) for r in rows]

    def figures(self, q: ReportQuery, *, full: bool = True) -> Figures:
        f = _filters(q, self.technician_ids)
        created = (_between(T.created_at, q), *f)
        resolved = (_between(T.resolved_at, q), *f)
        response_time = seconds_between(T.created_at, T.first_response_at)
        resolution_time = seconds_between(T.created_at, T.resolved_at)
        still_open = {}
        upper = q.until
        for label, days in AGE_BUCKETS:
            lower = q.until - timedelta(days=days) if days else None
            age = [T.created_at < upper] + ([T.created_at >= lower] if lower else [])
            still_open[label] = self.count(T.status.in_(OPEN), *age, *f)
            upper = lower
        figures: dict[str, Any] = {
            "opened": self.count(*created),
            "resolved": self.count(*resolved),
            "closed": self.count(_between(T.closed_at, q), *f),
            "reopened": self.actions(("reopened",), q, f),
            "still_open": still_open,
            "resolution": self.spread(resolution_time, *resolved),
        }
        if not full:
            return Figures(**figures, sla_resolution={"all": self.compliance(T.resolved_at, T.resolution_due_at, q.until, *created)})
        escalations: dict[int, int] = {}
        level = audit_events.c.changes["escalation_level"][1].as_integer()
        rows = self.conn.execute(
            select(level, func.count()).select_from(audit_events.join(tickets, tickets.c.id == audit_events.c.ticket_id))
            .where(audit_events.c.action.in_(("escalated", "auto_escalated")), _between(audit_events.c.at, q), *f)
            .group_by(level).order_by(level))
        for lvl, n in rows:
            if lvl is not None:
                escalations[int(lvl)] = n
        previous = q.previous
        now_counts = dict(self.conn.execute(select(T.category, func.count()).where(*created).group_by(T.category)).all())
        before = dict(self.conn.execute(select(T.category, func.count())
                                        .where(_between(T.created_at, previous), *f).group_by(T.category)).all())
        trending = sorted(((c, n, before.get(c, 0)) for c, n in now_counts.items() if n > before.get(c, 0)),
                          key=lambda t: (-(t[1] - t[2]), t[0]))
        hourly: dict[str, list[int]] = {}
        for column, slot in ((T.created_at, 0), (T.resolved_at, 1)):
            hour = hour_of(column)
            for h, n in self.conn.execute(select(hour, func.count()).where(_between(column, q), *f).group_by(hour)):
                hourly.setdefault(h, [0, 0])[slot] += n
        hours = [(datetime.strptime(h, "%Y-%m-%d %H").replace(tzinfo=timezone.utc), o, r) for h, (o, r) in hourly.items()]
        severities = [s.value for s in Severity]
        figures.update(
            first_response=self.spread(response_time, *created),
            resolution_by_severity={s: self.spread(resolution_time, *resolved, T.severity == s) for s in severities},
            sla_response={s: self.compliance(T.first_response_at, T.response_due_at, q.until, *created, T.severity == s)
                          for s in severities},
            sla_resolution={s: self.compliance(T.resolved_at, T.resolution_due_at, q.until, *created, T.severity == s)
                            for s in severities},
            escalations=escalations,
            deflected=self.actions(("deflected",), q, f),
            confirmed=self.actions(("confirmed",), q, f),
            reopened_after_resolution=figures["reopened"],
            busiest_devices=self.top(T.device, created),
            busiest_locations=self.top(T.location, created),
            trending=trending,
            daily=local_days(hours, self.settings.zone, q.since, q.until),
        )
        return Figures(**figures)

    def report(self, q: ReportQuery) -> Report:
        breakdown = []
        if q.by:
            column = BREAKDOWN_COLUMN[q.by]
            keys = self.conn.execute(select(column).where(
                or_(_between(T.created_at, q), _between(T.resolved_at, q)), column.is_not(None),
                *_filters(q, self.technician_ids)).distinct().order_by(column)).scalars().all()
            for key in keys:
                sub = ReportQuery(q.since, q.until, **{**{k: getattr(q, k) for k in ("category", "severity", "group", "technician")},
                                                       q.by: key})
                builder = ReportBuilder(self.conn, self.settings, [key] if q.by == "technician" else self.technician_ids)
                breakdown.append((key, builder.figures(sub, full=False)))
        return Report(q, self.settings.timezone, self.figures(q), breakdown)
