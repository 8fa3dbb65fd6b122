"""Shared fixtures: real databases (SQLite file, PostgreSQL schema), a desk, a settable clock.

PostgreSQL tests run against HELPDESK_TEST_POSTGRES_URL, each in a schema of its
own; without it they skip with the reason, and HELPDESK_TEST_REQUIRE_SERVICES=1
(set by CI) turns that skip into a failure.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.model import Actor
from storage.database import make_engine, normalise_url, upgrade
from storage.repository import SqlStore
from storage.schema import outbox

PG_URL = os.environ.get("HELPDESK_TEST_POSTGRES_URL")
REQUIRE = os.environ.get("HELPDESK_TEST_REQUIRE_SERVICES") == "1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# Files people share: a screenshot (PNG, 10 KB) and a log.
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"VPN error 809"
LOG = b"2026-03-02 09:14 vpn: tunnel closed by peer (error 809)\n" * 20


def missing_service(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (HELPDESK_TEST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


SETTINGS = {
    "timezone": "Europe/London",
    "slack": {"bot_token": "xoxb-test-token", "signing_secret": "test-signing-secret"},
    "technicians": [
        {"name": "Bob Lee", "ids": ["bob@corp.example", "slack:U0BOB"]},
        {"name": "Carol Diaz", "ids": ["carol@corp.example"]},
        {"name": "Dave Kim", "ids": ["dave@corp.example"]},
    ],
    "groups": {
        "service-desk": {"members": ["bob@corp.example", "carol@corp.example"], "channels": {"slack": "C0DESK"}},
        "network-eng": {"members": ["dave@corp.example"], "channels": {"slack": "C0NET"}},
        "network-vendor": {"members": ["eve@vendor.example"]},
        "security-ops": {"members": ["dave@corp.example"]},
    },
    "categories": {
        "hardware": {"escalation": ["service-desk"], "keywords": ["laptop", "screen"]},
        "network": {"escalation": ["service-desk", "network-eng", "network-vendor"], "keywords": ["vpn", "wifi"]},
        "printer": {"escalation": ["service-desk"], "keywords": ["printer", "jams"]},
        "other": {"escalation": ["service-desk"]},
    },
}


class Clock:
    """A clock the test moves by hand, so times in replies and rows are known."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate(SETTINGS)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'helpdesk.db'}"


@pytest.fixture
def pg_schema():
    """A fresh schema on the test PostgreSQL server; yields (url, connect_args)."""
    if not PG_URL:
        missing_service("HELPDESK_TEST_POSTGRES_URL is not set, so the PostgreSQL tests did not run")
    url = normalise_url(PG_URL)
    admin = make_engine(url)
    name = f"hd_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # unreachable server, bad credentials
        admin.dispose()
        missing_service(f"PostgreSQL at HELPDESK_TEST_POSTGRES_URL is not usable: {exc.__class__.__name__}: {exc}")
    try:
        yield url, {"options": f"-csearch_path={name}"}, name
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path: Path):
    """A migrated database of each kind; tests using it run on both."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'helpdesk.db'}")
    else:
        url, connect_args, _ = request.getfixturevalue("pg_schema")
        eng = make_engine(url, connect_args=connect_args, pool_size=12)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(settings: Settings, engine, clock: Clock) -> Desk:
    return Desk(settings, SqlStore(engine), clock=clock)


class People:
    def __init__(self, desk: Desk) -> None:
        self.alice = desk.actor("alice@corp.example", "Alice Park", phone="+1 555 0142", department="Finance", office="Floor 3")
        self.frank = desk.actor("frank@corp.example", "Frank Ode")
        self.bob = desk.actor("bob@corp.example")
        self.carol = desk.actor("carol@corp.example")
        self.dave = desk.actor("dave@corp.example")


@pytest.fixture
def people(desk: Desk) -> People:
    return People(desk)


def say(desk: Desk, actor: Actor, line: str):
    """Run one line and return the reply: the way every test talks to the desk."""
    return desk.handle(actor, line)


def stored(engine, ticket_id: int):
    """The ticket as the database holds it now."""
    with SqlStore(engine).transaction(write=False) as tx:
        return tx.get_ticket(ticket_id)


def stored_notes(engine, ticket_id: int):
    with SqlStore(engine).transaction(write=False) as tx:
        return tx.notes(ticket_id, include_internal=True)


def stored_events(engine, ticket_id: int):
    with SqlStore(engine).transaction(write=False) as tx:
        return tx.events(ticket_id)


def outbox_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def count_rows(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
