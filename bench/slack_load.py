"""Slack load benchmark: signed slash commands and button presses against the real server.

    .venv/bin/python -m bench.slack_load                             # SQLite, 100,000 tickets, ~3 min
    .venv/bin/python -m bench.slack_load --quick                     # ~45 s smoke run
    .venv/bin/python -m bench.slack_load --database-url postgresql://postgres@127.0.0.1:5432/test

Run from the checkout's root after `make install`.

Seeds a migrated database with N tickets, then runs two servers one after the other,
each in a child process of its own (the load generator never shares their event loop),
with the fake Slack Web API (tests/fakes) in a third:

* helpdesk: `adapters.server.build_web_app` on a `Runtime` over that database, Slack
  settings pointing at the fake, outbox dispatcher and SLA sweep running (production defaults);
* floor: the same aiohttp shape with a bare slack_bolt `AsyncApp` (same signing secret,
  verification on) whose `/ticket` and `ticket:claim` listeners only `await ack()`.

Each server gets the same scenarios: a steady rate (open loop) and full concurrency
(N workers, closed loop), for `/ticket new …`, `/ticket claim <id>` and a `ticket:claim`
button press. Latency is send → HTTP response (the ack). One JSON document goes to
stdout; progress goes to stderr. Only 127.0.0.1 is ever contacted. See bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/slack_load.py` as well as `python -m bench.slack_load`
    sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
TEAM = "T0BENCH"
DESK_CHANNEL = "C0DESK"
NET_CHANNEL = "C0NET"
REQUESTERS = [f"U1{n:04d}" for n in range(100)]
TECHS = [f"UTECH{n:02d}" for n in range(10)]
SUBMITTERS = [f"U2{n:05d}" for n in range(2100)]  # the surge: each person submits the intake modal once
KINDS = ("slash_new", "slash_claim", "button_claim", "view_submit")
NEW_KINDS = ("slash_new", "view_submit")  # scenarios that open tickets
P99_TARGET_MS = 250.0
THROUGHPUT_TARGET_RATIO = 0.5


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- settings


def bench_settings(database_url: str, slack_api_url: str) -> dict[str, Any]:
    """A realistic desk: ten technicians on Slack, two groups with channels, default categories."""
    return {
        "database_url": database_url,
        "timezone": "Europe/London",
        "slack": {"bot_token": TOKEN, "signing_secret": SECRET, "api_url": slack_api_url},
        "technicians": [{"name": f"Tech {n}", "ids": [f"tech{n}@corp.example", f"slack:{uid}"]}
                        for n, uid in enumerate(TECHS)],
        "groups": {
            "service-desk": {"members": [f"tech{n}@corp.example" for n in range(7)], "slack_channel": DESK_CHANNEL},
            "network-eng": {"members": [f"tech{n}@corp.example" for n in range(7, 10)], "slack_channel": NET_CHANNEL},
        },
        "categories": {
            "hardware": {"escalation": ["service-desk"], "keywords": ["laptop", "screen", "monitor", "dock", "keyboard"]},
            "software": {"escalation": ["service-desk"], "keywords": ["install", "crash", "excel", "licence"]},
            "network": {"escalation": ["service-desk", "network-eng"], "keywords": ["vpn", "wifi", "network", "dns"]},
            "account": {"escalation": ["service-desk"], "keywords": ["password", "login", "locked", "mfa"]},
            "email": {"escalation": ["service-desk"], "keywords": ["email", "outlook", "mailbox", "calendar"]},
            "printer": {"escalation": ["service-desk"], "keywords": ["printer", "toner", "jams", "scanner"]},
            "security": {"escalation": ["service-desk"], "keywords": ["phishing", "malware", "stolen"]},
            "other": {"escalation": ["service-desk"]},
        },
    }


def add_people(slack) -> None:
    for n, uid in enumerate(REQUESTERS):
        slack.add_user(uid, f"user{n}", f"User {n:03d}", email=f"user{n}@corp.example",
                       phone=f"+1 555 {n:04d}" if n % 3 == 0 else None)
    for n, uid in enumerate(TECHS):
        slack.add_user(uid, f"tech{n}", f"Tech {n}", email=f"tech{n}@corp.example")
    for n, uid in enumerate(SUBMITTERS):
        slack.add_user(uid, f"person{n}", f"Person {n:04d}", email=f"person{n}@corp.example")


# --------------------------------------------------------------------------- seeding

DESCRIPTIONS = {
    "hardware": ["Laptop will not wake from sleep after the dock is unplugged", "Second monitor flickers and goes black",
                 "Keyboard keys stick and repeat characters", "Laptop battery drains in under an hour"],
    "software": ["Excel crashes when opening the quarterly workbook", "Need a licence for the design tool",
                 "Install of the VPN client fails with error 1603", "App update stuck at 99 percent"],
    "network": ["VPN drops every few minutes when working from home", "Wifi on floor 2 is very slow",
                "Cannot reach the intranet, DNS lookups time out", "Network share is unreachable from the office"],
    "account": ["Locked out of my account after the password change", "MFA prompt never arrives on my phone",
                "Need access to the finance shared drive", "Login loops back to the sign-in page"],
    "email": ["Outlook keeps asking for my password", "Shared mailbox does not show new mail",
              "Calendar invites arrive without the meeting link", "Email to external partners bounces"],
    "printer": ["Printer on floor 3 jams on every page", "Toner low warning but the cartridge is new",
                "Scanner saves blank PDFs", "Cannot add the new printer on my laptop"],
    "security": ["Received a phishing email that looks like payroll", "Laptop stolen from my car last night",
                 "Pop-ups suggest malware on my desktop", "Suspicious login alert from another country"],
    "other": ["Request a new desk phone for the new starter", "Question about the loan equipment policy",
              "Meeting room screen needs a new cable", "Need help setting up the conference bridge"],
}
CATEGORY_WEIGHTS = {"hardware": 18, "software": 20, "network": 15, "account": 17, "email": 12, "printer": 8,
                    "security": 3, "other": 7}
SEVERITY_WEIGHTS = {"low": 35, "medium": 40, "high": 20, "critical": 5}
RESPONSE_HOURS = {"critical": 0.25, "high": 1, "medium": 4, "low": 24}
RESOLUTION_HOURS = {"critical": 4, "high": 8, "medium": 72, "low": 120}  # bot.config.DEFAULT_SEVERITIES
DETAILS = ["since this morning", "after the latest update", "only on the office network", "when I work from home",
           "for the whole team", "on my second laptop", "every time I restart", "since Monday", "error 0x80070005",
           "error 403 in the browser", "on the 4th floor", "in meeting room B", "", "", "", ""]
RESOLUTIONS = ["Restarted the print spooler and cleared the queue", "Replaced the faulty dock power supply",
               "Reset the password and re-enrolled MFA", "Reinstalled the application from the company portal",
               "Updated the network driver and renewed the DHCP lease", "Rebuilt the Outlook profile",
               "Granted access through the finance-readers group", "Replaced the toner cartridge and ran a cleaning cycle",
               "Reimaged the laptop after malware was found", "Moved the mailbox to the new retention policy",
               "Swapped the HDMI cable in the meeting room", "Whitelisted the sender and released the quarantined mail"]
DEPARTMENTS = ["Finance", "Sales", "Engineering", "HR", "Legal", "Marketing", "Operations", None]
OFFICES = ["London", "Leeds", "Floor 3", "Floor 2", "Remote", None]
DEVICES = ["HP-4050", "ThinkPad T14", "MacBook Pro", "Dell U2720Q", "iPhone 15", None, None, None]


def _status_for(age_days: float, rng: random.Random) -> str:
    """Old tickets are mostly closed; the last month still has open work in every state."""
    r = rng.random()
    if age_days > 30:
        return "closed" if r < 0.86 else "resolved" if r < 0.97 else "in_progress" if r < 0.99 else "waiting_on_requester"
    if age_days > 7:
        return "closed" if r < 0.45 else "resolved" if r < 0.75 else "in_progress" if r < 0.90 else "waiting_on_requester" if r < 0.96 else "new"
    return "resolved" if r < 0.25 else "in_progress" if r < 0.60 else "waiting_on_requester" if r < 0.75 else "new"


def ticket_rows(count: int, backlog: int, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """`count` tickets created over the past year, oldest first; the newest `backlog` are
    unclaimed `new` tickets (the untriaged queue the claim scenarios work through)."""
    cats, cat_w = zip(*CATEGORY_WEIGHTS.items())
    sevs, sev_w = zip(*SEVERITY_WEIGHTS.items())
    ages = sorted((rng.random() ** 1.3 * 365 for _ in range(count)), reverse=True)  # a growing desk: more recent tickets
    rows = []
    for i, age in enumerate(ages):
        created = now - timedelta(days=age)
        category = rng.choices(cats, cat_w)[0]
        severity = rng.choices(sevs, sev_w)[0]
        status = "new" if i >= count - backlog else _status_for(age, rng)
        if status == "new" and i < count - backlog and rng.random() < 0.5:
            status = "in_progress"  # keep the claimable pool to the backlog we reserved
        requester = rng.randrange(len(REQUESTERS))
        tech = rng.randrange(len(TECHS))
        escalated = category == "network" and rng.random() < 0.15
        worked = status != "new"
        first_response = min(now, created + timedelta(hours=RESPONSE_HOURS[severity] * rng.uniform(0.1, 1.5))) if worked else None
        resolved_at = min(now, first_response + timedelta(hours=rng.uniform(0.5, 72))) if status in ("resolved", "closed") else None
        closed_at = min(now, resolved_at + timedelta(days=rng.uniform(0.1, 5))) if status == "closed" else None
        updated = closed_at or resolved_at or first_response or created
        rows.append({
            "requester_id": f"slack:{REQUESTERS[requester]}", "requester_name": f"User {requester:03d}",
            "requester_email": f"user{requester}@corp.example",
            "requester_phone": f"+1 555 {requester:04d}" if requester % 3 == 0 else None,
            "requester_department": DEPARTMENTS[requester % len(DEPARTMENTS)],
            "requester_office": OFFICES[requester % len(OFFICES)],
            "description": f"{rng.choice(DESCRIPTIONS[category])} {rng.choice(DETAILS)}".strip(),
            "category": category, "severity": severity, "status": status,
            "device": rng.choice(DEVICES), "location": rng.choice(OFFICES),
            "assignee_id": f"slack:{TECHS[tech]}" if worked else None,
            "assignee_name": f"Tech {tech}" if worked else None,
            "group_name": "network-eng" if escalated else "service-desk",
            "escalation_level": 2 if escalated else 1,
            "resolution": f"{rng.choice(RESOLUTIONS)} {rng.choice(DETAILS)}".strip() if resolved_at else None,
            "origin": rng.choices(["slack", "console", "teams"], [80, 15, 5])[0],
            "created_at": created, "updated_at": min(updated, now), "first_response_at": first_response,
            "resolved_at": resolved_at, "closed_at": closed_at, "version": 1 + (worked + bool(resolved_at) + bool(closed_at)),
            "due_at": created + timedelta(hours=RESOLUTION_HOURS[severity]),
        })
    return rows


def seed(engine, count: int, backlog: int, batch: int = 5000) -> dict[str, Any]:
    """Bulk-insert with Core executemany in batches, plus an `opened` audit event per ticket."""
    from sqlalchemy import func, insert, select, text

    from storage.schema import audit_events, tickets

    started = time.perf_counter()
    rows = ticket_rows(count, backlog, datetime.now(timezone.utc), random.Random(20260302))
    known = set(tickets.c.keys())  # the schema moves on: fill only the columns this version has
    if not {"due_at"} <= known:
        rows = [{k: v for k, v in row.items() if k in known} for row in rows]
    generated = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, len(rows), batch):
            conn.execute(insert(tickets), rows[start:start + batch])
    inserted = time.perf_counter()
    with engine.begin() as conn:  # server-side copy: one opened event per ticket, at its creation time
        conn.execute(text(
            "INSERT INTO audit_events (ticket_id, actor_id, actor_name, action, at, changes) "
            "SELECT id, requester_id, requester_name, 'opened', created_at, '{\"status\": [null, \"new\"]}' FROM tickets"))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(tickets.c.status, func.count()).group_by(tickets.c.status)).all())
        events = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    done = time.perf_counter()
    return {"tickets": count, "audit_events": events, "statuses": statuses,
            "seconds": round(done - started, 2), "insert_rows_per_s": round(count / max(inserted - generated, 1e-9))}


# --------------------------------------------------------------------------- database handle (parent side)


@dataclass
class Database:
    url: str
    kind: str
    connect_args: dict[str, Any]
    schema: str | None = None
    path: str | None = None
    _engine: Any = None
    _admin: Any = None

    @classmethod
    def open(cls, url: str | None) -> "Database":
        from sqlalchemy import text

        from storage.database import make_engine, normalise_url
        if not url:
            path = os.path.join(tempfile.mkdtemp(prefix="helpdesk-bench-"), "helpdesk.db")
            db = cls(f"sqlite:///{path}", "sqlite", {}, path=path)
        else:
            url = normalise_url(url)
            if url.startswith("sqlite"):
                db = cls(url, "sqlite", {})
            else:
                schema = f"hd_bench_{uuid.uuid4().hex[:10]}"
                admin = make_engine(url)
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                db = cls(url, "postgresql", {"options": f"-csearch_path={schema}"}, schema=schema, _admin=admin)
        return db

    def engine(self):
        from storage.database import make_engine
        if self._engine is None:
            self._engine = make_engine(self.url, connect_args=self.connect_args) if self.connect_args else make_engine(self.url)
        return self._engine

    def _reader(self):
        """A connection for counting: on SQLite a plain BEGIN, not the engine's default
        BEGIN IMMEDIATE, so the bench's polling never takes the server's write lock."""
        conn = self.engine().connect()
        conn.execution_options(helpdesk_write=False)
        return conn

    def scalar(self, sql: str) -> Any:
        from sqlalchemy import text
        with self._reader() as conn:
            return conn.execute(text(sql)).scalar_one()

    def tickets(self) -> int:
        return self.scalar("SELECT count(*) FROM tickets")

    def last_id(self, table: str) -> int:
        """The newest row's id in `table` (0 when empty): where a scenario's count starts."""
        return self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}")

    def tickets_since(self, last_id: int) -> int:
        """Tickets written after `last_id`: a range of the primary key, so polling it every 50 ms
        costs the database next to nothing (a count(*) of 100,000 tickets takes PostgreSQL 35 ms,
        and polled while the server writes, it took a third of a core from it on this 2-core machine)."""
        return self.scalar(f"SELECT count(*) FROM tickets WHERE id > {int(last_id)}")

    def claim_events_since(self, last_id: int) -> int:
        return self.scalar(f"SELECT count(*) FROM audit_events WHERE id > {int(last_id)} AND action = 'claimed'")

    def outbox_pending(self) -> int:
        return self.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")

    def outbox_pending_by_kind(self) -> dict[str, int]:
        """Pending outbox rows by `platform kind audience-kind`, and how many are not due yet."""
        from sqlalchemy import text
        with self._reader() as conn:
            rows = conn.execute(text("SELECT platform, kind, audience, available_at FROM outbox "
                                     "WHERE status = 'pending'")).all()
        found: dict[str, int] = {}
        for platform, kind, audience, _ in rows:
            key = f"{platform} {kind} {audience.split(':')[0]}"
            found[key] = found.get(key, 0) + 1
        return found

    def outbox_failed(self) -> int:
        return self.scalar("SELECT count(*) FROM outbox WHERE status = 'failed'")

    def backlog_ids(self) -> list[int]:
        from sqlalchemy import text
        with self._reader() as conn:
            return list(conn.execute(text(
                "SELECT id FROM tickets WHERE status = 'new' AND assignee_id IS NULL ORDER BY id")).scalars())

    def close(self) -> None:
        from sqlalchemy import text
        if self._engine is not None:
            self._engine.dispose()
        if self._admin is not None and self.schema:
            with self._admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self._admin.dispose()
        if self.path:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(self.path + suffix)
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(os.path.dirname(self.path))
            except OSError:
                pass


# --------------------------------------------------------------------------- server process


class LoopMonitor:
    """Event-loop lag (how late a 10 ms timer fires) and the to_thread queue depth, per scenario."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.reset()

    def reset(self) -> None:
        self.lags: list[float] = []
        self.queue_max = 0
        self.busy_threads_max = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, loop.time() - before - self.interval))
            executor = getattr(loop, "_default_executor", None)
            if executor is not None:
                self.queue_max = max(self.queue_max, executor._work_queue.qsize())
                self.busy_threads_max = max(self.busy_threads_max, len(executor._threads))

    def snapshot(self) -> dict[str, Any]:
        lags = sorted(self.lags)
        out = {"loop_lag_p50_ms": _ms(_pct(lags, 0.50)), "loop_lag_p99_ms": _ms(_pct(lags, 0.99)),
               "loop_lag_max_ms": _ms(lags[-1] if lags else 0.0), "to_thread_queue_max": self.queue_max,
               "to_thread_workers": self.busy_threads_max}
        self.reset()
        return out


