"""Storage on SQLite and PostgreSQL: migrations, the conditional update, restarts, the outbox."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import String, cast, inspect, text, update

from bot.desk import Desk
from storage.database import current_revision, downgrade, head_revision, make_engine, upgrade
from storage.outbox import MAX_ATTEMPTS, Outbox
from storage.repository import SqlStore
from storage.schema import metadata, outbox
from tests.conftest import START, Clock, People, count_rows, outbox_rows, say, stored


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    else:
        url, connect_args, _ = request.getfixturevalue("pg_schema")
        eng = make_engine(url, connect_args=connect_args)
    yield eng
    eng.dispose()


def test_migrations_build_the_schema_from_empty_and_match_the_models(empty_engine):
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert {"tickets", "notes", "audit_events", "outbox", "alembic_version"} <= tables
    with empty_engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert drift == [], "schema.py and the migrations disagree; write a migration"


def test_migrations_go_down_to_empty_and_up_again(empty_engine):
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_everything_survives_a_restart(settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = make_engine(url)
    upgrade(first)
    desk = Desk(settings, SqlStore(first), clock=Clock())
    people = People(desk)
    say(desk, people.alice, "new the printer on floor 3 jams on every page severity=high")
    say(desk, people.bob, "claim 1")
    say(desk, people.bob, "internal 1 fuser looks worn")
    first.dispose()

    second = make_engine(url)
    again = Desk(settings, SqlStore(second), clock=Clock(START + timedelta(hours=1)))
    shown = say(again, People(again).bob, "show 1")
    assert shown.ticket.assignee_name == "Bob Lee"
    assert shown.ticket.created_at == START
    assert [n.body for n in shown.notes] == ["fuser looks worn"]
    assert [e.action for e in shown.events] == ["opened", "claimed", "internal_note"]
    assert say(again, People(again).alice, "new the scanner on floor 3 is offline").ticket.id == 2
    second.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def test_a_write_lock_held_past_the_busy_timeout_is_said_as_locked_and_leaves_no_lock_behind(tmp_path, monkeypatch):
    """Another process holding SQLite's write lock past the busy timeout: the writer is told
    "database is locked" (what the intake retries), not "cannot release un-acquired lock", and
    the next write goes in once the lock is free."""
    import sqlite3

    import storage.database
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(storage.database, "SQLITE_BUSY_MS", 200)
    path = tmp_path / "locked.db"
    engine = storage.database.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, holding on
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [2]
    engine.dispose()


def test_update_is_conditional_on_the_version_read(desk, people, engine):
    """Two writers holding the same snapshot: the first wins, the second is told so."""
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    store = SqlStore(engine)
    snapshot = stored(engine, 1)
    with store.transaction() as tx:
        assert tx.update_ticket(snapshot, snapshot.with_changes(assignee_id="bob@corp.example", version=2))
    with store.transaction() as tx:
        assert not tx.update_ticket(snapshot, snapshot.with_changes(assignee_id="carol@corp.example", version=2))
    assert stored(engine, 1).assignee_id == "bob@corp.example"


def test_a_refused_request_writes_nothing_at_all(desk, people, engine):
    say(desk, people.alice, "new tiny severity=nope")
    assert [count_rows(engine, t) for t in ("tickets", "notes", "audit_events", "outbox")] == [0, 0, 0, 0]


class TestOutbox:
    def test_messages_are_written_with_the_change_and_claimed_once(self, desk, people, engine, clock):
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        say(desk, people.bob, "claim 1")
        a, b = Outbox(SqlStore(engine), "replica-a"), Outbox(SqlStore(engine), "replica-b")
        first = a.claim("slack", clock.now)
        assert [(m.kind, m.audience) for m in first] == [("new_ticket", "group:service-desk"), ("ticket_changed", "ticket:1")]
        assert b.claim("slack", clock.now) == [], "a claimed message is leased to its worker"
        assert [(m.kind, m.audience) for m in b.claim("console", clock.now)] == [("claimed", "user:alice@corp.example")]
        assert a.delivered(first[0].id, clock.now)
        assert not b.delivered(first[1].id, clock.now), "only the lease holder may mark it delivered"

    def test_a_worker_that_dies_leaves_its_messages_to_the_others(self, desk, people, engine, clock):
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        dead = Outbox(SqlStore(engine), "dead-replica", lease=timedelta(seconds=30))
        taken = dead.claim("slack", clock.now)
        assert len(taken) == 1
        alive = Outbox(SqlStore(engine), "alive-replica")
        assert alive.claim("slack", clock.now + timedelta(seconds=29)) == []
        again = alive.claim("slack", clock.now + timedelta(seconds=31))
        assert [m.id for m in again] == [taken[0].id] and again[0].attempts == 2
        assert alive.delivered(again[0].id, clock.now)
        assert not dead.delivered(taken[0].id, clock.now)
        assert outbox_rows(engine)[0]["status"] == "delivered"

    def test_several_marked_delivered_at_once_only_those_still_leased_to_the_worker(self, desk, people, engine, clock):
        for problem in ("the printer on floor 3 jams on every page", "my laptop will not wake from sleep"):
            say(desk, people.alice, f"new {problem}")
        dead = Outbox(SqlStore(engine), "dead-replica", lease=timedelta(seconds=30))
        alive = Outbox(SqlStore(engine), "alive-replica")
        first, second = dead.claim("slack", clock.now)
        again = alive.claim("slack", clock.now + timedelta(seconds=31), limit=1)
        assert [m.id for m in again] == [first.id]
        assert dead.delivered_all([first.id, second.id, second.id], clock.now) == {second.id}, \
            "the one whose lease passed to another worker is that worker's to mark"
        assert alive.delivered_all([first.id], clock.now) == {first.id}
        assert [r["status"] for r in outbox_rows(engine)] == ["delivered", "delivered"]
        assert dead.delivered_all([], clock.now) == set()

    def test_failures_back_off_then_give_up(self, desk, people, engine, clock):
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        box = Outbox(SqlStore(engine), "w")
        now = clock.now
        for attempt in range(1, MAX_ATTEMPTS + 1):
            [message] = box.claim("slack", now)
            assert message.attempts == attempt
            box.retry_later(message.id, now, "HTTP 503 from the platform")
            assert box.claim("slack", now) == [], "not due again before its back-off"
            now = outbox_rows(engine)[0]["available_at"]
        row = outbox_rows(engine)[0]
        assert (row["status"], row["last_error"]) == ("failed", "HTTP 503 from the platform")

    def test_retry_after_is_honoured(self, desk, people, engine, clock):
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        box = Outbox(SqlStore(engine), "w")
        [message] = box.claim("slack", clock.now)
        box.retry_later(message.id, clock.now, "429", delay=timedelta(seconds=7))
        assert box.claim("slack", clock.now + timedelta(seconds=6)) == []
        assert len(box.claim("slack", clock.now + timedelta(seconds=7))) == 1

    def test_concurrent_claimers_split_the_work_without_overlap(self, desk, people, engine, clock):
        for i in range(30):
            say(desk, people.alice, f"new printer number {i} jams on every page")
        with engine.begin() as conn:  # each for its own destination: one held by a claimer is not given to another
            conn.execute(update(outbox).values(audience="user:u" + cast(outbox.c.id, String)))
        boxes = [Outbox(SqlStore(engine), f"replica-{i}") for i in range(4)]
        got: dict[str, list[int]] = {}
        barrier = threading.Barrier(len(boxes))

        def work(box):
            barrier.wait()
            ids = []
            while batch := box.claim("slack", clock.now, limit=3):
                ids += [m.id for m in batch]
            got[box.worker_id] = ids

        threads = [threading.Thread(target=work, args=(b,)) for b in boxes]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        every = [i for ids in got.values() for i in ids]
        assert sorted(every) == [r["id"] for r in outbox_rows(engine)], "each message claimed exactly once"

    def test_audience_filter_takes_only_that_persons_messages(self, desk, people, engine, clock):
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        say(desk, people.bob, "claim 1")
        mine = Outbox(SqlStore(engine), "console").claim("console", clock.now, audiences=["user:alice@corp.example"])
        assert [m.kind for m in mine] == ["claimed"]


@pytest.mark.postgres
def test_postgres_claims_skip_rows_locked_by_another_replica(pg_schema, settings):
    """While one replica holds rows in an open transaction, another takes the next ones, not the same."""
    url, connect_args, _ = pg_schema
    eng = make_engine(url, connect_args=connect_args)
    upgrade(eng)
    desk = Desk(settings, SqlStore(eng), clock=Clock())
    for i in range(4):
        say(desk, People(desk).alice, f"new printer number {i} jams on every page")
    with eng.connect() as holder:
        holder.begin()
        held = holder.execute(text("SELECT id FROM outbox ORDER BY id LIMIT 2 FOR UPDATE")).scalars().all()
        taken = Outbox(SqlStore(eng), "other").claim("slack", START, limit=10)
        assert [m.id for m in taken] == [3, 4] and held == [1, 2]
        holder.rollback()
    eng.dispose()


def test_tickets_their_files_and_their_posts_read_and_recorded_several_at_once(desk, people, engine, clock):
    from bot.commands.registry import Call
    from bot.model import Upload
    for problem in ("the printer on floor 3 jams on every page", "my laptop will not wake from sleep"):
        say(desk, people.alice, f"new {problem}")
    shot = Upload("vpn-error.png", "image/png", 3, "ab" * 32, "https://files.example/1")
    assert desk.execute(people.alice, Call("attach", 2, "vpn-error.png", files=(shot,))).ok
    store = SqlStore(engine)
    with store.transaction() as tx:
        tx.record_posts([(1, "slack", "card", "C1", "1.1"), (2, "slack", "dm", "D1", "2.1"),
                         (1, "slack", "card", "C1", "1.1")], clock.now)
    with store.transaction(write=False) as tx:
        found = tx.get_tickets([2, 1, 99, 0, -5, 2**40])
        files = tx.attachments_of([1, 2, 99])
        assert tx.posts_of(1, "slack") == [("C1", "1.1")], "a post recorded twice is kept once"
        assert tx.posts_of(2, "slack", "dm") == [("D1", "2.1")]
        assert tx.get_tickets([]) == {} and tx.attachments_of([]) == {}
    assert {i: t.description for i, t in found.items()} == {1: "the printer on floor 3 jams on every page",
                                                             2: "my laptop will not wake from sleep"}
    assert {i: [a.file.name for a in shown] for i, shown in files.items()} == {2: ["vpn-error.png"]}


def test_events_and_messages_written_behind_are_seen_kept_and_rolled_back_as_written_at_once(desk, people, engine, clock):
    """Audit events and outbox rows are held and written together (storage/write_behind.py): what
    the same transaction reads, what a rolled-back savepoint leaves and what the commit keeps must
    be as if each had been written when added."""
    from bot.model import AuditEvent, Notice
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    store = SqlStore(engine)
    before = {"events": count_rows(engine, "audit_events"), "outbox": len(outbox_rows(engine))}
    with store.transaction(write=False) as tx:
        pending = tx.outbox_pending("slack")

    def event(action: str) -> AuditEvent:
        return AuditEvent(1, "tech:bob", "Bob", action, clock.now)

    with store.transaction() as tx:
        tx.add_event(event("kept-1"))
        tx.enqueue(Notice("note", "user:alice@corp.example", 1, "first"), "slack", clock.now)
        assert [e.action for e in tx.events(1)][-1] == "kept-1", "a read in the same transaction sees it"
        tx.add_event(event("kept-2"))
        with pytest.raises(RuntimeError):
            with tx.savepoint():
                tx.add_event(event("rolled-back"))
                tx.enqueue(Notice("note", "user:alice@corp.example", 1, "rolled back"), "slack", clock.now)
                raise RuntimeError("refused")
        with tx.savepoint():
            tx.add_event(event("kept-3"))
        tx.enqueue(Notice("note", "user:alice@corp.example", 1, "second"), "slack", clock.now)
        assert tx.outbox_pending("slack") == pending + 2, "an outbox read sees the messages held"
    with store.transaction(write=False) as tx:
        actions = [e.action for e in tx.events(1)]
    assert actions[-3:] == ["kept-1", "kept-2", "kept-3"] and "rolled-back" not in actions
    assert count_rows(engine, "audit_events") == before["events"] + 3
    assert [r["text"] for r in outbox_rows(engine)][before["outbox"]:] == ["first", "second"]

    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.add_event(event("never"))
            raise RuntimeError("the whole unit of work fails")
    assert count_rows(engine, "audit_events") == before["events"] + 3


def test_open_incidents_read_once_a_transaction_and_again_after_any_change(desk, people, engine, clock):
    """The open incidents are read once a transaction (each ticket of a batch looks for one to
    join); what the same transaction changes — an incident added or undone with its savepoint, a
    parent ticket resolved — shows at the next look."""
    from bot.incidents import IncidentRecord
    from bot.model import Status
    for problem in ("the vpn drops every ten minutes at home", "the vpn will not connect from the office"):
        say(desk, people.alice, f"new {problem}")

    def record(ticket_id: int) -> IncidentRecord:
        return IncidentRecord(ticket_id, "VPN down", "service-desk", clock.now, "bob@corp.example", "Bob", clock.now)

    with SqlStore(engine).transaction() as tx:
        assert tx.incident_samples(5) == []
        tx.add_incident(record(1))
        assert [r.ticket_id for r, _ in tx.incident_samples(5)] == [1]
        with pytest.raises(RuntimeError):
            with tx.savepoint():
                tx.add_incident(record(2))
                assert [r.ticket_id for r, _ in tx.incident_samples(5)] == [1, 2]
                raise RuntimeError("declaring #2 was refused")
        assert [r.ticket_id for r, _ in tx.incident_samples(5)] == [1], "the undone incident is gone"
        parent = tx.get_ticket(1)
        resolved = parent.with_changes(status=Status.RESOLVED, version=parent.version + 1)
        assert tx.update_ticket(parent, resolved)
        assert tx.incident_samples(5) == [], "an incident whose parent is resolved is no longer open"
