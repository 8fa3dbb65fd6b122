"""Report benchmark: how long `ReportBuilder.report` takes over a year of tickets.

    .venv/bin/python -m bench.report_bench                             # 100,000 and 1,000,000 tickets
    .venv/bin/python -m bench.report_bench --quick                     # 100,000 only
    .venv/bin/python -m bench.report_bench --sizes 250000 --only sqlite

Run from the checkout's root after `make install`.

For each size and each database (SQLite in a temporary file; PostgreSQL in a fresh schema,
dropped at the end) it seeds a freshly migrated database with a year of tickets and their
audit events, then times, in-process around `tx.report(...)` inside
`SqlStore(engine).transaction(write=False)` (what `helpdesk report` does):

* `year`: `ReportQuery(now - 365 d, now)`, the full-year report;
* `30d`: the last 30 days;
* `by_category`: the full year with `by="category"` (one breakdown per category);
* `filtered`: the full year with `category="network"`.

Each runs `--repeat` times (default 3; min and median reported) unless its first run takes
longer than `--single-run-over` seconds (default 15), which is enough to say it is not "in
seconds" and keeps the default run near its budget. Baselines over the same rows, in the
same run: a plain `SELECT count(*)` and the naive approach (fetch every
`created_at`/`resolved_at` pair into Python and take the median there); `checks` confirms
the report's `opened` and median resolution equal them. Once per size on SQLite it also
runs `helpdesk report --since 365d --format json` end to end in a subprocess
(`DATABASE_URL` and `HELPDESK_CONFIG` in its environment), and `--since 1h` for the
start-up floor. The slowest SQL statements are listed with their plans (`EXPLAIN QUERY
PLAN` on SQLite, `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL).

The year is generated once per size in Python (seeded RNG, identical for both databases)
and loaded with `--seed-method fast` (default: the driver's executemany on SQLite, COPY on
PostgreSQL) or `core` (SQLAlchemy Core `insert()` executemany); see `seed`.

One JSON document goes to stdout; progress goes to stderr. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/report_bench.py` as well as `python -m bench.report_bench`
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_URL = os.environ.get("HELPDESK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_SIZES = (100_000, 1_000_000)
IN_SECONDS = 10.0  # the "reports in seconds": every report kind under this
FILTER_CATEGORY = "network"
SEED = 20260302

# --------------------------------------------------------------------------- the desk being simulated

SEVERITY_WEIGHTS = {"low": 30, "medium": 48, "high": 17, "critical": 5}
CATEGORY_WEIGHTS = {"hardware": 20, "software": 24, "network": 14, "account": 18, "email": 8, "printer": 9,
                    "security": 3, "other": 4}
# minutes, as bot.config.DEFAULT_SEVERITIES (no business hours configured: calendar time)
RESPONSE_MIN = {"critical": 15, "high": 60, "medium": 4 * 60, "low": 24 * 60}
RESOLUTION_MIN = {"critical": 4 * 60, "high": 8 * 60, "medium": 3 * 24 * 60, "low": 5 * 24 * 60}
# the typical (median) time from first response to resolution, in hours
WORK_HOURS = {"critical": 2.0, "high": 4.0, "medium": 20.0, "low": 40.0}
CHAINS = {"network": ["service-desk", "network-eng", "network-vendor"],
          "security": ["service-desk", "security-ops"],
          "account": ["service-desk", "identity"],
          "hardware": ["service-desk", "desktop-eng"], "software": ["service-desk", "desktop-eng"],
          "email": ["service-desk", "messaging"], "printer": ["service-desk"], "other": ["service-desk"]}
TECHS = [f"tech{n:02d}@corp.example" for n in range(24)]
GROUP_MEMBERS = {"service-desk": TECHS[:12], "desktop-eng": TECHS[12:15], "network-eng": TECHS[15:18],
                 "network-vendor": ["noc@vendor.example"], "security-ops": TECHS[18:20],
                 "identity": TECHS[20:22], "messaging": TECHS[22:24]}
OFFICES = ["London HQ", "Manchester", "Leeds", "Bristol", "Glasgow", "Dublin", "Berlin", "Paris", "Remote"]
DEPARTMENTS = ["Finance", "Sales", "Engineering", "Legal", "HR", "Operations", "Marketing", "Support"]
DEVICES = ([f"LT-{n:04d}" for n in range(0, 3000, 97)] + ["HP-4050", "HP-M607", "Ricoh C3004", "AP-12", "AP-31",
           "SW-CORE-1", "iPhone 15", "Pixel 8", "Dell U2720Q", "MacBook Pro 14"])
DESCRIPTIONS = {
    "hardware": ["my laptop will not turn on", "the screen flickers when docked", "keyboard keys stick",
                 "the docking station does not see the monitor", "battery drains in an hour"],
    "software": ["excel crashes when I open the quarterly workbook", "please install the PDF editor",
                 "the app update failed with error 0x80070005", "Teams keeps asking me to sign in"],
    "network": ["the vpn drops every ten minutes", "no wifi on floor 3", "the internet is very slow",
                "cannot reach the file share", "ethernet port in room 4 is dead"],
    "account": ["my account is locked", "password reset please", "need access to the finance share",
                "MFA prompt never arrives"],
    "email": ["outlook will not open", "my mailbox is full", "please add me to the sales list"],
    "printer": ["the printer on floor 3 jams on every page", "toner low on the second floor printer",
                "scanner sends empty pdfs"],
    "security": ["I clicked a phishing link", "my phone was stolen on the train", "suspicious login alert"],
    "other": ["the office chair squeaks", "where do I order a new headset", "question about the travel policy"],
}
REQUESTERS = 4000

SETTINGS: dict[str, Any] = {  # the shape of tests/conftest.py SETTINGS, sized for a real desk
    "timezone": "Europe/London",
    "technicians": [{"name": f"Tech {i:02d}", "ids": [tid]} for i, tid in enumerate(TECHS)],
    "groups": {name: {"members": members} for name, members in GROUP_MEMBERS.items()},
    "categories": {name: {"escalation": chain} for name, chain in CHAINS.items()},
    "knowledge": {"enabled": False},
}


TICKET_COLUMNS = ("id", "requester_id", "requester_name", "requester_email", "requester_phone", "requester_department",
                  "requester_office", "description", "category", "severity", "status", "device", "location",
                  "assignee_id", "assignee_name", "group_name", "escalation_level", "resolution", "origin",
                  "external_id", "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at", "version",
                  "escalated_at", "top_pings", "sla_warned_for", "overdue_noticed", "due_at", "sla_next_at", "sla_step",
                  "response_due_at", "resolution_due_at")
EVENT_COLUMNS = ("ticket_id", "actor_id", "actor_name", "action", "at", "changes")


class Dataset:
    def __init__(self) -> None:
        self.tickets: list[list[tuple]] = []
        self.events: list[list[tuple]] = []
        self.seconds = 0.0

    @property
    def ticket_count(self) -> int:
        return sum(len(b) for b in self.tickets)

    @property
    def event_count(self) -> int:
        return sum(len(b) for b in self.events)


def say(message: str) -> None:
    print(f"[report-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def lognormal_hours(rng: random.Random, median: float, sigma: float = 1.0) -> timedelta:
    return timedelta(hours=median * math.exp(rng.gauss(0.0, sigma)))


class History:
    """A year of a growing desk's tickets, oldest first, and their audit events.

    Timelines are built first and the status follows from where `now` falls in them, so
    every timestamp is consistent: created ≤ first response ≤ resolved ≤ closed ≤ now.
    Ids are given explicitly (1..N) so the events generated alongside can refer to them.
    Rates: ~1.5 % never finished, ~4 % deflected (solved with a suggested past fix), ~3 %
    reopened once, ~11 % escalated (70 % of those automatically; a third of the network
    ones twice), ~40 % of closed tickets confirmed by the requester (the rest auto-closed).
    `opened`, `claimed` and `resolved` events are added afterwards server-side (`INSERT …
    SELECT`), one per ticket that has the corresponding timestamp."""

    def __init__(self, count: int, now: datetime, seed: int = SEED) -> None:
        self.count = count
        self.now = now.astimezone(timezone.utc).replace(tzinfo=None)  # naive UTC inside: cheaper arithmetic
        self.seed = seed

    def generate(self, size: int) -> "Dataset":
        """Every ticket (a tuple in TICKET_COLUMNS order, naive UTC datetimes) and every
        generated event (EVENT_COLUMNS order, `changes` already JSON text), in batches."""
        started = time.perf_counter()
        rng = random.Random(self.seed)
        cats, cat_w = zip(*CATEGORY_WEIGHTS.items())
        sevs, sev_w = zip(*SEVERITY_WEIGHTS.items())
        n = self.count
        data = Dataset()
        for start in range(0, n, size):
            stop = min(n, start + size)
            k = stop - start
            categories = rng.choices(cats, cat_w, k=k)
            severities = rng.choices(sevs, sev_w, k=k)
            tickets, events = [], []
            for j in range(k):
                i = start + j
                # a growing desk: more tickets recently; ascending created_at with ascending id
                age_days = ((n - i - rng.random()) / n) ** 1.3 * 365
                created = self.now - timedelta(days=age_days)
                t, evs = self.ticket(i + 1, created, categories[j], severities[j], rng)
                tickets.append(tuple(t[c] for c in TICKET_COLUMNS))
                events.extend((e["ticket_id"], e["actor_id"], e["actor_name"], e["action"], e["at"],
                               json.dumps(e["changes"])) for e in evs)
            data.tickets.append(tickets)
            data.events.append(events)
            if stop % (size * 40) == 0:
                say(f"  generated {stop:,}/{n:,} tickets")
        data.seconds = time.perf_counter() - started
        return data

    def ticket(self, tid: int, created: datetime, category: str, severity: str, rng: random.Random):
        now = self.now
        req = rng.randrange(REQUESTERS)
        chain = CHAINS[category]
        events: list[dict[str, Any]] = []
        group, level, escalated_at = chain[0], 1, None
        response_due = created + timedelta(minutes=RESPONSE_MIN[severity])
        resolution_due = created + timedelta(minutes=RESOLUTION_MIN[severity])
        first_response = resolved = closed = None
        status = "new"
        assignee = None

        def event(action: str, at: datetime, changes: dict[str, list[Any]], actor: str | None = None) -> None:
            who = actor or f"slack:U{req:05d}"
            events.append({"ticket_id": tid, "actor_id": who, "actor_name": who.split("@")[0], "action": action,
                           "at": at, "changes": changes})

        if rng.random() < 0.04 and severity in ("low", "medium"):  # deflected: solved with a suggested past fix
            resolved = closed = created + timedelta(minutes=rng.uniform(2, 45))
            if closed <= now:
                status = "closed"
                event("deflected", closed, {"status": ["new", "closed"], "resolved_at": [None, closed.isoformat() + "+00:00"],
                                            "closed_at": [None, closed.isoformat() + "+00:00"], "source": [None, max(1, tid - 500)]})
            else:
                resolved = closed = None
        else:
            # first response: most within target, a tail well past it
            first_response = created + timedelta(minutes=RESPONSE_MIN[severity] * rng.lognormvariate(-0.9, 0.8))
            assignee = rng.choice(GROUP_MEMBERS[chain[0]])
            escalates = rng.random() < (0.30 if category in ("network", "security") else 0.08)
            if escalates and len(chain) > 1:
                auto = rng.random() < 0.7
                at = response_due if auto else first_response + lognormal_hours(rng, 1.5)
                if at <= now:
                    if auto:  # nobody claimed in time: the next level is paged, the ticket is unassigned
                        first_response = at + timedelta(minutes=rng.uniform(5, 60))
                    level, group, escalated_at = 2, chain[1], at
                    assignee = rng.choice(GROUP_MEMBERS[chain[1]])
                    event("auto_escalated" if auto else "escalated", at,
                          {"group": [chain[0], chain[1]], "escalation_level": [1, 2],
                           "note": [None, tid], "reason": [None, "no one claimed it in time" if auto else "needs specialists"]},
                          actor="system" if auto else rng.choice(GROUP_MEMBERS[chain[0]]))
                    if len(chain) > 2 and rng.random() < 0.33:
                        at2 = at + timedelta(minutes=30 if auto else rng.uniform(60, 600))
                        if at2 <= now:
                            level, group, escalated_at = 3, chain[2], at2
                            assignee = rng.choice(GROUP_MEMBERS[chain[2]])
                            if auto:  # level 2 did not claim either
                                first_response = at2 + timedelta(minutes=rng.uniform(5, 90))
                            event("auto_escalated" if auto else "escalated", at2,
                                  {"group": [chain[1], chain[2]], "escalation_level": [2, 3],
                                   "note": [None, tid], "reason": [None, "escalating to the vendor"]},
                                  actor="system" if auto else rng.choice(GROUP_MEMBERS[chain[1]]))
            if first_response > now:
                first_response, assignee = None, None
            else:
                status = "in_progress"
                if rng.random() < 0.015:  # stalled: never finished
                    status = rng.choice(["in_progress", "waiting_on_requester"])
                else:
                    work_from = max(first_response, escalated_at) if escalated_at else first_response
                    resolved = work_from + lognormal_hours(rng, WORK_HOURS[severity], 1.1)
                    if rng.random() < 0.03:  # resolved, reopened, resolved again
                        reopen_at = resolved + lognormal_hours(rng, 20, 0.8)
                        if reopen_at <= now:  # (else it simply stays resolved the first time)
                            event("resolved", resolved, {"status": ["in_progress", "resolved"],
                                                         "resolved_at": [None, resolved.isoformat() + "+00:00"]}, actor=assignee)
                            event("reopened", reopen_at, {"status": ["resolved", "in_progress"],
                                                          "resolved_at": [resolved.isoformat() + "+00:00", None]})
                            resolved = reopen_at + lognormal_hours(rng, WORK_HOURS[severity], 1.0)
                    if resolved > now:
                        resolved = None
                        status = rng.choice(["in_progress", "in_progress", "waiting_on_requester"])
                    else:
                        status = "resolved"
                        confirmed = rng.random() < 0.4
                        closed = resolved + (lognormal_hours(rng, 6, 1.0) if confirmed
                                             else timedelta(days=3, minutes=rng.uniform(0, 30)))
                        if closed > now:
                            closed = None
                        else:
                            status = "closed"
                            event("confirmed" if confirmed else "closed", closed,
                                  {"status": ["resolved", "closed"], "closed_at": [None, closed.isoformat() + "+00:00"]},
                                  actor=None if confirmed else "system")
        worked = first_response is not None
        times = [x for x in (created, first_response, resolved, closed, escalated_at) if x is not None]
        for e in events:
            times.append(e["at"])
        open_ = status not in ("resolved", "closed")
        row = {
            "id": tid,
            "requester_id": f"slack:U{req:05d}", "requester_name": f"User {req:04d}",
            "requester_email": f"user{req}@corp.example",
            "requester_phone": f"+44 20 7946 {req:04d}" if req % 3 == 0 else None,
            "requester_department": DEPARTMENTS[req % len(DEPARTMENTS)],
            "requester_office": OFFICES[req % len(OFFICES)],
            "description": rng.choice(DESCRIPTIONS[category]),
            "category": category, "severity": severity, "status": status,
            "device": rng.choice(DEVICES) if rng.random() < 0.6 else None,
            "location": rng.choice(OFFICES) if rng.random() < 0.7 else None,
            "assignee_id": assignee if worked else None,
            "assignee_name": assignee.split("@")[0] if worked and assignee else None,
            "group_name": group, "escalation_level": level,
            "resolution": "Fixed: " + rng.choice(["restarted the service", "replaced the cable", "reset the password",
                                                 "reinstalled the app", "updated the driver"]) if resolved else None,
            "origin": "slack" if rng.random() < 0.8 else "console" if rng.random() < 0.75 else "teams",
            "external_id": None,
            "created_at": created, "updated_at": max(times), "first_response_at": first_response,
            "resolved_at": resolved, "closed_at": closed, "version": 1 + len(events) + worked + bool(resolved),
            "escalated_at": escalated_at, "top_pings": 0, "sla_warned_for": None, "overdue_noticed": False,
            "due_at": (resolution_due if worked else response_due) if open_ else None,
            "sla_next_at": None, "sla_step": None,
            "response_due_at": response_due, "resolution_due_at": resolution_due,
        }
        return row, events


# --------------------------------------------------------------------------- databases


class Target:
    """One database under test: a temporary SQLite file, or a fresh PostgreSQL schema."""

    def __init__(self, kind: str, pg_url: str | None = None) -> None:
        from sqlalchemy import text

        from storage.database import make_engine, normalise_url, upgrade
        self.kind = kind
        self.dir = self.schema = self.admin = None
        if kind == "sqlite":
            self.dir = tempfile.mkdtemp(prefix="helpdesk-report-bench-")
            self.url = f"sqlite:///{os.path.join(self.dir, 'helpdesk.db')}"
            self.engine = make_engine(self.url)
        else:
            self.url = normalise_url(pg_url)
            self.schema = f"hd_report_bench_{uuid.uuid4().hex[:10]}"
            self.admin = make_engine(self.url)
            with self.admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            self.engine = make_engine(self.url, connect_args={"options": f"-csearch_path={self.schema}"})
        upgrade(self.engine)

    def close(self) -> None:
        from sqlalchemy import text
        self.engine.dispose()
        if self.admin is not None:
            with self.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def file_mb(self) -> float | None:
        if not self.dir:
            return None
        return round(sum(p.stat().st_size for p in Path(self.dir).iterdir()) / 2**20, 1)


def server_side_events(dialect: str) -> list[str]:
    """`opened`, `claimed` and `resolved` events (with `changes` as the app writes them),
    one per ticket with that timestamp, by INSERT … SELECT. `||` works on both databases;
    PostgreSQL needs the text cast to json (on SQLite a CAST to JSON would make it 0)."""
    def j(expr: str) -> str:
        return f"CAST({expr} AS JSON)" if dialect == "postgresql" else expr
    head = "INSERT INTO audit_events (ticket_id, actor_id, actor_name, action, at, changes) "
    return [
        head + "SELECT id, requester_id, requester_name, 'opened', created_at, "
        + j("""'{"status": [null, "new"]}'""") + " FROM tickets",
        head + "SELECT id, assignee_id, assignee_name, 'claimed', first_response_at, "
        + j("""'{"status": ["new", "in_progress"], "assignee_id": [null, "' || assignee_id || '"]}'""")
        + " FROM tickets WHERE first_response_at IS NOT NULL AND assignee_id IS NOT NULL",
        head + "SELECT id, assignee_id, assignee_name, 'resolved', resolved_at, "
        + j("""'{"status": ["in_progress", "resolved"], "resolved_at": [null, "' || resolved_at || '"]}'""")
        + " FROM tickets WHERE resolved_at IS NOT NULL AND assignee_id IS NOT NULL",
    ]


def seed(target: Target, data: Dataset, method: str) -> dict[str, Any]:
    """Load `data` in one transaction, a batch at a time, then add the per-ticket `opened`/
    `claimed`/`resolved` events server-side (INSERT … SELECT).

    method `fast` (default): SQLite gets `Connection.exec_driver_sql(INSERT …, rows)`, the
    driver's executemany with the values already in the form `UTCDateTime` stores them
    (`YYYY-MM-DD HH:MM:SS.ffffff`, checked by reading rows back through the Core table);
    PostgreSQL gets COPY … FROM STDIN through psycopg 3 (`cursor.copy`, session time zone
    UTC for the transaction). method `core`: `conn.execute(insert(table), [dict, …])`,
    Core executemany with the typed columns (psycopg pipelines it on PostgreSQL) — same
    rows, several times slower (see bench/README.md)."""
    from sqlalchemy import func, insert, select, text

    from storage.schema import audit_events, tickets

    engine = target.engine
    dialect = engine.dialect.name
    started = time.perf_counter()
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))  # naive datetimes (COPY) are UTC
        for b, (rows, events) in enumerate(zip(data.tickets, data.events)):
            if method == "core":
                conn.execute(insert(tickets), [_aware(dict(zip(TICKET_COLUMNS, r))) for r in rows])
                if events:
                    conn.execute(insert(audit_events), [_aware(dict(zip(EVENT_COLUMNS, e[:5]), changes=json.loads(e[5])))
                                                        for e in events])
            elif dialect == "postgresql":
                _copy(conn, "tickets", TICKET_COLUMNS, rows)
                _copy(conn, "audit_events", EVENT_COLUMNS, events)
            else:
                _sqlite_many(conn, "tickets", TICKET_COLUMNS, rows)
                _sqlite_many(conn, "audit_events", EVENT_COLUMNS, events)
            if (b + 1) % 40 == 0:
                say(f"  {target.kind}: {sum(len(x) for x in data.tickets[:b + 1]):,}/{data.ticket_count:,} tickets loaded")
    t_bulk = time.perf_counter()
    with engine.begin() as conn:  # the common per-ticket events, generated by the database from the tickets
        for sql in server_side_events(dialect):
            conn.execute(text(sql))
        if dialect == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"))
    t_server = time.perf_counter()
    if dialect == "postgresql":  # what autovacuum would have done by the time anyone reports on a year
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE tickets"))
            conn.execute(text("VACUUM ANALYZE audit_events"))
    else:  # fold the bulk load's WAL back into the file, as a long-running desk's would be
        raw = engine.raw_connection()  # outside any transaction (the engine's BEGIN would block it)
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    engine.dispose()  # reports start on fresh connections
    t_vacuum = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(helpdesk_write=False)
        statuses = dict(conn.execute(select(tickets.c.status, func.count()).group_by(tickets.c.status)).all())
        actions = dict(conn.execute(select(audit_events.c.action, func.count()).group_by(audit_events.c.action)).all())
        # the fast path stored exactly what the typed Core columns would have: read a few back
        for row in (data.tickets[0][0], data.tickets[-1][-1]):
            back = conn.execute(select(tickets).where(tickets.c.id == row[0])).one()._mapping
            want = _aware(dict(zip(TICKET_COLUMNS, row)))
            assert all(back[c] == want[c] for c in TICKET_COLUMNS), (row[0], {c: (back[c], want[c]) for c in TICKET_COLUMNS if back[c] != want[c]})
        size = None
        if dialect == "postgresql":
            size = conn.execute(text("SELECT pg_total_relation_size('tickets') + pg_total_relation_size('audit_events')")).scalar_one()
    count = data.ticket_count
    assert sum(statuses.values()) == count, statuses
    out = {
        "tickets": count, "audit_events": sum(actions.values()), "statuses": statuses, "events_by_action": actions,
        "seconds": round(t_vacuum - started + data.seconds, 2),
        "generate_s": round(data.seconds, 2),
        "load_s": round(t_bulk - started, 2),
        "load_rows_per_s": round((count + data.event_count) / max(t_bulk - started, 1e-9)),
        "server_side_events_s": round(t_server - t_bulk, 2),
        "method": {"core": "SQLAlchemy Core insert() executemany",
                   "fast": "psycopg COPY FROM STDIN" if dialect == "postgresql" else "exec_driver_sql executemany"}[method]
        + f", batches of {len(data.tickets[0]):,} tickets; opened/claimed/resolved events by INSERT … SELECT",
    }
    if dialect == "postgresql":
        out["vacuum_analyze_s"] = round(t_vacuum - t_server, 2)
        out["size_mb"] = round(size / 2**20, 1)
    else:
        out["wal_checkpoint_s"] = round(t_vacuum - t_server, 2)
        out["size_mb"] = target.file_mb()
    return out


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) else v for k, v in row.items()}


def _sqlite_many(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """The driver's executemany with datetimes as SQLAlchemy's SQLite DateTime stores them."""
    if not rows:
        return
    iso = datetime.isoformat
    converted = [tuple(iso(v, " ", "microseconds") if type(v) is datetime else v for v in r) for r in rows]
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         converted)


def _copy(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY … FROM STDIN through psycopg 3 on the transaction's own connection."""
    if not rows:
        return
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)
    cursor.close()


