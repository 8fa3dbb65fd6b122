"""Reports: a known week of help desk history (fixed clock), every figure checked against
values worked out by hand, on SQLite and PostgreSQL; the CLI's table, JSON, CSV and chart."""
from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.knowledge import Knowledge
from bot.reports import Compliance, ReportQuery, Spread, parse_moment, PeriodError
from storage.knowledge import TicketKnowledge
from storage.repository import SqlStore
from tests.conftest import SETTINGS, START, People, say

H = 3600
WEEK = ReportQuery(START, START + timedelta(days=7))
HELPDESK = Path(sys.executable).parent / "helpdesk"


def build_history(engine, clock) -> Desk:
    settings = Settings.model_validate(SETTINGS)
    knowledge = Knowledge(TicketKnowledge(engine, settings))
    knowledge.load()
    desk = Desk(settings, SqlStore(engine), clock=clock, knowledge=knowledge)
    p = People(desk)
    at = lambda **delta: setattr(clock, "now", START + timedelta(**delta))

    at(days=-3)  # #1, the week before: an "other" ticket that stays open
    say(desk, p.alice, "new the office chair in room 4 squeaks")
    at()  # #2 high printer, claimed after 30 min, resolved after 2 h, confirmed
    say(desk, p.alice, 'new the printer on floor 3 jams on every page severity=high device=HP-4050 location="Floor 3"')
    at(minutes=30)
    say(desk, p.bob, "claim 2")
    at(hours=1)  # #3 critical wifi: auto-escalated after 15 min, claimed at 90 min, resolved late, reopened, resolved
    say(desk, p.frank, 'new the whole floor lost the wifi severity=critical device=AP-12 location="Floor 3"')
    at(hours=1, minutes=15)
    desk.sweep()
    at(hours=2)
    say(desk, p.bob, "resolve 2 Replaced the worn pickup roller in tray 2")
    at(hours=2, minutes=30)
    say(desk, p.dave, "claim 3")
    at(hours=3)
    say(desk, p.alice, "confirm 2")
    at(hours=7)
    say(desk, p.dave, "resolve 3 Rebooted the core switch and replaced a failed uplink")
    at(hours=8)
    say(desk, p.frank, "reopen 3 it dropped again at 4 pm")
    at(hours=9)
    say(desk, p.dave, "resolve 3 Replaced the second uplink as well")
    at(days=1)  # #4 low laptop: never touched
    say(desk, p.alice, "new my laptop screen has a dead pixel severity=low device=LT-0042")
    at(days=2)  # #5 medium printer: claimed after 10 min, solved by the requester with #2's fix at 15 min
    reply = say(desk, p.frank, 'new the printer on floor 3 jams on every page again severity=medium device=HP-4050 location="Floor 3"')
    assert reply.suggestions and reply.suggestions[0].ticket_id == 2
    at(days=2, minutes=10)
    say(desk, p.carol, "claim 5")
    at(days=2, minutes=15)
    assert say(desk, p.frank, "solved 5 1").ok
    at(days=7)
    return desk


def report_of(desk, query=WEEK):
    with desk.store.transaction(write=False) as tx:
        return tx.report(query, desk.settings)


def test_every_figure_of_a_known_week(engine, clock):
    desk = build_history(engine, clock)
    f = report_of(desk).figures
    assert (f.opened, f.resolved, f.closed, f.reopened) == (4, 3, 2, 1)
    assert f.still_open == {"under 1 day": 0, "1–3 days": 0, "3–7 days": 1, "over 7 days": 1}
    assert f.first_response == Spread(3, 30 * 60, 90 * 60)  # 10, 30 and 90 minutes
    assert f.resolution == Spread(3, 2 * H, 8 * H)  # 15 min, 2 h, 8 h
    assert f.resolution_by_severity == {"low": Spread(), "medium": Spread(1, 15 * 60, 15 * 60),
                                        "high": Spread(1, 2 * H, 2 * H), "critical": Spread(1, 8 * H, 8 * H)}
    assert f.sla_response == {"low": Compliance(0, 1), "medium": Compliance(1, 0), "high": Compliance(1, 0),
                              "critical": Compliance(0, 1)}
    assert f.sla_resolution == {"low": Compliance(0, 1), "medium": Compliance(1, 0), "high": Compliance(1, 0),
                                "critical": Compliance(0, 1)}
    assert f.escalations == {2: 1}
    assert (f.deflected, f.confirmed, f.reopened_after_resolution) == (1, 1, 1)
    assert f.busiest_devices == [("HP-4050", 2), ("AP-12", 1), ("LT-0042", 1)]
    assert f.busiest_locations == [("Floor 3", 4)]  # #4 took Alice's office as its location
    assert f.trending == [("printer", 2, 0), ("hardware", 1, 0), ("network", 1, 0)]
    assert f.daily == [("2026-03-02", 2, 2), ("2026-03-03", 1, 0), ("2026-03-04", 1, 1), ("2026-03-05", 0, 0),
                       ("2026-03-06", 0, 0), ("2026-03-07", 0, 0), ("2026-03-08", 0, 0), ("2026-03-09", 0, 0)]


