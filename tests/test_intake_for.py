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
                          "closest matches: Alice Park (alice@corp.example). If this is their first call, "
                          "log it with their name: `name=\"Their Name\"`.")
    assert say(desk, known.bob, "new for=+44 20 7946 0000 the printer is out of toner").text.endswith(
        "look them up with `whois <name, email or phone>` and try again. If this is their first call, "
        "log it with their name: `name=\"Their Name\"`.")


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


def test_a_first_time_caller_is_logged_from_what_the_technician_gives(desk, known, engine):
    reply = say(desk, known.bob, 'new for=Erin@corp.example name="Erin Moss" phone=+1 555 0177 her laptop will not boot')
    assert reply.text.startswith("Opened #5 for Erin Moss (via phone): her laptop will not boot.")
    t = stored(engine, 5)
    assert (t.requester.id, t.requester.name, t.requester.email, t.requester.phone) == (
        "erin@corp.example", "Erin Moss", "erin@corp.example", "+1 555 0177")
    assert (t.logged_by_id, t.via) == ("bob@corp.example", "phone")
    assert stored_events(engine, 5)[0].changes["requester"] == [None, "erin@corp.example"]
    told = [r for r in outbox_rows(engine) if r["ticket_id"] == 5 and r["kind"] == "opened"]
    assert [r["audience"] for r in told] == ["user:erin@corp.example"]
    again = say(desk, known.bob, "new for=erin@corp.example the dock is dead too")
    assert again.ok and stored(engine, 6).requester.name == "Erin Moss", "known from now on"
    assert [p.name for p in say(desk, known.bob, "whois erin").people] == ["Erin Moss"]


def test_a_first_time_caller_known_only_by_phone(desk, known, engine):
    reply = say(desk, known.bob, 'new for=+44 20 7946 0000 name="Ian Hall" via=walk-in the projector in room 4 is dead')
    assert reply.text.startswith("Opened #5 for Ian Hall (via walk-in)")
    t = stored(engine, 5)
    assert (t.requester.id, t.requester.email, t.requester.phone) == ("tel:+442079460000", None, "+44 20 7946 0000")
    assert not [r for r in outbox_rows(engine) if r["ticket_id"] == 5 and r["audience"].startswith("user:tel:")], \
        "nobody can read a message sent to a phone number; the technician tells them on the phone"
    assert [p.identity for p in say(desk, known.bob, "whois +44 20 7946 0000").people] == ["tel:+442079460000"]


def test_a_known_caller_keeps_their_name_and_a_bare_name_is_not_enough(desk, known, engine):
    assert say(desk, known.bob, 'new for=frank@corp.example name="Francis O." keyboard misses keys again').ok
    assert stored(engine, 5).requester.name == "Frank Ode", "the directory and the records win"
    refused = say(desk, known.bob, 'new for="Erin Moss" name="Erin Moss" her laptop will not boot')
    assert refused.text == ("To log a first-time caller, give their email or phone number with for= (`Erin Moss` is "
                            "neither) and their name with name=.")
    assert say(desk, known.alice, 'new name="Alice" my screen flickers').text == (
        "name= names a caller you log with for=; to open a ticket for yourself, leave it out.")
    assert stored(engine, 6) is None


def test_help_new_shows_technicians_for_name_and_via(desk, known):
    tech = say(desk, known.bob, "help new").help
    assert [h.usage for h in tech] == ["new <description> [severity=… category=… device=… location=… phone=…]",
                                       'new for=<email|phone|name> [name="…"] [via=phone|walk-in|chat] <description> …']
    assert [h.usage for h in say(desk, known.alice, "help new").help] == [tech[0].usage]
    listed = [h.usage for h in say(desk, known.bob, "help").help]
    assert listed[:2] == [h.usage for h in tech]
    assert not any("for=" in h.usage for h in say(desk, known.alice, "help").help)
