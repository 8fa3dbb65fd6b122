"""SLA clocks and automatic escalation, driven by a clock the test moves (no sleeping)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from adapters.settings import AppSettings as Settings
from bot.config import BusinessHours
from bot.desk import Desk
from bot.model import Status
from bot.sla import add_business_minutes, timing
from storage.repository import SqlStore
from tests.conftest import SETTINGS, People, outbox_rows, say, stored, stored_events

POLICY = {"ack_timeout_minutes": 30, "repeat": 2, "warning_minutes": 5}


def desk_with(engine, clock, group_overrides: dict | None = None, **overrides) -> tuple[Desk, People]:
    data = {**SETTINGS, "escalation": {**POLICY, **overrides.pop("escalation", {})}, **overrides}
    data["groups"] = {**SETTINGS["groups"], "network-vendor": {"members": ["eve@vendor.example"], "channels": {"slack": "C0VENDOR"}}}
    for name, extra in (group_overrides or {}).items():
        data["groups"][name] = {**data["groups"][name], **extra}
    desk = Desk(Settings.model_validate(data), SqlStore(engine), clock=clock)
    return desk, People(desk)


def pages(engine) -> list[tuple[str, str]]:
    """The pages to groups' channels (terminal copies for their members are `user:` rows)."""
    return [(r["data"]["page"], r["audience"]) for r in outbox_rows(engine)
            if r["kind"] == "escalation" and r["audience"].startswith("group:")]


def lines(engine) -> list[str]:
    return [r["text"] for r in outbox_rows(engine) if r["kind"] == "ticket_changed"]


def test_an_unclaimed_critical_ticket_walks_up_its_chain_then_pages_the_top_and_stops(engine, clock):
    desk, p = desk_with(engine, clock)
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")
    assert pages(engine) == [("critical", "group:service-desk")], "critical tickets page level 1 at creation"
    t0 = clock.now

    clock.now = t0 + timedelta(minutes=9)
    assert desk.sweep() == 0, "nothing is due yet"
    clock.now = t0 + timedelta(minutes=10)
    assert desk.sweep() == 1
    assert lines(engine)[-1] == "⚠️ Unclaimed: escalates to network-eng in 5 min unless someone claims it."
    assert desk.sweep() == 0, "a warning is given once"

    clock.now = t0 + timedelta(minutes=15)
    assert desk.sweep() == 1
    t = stored(engine, 1)
    assert (t.group, t.escalation_level, t.assignee_id) == ("network-eng", 2, None)
    assert pages(engine)[-1] == ("escalated", "group:network-eng")
    assert lines(engine)[-1] == "⏫ Escalated automatically to network-eng (level 2): nobody at service-desk claimed it within 15 min"
    event = stored_events(engine, 1)[-1]
    assert (event.actor_id, event.actor_name, event.action) == ("helpdesk", "Help desk", "auto_escalated")

    clock.now = t0 + timedelta(minutes=45)  # level 2 had its 30 minutes; no sweep ran at 40, when its warning was due
    assert desk.sweep() == 1, "a warning that could only come after its breach is not given"
    assert stored(engine, 1).group == "network-vendor" and stored(engine, 1).escalation_level == 3
    clock.now = t0 + timedelta(minutes=75)
    desk.sweep()
    clock.now = t0 + timedelta(minutes=105)
    desk.sweep()
    clock.now = t0 + timedelta(hours=3)
    desk.sweep()
    assert pages(engine) == [("critical", "group:service-desk"), ("escalated", "group:network-eng"),
                             ("escalated", "group:network-vendor"), ("repeat", "group:network-vendor"),
                             ("repeat", "group:network-vendor")]
    assert stored(engine, 1).top_pings == 2
    clock.now = t0 + timedelta(hours=3, minutes=59)
    assert desk.sweep() == 0, "after its repeats the chain is quiet"
    clock.now = t0 + timedelta(hours=4, minutes=1)
    assert desk.sweep() == 1
    assert lines(engine)[-1] == "⏰ Past its resolution target by 1 min."
    assert stored(engine, 1).sla_next_at is None


