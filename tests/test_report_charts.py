"""Charts a lead would read (issue 18, item 8): durations in minutes, hours or days, the target
per severity, counts on the bars, "no data" apart from zero; `report --chart` with no file name;
and `report` in Slack and Teams posting the chart next to the table, over real HTTP."""
from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from adapters.chat.charts import ReportCharts
from adapters.report_chart import amount, figure, unit_for
from storage.repository import SqlStore
from storage.schema import report_charts
from tests.conftest import START, Clock
from tests.slack_harness import LiveSlack
from tests.teams_harness import LiveTeams
from tests.test_reports import build_history, history_for_the_command_line, report_of

HELPDESK = Path(sys.executable).parent / "helpdesk"
PNG = b"\x89PNG\r\n\x1a\n"


def test_durations_read_in_minutes_hours_or_days():
    assert [amount(s) for s in (63, 45 * 60, 90 * 60, 2 * 3600, 9000, 8 * 3600, 26 * 3600, 3 * 86400)] == [
        "1 min", "45 min", "90 min", "2 h", "2.5 h", "8 h", "26 h", "3 d"]
    assert unit_for(0.0175 * 3600)[0] == "minutes", "not 0.0175 h"


def texts_of(ax) -> list[str]:
    return [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels()]


def test_the_chart_of_a_known_week(engine, clock):
    desk = build_history(engine, clock)
    fig = figure(report_of(desk))
    days, critical, high, medium, low, satisfaction = fig.axes
    assert days.get_title(loc="left").endswith("4 opened, 3 resolved")
    labels = [t.get_text() for t in days.texts]
    assert labels[:3] == ["2", "1", "1"] and "0" in labels, "every bar has its count, zero included"
    assert "Mon 2 Mar" in texts_of(days)
    assert critical.get_title(loc="left") == "critical (n=1)" and critical.get_ylabel() == "hours"
    assert {"8 h", "target 4 h", "over target"} <= set(texts_of(critical))
    assert [line.get_ydata()[0] for line in critical.get_lines()] == [4.0], "the target, in the panel's unit"
    assert medium.get_ylabel() == "minutes" and "15 min" in texts_of(medium)
    assert "target 3 d ↑" in texts_of(medium), "a target far above the bars is written, not drawn off the scale"
    assert "no data" in texts_of(low) and not low.patches, "nothing resolved: no data, not a zero bar"
    assert satisfaction.get_title(loc="left") == "Satisfaction per technician\n0 of 2 resolutions rated"
    assert "no rating yet · 0 of 1" in texts_of(satisfaction), "no rating is not a zero"
    assert all(bar.get_width() == 0 for bar in satisfaction.patches)


def test_report_chart_without_a_file_name_writes_a_default_file(clock, tmp_path):
    env = history_for_the_command_line(clock, tmp_path)
    out = subprocess.run([str(HELPDESK), "report", "--since", "2026-03-02 09:00", "--until", "2026-03-08", "--chart"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "helpdesk-report-2026-03-02-to-2026-03-08.png"
    assert out.stderr.strip().endswith(f"chart written to {written}")
    head = written.read_bytes()[:24]
    assert head[:8] == PNG and struct.unpack(">II", head[16:24]) == (1000, 750)


def test_hosted_charts_expire(engine):
    clock = Clock()
    charts = ReportCharts(SqlStore(engine), clock, "https://helpdesk.example.com")
    desk = build_history(engine, Clock())
    chart = asyncio.run(charts.draw(report_of(desk)))
    assert chart.url.startswith("https://helpdesk.example.com/charts/") and chart.url.endswith(".png")
    token = chart.url.rsplit("/", 1)[1].removesuffix(".png")
    assert len(token) == 43 and charts.get(token) == chart.png and chart.png.startswith(PNG)
    clock.advance(days=7)
    assert charts.get(token) is None, "a week later the link no longer works"


@pytest.fixture
def slack(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def test_slack_report_posts_the_chart_next_to_the_table(slack, engine):
    s = slack.slack
    slack.say("U0ALICE", "new the printer on floor 3 jams on every page", s.dm_channel("U0ALICE"), channel_type="im")
    dm = s.dm_channel("U0BOB")
    slack.say("U0BOB", "report 7d", dm, channel_type="im")
    shared = slack.eventually(lambda: [m for m in s.messages(dm) if m.get("files")])[0]
    table = next(m for m in s.messages(dm) if "Help desk report" in m["text"])
    assert float(table["ts"]) < float(shared["ts"]), "the chart follows the table, in the same chat"
    file = shared["files"][0]
    assert file["name"].startswith("helpdesk-report-") and file["name"].endswith(".png")
    assert s.file_data(file["id"]).startswith(PNG) and "time to resolution per severity" in file["alt_txt"]
    assert [c.method for c in s.calls if c.method.startswith("files.") or c.method == "upload"] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]

    # asked in a channel: the table answers there, only to them; the chart goes to their direct chat
    answer = slack.slash("U0BOB", "report 7d", channel="C0GENERAL")
    assert "Help desk report" in answer.json()["text"]
    assert "📈 The chart is in your direct messages with the help desk." in answer.json()["text"]
    slack.eventually(lambda: len([m for m in s.messages(dm) if m.get("files")]) == 2)
    assert not [m for m in s.messages("C0GENERAL") if m.get("files")], "nothing is shared in the channel"


@pytest.fixture
def teams(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def test_teams_report_shows_the_chart_from_the_help_desks_own_server(teams, engine):
    live = teams
    live.post(live.personal("alice", "new the printer on floor 3 jams on every page"))
    live.post(live.personal("bob", "report 7d"))
    answer = live.eventually(lambda: [p for p in live.chat("bob") if "Help desk report" in (p.activity.get("text") or "")])[0]
    (image,) = answer.activity["attachments"]
    assert image["contentType"] == "image/png" and image["name"].endswith(".png")
    url = image["contentUrl"]
    assert url.startswith(f"http://127.0.0.1:{live.port}/charts/")
    path = url.removeprefix(f"http://127.0.0.1:{live.port}")
    fetched = live.get(path)
    assert fetched.status == 200 and fetched.headers["Content-Type"] == "image/png" and fetched.body.startswith(PNG)
    assert len(fetched.body) > 28 * 1024, "inline, it would not have fitted in the 28 KB message"
    assert live.get("/charts/" + "x" * 43 + ".png").status == 404
    assert live.get("/charts/../healthz.png").status == 404
    with engine.begin() as conn:
        conn.execute(update(report_charts).values(expires_at=START - timedelta(days=1)))
    assert live.get(path).status == 404, "an expired chart is gone"


def test_teams_without_a_public_address_says_why_there_is_no_chart(engine):
    live = LiveTeams(engine, {"public_url": None}).start()
    try:
        live.post(live.personal("bob", "report 7d"))
        answer = live.eventually(lambda: [p for p in live.chat("bob") if "Help desk report" in (p.activity.get("text") or "")])[0]
        assert not answer.activity.get("attachments")
        assert "set the help desk's public address, public_url, for Teams to show it" in answer.activity["text"]
    finally:
        live.stop()


def test_the_public_address_is_https_or_loopback():
    from pydantic import ValidationError

    from adapters.settings import validate

    assert validate({"public_url": "https://hd.corp.example/"}).public_url == "https://hd.corp.example"
    assert validate({"public_url": "http://127.0.0.1:3000"}).public_url == "http://127.0.0.1:3000"
    with pytest.raises(ValidationError, match="is not the server's public https:// address"):
        validate({"public_url": "http://hd.corp.example"})
