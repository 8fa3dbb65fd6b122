"""Phone and walk-in intake: a technician opens a ticket for a caller in one line."""
from __future__ import annotations

import pytest

from bot.model import Status
from tests.conftest import outbox_rows, say, stored, stored_events


@pytest.fixture
def known(desk, people):
    """People the help desk already knows, from tickets they opened before."""
    for actor, text in ((people.alice, "new my screen flickers when docked"),
                        (people.frank, "new my keyboard misses keystrokes")):
        say(desk, actor, text)
    desk.handle(desk.actor("grace@corp.example", "Grace Hopper", phone="+1 555 0199"), "new the projector in room 2 is dim")
    desk.handle(desk.actor("gary@corp.example", "Gary Hopper", phone="555 0199"), "new my docking station is dead")
    return people


def test_a_technician_opens_a_ticket_for_a_caller_by_phone_number(desk, known, engine):
    reply = say(desk, known.bob, "new for=+1 (555) 0142 the VPN drops every ten minutes severity=high")
    assert reply.ok, reply.text
    assert reply.text.startswith("Opened #5 for Alice Park (via phone): the VPN drops every ten minutes.")
    t = stored(engine, 5)
    assert (t.requester.id, t.requester.name, t.requester.phone) == ("alice@corp.example", "Alice Park", "+1 555 0142")
    assert (t.logged_by_id, t.logged_by_name, t.via) == ("bob@corp.example", "Bob Lee", "phone")
    opened = stored_events(engine, 5)[0]
    assert (opened.actor_id, opened.action) == ("bob@corp.example", "opened")
    assert opened.changes["requester"] == [None, "alice@corp.example"]
    assert opened.changes["logged_by"] == [None, "bob@corp.example"]
    told = [r for r in outbox_rows(engine) if r["kind"] == "opened" and r["ticket_id"] == 5]
    assert told[0]["audience"] == "user:alice@corp.example"
    assert told[0]["text"].startswith("Bob Lee opened ticket #5 for you (phone): the VPN drops every ten minutes")
    assert "We have your phone as +1 555 0142" in told[0]["text"]


def test_by_email_or_name_and_walk_in(desk, known, engine):
    assert say(desk, known.bob, "new for=FRANK@corp.example via=walk-in keyboard misses keys again").ok
    assert stored(engine, 5).requester.id == "frank@corp.example" and stored(engine, 5).via == "walk-in"
    assert say(desk, known.bob, "new for=\"Alice Park\" the dock needs replacing today").ok
    assert stored(engine, 6).requester.id == "alice@corp.example"


def test_a_number_shared_by_several_people_lists_them_instead_of_guessing(desk, known, engine):
    reply = say(desk, known.bob, "new for=555-0199 the projector is dim again")
    assert not reply.ok
    assert reply.text.startswith("`555-0199` matches several people, so I did not guess: ")
    assert "Gary Hopper (gary@corp.example" in reply.text and "Grace Hopper (grace@corp.example" in reply.text
    assert stored(engine, 5) is None


def test_an_unknown_caller_is_refused_with_the_closest_matches(desk, known):
    reply = say(desk, known.bob, "new for=alicia@corp.example the printer is out of toner")
    assert reply.text == ("I can't find `alicia@corp.example` in the directory or among people the help desk knows; "
                          "closest matches: Alice Park (alice@corp.example).")
    assert say(desk, known.bob, "new for=+44 20 7946 0000 the printer is out of toner").text.endswith(
        "look them up with `whois <name, email or phone>` and try again.")


def test_employees_cannot_open_tickets_for_others(desk, known, engine):
    reply = say(desk, known.alice, "new for=frank@corp.example his keyboard is broken again")
    assert reply.text == ("Only technicians can open tickets for someone else; to open it for yourself, "
                          "type `new his keyboard is broken again`.")
    assert stored(engine, 5) is None


def test_bad_channel_is_refused(desk, known):
    assert say(desk, known.bob, "new for=frank@corp.example via=pigeon keyboard broken").text == (
        "via=`pigeon` is not one of phone, walk-in, chat.")


def test_whois_finds_callers_by_name_email_and_digits_only_phone(desk, known):
    found = say(desk, known.bob, "whois hop")
    assert [p.name for p in found.people] == ["Gary Hopper", "Grace Hopper"]
    assert [p.identity for p in say(desk, known.bob, "whois +1 555 0142").people] == ["alice@corp.example"]
    assert [p.name for p in say(desk, known.bob, "whois frank@corp.example").people] == ["Frank Ode"]
    assert say(desk, known.bob, "whois zz-nobody").text.startswith("Nobody matches `zz-nobody`")
    assert not say(desk, known.alice, "whois hop").ok
    assert say(desk, known.bob, "whois %").text.startswith("Nobody matches"), "LIKE wildcards are literal"


def test_known_callers_are_found_by_their_number_as_dialled_at_home(desk, known, engine):
    desk.handle(desk.actor("hana@corp.example", "Hana Mori", phone="+44 20 7946 0018"), "new my headset crackles")
    desk.handle(desk.actor("ivan@corp.example", "Ivan Petrov", phone="07700 900123"), "new my laptop will not wake")
    assert [p.identity for p in say(desk, known.bob, "whois 020 7946 0018").people] == ["hana@corp.example"]
    assert [p.identity for p in say(desk, known.bob, "whois +44 (0)20 7946 0018").people] == ["hana@corp.example"]
    assert [p.identity for p in say(desk, known.bob, "whois +44 7700 900123").people] == ["ivan@corp.example"]
    assert say(desk, known.bob, "whois 020 79").text.startswith("Nobody matches"), "too short to be a number"
    reply = say(desk, known.bob, "new for=020 7946 0018 the headset crackles again")
    assert reply.ok, reply.text
    assert stored(engine, 7).requester.id == "hana@corp.example"