# --------------------------------------------------------------------------- timing


class StatementLog:
    """Every SQL statement's wall time while `active` (cursor execute to return)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event
        self.active = False
        self.items: list[tuple[float, str, Any]] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info["report_bench_t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            if self.active:
                self.items.append((time.perf_counter() - conn.info.pop("report_bench_t0"), statement, parameters))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[float, str, Any]]]:
        self.items = []
        self.active = True
        try:
            yield self.items
        finally:
            self.active = False


def timed(fn, repeat: int, single_run_over: float = math.inf) -> tuple[dict[str, Any], Any]:
    runs, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
        if runs[0] > single_run_over:  # one run is enough to say it is too slow
            break
    return {"min_s": round(min(runs), 3), "median_s": round(statistics.median(runs), 3),
            "runs_s": [round(r, 3) for r in runs]}, result


def report_kinds(now: datetime):
    from bot.reports import ReportQuery
    year = now - timedelta(days=365)
    return {
        "year": ReportQuery(year, now),
        "30d": ReportQuery(now - timedelta(days=30), now),
        "by_category": ReportQuery(year, now, by="category"),
        "filtered": ReportQuery(year, now, category=FILTER_CATEGORY),
    }


def bench_reports(target: Target, settings, now: datetime, repeat: int, explain: int,
                  single_run_over: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bot.reports import nearest_rank
    from storage.repository import SqlStore
    from storage.schema import tickets

    store = SqlStore(target.engine)
    log = StatementLog(target.engine)
    out: dict[str, Any] = {}
    reports: dict[str, Any] = {}
    slowest: list[tuple[float, str, Any, str]] = []
    for kind, query in report_kinds(now).items():
        def run(query=query):
            with store.transaction(write=False) as tx:
                return tx.report(query, settings)
        with log.capture() as statements:
            timing, report = timed(run, repeat, single_run_over)
        per_run = len(statements) // len(timing["runs_s"])
        last = statements[-per_run:] if per_run else []
        top = sorted(last, key=lambda s: -s[0])[:5]
        shapes: dict[str, list[float]] = {}  # statements that differ only in their parameters, together
        for s, sql, _ in last:
            shape = shapes.setdefault(" ".join(sql.split())[:140], [0, 0.0])
            shape[0] += 1
            shape[1] += s
        timing.update({
            "statements": per_run,
            "sql_s_last_run": round(sum(s[0] for s in last), 3),
            "by_statement_shape": [{"n": n, "s": round(t, 3), "sql": sql}
                                   for sql, (n, t) in sorted(shapes.items(), key=lambda x: -x[1][1])[:6]],
            "slowest_statements": [{"s": round(s, 3), "sql": " ".join(sql.split())[:160]} for s, sql, _ in top[:3]],
            "opened": report.figures.opened, "resolved": report.figures.resolved,
            "breakdown_keys": len(report.breakdown),
        })
        timing["in_seconds"] = timing["median_s"] < IN_SECONDS
        say(f"  {target.kind} {kind}: median {timing['median_s']} s (min {timing['min_s']}, "
            f"{len(timing['runs_s'])} runs), {per_run} statements")
        out[kind] = timing
        reports[kind] = report
        # plans: the N slowest statements of the year report, and the slowest of each other kind
        seen = {sql for _, sql, _, _ in slowest}
        for s, sql, params in top[:explain if kind == "year" else 1]:
            if sql not in seen:
                slowest.append((s, sql, params, kind))
                seen.add(sql)

    # baselines over the same rows: count(*) over the tickets created in the period (the
    # report's `opened`), the naive fetch over those resolved in it (its `resolution`)
    queries = report_kinds(now)
    baselines: dict[str, Any] = {}
    checks: dict[str, bool] = {}
    for period in ("year", "30d"):
        q = queries[period]
        created = (tickets.c.created_at >= q.since, tickets.c.created_at < q.until)
        resolved = (tickets.c.resolved_at >= q.since, tickets.c.resolved_at < q.until)

        def count(where=created):
            with store.transaction(write=False) as tx:
                return tx.conn.execute(select(func.count()).select_from(tickets).where(*where)).scalar_one()

        def naive(where=resolved):
            """The approach the issue rules out: every pair into Python, the median there."""
            with store.transaction(write=False) as tx:
                rows = tx.conn.execute(select(tickets.c.created_at, tickets.c.resolved_at).where(*where)).all()
            durations = sorted((r - c).total_seconds() for c, r in rows)
            return len(rows), (round(durations[nearest_rank(len(durations), 0.5)], 1) if durations else None)

        count_t, n = timed(count, repeat)
        naive_t, (n_rows, median) = timed(naive, repeat, single_run_over)
        baselines[period] = {"count_star": {"rows": n, **count_t},
                             "naive_fetch_pairs": {"rows": n_rows, "median_resolution_s": median, **naive_t}}
        figures = reports[period].figures
        checks[f"{period}_opened_equals_count_star"] = figures.opened == n
        checks[f"{period}_resolution_median_equals_naive"] = (figures.resolution.count == n_rows
                                                               and figures.resolution.median == median)
    all_count_t, _ = timed(lambda: _scalar(store, "SELECT count(*) FROM tickets"), repeat)
    baselines["count_star_all_tickets"] = all_count_t
    for kind, timing in out.items():
        base = baselines["30d" if kind == "30d" else "year"]
        timing["ratio_to_count_star"] = round(timing["median_s"] / max(base["count_star"]["median_s"], 1e-6), 1)
        timing["ratio_to_naive_fetch"] = round(timing["median_s"] / max(base["naive_fetch_pairs"]["median_s"], 1e-6), 2)
    explained = [_explain(target, s, sql, params, kind) for s, sql, params, kind in slowest]
    return {"reports": out, "baselines": baselines, "checks": checks, "explain_slowest_statements": explained}


def _scalar(store, sql: str) -> Any:
    from sqlalchemy import text
    with store.transaction(write=False) as tx:
        return tx.conn.execute(text(sql)).scalar_one()


def _explain(target: Target, seconds: float, sql: str, params: Any, kind: str) -> dict[str, Any]:
    prefix = "EXPLAIN QUERY PLAN " if target.kind == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    with target.engine.connect() as conn:
        conn.execution_options(helpdesk_write=False)
        rows = conn.exec_driver_sql(prefix + sql, params).all()
        conn.rollback()
    plan = [f"{r[0]}<-{r[1]}: {r[3]}" for r in rows] if target.kind == "sqlite" else [r[0] for r in rows]
    return {"report": kind, "s": round(seconds, 3), "sql": " ".join(sql.split()),
            "params": [str(p) for p in (params.values() if isinstance(params, dict) else params or [])],
            "plan": plan}


def cli_report(target: Target, since: str = "365d") -> dict[str, Any]:
    """`helpdesk report --since 365d --format json`, end to end (interpreter start included)."""
    cfg_dir = tempfile.mkdtemp(prefix="helpdesk-report-bench-cfg-")
    try:
        cfg = Path(cfg_dir) / "helpdesk.toml"
        cfg.write_text(_toml(SETTINGS), encoding="utf-8")
        env = {**os.environ, "DATABASE_URL": target.url, "HELPDESK_CONFIG": str(cfg)}
        exe = Path(sys.executable).parent / "helpdesk"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "adapters.cli"]
        result: dict[str, Any] = {}
        for label, period in (("since_365d", since), ("since_1h_floor", "1h")):
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd, "report", "--since", period, "--format", "json"], env=env, cwd=cfg_dir,
                                  capture_output=True, text=True, timeout=600)
            elapsed = time.perf_counter() - t0
            entry: dict[str, Any] = {"s": round(elapsed, 3), "exit": proc.returncode}
            if proc.returncode == 0:
                entry["opened"] = json.loads(proc.stdout)["figures"]["opened"]
            else:
                entry["stderr"] = proc.stderr[-2000:]
            result[label] = entry
        result["in_seconds"] = result["since_365d"]["exit"] == 0 and result["since_365d"]["s"] < IN_SECONDS
        return result
    finally:
        shutil.rmtree(cfg_dir, ignore_errors=True)


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for SETTINGS (tables, arrays of tables, strings, lists, bools)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)
    lines, tables = [], []
    for key, v in data.items():
        if isinstance(v, dict):
            tables.append((key, v))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"\n[[{prefix}{key}]]")
                lines.extend(f"{k} = {value(x)}" for k, x in item.items())
        else:
            lines.insert(0, f"{key} = {value(v)}")
    out = "\n".join(lines)
    for key, v in tables:
        name = f'{prefix}"{key}"' if "-" in key else f"{prefix}{key}"
        inner = {k: x for k, x in v.items() if not isinstance(x, dict)}
        out += f"\n\n[{name}]\n" + "\n".join(f"{k} = {value(x)}" for k, x in inner.items())
        sub = {k: x for k, x in v.items() if isinstance(x, dict)}
        if sub:
            out += _toml(sub, prefix=f"{name}.")
    return out + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="comma-separated ticket counts (default 100000,1000000)")
    parser.add_argument("--quick", action="store_true", help="100,000 tickets only")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL, help=f"default {DEFAULT_PG_URL}")
    parser.add_argument("--repeat", type=int, default=3, help="runs per report kind (default 3)")
    parser.add_argument("--batch", type=int, default=5000, help="tickets per insert batch (default 5000)")
    parser.add_argument("--seed-method", choices=["fast", "core"], default="fast",
                        help="fast: driver executemany (SQLite) / COPY (PostgreSQL); core: Core insert() executemany")
    parser.add_argument("--single-run-over", type=float, default=15.0, metavar="S",
                        help="a report kind whose first run takes longer than S seconds runs once (keeps 1M in budget)")
    parser.add_argument("--explain", type=int, default=3, help="plans of the N slowest year-report statements (and the slowest of each other kind)")
    parser.add_argument("--no-cli", action="store_true", help="skip the `helpdesk report` subprocess")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args(argv)

    from bot.config import Settings

    sizes = [100_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes \
        else list(DEFAULT_SIZES)
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    settings = Settings.model_validate(SETTINGS)
    doc: dict[str, Any] = {
        "benchmark": "report", "python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "sizes": sizes, "repeat": args.repeat, "in_seconds_limit_s": IN_SECONDS,
        "seed_method": args.seed_method, "single_run_over_s": args.single_run_over,
        "kinds": {"year": "ReportQuery(now - 365 d, now)", "30d": "ReportQuery(now - 30 d, now)",
                  "by_category": "ReportQuery(now - 365 d, now, by='category')",
                  "filtered": f"ReportQuery(now - 365 d, now, category={FILTER_CATEGORY!r})"},
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],  # other work on the machine skews every figure
        "databases": {},
    }
    started = time.perf_counter()
    for kind in kinds:
        doc["databases"][kind] = {}
    for size in sizes:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        say(f"{size:,} tickets: generating a year of history (once, for every database)")
        data = History(size, now).generate(args.batch)
        say(f"generated {data.ticket_count:,} tickets and {data.event_count:,} events in {data.seconds:.1f} s")
        for kind in kinds:
            per_db = doc["databases"][kind]
            if any("error" in e for e in per_db.values()):
                continue
            say(f"{kind}: {size:,} tickets: migrating and loading")
            try:
                target = Target(kind, args.postgres_url)
            except Exception as exc:  # no server: say so in the document, carry on with the rest
                per_db[str(size)] = {"error": f"{exc.__class__.__name__}: {exc}"[:500]}
                say(f"{kind}: unusable: {exc}")
                continue
            try:
                entry: dict[str, Any] = {"seed": seed(target, data, args.seed_method),
                                         "loadavg_before_reports": [round(x, 2) for x in os.getloadavg()]}
                if kind == "postgresql":
                    entry["server"] = _pg_server(target)
                say(f"{kind}: seeded in {entry['seed']['seconds']} s "
                    f"({entry['seed']['audit_events']:,} audit events); timing reports")
                entry.update(bench_reports(target, settings, now, args.repeat, args.explain, args.single_run_over))
                if kind == "sqlite" and not args.no_cli:
                    say(f"{kind}: helpdesk report --since 365d --format json (subprocess)")
                    entry["cli"] = cli_report(target)
                entry["in_seconds"] = all(r["in_seconds"] for r in entry["reports"].values()) and \
                    entry.get("cli", {}).get("in_seconds", True)
                per_db[str(size)] = entry
            finally:
                target.close()
        del data
    doc["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    doc["total_s"] = round(time.perf_counter() - started, 1)
    doc["in_seconds"] = all(e.get("in_seconds", False) for db in doc["databases"].values() for e in db.values())
    text = json.dumps(doc, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0


def _pg_server(target: Target) -> dict[str, Any]:
    from sqlalchemy import text
    with target.engine.connect() as conn:
        return {name: conn.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather")}


if __name__ == "__main__":
    sys.exit(main())
