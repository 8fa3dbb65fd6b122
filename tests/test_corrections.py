"""Tickets can be corrected (`set`), their assignee taken off (`unassign`), and escalating says
honestly where a ticket is: new for the group it went to, at its level or outside its chain."""
from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.model import Severity, Status
from storage.repository import SqlStore
from tests.conftest import SETTINGS, People, outbox_rows, say, stored, stored_events

CATEGORIES = {**SETTINGS["categories"], "wan": {"escalation": ["network-eng", "network-vendor"], "keywords": ["mpls"]}}


@pytest.fixture
def desk(engine, clock) -> Desk:
    return Desk(Settings.model_validate({**SETTINGS, "categories": CATEGORIES}), SqlStore(engine), clock=clock)


@pytest.fixture
def p(desk) -> People:
    return People(desk)


def rows(engine, kind: str) -> list[dict]:
    return [r for r in outbox_rows(engine) if r["kind"] == kind]


class TestSet:
    def test_a_technician_corrects_severity_and_the_sla_is_re_planned(self, desk, p, engine, clock):
        say(desk, p.alice, "new the printer on floor 3 jams on every page")  # medium: response due in 4 h
        assert stored(engine, 1).due_at == clock.now + timedelta(hours=4)
        reply = say(desk, p.bob, "set 1 severity=high")
        assert reply.text == "Corrected #1: severity medium → high."
        t = stored(engine, 1)
        assert (t.severity, t.due_at, t.resolution_due_at) == (Severity.HIGH, clock.now + timedelta(hours=1),
                                                                clock.now + timedelta(hours=8))
        event = stored_events(engine, 1)[-1]
        assert (event.actor_id, event.action, event.changes) == ("bob@corp.example", "corrected",
                                                                 {"severity": ["medium", "high"]})
        assert rows(engine, "ticket_changed")[-1]["text"] == "✏️ Bob Lee corrected it: severity medium → high", \
            "the card is refreshed, with a line in its thread"

    def test_several_fields_at_once_and_clearing_one(self, desk, p, engine):
        say(desk, p.alice, "new the printer on floor 3 jams on every page device=HP-4050")
        reply = say(desk, p.bob, 'set 1 device="" location="Floor 2, by the lifts" phone=+44 20 7946 0958')
        assert reply.text == ("Corrected #1: device HP-4050 → —, location Floor 3 → Floor 2, by the lifts, "
                              "phone +1 555 0142 → +44 20 7946 0958.")
        t = stored(engine, 1)
        assert (t.device, t.location, t.requester.phone) == (None, "Floor 2, by the lifts", "+44 20 7946 0958")
        assert stored_events(engine, 1)[-1].changes["phone"] == ["+1 555 0142", "+44 20 7946 0958"]

    def test_a_requester_corrects_their_contact_details_and_device_not_severity_or_category(self, desk, p, engine):
        say(desk, p.alice, "new the printer on floor 3 jams on every page")
        say(desk, p.bob, "claim 1")
        assert say(desk, p.alice, "set 1 phone=+1 555 0100 device=LT-0042").text == (
            "Corrected #1: device — → LT-0042, phone +1 555 0142 → +1 555 0100.")
        assert rows(engine, "corrected")[-1]["audience"] == "user:bob@corp.example", "whoever works it is told"
        for line, field in (("set 1 severity=critical", "severity"), ("set 1 category=network", "category"),
                            ("set 1 severity=high category=network", "severity and category")):
            refused = say(desk, p.alice, line)
            assert refused.text == (f"Only technicians can change a ticket's {field}; you can correct its device, "
                                    "location and phone: `set 1 phone=… location=…`.")
        assert stored(engine, 1).severity is Severity.MEDIUM
        assert not say(desk, p.frank, "set 1 phone=+1 555 0199").ok, "not his ticket"

    def test_bad_values_are_refused_with_one_sentence_and_nothing_changes(self, desk, p, engine):
        say(desk, p.alice, "new the printer on floor 3 jams on every page")
        assert say(desk, p.bob, "set 1 severity=urgentish").text == (
            "Nothing was changed: Severity `urgentish` is not one of low, medium, high, critical.")
        assert say(desk, p.bob, "set 1 category=printr").text.startswith(
            "Nothing was changed: Category `printr` is not one of hardware, network, printer, other, wan. Did you mean `printer`?")
        assert say(desk, p.bob, "set 1 phone=12").text.startswith("Nothing was changed: `12` is not a phone number")
        assert say(desk, p.bob, "set 1").text == (
            "Say what to correct: `set <id> [severity=…] [category=…] [device=…] [location=…] [phone=…]`, "
            "for example `set 1 severity=high`.")
        assert say(desk, p.bob, "set 1 severity=medium").text == "#1 already reads that way; nothing was changed."
        assert say(desk, p.bob, "set 1 sevrity=high").text.startswith("`sevrity=` is not something `set` takes")
        assert [e.action for e in stored_events(engine, 1)] == ["opened"]

    def test_raising_to_critical_pages_the_group(self, desk, p, engine):
        say(desk, p.alice, "new the whole floor lost the wifi")
        say(desk, p.bob, "set 1 severity=critical")
        assert [(r["data"]["page"], r["audience"]) for r in rows(engine, "escalation") if r["platform"] == "slack"] == [
            ("critical", "group:service-desk")]

    def test_a_new_category_moves_the_ticket_to_the_first_level_of_its_chain(self, desk, p, engine, clock):
        say(desk, p.alice, "new the line to the Leeds office is down")
        say(desk, p.bob, "claim 1")
        clock.advance(minutes=5)
        reply = say(desk, p.carol, "set 1 category=wan")
        assert reply.text == ("Corrected #1: category other → wan (moved to network-eng). "
                              "It moved to network-eng, unassigned, for them to claim.")
        t = stored(engine, 1)
        assert (t.group, t.escalation_level, t.assignee_id, t.status, t.escalated_at) == (
            "network-eng", 1, None, Status.NEW, clock.now)
        moved = rows(engine, "moved")
        assert [(r["platform"], r["audience"]) for r in moved] == [("slack", "group:network-eng"),
                                                                  ("console", "user:dave@corp.example")]
        assert moved[0]["text"] == ("#1 (medium) is now network-eng's: its category changed to wan. "
                                    "From Alice Park: the line to the Leeds office is down")
        assert rows(engine, "unassigned")[-1]["audience"] == "user:bob@corp.example"
        assert rows(engine, "ticket_changed")[-1]["text"] == (
            "✏️ Carol Diaz corrected it: category other → wan (moved to network-eng)")

    def test_a_new_category_whose_chain_names_the_group_keeps_the_ticket_there(self, desk, p, engine):
        say(desk, p.alice, "new the line to the Leeds office is down")
        say(desk, p.bob, "claim 1")
        say(desk, p.bob, "set 1 category=network")
        t = stored(engine, 1)
        assert (t.group, t.escalation_level, t.assignee_id) == ("service-desk", 1, "bob@corp.example")
        assert rows(engine, "moved") == []


