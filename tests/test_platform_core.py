"""What the core offers chat adapters: retries deduplicated, thread context, forms, routing."""
from __future__ import annotations

import threading

import pytest

from adapters.settings import AppSettings as Settings
from bot.commands import Call, Source
from bot.model import Status
from bot.routing import Router
from tests.conftest import SETTINGS, count_rows, outbox_rows, say, stored, stored_notes


def test_a_retried_request_changes_nothing_the_second_time(desk, people, engine):
    first = desk.handle(people.alice, "new the printer on floor 3 jams", dedupe_key="slack:event:Ev01")
    again = desk.handle(people.alice, "new the printer on floor 3 jams", dedupe_key="slack:event:Ev01")
    assert first.ok and not first.duplicate
    assert again.duplicate and again.text == ""
    assert count_rows(engine, "tickets") == 1
    assert desk.handle(people.alice, "new the printer on floor 3 jams", dedupe_key="slack:event:Ev02").ticket.id == 2


def test_a_retried_refusal_is_not_repeated(desk, people, engine):
    assert not desk.handle(people.alice, "claim 1", dedupe_key="k1").ok
    assert desk.handle(people.alice, "claim 1", dedupe_key="k1").duplicate


def test_concurrent_retries_of_one_request_make_one_ticket(desk, people, engine):
    barrier = threading.Barrier(6)
    replies = []

    def send():
        barrier.wait()
        replies.append(desk.handle(people.alice, "new the printer on floor 3 jams", dedupe_key="slack:event:EvSAME"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert sum(1 for r in replies if r.ok and not r.duplicate) == 1
    assert count_rows(engine, "tickets") == 1


class TestThreadContext:
    @pytest.fixture(autouse=True)
    def ticket(self, desk, people):
        say(desk, people.alice, "new the printer on floor 3 jams")
        say(desk, people.alice, "new the scanner on floor 3 is offline")

    def test_commands_in_a_thread_act_on_its_ticket(self, desk, people, engine):
        assert desk.handle(people.bob, "claim", ticket_id=2).text == "You claimed #2: the scanner on floor 3 is offline."
        assert desk.handle(people.bob, "wait 2 more days until the part arrives?", ticket_id=1).ok
        assert stored_notes(engine, 1)[0].body == "2 more days until the part arrives?"

    def test_the_threads_own_number_may_still_be_typed(self, desk, people, engine):
        assert desk.handle(people.bob, "claim #2", ticket_id=2).ok
        assert stored(engine, 2).assignee_id == "bob@corp.example"

    def test_changes_from_a_thread_are_marked_so_adapters_do_not_echo_them(self, desk, people, engine):
        desk.handle(people.bob, "note the toner was empty", ticket_id=1)
        changed = [r for r in outbox_rows(engine) if r["kind"] == "ticket_changed"]
        assert changed[-1]["data"] == {"action": "note", "from_thread": True}


class TestForms:
    def test_a_form_reports_each_bad_field_by_name(self, desk, people, engine):
        reply = desk.execute(people.alice, Call("new", None, "short", {"severity": "urgent", "category": "plumbing",
                                                                        "device": "x" * 201}, Source.FORM))
        assert not reply.ok
        assert set(reply.field_errors) == {"description", "severity", "category", "device"}
        assert reply.field_errors["severity"] == "Severity `urgent` is not one of low, medium, high, critical."
        assert count_rows(engine, "tickets") == 0

    def test_a_valid_form_opens_the_ticket_and_confirms_by_message(self, desk, people, engine):
        reply = desk.execute(people.alice, Call("new", None, "The docking station does not detect my second screen",
                                                {"severity": "high", "category": "hardware", "device": "LT-0042",
                                                 "location": "Floor 3", "phone": "+44 20 7946 0000", "ignored": "x"},
                                                Source.FORM))
        assert reply.ok
        t = stored(engine, 1)
        assert (t.severity.value, t.category, t.device, t.location) == ("high", "hardware", "LT-0042", "Floor 3")
        assert t.requester.phone == "+44 20 7946 0000", "the requester's correction of their phone is kept on the ticket"
        opened = [r for r in outbox_rows(engine) if r["kind"] == "opened"]
        assert [r["audience"] for r in opened] == ["user:alice@corp.example"]
        assert opened[0]["text"].startswith("Your ticket #1 is open: The docking station does not detect my second screen.")


def test_requester_confirms_the_fix(desk, people, engine):
    say(desk, people.alice, "new the printer on floor 3 jams")
    assert say(desk, people.alice, "confirm 1").text == "#1 is new, not resolved yet, so there is nothing to confirm."
    say(desk, people.bob, "resolve 1 replaced the pickup roller")
    assert say(desk, people.alice, "confirm 1").text == "Thanks! #1 is closed."
    t = stored(engine, 1)
    assert t.status is Status.CLOSED
    assert say(desk, people.alice, "confirm 1").text == "#1 is already closed."


class TestRouting:
    def test_people_are_reached_where_the_bot_runs(self):
        router = Router(Settings.model_validate(SETTINGS))
        assert router.platforms("user:slack:U123") == ["slack"]
        assert router.platforms("user:bob@corp.example") == ["slack"], "Bob is slack:U0BOB as well"
        assert router.platforms("user:alice@corp.example") == ["console"]
        assert router.platforms("group:service-desk") == ["slack"]
        assert router.platforms("group:network-vendor") == [], "a group with no channel is not pinged"
        assert router.platforms("ticket:7") == ["slack"]

    def test_without_chat_platforms_only_the_terminal_gets_messages(self):
        router = Router(Settings.model_validate({k: v for k, v in SETTINGS.items() if k != "slack"}))
        assert router.platforms("user:bob@corp.example") == ["console"]
        assert router.platforms("group:service-desk") == []
        assert router.platforms("ticket:7") == []