IDLE_LEAVES = {("selectors.py", "select"), ("thread.py", "_worker"), ("threading.py", "wait"),
               ("queue.py", "get"), ("connection.py", "recv"), ("base_events.py", "_run_once")}


class Sampler:
    """A wall-clock sampling profiler over every thread of the server (cProfile only sees one).

    Busy samples are stacks whose innermost Python frame is not an idle wait (selector,
    idle pool worker); summary() gives the top functions by inclusive busy share, split
    into the event-loop thread and the to_thread workers."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.main_ident = threading.get_ident()
        self.stacks: collections.Counter[tuple[str, tuple[str, ...]]] = collections.Counter()
        self.samples = collections.Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stacks.clear()
        self.samples.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                where = "loop" if ident == self.main_ident else "workers"
                stack = []
                f = frame
                while f is not None:
                    code = f.f_code
                    stack.append(f"{_short(code.co_filename)}:{code.co_name}")
                    f = f.f_back
                leaf = (os.path.basename(frame.f_code.co_filename), frame.f_code.co_name)
                self.samples[where, "total"] += 1
                if leaf in IDLE_LEAVES:
                    continue
                self.samples[where, "busy"] += 1
                self.stacks[where, tuple(reversed(stack))] += 1

    def stop(self, collapsed_path: str | None) -> dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if collapsed_path:
            with open(collapsed_path, "w") as out:
                for (where, stack), n in self.stacks.most_common():
                    out.write(f"{where};{';'.join(stack)} {n}\n")
        summary: dict[str, Any] = {}
        for where in ("loop", "workers"):
            busy = self.samples[where, "busy"]
            inclusive: collections.Counter[str] = collections.Counter()
            leaves: collections.Counter[str] = collections.Counter()
            for (w, stack), n in self.stacks.items():
                if w != where:
                    continue
                for name in set(stack):
                    inclusive[name] += n
                leaves[stack[-1]] += n
            summary[where] = {
                "busy_samples": busy, "total_samples": self.samples[where, "total"],
                "top_inclusive_pct": {k: round(100 * v / busy, 1) for k, v in inclusive.most_common(25)} if busy else {},
                "top_self_pct": {k: round(100 * v / busy, 1) for k, v in leaves.most_common(12)} if busy else {},
            }
        return summary


def _short(filename: str) -> str:
    """A stack frame's file as a name to read: relative to the checkout or to site-packages / the stdlib."""
    for marker in ("site-packages/", f"{ROOT}/", f"python{sys.version_info.major}.{sys.version_info.minor}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.basename(filename)


def floor_app(client):
    """The floor: aiohttp + a bare Bolt AsyncApp whose listeners only ack."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp

    bolt = AsyncApp(client=client, signing_secret=SECRET, process_before_response=False)

    @bolt.command("/ticket")
    async def _command(ack) -> None:
        await ack()

    @bolt.action("ticket:claim")
    async def _claim(ack) -> None:
        await ack()

    @bolt.view("helpdesk_form")
    async def _submitted(ack) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    return app


class Breakdown:
    """Where a request's time goes inside the server (with --profile): every asyncio.to_thread
    call timed as queue wait (for a free default-executor thread) and run time, per function,
    and SQLite/PostgreSQL `BEGIN` time (waiting for the write lock) from cursor events."""

    def __init__(self) -> None:
        self.queue: dict[str, list[float]] = collections.defaultdict(list)
        self.run: dict[str, list[float]] = collections.defaultdict(list)
        self.begin: list[float] = []

    def install(self, engine) -> None:
        from sqlalchemy import event

        original = asyncio.to_thread
        breakdown = self

        async def timed_to_thread(func, /, *args, **kwargs):
            name = getattr(func, "__qualname__", repr(func))
            submitted = time.perf_counter()

            def timed():
                started = time.perf_counter()
                breakdown.queue[name].append(started - submitted)
                try:
                    return func(*args, **kwargs)
                finally:
                    breakdown.run[name].append(time.perf_counter() - started)
            return await original(timed)

        asyncio.to_thread = timed_to_thread  # every module calls it as asyncio.to_thread(...)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany) -> None:
            if statement.startswith("BEGIN"):
                conn.info["bench_begin"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany) -> None:
            began = conn.info.pop("bench_begin", None)
            if began is not None:
                breakdown.begin.append(time.perf_counter() - began)

    def snapshot(self) -> dict[str, Any]:
        def dist(values: list[float]) -> dict[str, Any]:
            v = sorted(values)
            return {"n": len(v), "p50_ms": _ms(_pct(v, 0.5)), "p99_ms": _ms(_pct(v, 0.99)), "max_ms": _ms(v[-1] if v else 0),
                    "total_s": round(sum(v), 2)}
        out = {"to_thread": {name: {"queue_wait": dist(self.queue[name]), "run": dist(self.run[name])}
                             for name in sorted(self.run, key=lambda n: -sum(self.run[n]))}}
        if self.begin:
            out["sql_begin_wait"] = dist(self.begin)
        self.queue.clear()
        self.run.clear()
        self.begin.clear()
        return out


def bench_fake_slack():
    """tests/fakes FakeSlack, with message storage that stays O(log n) per post.

    FakeSlack._store re-sorts a channel's whole history (Decimal keys) on every post, so
    each chat.postMessage gets slower as the desk channel fills up (2.6 ms at 500 stored
    messages, 6.7 ms at 1,500); that would charge the helpdesk's outbox for the fake's cost."""
    import bisect
    from decimal import Decimal

    from tests.fakes.slack_api import FakeSlack

    def ts_key(message: dict) -> Decimal:
        return Decimal(message["ts"])

    class BenchSlack(FakeSlack):
        def _store(self, channel: str, message: dict) -> None:
            messages = self._channels.setdefault(channel, [])
            if messages and ts_key(messages[-1]) > ts_key(message):
                bisect.insort_right(messages, message, key=ts_key)  # same order as the stable sort
            else:
                messages.append(message)
            seconds, _, micros = message["ts"].partition(".")
            self._clock = max(self._clock, int(seconds) * 1_000_000 + int(micros.ljust(6, "0")[:6]))

    return BenchSlack(token=TOKEN, team_id=TEAM)


def slack_main(conn) -> None:
    """Child process entry: the fake Slack Web API, on its own CPU budget (Slack is remote in production)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[fake slack] %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        slack = bench_fake_slack()
        await slack.start()
        add_people(slack)
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def on_command() -> None:
            try:
                message = conn.recv()
            except EOFError:
                stopped.set()
                return
            if message[0] == "stop":
                stopped.set()
            elif message[0] == "calls":
                conn.send(dict(collections.Counter(c.method for c in slack.calls)))
            elif message[0] == "forget":  # keep memory flat on long runs: the fake records every call
                slack.calls.clear()
                conn.send({"ok": True})

        loop.add_reader(conn.fileno(), on_command)
        conn.send({"slack_url": slack.url, "pid": os.getpid()})
        try:
            await stopped.wait()
        finally:
            loop.remove_reader(conn.fileno())
            await slack.stop()

    asyncio.run(run())


def server_main(kind: str, database_url: str, connect_args: dict, slack_url: str, options: dict, conn) -> None:
    """Child process entry: run one server on 127.0.0.1 until the parent says stop."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"[{kind} server] %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(kind, database_url, connect_args, slack_url, conn, options))


async def _serve(kind: str, database_url: str, connect_args: dict, slack_url: str, conn, options: dict) -> None:
    from aiohttp import web
    from slack_sdk.web.async_client import AsyncWebClient

    profile_dir = options.get("profile_dir")
    if kind == "helpdesk" and options.get("server_hook"):  # a what-if patch, run before anything is built
        import runpy
        runpy.run_path(options["server_hook"], run_name="bench_server_hook")
    runtime = None
    breakdown = Breakdown() if profile_dir else None
    if kind == "helpdesk":
        from adapters.runtime import build
        from adapters.server import build_web_app
        from adapters.settings import AppSettings as Settings
        from storage.database import make_engine

        settings = Settings.model_validate(bench_settings(database_url, slack_url))
        engine = make_engine(database_url, connect_args=connect_args) if connect_args else make_engine(database_url)
        runtime = build(settings, engine=engine, serving=True)  # migrated and seeded already; as `helpdesk serve`
        if breakdown:
            breakdown.install(engine)
        app = build_web_app(runtime, dispatch=not options.get("no_dispatch"), processes=True)  # as `helpdesk serve`
    else:
        app = floor_app(AsyncWebClient(token=TOKEN, base_url=slack_url))
    runner = web.AppRunner(app)  # what web.run_app (`helpdesk serve`) uses
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]

    loop = asyncio.get_running_loop()
    monitor = LoopMonitor()
    monitor_task = asyncio.create_task(monitor.run())
    sampler = Sampler() if profile_dir else None
    stopped = asyncio.Event()

    def on_command() -> None:
        try:
            message = conn.recv()
        except EOFError:
            stopped.set()
            return
        op = message[0]
        if op == "stop":
            stopped.set()
        elif op == "reset":
            monitor.reset()
            if breakdown:
                breakdown.snapshot()
            if sampler:
                sampler.start()
            conn.send({"ok": True})
        elif op == "stats":
            stats: dict[str, Any] = {"server": {**monitor.snapshot(), **resident_memory()}}
            if sampler:
                path = os.path.join(profile_dir, f"{kind}-{message[1]}.collapsed")
                stats["profile"] = {"breakdown": breakdown.snapshot() if breakdown and runtime else None,
                                    "sampled_stacks": sampler.stop(path)}
                stats["profile"]["sampled_stacks"]["collapsed_stacks_file"] = path
            conn.send(stats)

    loop.add_reader(conn.fileno(), on_command)
    conn.send({"port": port, "pid": os.getpid()})
    try:
        await stopped.wait()
    finally:
        loop.remove_reader(conn.fileno())
        monitor_task.cancel()
        await runner.cleanup()
        if runtime is not None:
            runtime.close()


def resident_memory() -> dict[str, float]:
    """This process's resident memory now and at its peak, in MB (Linux /proc; empty elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
                "rss_peak_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}
    except (OSError, KeyError, ValueError):
        return {}


class Child:
    """A spawned child process we talk to over a pipe."""

    def __init__(self, name: str, target: Callable, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, name=f"bench-{name}", args=(*args, child), daemon=True)

    def __enter__(self) -> "Child":
        self.process.start()
        if not self.conn.poll(60):
            raise RuntimeError(f"the {self.name} process did not start within 60 s")
        self.info = self.conn.recv()
        return self

    def ask(self, *message: Any) -> dict[str, Any]:
        self.conn.send(message)
        if not self.conn.poll(120):
            raise RuntimeError(f"the {self.name} process did not answer {message[0]!r}")
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.send(("stop",))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# --------------------------------------------------------------------------- requests, as Slack sends them


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + str(timestamp).encode() + b":" + body, hashlib.sha256).hexdigest()