def test_claiming_stops_the_chain(engine, clock):
    desk, p = desk_with(engine, clock)
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")
    clock.advance(minutes=15)
    desk.sweep()
    assert stored(engine, 1).group == "network-eng"
    say(desk, p.dave, "claim 1")
    assert stored(engine, 1).sla_step == "overdue", "only the resolution target is left to watch"
    for minutes in (30, 60, 120, 200):
        clock.now = clock.now + timedelta(minutes=minutes)
        desk.sweep()
    assert [pg for pg, _ in pages(engine)] == ["critical", "escalated"]


def test_the_sweep_is_idempotent_and_takes_each_step_once(engine, clock):
    desk, p = desk_with(engine, clock, escalation={"warning_minutes": 0})
    for i in range(5):
        say(desk, p.alice, f"new the wifi is down on floor {i} severity=critical")
    clock.advance(minutes=16)
    assert desk.sweep() == 5
    assert desk.sweep() == 0
    assert [pg for pg, _ in pages(engine)].count("escalated") == 5


def test_a_manual_escalation_restarts_the_level_timer(engine, clock):
    desk, p = desk_with(engine, clock, escalation={"warning_minutes": 0})
    say(desk, p.alice, "new the vpn drops every ten minutes severity=high")
    clock.advance(minutes=20)
    say(desk, p.bob, "escalate 1 needs the network team")
    clock.advance(minutes=29)
    assert desk.sweep() == 0
    clock.advance(minutes=2)
    assert desk.sweep() == 1
    assert stored(engine, 1).group == "network-vendor"


def test_a_group_may_have_its_own_acknowledgement_timeout(engine, clock):
    desk, p = desk_with(engine, clock, {"network-eng": {"ack_timeout_minutes": 5}}, escalation={"warning_minutes": 0})
    say(desk, p.alice, "new the vpn drops every ten minutes severity=critical")
    clock.advance(minutes=15)
    desk.sweep()
    clock.advance(minutes=5)
    assert desk.sweep() == 1
    assert stored(engine, 1).group == "network-vendor"


def test_a_requester_can_ask_for_urgency_which_pages_the_current_group(engine, clock):
    desk, p = desk_with(engine, clock)
    say(desk, p.alice, "new the vpn drops every ten minutes")
    reply = say(desk, p.alice, "urgent 1 I present to the board at 2 pm")
    assert reply.text == "Asked service-desk to look at #1 urgently."
    assert pages(engine)[-1] == ("urgent", "group:service-desk")
    urgent_page = [r for r in outbox_rows(engine) if r["kind"] == "escalation"][-1]["text"]  # Carol's terminal copy
    assert urgent_page.startswith("Alice Park asks for urgency on #1 (medium)")
    assert "Why: I present to the board at 2 pm" in urgent_page
    assert not say(desk, p.frank, "urgent 1 me too").ok, "only the requester (or a technician)"
    refused = say(desk, p.alice, "escalate 1 please")
    assert refused.text.startswith("Only technicians can escalate tickets")


def test_warnings_can_be_turned_off(engine, clock):
    desk, p = desk_with(engine, clock, escalation={"warning_minutes": 0})
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")
    clock.advance(minutes=14)
    assert desk.sweep() == 0
    clock.advance(minutes=1)
    assert desk.sweep() == 1
    assert not any(line.startswith("⚠️") for line in lines(engine))


def test_critical_paging_at_creation_can_be_turned_off(engine, clock):
    desk, p = desk_with(engine, clock, escalation={"page_critical_at_creation": False})
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")
    assert pages(engine) == []


