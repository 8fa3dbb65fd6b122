"""Imported history (a table of its own) and the knowledge index on disk, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from adapters.console.render import Style, TextRenderer
from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.knowledge import EntryRules, Knowledge, MappedBase
from bot.reports import ReportQuery
from storage.database import downgrade, make_engine, upgrade
from storage.importer import import_tickets
from storage.kb_files import DELTA_LIMIT, DiskIndex, index_dir
from storage.knowledge import TicketKnowledge
from storage.repository import SqlStore
from storage.schema import audit_events, history, tickets
from tests.conftest import START, People, count_rows, say
from tests.test_knowledge import KB_SETTINGS

PAST = START - timedelta(days=30)


def rows(*items):
    """Import rows: (source id, summary, resolution)."""
    return [{"external_id": f"jira:{sid}", "summary": summary, "description": "", "resolution": resolution,
             "category": "printer", "created": PAST, "resolved": PAST + timedelta(hours=3)}
            for sid, summary, resolution in items]


HISTORY = rows(("HADOOP-1234", "The printer on floor 3 jams on every page", "Replaced the worn pickup roller"),
               ("HADOOP-1300", "Printer on floor 3 jams on every page again", "Duplicate"),
               ("HADOOP-1301", "The printer on floor 3 jams on each page", "won’t fix"),
               ("HADOOP-1302", "Printer floor 3 jams every page", "ok"),
               ("4711", "Outlook keeps asking for my password", "Removed the stale credentials"))


def desk_with(engine, clock, builder_dir: Path | None = None):
    settings = Settings.model_validate(KB_SETTINGS)
    source = TicketKnowledge(engine, settings)
    builder = DiskIndex(engine, source.rules, builder_dir) if builder_dir else None
    knowledge = Knowledge(source, builder=builder)
    knowledge.load_from_disk() if builder else knowledge.load()
    desk = Desk(settings, SqlStore(engine), clock=clock, knowledge=knowledge)
    return desk, People(desk), knowledge


class TestImportedHistory:
    def test_history_keeps_its_ids_and_takes_no_ticket_number(self, engine, clock):
        assert import_tickets(engine, HISTORY) == (5, 5)
        assert import_tickets(engine, HISTORY) == (0, 5), "idempotent on the source id"
        desk, p, _ = desk_with(engine, clock)
        opened = say(desk, p.alice, "new the printer on floor 3 jams on every page")
        assert opened.ticket.id == 1 and count_rows(engine, "tickets") == 1
        claimed = say(desk, p.bob, f"claim {opened.ticket.id}")
        assert [(s.ref, s.resolution) for s in claimed.suggestions] == [("HADOOP-1234", "Replaced the worn pickup roller")]
        shown = TextRenderer(timezone.utc, Style(False)).reply(claimed)
        assert "HADOOP-1234 The printer on floor 3 jams on every page" in shown and "#1 " not in shown.split("Similar")[1]
        other = say(desk, p.alice, "new outlook keeps asking for my password")
        assert say(desk, p.bob, f"similar {other.ticket.id}").suggestions[0].ref == "jira:4711", "a bare number gets its source"

    def test_resolutions_that_are_no_fix_are_never_offered(self, engine, clock):
        import_tickets(engine, HISTORY)
        desk, p, knowledge = desk_with(engine, clock)
        assert len(knowledge.index) == 2, "Duplicate, won't fix (curly apostrophe) and 'ok' are no entries"
        t = say(desk, p.frank, "new Teams camera is black in meetings").ticket
        say(desk, p.bob, f"resolve {t.id} Invalid.")
        asked = say(desk, p.alice, "new the camera is black in Teams meetings")
        assert t.id not in [s.ticket_id for s in asked.suggestions]
        assert say(desk, p.bob, f"similar {asked.ticket.id}").suggestions == ()

    def test_a_requester_can_mark_an_imported_fix_as_the_solution(self, engine, clock):
        import_tickets(engine, HISTORY)
        desk, p, _ = desk_with(engine, clock)
        t = say(desk, p.alice, "new the printer on floor 3 jams on every page").ticket
        assert say(desk, p.alice, f"solved {t.id} 1").ok
        with SqlStore(engine).transaction(write=False) as tx:
            closed = tx.get_ticket(t.id)
        assert closed.resolution == "Solved by the requester with the resolution of HADOOP-1234: Replaced the worn pickup roller"

    def test_reports_leave_history_out_unless_asked(self, engine, clock):
        import_tickets(engine, HISTORY)
        desk, p, _ = desk_with(engine, clock)
        say(desk, p.alice, "new the printer on floor 3 jams on every page")
        settings = Settings.model_validate(KB_SETTINGS)
        q = ReportQuery(START - timedelta(days=60), START + timedelta(days=1))
        with SqlStore(engine).transaction(write=False) as tx:
            live = tx.report(q, settings)
            both = tx.report(ReportQuery(q.since, q.until, include_imported=True), settings)
            by_category = tx.report(ReportQuery(q.since, q.until, by="category", include_imported=True), settings)
        assert (live.figures.opened, live.figures.resolved) == (1, 0)
        assert (both.figures.opened, both.figures.resolved, both.figures.closed) == (6, 5, 5)
        assert both.figures.resolution.median == 3 * 3600
        assert {k: f.opened for k, f in by_category.breakdown} == {"printer": 6}


class TestMigration:
    def test_imported_tickets_move_to_history_and_back(self, engine):
        downgrade(engine, "0008")
        now = datetime.now(timezone.utc)
        with engine.begin() as conn:
            for i, ext in enumerate(("jira:HADOOP-1", "jira:HADOOP-2", "jira:HADOOP-3"), 1):
                conn.execute(insert(tickets).values(
                    id=i, requester_id="import", requester_name="Imported", description=f"problem {i}", category="other",
                    severity="medium", status="closed", escalation_level=1, resolution="Fixed", origin="import",
                    external_id=ext, created_at=now, updated_at=now, resolved_at=now, closed_at=now, version=1))
                conn.execute(insert(audit_events).values(ticket_id=i, actor_id="import", actor_name="Import",
                                                         action="imported", at=now, changes={}))
            conn.execute(insert(audit_events).values(ticket_id=3, actor_id="bob", actor_name="Bob",
                                                     action="reopened", at=now, changes={}))
        upgrade(engine)
        with engine.connect() as conn:
            moved = conn.execute(select(history.c.source, history.c.source_id).order_by(history.c.id)).all()
            left = conn.execute(select(tickets.c.id)).scalars().all()
        assert [tuple(r) for r in moved] == [("jira", "HADOOP-1"), ("jira", "HADOOP-2")]
        assert left == [3], "a ticket somebody worked on stays a ticket"
        downgrade(engine, "0008")
        with engine.connect() as conn:
            back = conn.execute(select(tickets.c.external_id).order_by(tickets.c.id)).scalars().all()
        assert sorted(back) == ["jira:HADOOP-1", "jira:HADOOP-2", "jira:HADOOP-3"]
        upgrade(engine)


class TestIndexOnDisk:
    def test_built_by_another_process_then_mapped_and_kept_current(self, engine, clock, tmp_path):
        import_tickets(engine, HISTORY)
        desk, p, knowledge = desk_with(engine, clock, tmp_path / "kb")
        assert knowledge.index.base is not None and len(knowledge.index) == 2
        opened = say(desk, p.alice, "new the printer on floor 3 jams on every page")
        assert [s.ref for s in say(desk, p.bob, f"similar {opened.ticket.id}").suggestions] == ["HADOOP-1234"]
        t = say(desk, p.frank, "new Teams camera shows a black screen in meetings").ticket
        say(desk, p.bob, f"resolve {t.id} Updated the webcam driver")
        asked = say(desk, p.alice, "new the camera is black in Teams meetings")
        assert asked.suggestions[0].ticket_id == t.id, "this process's own resolution shows at once"
        # another replica, starting now: the index on disk is reused (few changes) and caught up
        desk_b, p_b, knowledge_b = desk_with(engine, clock, tmp_path / "kb")
        assert knowledge_b.index.base.path == knowledge.index.base.path
        assert say(desk_b, p_b.alice, "new the camera is black in Teams meetings").suggestions[0].ticket_id == t.id

    def test_a_damaged_or_foreign_index_is_rebuilt_not_trusted(self, engine, clock, tmp_path):
        import_tickets(engine, HISTORY)
        settings = Settings.model_validate(KB_SETTINGS)
        rules = EntryRules.from_settings(settings)
        builder = DiskIndex(engine, rules, tmp_path / "kb")
        first = builder.ensure()
        assert builder.ensure() == first, "current: reused"
        tf = first / "tf.npy"
        data = bytearray(tf.read_bytes())
        data[-1] ^= 0xFF  # one flipped bit in a posting's weight: same size, wrong content
        tf.write_bytes(bytes(data))
        second = builder.ensure()
        assert second != first and MappedBase(second).count == 2
        (second / "meta.json").write_text("{not json")
        third = builder.ensure()
        assert third not in (first, second)
        other_rules = EntryRules(rules.public_categories, rules.not_fixes - {"duplicate"}, rules.min_chars)
        fourth = DiskIndex(engine, other_rules, tmp_path / "kb").ensure()
        assert fourth != third and MappedBase(fourth).count == 3, "other rules, other entries: rebuilt"

    def test_an_index_far_behind_the_database_is_rebuilt(self, engine, clock, tmp_path):
        import_tickets(engine, HISTORY)
        rules = EntryRules.from_settings(Settings.model_validate(KB_SETTINGS))
        builder = DiskIndex(engine, rules, tmp_path / "kb")
        first = builder.ensure()
        many = rows(*[(f"BULK-{i}", f"Scanner {i} shows error {i}", f"Reset scanner {i}") for i in range(DELTA_LIMIT + 5)])
        import_tickets(engine, many)
        second = builder.ensure()
        assert second != first and MappedBase(second).count == 2 + len(many)

    def test_serving_starts_before_the_index_is_ready_and_suggests_once_it_is(self, engine, clock, tmp_path):
        import_tickets(engine, HISTORY)
        settings = Settings.model_validate(KB_SETTINGS)
        source = TicketKnowledge(engine, settings)
        knowledge = Knowledge(source, builder=DiskIndex(engine, source.rules, tmp_path / "kb"))
        desk = Desk(settings, SqlStore(engine), clock=clock, knowledge=knowledge)
        p = People(desk)
        loader = knowledge.load_in_background()
        first = say(desk, p.alice, "new the printer on floor 3 jams on every page")
        assert first.ok and first.ticket.id == 1
        loader.join(60)
        assert knowledge.ready.is_set()
        again = say(desk, p.alice, "new the printer on floor 3 jams on every page")
        assert again.suggestions[0].resolution == "Replaced the worn pickup roller"


def test_the_index_lives_next_to_the_sqlite_file_or_where_configured(tmp_path):
    settings = Settings.model_validate(KB_SETTINGS)
    assert index_dir(settings, "sqlite:///var/helpdesk.db") == Path("var/helpdesk.db.kb")
    assert index_dir(settings, "postgresql://u@h/db") == Path(".helpdesk-cache/knowledge")
    assert index_dir(settings, "sqlite://") is None
    configured = Settings.model_validate({**KB_SETTINGS, "knowledge": {"index_dir": "cache/kb"}})
    assert index_dir(configured, "sqlite:///x.db") == Path("cache/kb")


def test_a_running_server_rebuilds_its_index_on_disk_as_changes_pile_up(engine, clock, tmp_path, monkeypatch):
    import bot.knowledge

    monkeypatch.setattr(bot.knowledge, "REBUILD_AFTER", 3)
    import_tickets(engine, HISTORY)
    desk, p, knowledge = desk_with(engine, clock, tmp_path / "kb")
    first = knowledge.index.base.path
    fixes = []
    for problem, fix in (("Teams camera is black in meetings", "Updated the webcam driver"),
                         ("Laptop battery drains overnight", "Disabled modern standby"),
                         ("Wi-Fi drops in the canteen", "Moved the access point to channel 11")):
        t = say(desk, p.frank, f"new {problem}").ticket
        say(desk, p.bob, f"resolve {t.id} {fix}")
        fixes.append(t.id)
    knowledge.refresh(force=True)  # the change feed runs; past the threshold it starts the rebuild
    knowledge._rebuilder.join(60)
    monkeypatch.setattr(bot.knowledge, "REBUILD_AFTER", 10**9)  # this test's clock stands still: the feed re-reads all
    base = knowledge.index.base
    on_disk = MappedBase(base.path)
    assert base.path != first and on_disk.count == 5, "the three resolutions are in the new base on disk"
    assert all(on_disk.slot(key) is not None for key in fixes)
    asked = say(desk, p.alice, "new my laptop battery drains overnight")
    assert asked.suggestions[0].ticket_id == fixes[1]
    restarted = DiskIndex(engine, knowledge.rules, tmp_path / "kb").ensure()
    assert restarted == base.path, "a restart now maps it as it is"


def test_from_the_terminal_an_import_takes_no_numbers_and_reports_count_it_only_when_asked(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "DATABASE_URL", "SLACK_"))}
    env.update({"HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'kb.db'}"})
    helpdesk = Path(sys.executable).parent / "helpdesk"

    def run(*args, stdin=None):
        return subprocess.run([str(helpdesk), *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              input=stdin)

    sample = Path(__file__).resolve().parent / "data" / "gitbugs_hadoop_sample.csv"
    assert run("kb", "import", str(sample)).returncode == 0
    opened = run("shell", "--as", "alice@corp.example", "-c", "new the VPN drops every ten minutes")
    assert opened.returncode == 0 and "#1" in opened.stdout, opened.stdout
    live = json.loads(run("report", "--since", "2015-01-01", "--format", "json").stdout)
    both = json.loads(run("report", "--since", "2015-01-01", "--format", "json", "--include-imported").stdout)
    assert live["figures"]["opened"] == 1
    assert both["figures"]["opened"] == 380 and both["figures"]["closed"] == 379