class Requests:
    """Slash-command forms and block_actions payloads (the shapes of tests/slack_harness.py)."""

    def __init__(self, slack_url: str, nonce: str) -> None:
        self.root = slack_url.rsplit("/api/", 1)[0]
        self.nonce = nonce
        self.ids = itertools.count(1)
        self.rng = random.Random(7)

    def _response_url(self, key: str) -> str:
        return f"{self.root}/actions/{TEAM}/{key}"

    def slash(self, user: str, text: str, channel: str = "C0GENERAL") -> bytes:
        n = next(self.ids)
        return urlencode({
            "token": "legacy", "team_id": TEAM, "team_domain": "corp", "channel_id": channel, "channel_name": "general",
            "user_id": user, "user_name": user.lower(), "command": "/ticket", "text": text, "api_app_id": "A0APP",
            "is_enterprise_install": "false", "response_url": self._response_url(f"cmd{self.nonce}{n}"),
            "trigger_id": f"{n}.{self.nonce}.trigger.{user}"}).encode()

    def button(self, user: str, action: str, ticket_id: int, channel: str = DESK_CHANNEL) -> bytes:
        n = next(self.ids)
        payload = {
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP", "token": "legacy", "trigger_id": f"{n}.{self.nonce}.trigger.{user}",
            "team": {"id": TEAM, "domain": "corp"}, "enterprise": None, "is_enterprise_install": False,
            "container": {"type": "message", "message_ts": "1.1", "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "service-desk"},
            "message": {"type": "message", "ts": "1.1", "text": "card", "user": "UBOT"},
            "response_url": self._response_url(f"act{self.nonce}{n}"),
            "actions": [{"action_id": f"ticket:{action}", "block_id": f"ticket_actions:{ticket_id}", "type": "button",
                         "value": str(ticket_id), "action_ts": f"{time.time():.6f}",
                         "text": {"type": "plain_text", "text": action}}]}
        return urlencode({"payload": json.dumps(payload)}).encode()

    def view_submit(self, user: str, i: int) -> bytes:
        """The intake modal submitted (view_submission), as Slack sends it: its own view id and hash."""
        n = next(self.ids)
        category = self.rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
        severity = self.rng.choices(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))[0]
        text = f"{self.rng.choice(DESCRIPTIONS[category])} {self.rng.choice(DETAILS)} (load {self.nonce}-{i})"
        state = {"description": {"value": {"type": "plain_text_input", "value": text}},
                 "severity": {"value": {"type": "static_select", "selected_option": {"value": severity}}},
                 "category": {"value": {"type": "static_select", "selected_option": {"value": category}}},
                 "device": {"value": {"type": "plain_text_input", "value": None}},
                 "location": {"value": {"type": "plain_text_input", "value": None}},
                 "phone": {"value": {"type": "plain_text_input", "value": None}}}
        view = {"id": f"V{self.nonce}{n}", "hash": f"{time.time():.6f}.{n:x}", "type": "modal",
                "callback_id": "helpdesk_form", "private_metadata": json.dumps({"form": "new", "where": "card"}),
                "team_id": TEAM, "app_id": "A0APP", "bot_id": "B0BOT", "blocks": [], "state": {"values": state}}
        payload = {"type": "view_submission", "team": {"id": TEAM, "domain": "corp"},
                   "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": "A0APP",
                   "token": "legacy", "trigger_id": f"{n}.{self.nonce}.trigger.{user}", "view": view,
                   "response_urls": [], "is_enterprise_install": False}
        return urlencode({"payload": json.dumps(payload)}).encode()

    def new_ticket(self, i: int) -> bytes:
        category = self.rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
        severity = self.rng.choices(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))[0]
        detail = self.rng.choice(DETAILS)
        text = f"new {self.rng.choice(DESCRIPTIONS[category])} {detail} (load {self.nonce}-{i}) severity={severity}"
        return self.slash(REQUESTERS[i % len(REQUESTERS)], text)