def test_overdue_tickets_are_flagged_once_and_told_to_their_assignee(engine, clock):
    desk, p = desk_with(engine, clock)
    say(desk, p.alice, "new laptop will not charge anymore severity=high")
    say(desk, p.carol, "claim 1")
    clock.advance(hours=8, minutes=5)
    assert desk.sweep() == 1
    assert lines(engine)[-1] == "⏰ Past its resolution target by 5 min."
    told = [r for r in outbox_rows(engine) if r["kind"] == "overdue"]
    assert [r["audience"] for r in told] == ["user:carol@corp.example"]
    assert desk.sweep() == 0
    assert say(desk, p.bob, "queue").flags == {1: ("resolution overdue",)}


def test_the_sla_board_lists_breached_first_then_by_time_left(engine, clock):
    desk, p = desk_with(engine, clock)
    say(desk, p.alice, "new the printer on floor 3 jams severity=low")  # due in 1 day
    say(desk, p.alice, "new laptop will not charge anymore severity=high")  # due in 1 h
    clock.advance(minutes=5)
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")  # due in 15 min
    clock.advance(minutes=61)  # #2 is now 6 min late
    board = say(desk, p.bob, "sla")
    assert [t.id for t in board.sections[0].tickets] == [3, 2, 1], "the latest first, then the least time left"
    assert [timing(t, board.now, True) for t in board.sections[0].tickets] == ["46 min late", "6 min late", "due in 22 h 54 min"]
    assert not say(desk, p.alice, "sla").ok


class TestBusinessHours:
    HOURS = BusinessHours(timezone="Europe/London", days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00")
    LONDON = ZoneInfo("Europe/London")

    def at(self, *args) -> datetime:
        return datetime(*args, tzinfo=self.LONDON)

    @pytest.mark.parametrize("start, minutes, expected", [
        ((2026, 3, 6, 16, 0), 240, (2026, 3, 9, 12, 0)),   # Friday 16:00 + 4 h → Monday 12:00
        ((2026, 3, 7, 11, 0), 60, (2026, 3, 9, 10, 0)),    # Saturday → counts from Monday 09:00
        ((2026, 3, 9, 8, 0), 30, (2026, 3, 9, 9, 30)),     # before opening → from opening
        ((2026, 3, 9, 17, 30), 30, (2026, 3, 10, 9, 30)),  # after closing → next morning
        ((2026, 3, 9, 10, 0), 3 * 24 * 60, (2026, 3, 20, 10, 0)),  # 72 working hours = 9 working days
        ((2026, 3, 27, 16, 0), 120, (2026, 3, 30, 10, 0)),  # across the change to summer time
    ])
    def test_the_clock_runs_only_in_business_hours(self, start, minutes, expected):
        due = add_business_minutes(self.at(*start), minutes, self.HOURS)
        assert due == self.at(*expected).astimezone(timezone.utc)

    def test_low_and_medium_tickets_use_business_hours_high_does_not(self, engine, clock):
        clock.now = self.at(2026, 3, 6, 16, 0).astimezone(timezone.utc)  # a Friday afternoon
        desk, p = desk_with(engine, clock, business_hours={"timezone": "Europe/London"})
        say(desk, p.alice, "new the printer on floor 3 jams severity=medium")
        say(desk, p.alice, "new laptop will not charge anymore severity=high")
        assert stored(engine, 1).due_at == self.at(2026, 3, 9, 12, 0).astimezone(timezone.utc)
        assert stored(engine, 2).due_at == self.at(2026, 3, 6, 17, 0).astimezone(timezone.utc)
        clock.now = self.at(2026, 3, 7, 12, 0).astimezone(timezone.utc)
        desk.sweep()
        assert stored(engine, 1).group == "service-desk", "the weekend does not count against a medium ticket"
        assert stored(engine, 2).escalation_level == 1, "the only level of the hardware chain: it is paged again instead"
        assert [pg for pg, _ in pages(engine)] == ["repeat"]

    def test_bad_business_hours_are_refused(self):
        with pytest.raises(ValueError, match="start 18:00 must be before end 09:00"):
            BusinessHours(start="18:00", end="09:00")
        with pytest.raises(ValueError, match="unknown day 'fun'"):
            BusinessHours(days=["fun"])