class TestUnassign:
    def test_the_ticket_goes_back_to_its_groups_queue(self, desk, p, engine, clock):
        say(desk, p.alice, "new the vpn drops every ten minutes severity=high")
        say(desk, p.carol, "claim 1")
        clock.advance(minutes=40)
        reply = say(desk, p.bob, "unassign 1")
        assert reply.text == "Unassigned #1; it is back in the service-desk queue."
        t = stored(engine, 1)
        assert (t.assignee_id, t.status, t.escalated_at) == (None, Status.NEW, clock.now)
        assert rows(engine, "unassigned")[-1]["audience"] == "user:carol@corp.example"
        assert rows(engine, "unassigned")[-1]["text"] == (
            "Bob Lee took you off #1; it is back in the service-desk queue: the vpn drops every ten minutes")
        assert rows(engine, "ticket_changed")[-1]["text"] == "↩️ Bob Lee took Carol Diaz off it; back in the service-desk queue."
        assert (t.sla_step, t.sla_next_at) == ("warn", clock.now + timedelta(minutes=25)), \
            "the group has its acknowledgement timeout again before the next level is paged"
        assert say(desk, p.bob, "unassign 1").text == "#1 has nobody on it; it is in the service-desk queue."
        assert not say(desk, p.alice, "unassign 1").ok

    def test_a_waiting_ticket_keeps_waiting(self, desk, p, engine):
        say(desk, p.alice, "new the vpn drops every ten minutes")
        say(desk, p.bob, "wait 1 at home or in the office?")
        say(desk, p.bob, "unassign 1")
        assert (stored(engine, 1).status, stored(engine, 1).assignee_id) == (Status.WAITING, None)
        say(desk, p.alice, "note 1 at home")
        assert stored(engine, 1).status is Status.NEW, "answered with nobody on it: new, not in progress"
        assert [r["audience"] for r in rows(engine, "note")] == ["group:service-desk", "user:carol@corp.example"], \
            "the group hears (Carol, known only by email, at the terminal)"


class TestEscalationState:
    def test_escalating_leaves_the_ticket_new_for_the_group_it_went_to(self, desk, p, engine):
        say(desk, p.alice, "new the vpn drops every ten minutes")
        say(desk, p.bob, "claim 1")
        say(desk, p.bob, "escalate 1 needs the network team")
        t = stored(engine, 1)
        assert (t.status, t.assignee_id, t.group, t.escalation_level) == (Status.NEW, None, "network-eng", 2)
        assert stored_events(engine, 1)[-1].changes["status"] == ["in_progress", "new"]
        assert say(desk, p.dave, "claim 1").ok and stored(engine, 1).status is Status.IN_PROGRESS

    def test_outside_the_chain_is_level_0_paged_again_but_never_moved_on(self, desk, p, engine, clock):
        say(desk, p.alice, "new the printer on floor 3 jams on every page severity=high")
        reply = say(desk, p.bob, "escalate 1 network-eng it drops off the network between jobs")
        assert reply.text == "Escalated #1 to network-eng (outside the printer chain)."
        assert stored(engine, 1).escalation_level == 0
        page = [r for r in rows(engine, "escalation") if r["audience"] == "group:network-eng"][-1]
        assert page["text"].startswith("Escalated to network-eng (outside the printer chain): #1 (high) from Alice Park")
        assert page["data"]["level"] == 0
        for minutes in (31, 31, 31, 31):
            clock.advance(minutes=minutes)
            desk.sweep()
        t = stored(engine, 1)
        assert (t.group, t.escalation_level, t.top_pings) == ("network-eng", 0, 2), "its repeats, at the same group"
        groups = [r["audience"] for r in rows(engine, "escalation") if r["audience"].startswith("group:")]
        assert groups == ["group:network-eng"] * 3