class Workload:
    """Hands out request bodies per scenario kind; claims take distinct backlog tickets."""

    def __init__(self, requests: Requests, backlog: list[int]) -> None:
        self.requests = requests
        self.backlog = backlog
        self.next = 0
        self.submitters = 0

    def take(self, n: int) -> list[int]:
        if self.next + n > len(self.backlog):
            raise RuntimeError(f"the seeded backlog has {len(self.backlog)} unclaimed tickets; {self.next + n} are needed")
        ids = self.backlog[self.next:self.next + n]
        self.next += n
        return ids

    def bodies(self, kind: str, n: int) -> list[bytes]:
        r = self.requests
        if kind == "slash_new":
            return [r.new_ticket(i) for i in range(n)]
        if kind == "view_submit":  # distinct people, none of whom the server has seen before
            people, self.submitters = SUBMITTERS[self.submitters:self.submitters + n], self.submitters + n
            if len(people) < n:
                raise RuntimeError(f"only {len(SUBMITTERS)} distinct submitters exist; {self.submitters} are needed")
            return [r.view_submit(user, i) for i, user in enumerate(people)]
        ids = self.take(n)
        if kind == "slash_claim":
            return [r.slash(TECHS[i % len(TECHS)], f"claim {tid}", channel=DESK_CHANNEL) for i, tid in enumerate(ids)]
        if kind == "button_claim":
            return [r.button(TECHS[i % len(TECHS)], "claim", tid) for i, tid in enumerate(ids)]
        raise ValueError(kind)