def test_filters_and_breakdowns(engine, clock):
    desk = build_history(engine, clock)
    printers = report_of(desk, ReportQuery(WEEK.since, WEEK.until, category="printer")).figures
    assert (printers.opened, printers.resolved, printers.deflected) == (2, 2, 1)
    dave = report_of(desk, ReportQuery(WEEK.since, WEEK.until, technician="dave@corp.example")).figures
    assert (dave.opened, dave.resolved, dave.resolution.median) == (1, 1, 8 * H)
    by = report_of(desk, ReportQuery(WEEK.since, WEEK.until, by="severity"))
    assert [(k, f.opened, f.resolved, f.sla_resolution["all"].percent) for k, f in by.breakdown] == [
        ("critical", 1, 1, 0.0), ("high", 1, 1, 100.0), ("low", 1, 0, 0.0), ("medium", 1, 1, 100.0)]


def test_the_report_command_in_chat(engine, clock):
    desk = build_history(engine, clock)
    p = People(desk)
    reply = say(desk, p.bob, "report 7d")
    assert reply.text == "4 opened, 3 resolved, 2 still open, 1 solved by a past resolution."
    assert reply.report.figures.opened == 4
    assert not say(desk, p.alice, "report").ok
    assert say(desk, p.bob, "report yesterdayish").text.startswith("`yesterdayish` is not a period")
    assert say(desk, p.bob, "report 7d by=colour").text.startswith("`colour` is not a breakdown")


def test_the_weekly_digest_goes_to_each_group_once(engine, clock):
    from tests.conftest import outbox_rows

    data = {**SETTINGS, "reports": {"digest": True, "digest_day": "mon", "digest_hour": 9}}
    desk = Desk(Settings.model_validate(data), SqlStore(engine), clock=clock)
    desk.digest_renderer = lambda report: f"{report.figures.opened} opened"
    clock.now = START + timedelta(days=7, minutes=1)  # Monday 9:01 in London (GMT in March)
    desk.sweep()
    desk.sweep()
    digests = [r for r in outbox_rows(engine) if r["kind"] == "digest"]
    assert sorted(r["audience"] for r in digests) == ["group:network-eng", "group:service-desk"], "groups with a channel"
    clock.now += timedelta(days=1)
    desk.sweep()
    assert len([r for r in outbox_rows(engine) if r["kind"] == "digest"]) == 2, "once a week"


def test_periods_are_read_as_people_type_them(clock):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    assert parse_moment("7d", clock.now, zone) == clock.now - timedelta(days=7)
    assert parse_moment("2026-03-01", clock.now, zone).isoformat() == "2026-03-01T00:00:00+00:00"
    assert parse_moment("2026-03-31", clock.now, zone, end=True).isoformat() == "2026-03-31T23:00:00+00:00"  # BST
    with pytest.raises(PeriodError):
        parse_moment("last tuesday", clock.now, zone)


def history_for_the_command_line(clock, tmp_path) -> dict[str, str]:
    """The known week in an SQLite file, and an environment for `helpdesk` that names only it."""
    from storage.database import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'reports.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_history(engine, clock)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "DATABASE_URL", "SLACK_"))}
    env.update({"DATABASE_URL": url, "HOME": str(tmp_path), "HELPDESK_TIMEZONE": "Europe/London"})
    return env


def test_the_command_line_table_json_csv_and_chart(clock, tmp_path):
    """On the embedded database; the figures themselves are checked on both databases above."""
    env = history_for_the_command_line(clock, tmp_path)
    args = ["report", "--since", "2026-03-02 09:00", "--until", "2026-03-09 09:00"]

    def helpdesk(*extra):
        out = subprocess.run([str(HELPDESK), *args, *extra], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    table = helpdesk()
    assert "Help desk report 2026-03-02 09:00 → 2026-03-09 09:00 (Europe/London)" in table
    assert "  Opened                       4" in table
    assert "Time to resolution           median 2 h, p90 8 h (n=3)" in table
    data = json.loads(helpdesk("--format", "json"))
    assert data["figures"]["opened"] == 4 and data["figures"]["resolution"] == {"count": 3, "median": 7200.0, "p90": 28800.0}
    assert data["figures"]["sla_response"]["high"] == {"met": 1, "breached": 0, "percent": 100.0}
    rows = {(r["group"], r["metric"]): r["value"] for r in csv.DictReader(io.StringIO(helpdesk("--format", "csv")))}
    assert rows[("all", "opened")] == "4" and rows[("all", "resolution_p90_seconds")] == "28800.0"
    assert rows[("all", "sla_resolution_percent[critical]")] == "0.0"
    chart = tmp_path / "week.png"
    helpdesk("--chart", str(chart))
    head = chart.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1000, 750), "10 × 7.5 inches at 100 dpi"
    bad = subprocess.run([str(HELPDESK), "report", "--since", "soonish"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "is not a period" in bad.stderr
