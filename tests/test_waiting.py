"""A ticket waiting on its requester: its SLA clock stands still, and a stale one reminds the
requester, then resolves itself politely. Driven by a clock the test moves."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from adapters.report_render import table
from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.model import Status
from bot.reports import Compliance, ReportQuery, Spread
from bot.sla import add_business_minutes, timing
from storage.repository import SqlStore
from tests.conftest import SETTINGS, People, outbox_rows, say, stored, stored_events

LONDON = ZoneInfo("Europe/London")


def desk_with(engine, clock, **overrides) -> tuple[Desk, People]:
    desk = Desk(Settings.model_validate({**SETTINGS, **overrides}), SqlStore(engine), clock=clock)
    return desk, People(desk)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(timezone.utc)


def told(engine, audience: str, kind: str | None = None) -> list[str]:
    return [r["text"] for r in outbox_rows(engine) if r["audience"] == audience and kind in (None, r["kind"])]


def lines(engine) -> list[str]:
    return [r["text"] for r in outbox_rows(engine) if r["kind"] == "ticket_changed"]


class TestPausedClock:
    def open_and_ask(self, desk, p, clock):
        """Monday 09:00: a high ticket (first response 1 h, resolution 8 h: due 17:00), claimed at
        once; at 10:00 Bob asks Alice a question."""
        say(desk, p.alice, "new the vpn drops every ten minutes severity=high")
        say(desk, p.bob, "claim 1")
        clock.now = at(2026, 3, 2, 10, 0)
        assert say(desk, p.bob, "wait 1 which office are you in today?").ok

    def test_the_clock_stands_still_while_the_ticket_waits_and_runs_again_from_the_answer(self, engine, clock):
        desk, p = desk_with(engine, clock)
        self.open_and_ask(desk, p, clock)
        t = stored(engine, 1)
        assert (t.status, t.paused_at, t.due_at) == (Status.WAITING, at(2026, 3, 2, 10, 0), None)
        assert (t.sla_step, t.sla_next_at) == ("nudge", at(2026, 3, 4, 10, 0)), "nothing but the reminder is planned"

        clock.now = at(2026, 3, 2, 17, 30)  # past the target it would have missed, had the clock run
        assert desk.sweep() == 0
        queue = say(desk, p.bob, "queue")
        assert queue.flags == {}, "a paused ticket is not overdue"
        assert timing(queue.sections[0].tickets[0], queue.now, True, queue.zone) == "paused since 10:00"
        board = say(desk, p.bob, "sla")
        assert timing(board.sections[0].tickets[0], board.now, True, board.zone) == "paused since 10:00"
        clock.now = at(2026, 3, 3, 8, 0)
        assert timing(say(desk, p.bob, "queue").sections[0].tickets[0], clock.now, True, LONDON) == "paused since Mon 10:00"

        clock.now = at(2026, 3, 3, 9, 0)  # Tuesday: Alice answers after 23 hours
        assert say(desk, p.alice, "note 1 the London office, floor 3").ok
        t = stored(engine, 1)
        assert (t.status, t.paused_at, t.paused_seconds) == (Status.IN_PROGRESS, None, 23 * 3600)
        assert t.resolution_due_at == at(2026, 3, 3, 16, 0), "17:00 plus the 23 paused hours"
        assert (t.due_at, t.sla_step, t.sla_next_at) == (at(2026, 3, 3, 16, 0), "overdue", at(2026, 3, 3, 16, 0)), \
            "the next step is re-planned from the answer"
        clock.now = at(2026, 3, 3, 15, 59)
        assert desk.sweep() == 0
        clock.now = at(2026, 3, 3, 16, 1)
        assert desk.sweep() == 1
        assert lines(engine)[-1] == "⏰ Past its resolution target by 1 min."

    def test_show_says_since_when_and_how_long_in_all(self, engine, clock):
        desk, p = desk_with(engine, clock)
        self.open_and_ask(desk, p, clock)
        shown = say(desk, p.alice, "show 1")
        assert shown.ticket.paused_at == at(2026, 3, 2, 10, 0) and shown.zone == LONDON
        from adapters.console.render import Style, TextRenderer
        render = TextRenderer(LONDON, Style(False))
        assert "  ⏸ SLA clock paused since 2026-03-02 10:00 (waiting on the requester)" in render.reply(shown)
        clock.now = at(2026, 3, 2, 13, 30)
        say(desk, p.alice, "note 1 floor 3")
        assert "  ⏸ SLA clock paused 3 h 30 min in all while waiting on the requester" in render.reply(say(desk, p.bob, "show 1"))

    def test_a_severity_may_keep_its_clock_running(self, engine, clock):
        severities = {"high": {"pause_while_waiting": False}}
        desk, p = desk_with(engine, clock, severities=severities)
        self.open_and_ask(desk, p, clock)
        t = stored(engine, 1)
        assert (t.paused_at, t.due_at, t.waiting_since) == (None, at(2026, 3, 2, 17, 0), at(2026, 3, 2, 10, 0))
        clock.now = at(2026, 3, 2, 17, 5)
        assert desk.sweep() == 1
        assert lines(engine)[-1] == "⏰ Past its resolution target by 5 min."
        assert say(desk, p.bob, "queue").flags == {1: ("resolution overdue",)}

    def test_a_ticket_late_before_its_pause_stays_late(self, engine, clock):
        desk, p = desk_with(engine, clock)
        say(desk, p.alice, "new the vpn drops every ten minutes severity=high")
        say(desk, p.bob, "claim 1")
        clock.now = at(2026, 3, 2, 17, 30)  # past 17:00 before anyone asked anything
        say(desk, p.bob, "wait 1 which office are you in today?")
        assert say(desk, p.bob, "queue").flags == {1: ("resolution overdue",)}

    def test_escalating_a_waiting_ticket_starts_its_clock_again(self, engine, clock):
        desk, p = desk_with(engine, clock)
        self.open_and_ask(desk, p, clock)
        clock.now = at(2026, 3, 2, 12, 0)
        say(desk, p.bob, "escalate 1 network-eng needs the network team")
        t = stored(engine, 1)
        assert t.status is not Status.WAITING and (t.assignee_id, t.paused_at, t.paused_seconds) == (None, None, 2 * 3600)

    def test_with_business_hours_the_pause_counts_in_business_minutes(self, engine, clock):
        clock.now = at(2026, 3, 6, 16, 0)  # a Friday afternoon; medium runs on business hours 09:00-17:00
        desk, p = desk_with(engine, clock, business_hours={"timezone": "Europe/London"})
        say(desk, p.alice, "new the printer on floor 3 jams on every page severity=medium")
        say(desk, p.bob, "claim 1")
        before = stored(engine, 1).resolution_due_at
        clock.now = at(2026, 3, 6, 16, 30)
        say(desk, p.bob, "wait 1 which tray?")
        clock.now = at(2026, 3, 9, 10, 0)  # Monday 10:00: 30 business minutes on Friday, 60 on Monday
        say(desk, p.alice, "note 1 tray 2")
        t = stored(engine, 1)
        assert (t.paused_seconds, t.paused_business_seconds) == (65 * 3600 + 1800, 90 * 60)
        assert t.resolution_due_at == add_business_minutes(t.created_at, 3 * 24 * 60 + 90, desk.settings.business_hours)
        assert t.resolution_due_at > before


class TestStaleTickets:
    def ask_on_friday(self, engine, clock, **overrides):
        clock.now = at(2026, 3, 6, 15, 0)  # Friday 15:00
        desk, p = desk_with(engine, clock, **overrides)
        say(desk, p.alice, "new the printer on floor 3 jams on every page")
        say(desk, p.bob, "claim 1")
        say(desk, p.bob, "wait 1 is it the Canon or the Ricoh?")
        return desk, p

    def test_the_requester_is_reminded_after_two_business_days_then_it_resolves_after_five(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock)
        clock.now = at(2026, 3, 10, 14, 59)  # Tuesday: the weekend does not count
        assert desk.sweep() == 0
        clock.now = at(2026, 3, 10, 15, 0)
        assert desk.sweep() == 1
        reminder = told(engine, "user:alice@corp.example", "question")[-1]
        assert reminder == ("Your ticket #1 is waiting on your answer: is it the Canon or the Ricoh?\n"
                            "Reply with `note 1 <your answer>`. Without an answer by Fri 13 Mar 15:00 it will be "
                            "resolved; you can reopen it afterwards.")
        assert lines(engine)[-1] == "🔔 Reminded Alice Park of the question."
        assert desk.sweep() == 0, "the reminder is sent once"
        t = stored(engine, 1)
        assert (t.nudged_at, t.sla_step, t.sla_next_at) == (at(2026, 3, 10, 15, 0), "stale_resolve", at(2026, 3, 13, 15, 0))

        clock.now = at(2026, 3, 13, 15, 0)
        assert desk.sweep() == 1
        t = stored(engine, 1)
        assert (t.status, t.resolved_at, t.resolution, t.paused_at) == (Status.RESOLVED, clock.now, None, None)
        assert t.paused_seconds == 7 * 24 * 3600, "the whole wait stood paused"
        event = stored_events(engine, 1)[-1]
        assert (event.actor_id, event.action, event.changes["status"]) == (
            "helpdesk", "stale_resolved", ["waiting_on_requester", "resolved"])
        resolved = [r for r in outbox_rows(engine) if r["audience"] == "user:alice@corp.example"][-1]
        assert resolved["kind"] == "resolved", "the message comes with That fixed it / Still broken in chat"
        assert resolved["text"] == ("We resolved your ticket #1: we did not hear back from you for 5 business days "
                                    "about: is it the Canon or the Ricoh?\nIf you still need help, type "
                                    "`reopen 1 <what is still wrong>`.")
        assert told(engine, "user:bob@corp.example", "stale_resolved")[-1].startswith(
            "#1 was resolved automatically: no answer from Alice Park for 5 business days")
        assert lines(engine)[-1] == "✅ Resolved automatically: no answer from the requester for 5 business days."
        assert desk.sweep() == 0
        assert say(desk, p.alice, "reopen 1 it still jams, it is the Ricoh").ok

    def test_an_answer_stops_the_steps_and_a_new_question_starts_them_again(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock)
        clock.now = at(2026, 3, 10, 15, 0)
        desk.sweep()  # reminded
        clock.now = at(2026, 3, 11, 9, 0)
        say(desk, p.alice, "note 1 the Ricoh")
        t = stored(engine, 1)
        assert (t.waiting_since, t.nudged_at, t.sla_step) == (None, None, "overdue")
        say(desk, p.bob, "wait 1 and which tray?")
        assert stored(engine, 1).sla_next_at == at(2026, 3, 13, 9, 0), "two business days from the new question"
        clock.now = at(2026, 3, 13, 9, 0)
        assert desk.sweep() == 1
        assert told(engine, "user:alice@corp.example", "question")[-1].startswith(
            "Your ticket #1 is waiting on your answer: and which tray?")

    def test_a_question_asked_again_restarts_the_wait(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock)
        clock.now = at(2026, 3, 9, 12, 0)
        say(desk, p.bob, "wait 1 the Canon or the Ricoh? it is the one by the window")
        assert stored(engine, 1).sla_next_at == at(2026, 3, 11, 12, 0)

    def test_each_step_can_be_turned_off(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock, stale={"nudge_after_days": 0, "close_after_days": 3})
        assert (stored(engine, 1).sla_step, stored(engine, 1).sla_next_at) == ("stale_resolve", at(2026, 3, 11, 15, 0))
        clock.now = at(2026, 3, 11, 15, 0)
        assert desk.sweep() == 1 and stored(engine, 1).status is Status.RESOLVED
        assert told(engine, "user:alice@corp.example", "question") == [
            "Bob Lee has a question about your ticket #1: is it the Canon or the Ricoh?\nAnswer with `note 1 <your answer>`."]

    def test_stale_tickets_can_be_left_alone(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock, stale={"enabled": False})
        t = stored(engine, 1)
        assert (t.sla_step, t.sla_next_at) == (None, None)
        clock.now = at(2026, 4, 6, 15, 0)
        assert desk.sweep() == 0 and stored(engine, 1).status is Status.WAITING

    def test_a_late_sweep_resolves_without_a_reminder_first(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock)
        clock.now = at(2026, 3, 20, 9, 0)  # nothing swept for two weeks
        assert desk.sweep() == 1
        assert stored(engine, 1).status is Status.RESOLVED
        assert len(told(engine, "user:alice@corp.example", "question")) == 1, "no reminder after the fact"

    def test_replicas_sweeping_at_once_take_each_step_once(self, engine, clock):
        desk, p = self.ask_on_friday(engine, clock)
        for i in range(2, 9):
            say(desk, p.alice, f"new the scanner on floor {i} is offline")
            say(desk, p.bob, f"wait {i} is it switched on?")
        replicas = [Desk(desk.settings, SqlStore(engine), clock=clock) for _ in range(3)]
        clock.now = at(2026, 3, 10, 15, 0)
        gate = threading.Barrier(len(replicas))
        taken: list[int] = []

        def sweep(replica: Desk) -> None:
            gate.wait()
            taken.append(replica.sweep())

        threads = [threading.Thread(target=sweep, args=(r,)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(taken) == 8
        reminders = [r for r in outbox_rows(engine) if r["kind"] == "question" and r["data"].get("reminder")]
        assert sorted(r["ticket_id"] for r in reminders) == list(range(1, 9)), "one reminder per ticket"

    def test_bad_settings_are_refused(self):
        import pytest
        from bot.config import Stale

        with pytest.raises(ValueError, match=r"close_after_days \(2\) must be more than nudge_after_days \(2\)"):
            Stale(nudge_after_days=2, close_after_days=2)


def test_a_weeks_report_leaves_out_the_time_tickets_waited_on_their_requester(engine, clock):
    """The evidence for the closing note: a week where two tickets waited on their requester."""
    desk, p = desk_with(engine, clock)
    # #1 high: claimed at once, waits 23 h for Alice's answer, resolved 3 h after it (27 h on the wall)
    say(desk, p.alice, "new the vpn drops every ten minutes severity=high")
    say(desk, p.bob, "claim 1")
    clock.now = at(2026, 3, 2, 10, 0)
    say(desk, p.bob, "wait 1 which office are you in today?")
    clock.now = at(2026, 3, 3, 9, 0)
    say(desk, p.alice, "note 1 the London office")
    clock.now = at(2026, 3, 3, 12, 0)
    say(desk, p.bob, "resolve 1 moved her to the new VPN gateway; stable all morning")
    # #2 medium: no wait, resolved in 2 h
    say(desk, p.frank, "new my keyboard misses keystrokes")
    say(desk, p.carol, "claim 2")
    clock.now = at(2026, 3, 3, 14, 0)
    say(desk, p.carol, "resolve 2 replaced the keyboard with a new one")
    # #3 high: waits from 10 min after it opened and is still waiting at the week's end, past 8 h
    say(desk, p.alice, "new the docking station on desk 14 is dead severity=high")
    say(desk, p.bob, "claim 3")
    clock.now = at(2026, 3, 3, 14, 10)
    say(desk, p.bob, "wait 3 is the power light on?")
    clock.now = at(2026, 3, 9, 9, 0)  # (no sweep runs here: the reminder is not the point)

    with SqlStore(engine).transaction(write=False) as tx:
        report = tx.report(ReportQuery(at(2026, 3, 2, 9, 0), clock.now), desk.settings)
    f = report.figures
    assert f.resolution == Spread(2, 7200.0, 14400.0), "2 h and 4 h of the help desk's time (not 27 h on the wall)"
    assert f.paused == Spread(1, 82800.0, 82800.0)
    assert f.resolution_by_severity["high"] == Spread(1, 14400.0, 14400.0)
    assert f.sla_resolution["high"] == Compliance(met=1, breached=0), \
        "#1 met its target moved on by its pause; #3 stood paused before its target"
    text = table(report)
    assert "  Time to resolution           median 2 h, p90 4 h (n=2)" in text
    assert "  Paused for requesters        median 23 h, p90 23 h (n=1)" in text
    assert "  high             100% (2/2)       100% (1/1)   median 4 h, p90 4 h (n=1)" in text
    assert "Times to resolution and resolution targets leave out the time tickets waited on their requester." in text
    assert report.as_dict()["figures"]["paused"] == {"count": 1, "median": 82800.0, "p90": 82800.0}