# --------------------------------------------------------------------------- load generator


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    errors: int = 0
    refused: int = 0
    deferred: int = 0
    error_samples: list[str] = field(default_factory=list)
    late_starts: int = 0
    started: float = 0.0
    finished: float = 0.0


EXPECTED_ACK = {"slash_new": "Opened #", "slash_claim": "You claimed #"}


async def _send(session, url: str, body: bytes, kind: str, out: Outcome, check: bool) -> None:
    ts = int(time.time())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": sign(body, ts), "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    sent = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            payload = await resp.read()
            status = resp.status
    except Exception as exc:  # connection refused/reset, timeout
        out.latencies.append(time.perf_counter() - sent)
        out.errors += 1
        out.statuses["exception"] += 1
        if len(out.error_samples) < 5:
            out.error_samples.append(f"{type(exc).__name__}: {exc}"[:200])
        return
    out.latencies.append(time.perf_counter() - sent)
    out.statuses[str(status)] += 1
    if status != 200:
        out.errors += 1
        if len(out.error_samples) < 5:
            out.error_samples.append(f"HTTP {status}: {payload[:200]!r}")
        return
    if check and kind == "view_submit" and payload:  # an empty ack closes the modal; errors keep it open
        answer = json.loads(payload)
        if answer.get("response_action") == "errors":
            out.refused += 1
            if len(out.error_samples) < 5:
                out.error_samples.append(f"refused: {json.dumps(answer)[:200]}")
    if check and kind in EXPECTED_ACK:  # the helpdesk answers a slash command in the ack itself
        text = json.loads(payload).get("text", "") if payload else ""
        if text.startswith("Working on it"):
            out.deferred += 1
        elif not text.startswith(EXPECTED_ACK[kind]):
            out.refused += 1
            if len(out.error_samples) < 5:
                out.error_samples.append(f"refused: {text[:200]}")


