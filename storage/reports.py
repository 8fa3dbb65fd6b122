"""Report figures as SQL aggregates, for SQLite and PostgreSQL alike, inside the caller's
transaction (one snapshot). Durations and percentiles are computed by the database;
only hourly counts come back to be folded into local calendar days.

Time a ticket spent waiting on its requester is not the help desk's: time to resolution is
less the ticket's paused seconds, and the resolution target (stored on the ticket) has already
moved on by its paused time; an open ticket whose clock stands still is late only if it was
late when its clock stopped."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, case, cast, func, literal, null, or_, select, union_all
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Float, Integer, String

from bot.config import Settings
from bot.model import OPEN_STATUSES, Severity
from bot.reports import (AGE_BUCKETS, SATISFACTION_BY, Compliance, Figures, IncidentFigures, Report, ReportQuery,
                         Satisfaction, Spread, local_days, nearest_rank)
from storage.ratings import satisfaction
from storage.schema import audit_events, history, incidents, tickets

OPEN = [s.value for s in OPEN_STATUSES]


def breakdown_column(T, by: str):
    """The column of `T` (tickets, or tickets with history) a `by=` breakdown groups on."""
    return {"category": T.category, "severity": T.severity, "group": T.group_name, "technician": T.assignee_id}[by]


def with_history():
    """`tickets` and imported history as one relation shaped like `tickets` (for
    `--include-imported`): a history row is a closed ticket numbered -id, with its category,
    times and resolution, and nothing else (no severity, group, assignee or targets)."""
    h = history.c
    mapped = {"id": (-h.id), "description": h.description, "category": h.category, "resolution": h.resolution,
              "created_at": h.created_at, "resolved_at": h.resolved_at, "closed_at": h.resolved_at,
              "updated_at": h.imported_at, "status": literal("closed", String(32)),
              "origin": literal("import", String(32)), "paused_seconds": literal(0, Integer),
              "paused_business_seconds": literal(0, Integer)}
    columns = [(mapped[c.name] if c.name in mapped else cast(null(), c.type)).label(c.name) for c in tickets.c]
    return union_all(select(tickets), select(*columns)).subquery("tickets")


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
    # date_part gives a double; EXTRACT gives numeric on PostgreSQL 14+, several times slower to sort
    return f"date_part('epoch', {compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


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


def _filters(T, q: ReportQuery, technician_ids: list[str]) -> list[ColumnElement]:
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


def _between(column, q: ReportQuery, scan: bool = False) -> ColumnElement:
    """The period on `column`; `scan` (SQLite) keeps its index out of it: for a period holding much
    of the table, reading rows in index order costs a random lookup each, many times a scan."""
    if scan:
        column = UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
    return and_(column >= q.since, column < q.until)


WIDE = 0.1  # a period holding more than this share of the tickets is read by a scan on SQLite


def _each(keys: list[str], found: dict, empty: Any) -> dict:
    return {k: found.get(k, empty) for k in keys}


class ReportBuilder:
    def __init__(self, conn: Connection, settings: Settings, technician_ids: list[str] | None = None) -> None:
        self.tickets = tickets  # or, for a query that includes imported history, with_history()
        self.T = tickets.c
        self.conn = conn
        self.settings = settings
        self.technician_ids = technician_ids or []
        self._wide: dict[tuple, bool] = {}

    def wide(self, q: ReportQuery) -> bool:
        """SQLite only: does the period hold so much of the table that statements reading more than
        the indexed column should scan? (Two index-only counts, cheap.)"""
        if self.conn.dialect.name != "sqlite":
            return False
        key = (q.since, q.until)
        if key not in self._wide:
            total = self.count()
            self._wide[key] = bool(total) and self.count(_between(self.T.created_at, q)) > WIDE * total
        return self._wide[key]

    def count(self, *where) -> int:
        """How many tickets match `where`."""
        return self.conn.execute(select(func.count()).select_from(self.tickets).where(*where)).scalar_one()

    def counts(self, by, *where) -> dict[Any, int]:
        """Matching tickets per value of `by` (None: all of them under the key None)."""
        if by is None:
            return {None: self.count(*where)}
        return dict(self.conn.execute(select(by, func.count()).select_from(self.tickets).where(*where).group_by(by)).all())

    def spread(self, duration, *where) -> Spread:
        """Count, median and p90 by nearest rank (the ceil(q·n)-th value), from one statement."""
        return self.spreads(duration, None, *where).get(None, Spread())

    def spreads(self, duration, by, *where) -> dict[Any, Spread]:
        """`spread` for each value of the column `by` (None: all rows as one), still one statement."""
        where = (*where, duration.is_not(None))
        keys = [by] if by is not None else []
        if self.conn.dialect.name == "postgresql":
            pick = func.percentile_disc(array([0.5, 0.9])).within_group(duration)  # nearest rank, as defined
            rows = self.conn.execute(select(*keys, func.count(), pick).select_from(self.tickets).where(*where).group_by(*keys))
            found = {(r[0] if keys else None): (r[-2], list(r[-1] or [])) for r in rows}
        else:  # SQLite's window sort is several times slower than taking the ranks from the values here
            by_key: dict[Any, list[float]] = {}
            result = self.conn.execute(select(*keys, duration).select_from(self.tickets).where(*where))
            for row in result.cursor.fetchall():  # plain numbers and strings: the driver's rows, 3x faster than Row objects
                by_key.setdefault(row[0] if keys else None, []).append(row[-1])
            found = {}
            for key, listed in by_key.items():
                values = np.asarray(listed, dtype=np.float64)
                ranks = [nearest_rank(len(values), 0.5), nearest_rank(len(values), 0.9)]
                picked = np.partition(values, ranks)
                found[key] = (len(values), [picked[r] for r in ranks])
        return {k: Spread(n, round(float(v[0]), 1), round(float(v[-1]), 1)) for k, (n, v) in found.items() if n}

    def compliance(self, done, due, until: datetime, *where, paused=None) -> Compliance:
        """Targets met and breached over every matching ticket (see `compliances`)."""
        return self.compliances(done, due, until, None, *where, paused=paused).get(None, Compliance(0, 0))

    def compliances(self, done, due, until: datetime, by, *where, paused=None) -> dict[Any, Compliance]:
        """Targets met and breached (an open ticket past its due time counts as breached; one whose
        clock stopped at `paused` only if it was past due then), per `by`."""
        met = func.sum(case((and_(done.is_not(None), done <= due), 1), else_=0))
        late = due < until if paused is None else and_(due < until, or_(paused.is_(None), due < paused))
        breached = func.sum(case((or_(done > due, and_(done.is_(None), late)), 1), else_=0))
        keys = [by] if by is not None else []
        rows = self.conn.execute(select(*keys, met, breached).select_from(self.tickets).where(*where, due.is_not(None))
                                 .group_by(*keys))
        return {(r[0] if keys else None): Compliance(int(r[-2] or 0), int(r[-1] or 0)) for r in rows}

    def actions(self, names: tuple[str, ...], q: ReportQuery, filters, by=None) -> Any:
        """How many such audit events the period's tickets had (per value of `by`, when given)."""
        keys = [by] if by is not None else []
        source = audit_events.join(self.tickets, self.tickets.c.id == audit_events.c.ticket_id) if filters or keys else audit_events
        query = (select(*keys, func.count()).select_from(source)  # no ticket filter: the (action, at) index alone
                 .where(audit_events.c.action.in_(names), _between(audit_events.c.at, q), *filters).group_by(*keys))
        return dict(self.conn.execute(query).all()) if keys else self.conn.execute(query).scalar_one()

    def top(self, column, where, limit: int = 5) -> list[tuple[str, int]]:
        """The `limit` most frequent non-empty values of `column` among matching tickets, with counts."""
        n = func.count().label("n")
        rows = self.conn.execute(select(column, n).where(*where, column.is_not(None), column != "")
                                 .group_by(column).order_by(n.desc(), column).limit(limit))
        return [(r[0], r[1]) for r in rows]

    def summaries(self, q: ReportQuery, by=None, target: bool = True) -> dict[Any, dict[str, Any]]:
        """The headline figures (counts, age of what is open, resolution spread and target), per
        value of the column `by`, each figure one grouped statement whatever the number of values."""
        f = _filters(self.T, q, self.technician_ids)
        created = (_between(self.T.created_at, q), *f)
        resolved = (_between(self.T.resolved_at, q), *f)
        resolution_time = seconds_between(self.T.created_at, self.T.resolved_at) - self.T.paused_seconds
        scan = self.wide(q) and bool(f)  # unfiltered, the covering indexes answer; filtered, rows are read
        created_rows = (_between(self.T.created_at, q, scan), *f)
        resolved_rows = (_between(self.T.resolved_at, q, scan), *f)
        still_open = {}
        upper = q.until
        for label, days in AGE_BUCKETS:
            lower = q.until - timedelta(days=days) if days else None
            age = [self.T.created_at < upper] + ([self.T.created_at >= lower] if lower else [])
            still_open[label] = self.counts(by, self.T.status.in_(OPEN), *age, *f)
            upper = lower
        columns = {
            "opened": self.counts(by, *created),
            "resolved": self.counts(by, *resolved),
            "closed": self.counts(by, _between(self.T.closed_at, q), *f),
            "reopened": self.actions(("reopened",), q, f, by) if by is not None else {None: self.actions(("reopened",), q, f)},
            "resolution": self.spreads(resolution_time, by, *resolved_rows),
            "paused": self.spreads(self.T.paused_seconds, by, *resolved_rows, self.T.paused_seconds > 0),
            "sla_all": self.compliances(self.T.resolved_at, self.T.resolution_due_at, q.until, by, *created_rows,
                                        paused=self.T.paused_at) if target else {},
        }
        keys = set().union(*columns.values(), *still_open.values()) if by is not None else {None}
        return {key: {
            "opened": columns["opened"].get(key, 0), "resolved": columns["resolved"].get(key, 0),
            "closed": columns["closed"].get(key, 0), "reopened": columns["reopened"].get(key, 0),
            "still_open": {label: counts.get(key, 0) for label, counts in still_open.items()},
            "resolution": columns["resolution"].get(key, Spread()),
            "paused": columns["paused"].get(key, Spread()),
            **({"sla_resolution": {"all": columns["sla_all"].get(key, Compliance(0, 0))}} if target else {}),
        } for key in keys}

    def figures(self, q: ReportQuery) -> Figures:
        """Every figure of the report for the query's period and filters, in this transaction's snapshot."""
        f = _filters(self.T, q, self.technician_ids)
        created = (_between(self.T.created_at, q), *f)
        response_time = seconds_between(self.T.created_at, self.T.first_response_at)
        resolution_time = seconds_between(self.T.created_at, self.T.resolved_at) - self.T.paused_seconds
        figures = self.summaries(q, target=False)[None]  # the full report has targets per severity instead
        scan = self.wide(q) and bool(f)  # as in summaries
        created_rows = (_between(self.T.created_at, q, scan), *f)
        resolved_rows = (_between(self.T.resolved_at, q, scan), *f)
        created_scan = (_between(self.T.created_at, q, self.wide(q)), *f)  # device and location are in no index
        escalations: dict[int, int] = {}
        level = audit_events.c.changes["escalation_level"][1].as_integer()
        rows = self.conn.execute(
            select(level, func.count()).select_from(audit_events.join(self.tickets, self.tickets.c.id == audit_events.c.ticket_id)
                                                    if f else audit_events)
            .where(audit_events.c.action.in_(("escalated", "auto_escalated")), _between(audit_events.c.at, q), *f)
            .group_by(level).order_by(level))
        for lvl, n in rows:
            if lvl is not None:
                escalations[int(lvl)] = n
        previous = q.previous
        now_counts = dict(self.conn.execute(select(self.T.category, func.count()).where(*created).group_by(self.T.category)).all())
        before = dict(self.conn.execute(select(self.T.category, func.count())
                                        .where(_between(self.T.created_at, previous), *f).group_by(self.T.category)).all())
        trending = sorted(((c, n, before.get(c, 0)) for c, n in now_counts.items() if n > before.get(c, 0)),
                          key=lambda t: (-(t[1] - t[2]), t[0]))
        hourly: dict[str, list[int]] = {}
        for column, slot in ((self.T.created_at, 0), (self.T.resolved_at, 1)):
            hour = hour_of(column)
            for h, n in self.conn.execute(select(hour, func.count()).where(_between(column, q), *f).group_by(hour)):
                hourly.setdefault(h, [0, 0])[slot] += n
        hours = [(datetime.strptime(h, "%Y-%m-%d %H").replace(tzinfo=timezone.utc), o, r) for h, (o, r) in hourly.items()]
        severities = [s.value for s in Severity]
        figures.update(
            first_response=self.spread(response_time, *created_rows),
            resolution_by_severity=_each(severities, self.spreads(resolution_time, self.T.severity, *resolved_rows), Spread()),
            sla_response=_each(severities, self.compliances(self.T.first_response_at, self.T.response_due_at, q.until, self.T.severity,
                                                            *created_rows), Compliance(0, 0)),
            sla_resolution=_each(severities, self.compliances(self.T.resolved_at, self.T.resolution_due_at, q.until, self.T.severity,
                                                              *created_rows, paused=self.T.paused_at), Compliance(0, 0)),
            escalations=escalations,
            deflected=self.actions(("deflected",), q, f),
            confirmed=self.actions(("confirmed",), q, f),
            reopened_after_resolution=figures["reopened"],
            busiest_devices=self.top(self.T.device, created_scan),
            busiest_locations=self.top(self.T.location, created_scan),
            trending=trending,
            daily=local_days(hours, self.settings.zone, q.since, q.until),
            incidents=self.incident_figures(q),
        )
        return Figures(**figures)

    def incident_figures(self, q: ReportQuery) -> IncidentFigures:
        """Major incidents declared in the period (the filters apply to their parent ticket), their
        tickets, the time from first ticket to declaration, and the share of the period's tickets
        that were part of one. Live tickets only: imported history has no incidents."""
        I, T = incidents.c, tickets.c
        f = _filters(T, q, self.technician_ids)
        declared = (_between(I.declared_at, q), *f)
        member = tickets.alias("member")
        size = (select(func.count()).select_from(member)
                .where(or_(member.c.id == I.ticket_id, member.c.parent_id == I.ticket_id,
                           member.c.merged_into_id == I.ticket_id)).scalar_subquery())
        sizes = self.conn.execute(select(size).select_from(incidents.join(tickets, tickets.c.id == I.ticket_id))
                                  .where(*declared)).scalars().all()
        lead = seconds_between(I.first_ticket_at, I.declared_at)
        rows = self.conn.execute(select(lead).select_from(incidents.join(tickets, tickets.c.id == I.ticket_id))
                                 .where(*declared)).scalars().all()
        to_declare = Spread()
        if rows:
            values = np.sort(np.asarray(rows, dtype=np.float64))
            to_declare = Spread(len(values), round(float(values[nearest_rank(len(values), 0.5)]), 1),
                                round(float(values[nearest_rank(len(values), 0.9)]), 1))
        part = or_(T.id.in_(select(I.ticket_id)), T.parent_id.in_(select(I.ticket_id)),
                   T.merged_into_id.in_(select(I.ticket_id)))
        def count(*where: ColumnElement) -> int:
            return self.conn.execute(select(func.count()).select_from(tickets).where(*where)).scalar_one()

        opened = count(_between(T.created_at, q), *f)
        in_one = count(_between(T.created_at, q), part, *f)
        return IncidentFigures(len(sizes), int(sum(sizes)), int(max(sizes, default=0)), to_declare, in_one,
                               round(100 * in_one / opened, 1) if opened else None)

    def report(self, q: ReportQuery) -> Report:
        """The report: its figures, and the same per value of `q.by` when a breakdown is asked;
        satisfaction overall, per technician, group and category (and per `q.by` value); the
        technicians' names; the resolution target per severity."""
        if q.include_imported:
            self.tickets = with_history()
            self.T = self.tickets.c
        breakdown = []
        if q.by:
            column = breakdown_column(self.T, q.by)
            keys = self.conn.execute(select(column).where(
                or_(_between(self.T.created_at, q), _between(self.T.resolved_at, q)), column.is_not(None),
                *_filters(self.T, q, self.technician_ids)).distinct().order_by(column)).scalars().all()
            summaries = self.summaries(q, by=column)  # every key opened or resolved something: it is there
            rated = {k: s for k, (s, _) in satisfaction(self.conn, q, self.technician_ids, q.by).items()}
            breakdown = [(key, Figures(**summaries[key], satisfaction=rated.get(key, Satisfaction()))) for key in keys]
        overall = satisfaction(self.conn, q, self.technician_ids).get(None, (Satisfaction(), None))[0]
        figures = replace(self.figures(q), satisfaction=overall)
        names = self.technician_names(q, [k for k, _ in breakdown] if q.by == "technician" else [])
        by_dimension = {}
        for by in SATISFACTION_BY:
            found = satisfaction(self.conn, q, self.technician_ids, by)
            if by == "technician":
                names.update({k: self._name(k, seen) for k, (_, seen) in found.items() if k is not None})
            rows = [(k, names.get(k, k) if by == "technician" else k, s) for k, (s, _) in found.items() if k is not None]
            by_dimension[by] = sorted(rows, key=lambda r: (-(r[2].average or 0), -r[2].rated, r[1]))
        targets = {s.value: self.settings.policy(s).resolution_minutes * 60 for s in Severity}
        return Report(q, self.settings.timezone, figures, breakdown, by_dimension, names, targets)

    def technician_names(self, q: ReportQuery, keys: list[str]) -> dict[str, str]:
        """Each technician identity's name: as configured, else as last stored on their tickets."""
        if not keys:
            return {}
        T = tickets.c
        stored = dict(self.conn.execute(select(T.assignee_id, func.max(T.assignee_name))
                                        .where(T.assignee_id.in_(keys)).group_by(T.assignee_id)).all())
        return {k: self._name(k, stored.get(k)) for k in keys}

    def _name(self, identity: str, seen: str | None) -> str:
        tech = self.settings.technician_for({identity})
        return tech.name if tech else (seen or identity)