async def steady(session, url: str, bodies: list[bytes], kind: str, rate: float, check: bool) -> Outcome:
    """Open loop: request i leaves at start + i/rate whatever the server is doing."""
    out = Outcome()
    tasks = []
    out.started = start = time.perf_counter()
    for i, body in enumerate(bodies):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            out.late_starts += 1
        tasks.append(asyncio.create_task(_send(session, url, body, kind, out, check)))
    await asyncio.gather(*tasks)
    out.finished = time.perf_counter()
    return out


async def burst(session, url: str, bodies: list[bytes], kind: str, concurrency: int, check: bool) -> Outcome:
    """Closed loop: `concurrency` requests always in flight until all are sent."""
    out = Outcome()
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            await _send(session, url, body, kind, out, check)

    out.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.finished = time.perf_counter()
    return out


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU time of a process (Linux /proc); this process when pid is None."""
    if pid is None:
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_usage(before: dict[str, float | None], after: dict[str, float | None], wall: float) -> dict[str, float]:
    """Percent of one CPU each process used over `wall` seconds (100 = one core flat out)."""
    return {name: round(100 * (after[name] - before[name]) / wall) for name in before
            if before[name] is not None and after.get(name) is not None}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summarise(out: Outcome) -> dict[str, Any]:
    lat = sorted(out.latencies)
    wall = max(out.finished - out.started, 1e-9)
    result = {
        "requests": len(lat), "errors": out.errors, "status_counts": dict(out.statuses),
        "p50_ms": _ms(_pct(lat, 0.50)), "p95_ms": _ms(_pct(lat, 0.95)), "p99_ms": _ms(_pct(lat, 0.99)),
        "max_ms": _ms(lat[-1] if lat else 0.0), "mean_ms": _ms(sum(lat) / len(lat) if lat else 0.0),
        "throughput_rps": round(len(lat) / wall, 1), "wall_s": round(wall, 2),
    }
    if out.refused or out.deferred:
        result.update(refused=out.refused, deferred_acks=out.deferred)
    if out.late_starts:
        result["late_starts"] = out.late_starts
    if out.error_samples:
        result["error_samples"] = out.error_samples
    return result


def descendants(pid: int) -> list[int]:
    """The processes started by `pid`, and by them, now (Linux /proc; empty elsewhere): the
    server's knowledge index builder and searcher, its surge look."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(parents.get(child, []))
    return found


def family_cpu_seconds(pid: int) -> float | None:
    """CPU time of `pid` and of the processes it started that still run (`descendants`)."""
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(c for child in descendants(pid) if (c := cpu_seconds(child)) is not None)


async def wait_idle(pid: int, timeout: float = 120.0, busy_below: float = 0.15, window: float = 0.5) -> float:
    """Wait until process `pid` and the processes it started use under `busy_below` of a core for
    `window` s (start-up indexing, in the server or its builder process, an SLA sweep or outbox
    delivery finished); returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = family_cpu_seconds(pid)
        await asyncio.sleep(window)
        after = family_cpu_seconds(pid)
        if before is None or after is None or (after - before) / window < busy_below:
            break
    return round(time.perf_counter() - started, 2)


async def wait_until(check: Callable[[], Any], done: Callable[[Any], bool], timeout: float, settle: float = 2.0):
    """Poll `check` until `done(value)`, or until it stops changing for `settle` s, or timeout.
    Returns the value and when it last changed (None: it was already final at the first look)."""
    deadline = time.perf_counter() + timeout
    value = await asyncio.to_thread(check)
    changed, quiet_since = None, time.perf_counter()
    while not done(value) and time.perf_counter() < deadline and time.perf_counter() - quiet_since < settle:
        await asyncio.sleep(0.05)
        new = await asyncio.to_thread(check)
        if new != value:
            value, changed = new, time.perf_counter()
            quiet_since = changed
    return value, changed


# --------------------------------------------------------------------------- scenarios


@dataclass
class Plan:
    rate: float
    duration: float
    concurrency: int
    requests: int
    warmup: int
    submitters: int = 2000  # distinct people submitting the intake modal, `concurrency` at a time
    kinds: tuple[str, ...] = KINDS

    def scenarios(self) -> list[tuple[str, str, int]]:
        steady_n = int(self.rate * self.duration)
        return ([(f"steady_{k}", k, steady_n) for k in self.kinds if k != "view_submit"] +
                [(f"concurrent_{k}", k, self.submitters if k == "view_submit" else self.requests) for k in self.kinds])

    def claims_needed(self) -> int:
        claims = [n for _, k, n in self.scenarios() if k not in NEW_KINDS]
        if not claims:  # only tickets opened: no backlog needed (history 0 can be measured)
            return 0
        return sum(claims) + 2 * self.warmup  # only the helpdesk changes tickets; the floor never touches the database


async def run_server(kind: str, server: Child, slack: Child, db: Database, plan: Plan, backlog: list[int],
                     startup: dict[str, float]) -> dict[str, Any]:
    import aiohttp

    url = f"http://127.0.0.1:{server.info['port']}/slack/events"
    helpdesk = kind == "helpdesk"
    work = Workload(Requests(slack.info["slack_url"], uuid.uuid4().hex[:6]), backlog)
    connector = aiohttp.TCPConnector(limit=max(100, plan.concurrency), limit_per_host=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=30)
    results: dict[str, Any] = {}
    startup_idle_s = await wait_idle(server.info["pid"])
    if startup_idle_s > 1:
        say(f"{kind} server was busy for {startup_idle_s} s after start-up")
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # warm-up: every user's users.info is cached, Bolt's auth.test done, code paths imported
        # (concurrently, so the client's keep-alive pool holds `concurrency` open connections)
        warm = await burst(session, url, [work.requests.slash(u, "help") for u in REQUESTERS + TECHS], "help",
                           plan.concurrency, False)
        for k in plan.kinds:
            for body in work.bodies(k, plan.warmup):
                await _send(session, url, body, k, warm, False)
        if warm.errors:
            raise RuntimeError(f"{kind} warm-up failed: {warm.error_samples}")
        if helpdesk:
            await wait_until(db.outbox_pending, lambda v: v == 0, 60)
        await asyncio.to_thread(slack.ask, "forget")

        for name, k, n in plan.scenarios():
            bodies = work.bodies(k, n)
            last_ticket = await asyncio.to_thread(db.last_id, "tickets") if helpdesk else 0
            last_event = await asyncio.to_thread(db.last_id, "audit_events") if helpdesk else 0
            idle_wait = await wait_idle(server.info["pid"])
            await asyncio.to_thread(server.ask, "reset")
            pids = {"server": server.info["pid"], "fake_slack": slack.info["pid"], "client": None}
            children = descendants(server.info["pid"])  # its knowledge searcher, its surge look
            cpu_before = {who: cpu_seconds(pid) for who, pid in pids.items()}
            cpu_before["server_children"] = sum(cpu_seconds(c) or 0.0 for c in children)
            if name.startswith("steady"):
                out = await steady(session, url, bodies, k, plan.rate, helpdesk)
            else:
                out = await burst(session, url, bodies, k, plan.concurrency, helpdesk)
            cpu_after = {who: cpu_seconds(pid) for who, pid in pids.items()}
            cpu_after["server_children"] = sum(cpu_seconds(c) or 0.0 for c in children)
            stats = await asyncio.to_thread(server.ask, "stats", name)
            summary = summarise(out)
            summary["cpu_pct_of_one_core"] = cpu_usage(cpu_before, cpu_after, out.finished - out.started)
            summary["server_idle_wait_before_s"] = idle_wait
            summary.update(stats["server"])
            if "profile" in stats:
                summary["profile"] = stats["profile"]
            if helpdesk:
                ok = out.statuses.get("200", 0)
                if k in NEW_KINDS:
                    (created, at) = await wait_until(lambda: db.tickets_since(last_ticket), lambda v: v >= ok, 120,
                                                     settle=15)
                    elapsed = max(at or 0.0, out.finished) - out.started
                    summary["tickets_created"] = created
                    summary["tickets_per_s"] = round(created / elapsed, 1)
                    if created < ok:  # acked (perhaps "Working on it…") but never stored
                        summary["work_missing"] = ok - created
                else:
                    (applied, at) = await wait_until(lambda: db.claim_events_since(last_event), lambda v: v >= ok, 60)
                    elapsed = max(at or 0.0, out.finished) - out.started
                    summary["claims_applied"] = applied
                    summary["claims_applied_per_s"] = round(applied / elapsed, 1)
                    if applied < ok:  # acked, but the claim failed after the ack (see the server's log)
                        summary["work_missing"] = ok - applied
                    if k == "button_claim":  # work happens after the ack: how long until it was all done
                        summary["work_done_s_after_last_ack"] = round(max(0.0, (at or out.finished) - out.finished), 2)
                drain_start = time.perf_counter()
                pending, _ = await wait_until(db.outbox_pending, lambda v: v == 0, 120, settle=30)
                drained = time.perf_counter()
                summary["outbox_drain_s"] = round(drained - drain_start, 2)
                if pending:
                    summary["outbox_pending_after_drain"] = pending
                    summary["outbox_pending_by_kind"] = await asyncio.to_thread(db.outbox_pending_by_kind)
                elif k in NEW_KINDS:  # sustainable only if Slack hears about the tickets as fast as they open
                    summary["tickets_per_s_incl_outbox_delivery"] = round(
                        summary["tickets_created"] / (drained - out.started), 1)
                summary["slack_api_calls"] = await asyncio.to_thread(slack.ask, "calls")
            await asyncio.to_thread(slack.ask, "forget")
            results[name] = summary
            say(f"{kind:8} {name:26} n={summary['requests']:5} err={summary['errors']} "
                f"p50={summary['p50_ms']}ms p99={summary['p99_ms']}ms max={summary['max_ms']}ms "
                f"{summary['throughput_rps']} req/s"
                + (f" tickets/s={summary['tickets_per_s']}" if "tickets_per_s" in summary else "")
                + (f" claims/s={summary['claims_applied_per_s']}" if "claims_applied_per_s" in summary else ""))
    startup[kind] = startup_idle_s
    return results


def compare(helpdesk: dict[str, Any], floor: dict[str, Any], plan: Plan) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for name in helpdesk:
        h, f = helpdesk[name], floor[name]
        scenarios[name] = {"helpdesk": h, "floor": f, "ratio_helpdesk_to_floor": {
            "p50": _ratio(h["p50_ms"], f["p50_ms"]), "p99": _ratio(h["p99_ms"], f["p99_ms"]),
            "throughput": _ratio(h["throughput_rps"], f["throughput_rps"])}}
    main = "concurrent_view_submit" if "concurrent_view_submit" in helpdesk else "concurrent_slash_new"
    created = helpdesk[main]
    floor_new = floor[main]
    throughput = {
        "scenario": main,
        "helpdesk_tickets_per_s": created["tickets_per_s"],
        "helpdesk_tickets_created": created["tickets_created"],
        "floor_acks_per_s": floor_new["throughput_rps"],
        "ratio": _ratio(created["tickets_per_s"], floor_new["throughput_rps"]),
        "helpdesk_tickets_per_s_incl_outbox_delivery": created.get("tickets_per_s_incl_outbox_delivery"),
        "steady_helpdesk_tickets_per_s": helpdesk.get("steady_slash_new", {}).get("tickets_per_s"),
        "p99_ack_ms": created["p99_ms"], "non_200": sum(v for s, v in created["status_counts"].items() if s != "200"),
        "server_rss_mb": created.get("rss_mb"), "server_rss_peak_mb": created.get("rss_peak_mb"),
    }
    worst = max((n for n in helpdesk if n.startswith("concurrent_")), key=lambda n: helpdesk[n]["p99_ms"])
    errors = sum(s["errors"] for s in helpdesk.values()) + sum(s["errors"] for s in floor.values())
    refused = sum(s.get("refused", 0) for s in helpdesk.values())
    missing = sum(s.get("work_missing", 0) for s in helpdesk.values())
    targets = {
        "p99_ack_under_250ms_at_concurrency": {
            "concurrency": plan.concurrency, "target_ms": P99_TARGET_MS,
            "per_scenario_p99_ms": {n: helpdesk[n]["p99_ms"] for n in helpdesk if n.startswith("concurrent_")},
            "worst_scenario": worst, "worst_p99_ms": helpdesk[worst]["p99_ms"],
            "met": helpdesk[worst]["p99_ms"] < P99_TARGET_MS},
        "intake_at_least_quarter_floor_p99_under_1s": {
            "scenario": main, "ratio": throughput["ratio"], "p99_ms": created["p99_ms"], "non_200": throughput["non_200"],
            "met": (throughput["ratio"] or 0) >= 0.25 and created["p99_ms"] < 1000 and throughput["non_200"] == 0},
        "ticket_throughput_at_least_half_floor": {
            "target_ratio": THROUGHPUT_TARGET_RATIO, "ratio": throughput["ratio"],
            "met": (throughput["ratio"] or 0) >= THROUGHPUT_TARGET_RATIO},
        "no_errors": {"http_errors": errors, "refused_acks": refused, "acked_but_not_done": missing,
                      "met": errors == 0 and refused == 0 and missing == 0},
    }
    return {"scenarios": scenarios, "tickets_created_per_second": throughput, "targets": targets}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", help="default: a temporary SQLite file; postgresql://… uses a fresh schema, dropped at the end")
    p.add_argument("--tickets", type=int, help="tickets to seed (default 100000; 5000 with --quick)")
    p.add_argument("--rate", type=float, default=20.0, help="steady scenarios: requests per second (default 20)")
    p.add_argument("--duration", type=float, help="steady scenarios: seconds each (default 10; 4 with --quick)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent scenarios: requests in flight (default 50)")
    p.add_argument("--requests", type=int, help="concurrent scenarios: requests each (default 1000; 300 with --quick)")
    p.add_argument("--submitters", type=int, help="intake modal: distinct people submitting it (default 2000; 300 with --quick)")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"scenario kinds to run, comma-separated (default {','.join(KINDS)})")
    p.add_argument("--quick", action="store_true", help="a ~30 s smoke run with fewer tickets and requests")
    p.add_argument("--only", choices=["helpdesk", "floor", "both"], default="both", help="which server(s) to measure")
    p.add_argument("--profile", metavar="DIR", help="sample every thread of the server per scenario; "
                   "summary in the JSON, collapsed stacks (flamegraph.pl input) in DIR")
    p.add_argument("--no-dispatch", action="store_true", help="diagnosis: run the helpdesk without its outbox dispatcher")
    p.add_argument("--server-hook", metavar="FILE", help="experiment: run this Python file inside the helpdesk server "
                   "process before the app is built (monkeypatch a candidate fix and measure it without editing the code)")
    p.add_argument("--output", help="also write the JSON document to this file")
    args = p.parse_args(argv)
    args.tickets = args.tickets if args.tickets is not None else (5000 if args.quick else 100_000)
    args.duration = args.duration if args.duration is not None else (4.0 if args.quick else 10.0)
    args.requests = args.requests if args.requests is not None else (300 if args.quick else 1000)
    args.submitters = args.submitters if args.submitters is not None else (300 if args.quick else 2000)
    args.kinds = tuple(k for k in KINDS if k in args.kinds.split(","))
    if not args.kinds or args.submitters + 10 > len(SUBMITTERS):
        p.error(f"--kinds names none of {', '.join(KINDS)}, or --submitters is over {len(SUBMITTERS) - 10}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    plan = Plan(rate=args.rate, duration=args.duration, concurrency=args.concurrency, requests=args.requests, warmup=5,
                submitters=args.submitters, kinds=args.kinds)
    backlog_size = plan.claims_needed() + 50 if plan.claims_needed() else 0
    if backlog_size > args.tickets:
        raise SystemExit(f"--tickets {args.tickets} is too few: the claim scenarios need {backlog_size} unclaimed tickets")
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        args.profile = os.path.abspath(args.profile)
    began = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    db = Database.open(args.database_url)
    doc: dict[str, Any] = {}
    try:
        from storage.database import upgrade
        say(f"migrating a fresh {db.kind} database" + (f" (schema {db.schema})" if db.schema else f" ({db.url})"))
        upgrade(db.engine())
        say(f"seeding {args.tickets} tickets ({backlog_size} unclaimed backlog for the claim scenarios)")
        seeded = seed(db.engine(), args.tickets, backlog_size)
        say(f"seeded in {seeded['seconds']} s: {seeded['statuses']}")
        backlog = db.backlog_ids()
        results: dict[str, dict[str, Any]] = {}
        startup: dict[str, float] = {}
        options = {"profile_dir": args.profile, "no_dispatch": args.no_dispatch,
                   "server_hook": os.path.abspath(args.server_hook) if args.server_hook else None}
        with Child("fake-slack", slack_main) as slack:
            for kind in ("floor", "helpdesk"):
                if args.only not in (kind, "both"):
                    continue
                say(f"starting the {kind} server")
                with Child(f"{kind}-server", server_main, kind, db.url, db.connect_args, slack.info["slack_url"],
                           options) as server:
                    results[kind] = asyncio.run(run_server(kind, server, slack, db, plan, backlog, startup))
        doc = {
            "benchmark": "slack_load",
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "processes": "load generator, server and fake Slack "
                        "are three processes sharing these CPUs (with the database server too, for PostgreSQL)",
                        "loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
                        "note": "a 1-minute load average near or above cpu_count before the run means something else "
                                "was busy: the figures are then pessimistic"},
            "database": {"kind": db.kind, "tickets_seeded": args.tickets, "tickets_at_end": db.tickets(),
                         "seed": seeded, **({"schema": db.schema} if db.schema else {})},
            "config": {"quick": args.quick, "outbox_dispatcher": not args.no_dispatch,
                       "server_hook": args.server_hook, "steady_rate_rps": plan.rate,
                       "steady_duration_s": plan.duration, "concurrency": plan.concurrency,
                       "concurrent_requests": plan.requests, "warmup_requests_per_kind": plan.warmup,
                       "distinct_submitters": plan.submitters, "kinds": list(plan.kinds)},
            "server_busy_after_startup_s": startup,
        }
        if "helpdesk" in results:
            doc["database"]["outbox_failed"] = db.outbox_failed()
        if len(results) == 2:
            doc.update(compare(results["helpdesk"], results["floor"], plan))
        else:
            doc["scenarios"] = {name: {kind: s} for kind, r in results.items() for name, s in r.items()}
        doc["runtime_s"] = round(time.perf_counter() - began, 1)
    finally:
        db.close()
    text = json.dumps(doc, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
