"""A ticket's whole life through the grammar, checked in replies and in storage, on SQLite and PostgreSQL."""
from __future__ import annotations

from bot.history import sentence
from bot.model import Severity, Status
from tests.conftest import outbox_rows, say, stored, stored_events, stored_notes


def test_open_claim_wait_answer_escalate_resolve_reopen_close(desk, people, engine, clock):
    p = people
    opened = say(desk, p.alice, 'new VPN drops every 10 minutes since Monday severity=high device=LT-0042 location="Floor 3, desk 12"')
    assert opened.ok, opened.text
    assert opened.text.startswith("Opened #1 (high, network) for service-desk: VPN drops every 10 minutes since Monday.")
    assert "First response target: 1 h." in opened.text
    t = stored(engine, 1)
    assert (t.status, t.severity, t.category, t.group, t.escalation_level) == (Status.NEW, Severity.HIGH, "network", "service-desk", 1)
    assert (t.device, t.location) == ("LT-0042", "Floor 3, desk 12")
    assert (t.requester.id, t.requester.name, t.requester.phone, t.requester.department, t.requester.office) == (
        "alice@corp.example", "Alice Park", "+1 555 0142", "Finance", "Floor 3")
    assert t.created_at == clock.now

    clock.advance(minutes=12)
    claimed = say(desk, p.bob, "claim #1")
    assert claimed.ok and claimed.text == "You claimed #1: VPN drops every 10 minutes since Monday."
    t = stored(engine, 1)
    assert (t.status, t.assignee_id, t.assignee_name) == (Status.IN_PROGRESS, "bob@corp.example", "Bob Lee")
    assert t.first_response_at == clock.now

    say(desk, p.bob, "internal 1 her laptop is on the old VPN client")
    asked = say(desk, p.bob, "wait 1 does it also drop on the office Wi-Fi or only at home?")
    assert asked.ok and stored(engine, 1).status is Status.WAITING

    answered = say(desk, p.alice, "note 1 only at home, the office is fine")
    assert answered.ok and answered.text == "Added a note to #1."
    assert stored(engine, 1).status is Status.IN_PROGRESS, "the requester's answer puts the ticket back in progress"

    clock.advance(minutes=30)
    escalated = say(desk, p.bob, "escalate 1 home router MTU issue, needs network engineering")
    assert escalated.ok and escalated.text == "Escalated #1 to network-eng (level 2)."
    t = stored(engine, 1)
    assert (t.group, t.escalation_level, t.assignee_id) == ("network-eng", 2, None)

    say(desk, p.dave, "claim 1")
    clock.advance(hours=1)
    resolved = say(desk, p.dave, "resolve 1 lowered the MTU on the VPN profile to 1400; stable for an hour")
    assert resolved.ok
    t = stored(engine, 1)
    assert (t.status, t.resolution, t.resolved_at) == (
        Status.RESOLVED, "lowered the MTU on the VPN profile to 1400; stable for an hour", clock.now)

    clock.advance(hours=2)
    reopened = say(desk, p.alice, "reopen 1 dropped again twice this evening")
    assert reopened.ok and reopened.text == "Reopened #1; it is back in progress."
    t = stored(engine, 1)
    assert (t.status, t.resolution, t.resolved_at, t.assignee_id) == (Status.IN_PROGRESS, None, None, "dave@corp.example")

    say(desk, p.dave, "resolve 1 replaced the home router's firmware; no drops for 24 hours")
    closed = say(desk, p.dave, "close 1")
    assert closed.ok and closed.text == "Closed #1."
    t = stored(engine, 1)
    assert t.status is Status.CLOSED and t.closed_at == clock.now

    notes = stored_notes(engine, 1)
    assert [(n.author_name, n.internal, n.body) for n in notes] == [
        ("Bob Lee", True, "her laptop is on the old VPN client"),
        ("Bob Lee", False, "does it also drop on the office Wi-Fi or only at home?"),
        ("Alice Park", False, "only at home, the office is fine"),
        ("Bob Lee", True, "Escalated to network-eng (level 2): home router MTU issue, needs network engineering"),
        ("Alice Park", False, "Reopened: dropped again twice this evening"),
    ]

    events = stored_events(engine, 1)
    assert [(e.actor_id, e.action) for e in events] == [
        ("alice@corp.example", "opened"), ("bob@corp.example", "claimed"), ("bob@corp.example", "internal_note"),
        ("bob@corp.example", "waiting"), ("alice@corp.example", "note"), ("bob@corp.example", "escalated"),
        ("dave@corp.example", "claimed"), ("dave@corp.example", "resolved"), ("alice@corp.example", "reopened"),
        ("dave@corp.example", "resolved"), ("dave@corp.example", "closed"),
    ]
    by_action = {e.action: e for e in reversed(events)}  # first of each
    assert by_action["claimed"].changes["status"] == ["new", "in_progress"]
    assert by_action["claimed"].changes["assignee_id"] == [None, "bob@corp.example"]
    assert by_action["escalated"].changes["group"] == ["service-desk", "network-eng"]
    assert by_action["escalated"].changes["escalation_level"] == [1, 2]
    assert by_action["escalated"].changes["reason"] == [None, "home router MTU issue, needs network engineering"]
    assert by_action["reopened"].changes["previous_resolution"][0].startswith("lowered the MTU")
    assert all(e.at.tzinfo is not None for e in events)

    rows = outbox_rows(engine)
    sent = [(r["platform"], r["kind"], r["audience"]) for r in rows if r["kind"] != "ticket_changed"]
    assert sent == [
        ("slack", "new_ticket", "group:service-desk"),
        ("console", "claimed", "user:alice@corp.example"),
        ("console", "question", "user:alice@corp.example"),
        ("slack", "note", "user:bob@corp.example"),  # Bob is slack:U0BOB too, and Slack is running
        ("slack", "escalation", "group:network-eng"),
        ("console", "escalation", "user:dave@corp.example"),  # Dave has no Slack id: he hears at the terminal
        ("console", "claimed", "user:alice@corp.example"),
        ("console", "resolved", "user:alice@corp.example"),
        ("console", "reopened", "user:dave@corp.example"),
        ("console", "resolved", "user:alice@corp.example"),
    ]
    lines = [r["text"] for r in rows if r["kind"] == "ticket_changed"]
    assert lines == [
        "🙋 Bob Lee claimed it.",
        "🔒 Bob Lee added an internal note.",
        "❓ Bob Lee asked the requester: does it also drop on the office Wi-Fi or only at home?",
        "💬 Alice Park: only at home, the office is fine",
        "⏫ Bob Lee escalated it to network-eng (level 2): home router MTU issue, needs network engineering",
        "🙋 Dave Kim claimed it.",
        "✅ Dave Kim resolved it: lowered the MTU on the VPN profile to 1400; stable for an hour",
        "↩️ Alice Park reopened it: dropped again twice this evening",
        "✅ Dave Kim resolved it: replaced the home router's firmware; no drops for 24 hours",
        "📦 Dave Kim closed it.",
    ]
    assert {r["audience"] for r in rows if r["kind"] == "ticket_changed"} == {"ticket:1"}
    ping = next(r for r in rows if r["kind"] == "escalation")
    assert "Escalated to network-eng (level 2): #1 (high) from Alice Park, waiting 42 min" in ping["text"]
    assert ping["data"] == {"level": 2, "reason": "home router MTU issue, needs network engineering", "page": "escalated"}


def test_show_gives_requester_public_notes_and_technician_everything(desk, people):
    say(desk, people.alice, "new my screen flickers when docked")
    say(desk, people.bob, "internal 1 known issue with dock firmware 1.2")
    say(desk, people.bob, "note 1 updating the dock firmware now")
    for_alice = say(desk, people.alice, "show 1")
    assert [n.body for n in for_alice.notes] == ["updating the dock firmware now"]
    assert for_alice.events == ()
    for_bob = say(desk, people.bob, "show 1")
    assert [n.body for n in for_bob.notes] == ["known issue with dock firmware 1.2", "updating the dock firmware now"]
    assert [e.action for e in for_bob.events] == ["opened", "internal_note", "note"]


def test_mine_and_queue_sort_most_urgent_first(desk, people, clock):
    say(desk, people.alice, "new the wifi on floor 2 is slow severity=low")
    clock.advance(minutes=1)
    say(desk, people.frank, "new the whole office lost wifi severity=critical")
    clock.advance(minutes=1)
    say(desk, people.alice, "new laptop will not charge anymore severity=high")
    say(desk, people.bob, "claim 3")

    mine = say(desk, people.alice, "mine")
    assert [t.id for t in mine.sections[0].tickets] == [3, 1]
    assert len(mine.sections) == 1, "employees see only their own tickets"

    queue = say(desk, people.bob, "queue")
    assert [(t.id, t.severity.value) for t in queue.sections[0].tickets] == [(2, "critical"), (3, "high"), (1, "low")]
    assert [t.id for t in say(desk, people.bob, "queue critical").sections[0].tickets] == [2]
    assert [t.id for t in say(desk, people.bob, "queue network").sections[0].tickets] == [2, 1]
    assert [t.id for t in say(desk, people.bob, "queue service-desk").sections[0].tickets] == [2, 3, 1]
    assert say(desk, people.bob, "queue network-eng").sections[0].tickets == ()

    bobs = say(desk, people.bob, "mine")
    assert [s.title for s in bobs.sections] == ["Your tickets", "Assigned to you"]
    assert [t.id for t in bobs.sections[1].tickets] == [3]


def test_queue_flags_tickets_past_their_targets(desk, people, clock):
    say(desk, people.alice, "new the whole office lost internet severity=critical")
    clock.advance(minutes=20)
    queue = say(desk, people.bob, "queue")
    assert queue.flags == {1: ("response overdue",)}
    say(desk, people.bob, "claim 1")
    clock.advance(hours=5)
    assert say(desk, people.bob, "queue").flags == {1: ("resolution overdue",)}


def test_category_is_guessed_from_the_description_when_not_given(desk, people):
    assert say(desk, people.alice, "new the printer jams on every page").ticket.category == "printer"
    assert say(desk, people.alice, "new cannot reach anything over the VPN").ticket.category == "network"
    assert say(desk, people.alice, "new something odd happened to my chair").ticket.category == "other"
    assert say(desk, people.alice, "new the printer jams again category=hardware").ticket.category == "hardware"


def test_assign_hands_over_and_tells_the_new_assignee(desk, people, engine):
    say(desk, people.alice, "new laptop fan is very loud all day")
    assert say(desk, people.bob, "assign 1 carol").text == "Assigned #1 to Carol Diaz."
    t = stored(engine, 1)
    assert (t.assignee_id, t.status) == ("carol@corp.example", Status.IN_PROGRESS)
    assert say(desk, people.bob, "assign 1 Carol Diaz").text == "#1 is already assigned to Carol Diaz."
    assert say(desk, people.bob, "assign 1 me").ok
    assert stored(engine, 1).assignee_id == "bob@corp.example"
    assert ("assigned", "user:carol@corp.example") in [(r["kind"], r["audience"]) for r in outbox_rows(engine)]


def test_escalate_to_a_named_group_and_past_the_top(desk, people, engine):
    say(desk, people.alice, "new vpn certificate expired, cannot connect")
    assert say(desk, people.bob, "escalate 1 network-vendor their cert service is down").text == "Escalated #1 to network-vendor (level 3)."
    top = say(desk, people.bob, "escalate 1 still not fixed")
    assert not top.ok
    assert top.text.startswith("#1 is already at the top of its escalation chain (network-vendor, level 3)")
    same = say(desk, people.bob, "escalate 1 network-vendor again")
    assert not same.ok and "already with network-vendor" in same.text
    off_chain = say(desk, people.bob, "escalate 1 security-ops the certificate may have been stolen")
    assert off_chain.text == "Escalated #1 to security-ops (outside the network chain)."
    t = stored(engine, 1)
    assert (t.group, t.escalation_level, t.status, t.assignee_id) == ("security-ops", 0, Status.NEW, None)
    assert stored_events(engine, 1)[-1].changes["escalation_level"] == [3, 0]
    assert say(desk, people.bob, "show 1").ticket.escalation_level == 0
    onward = say(desk, people.bob, "escalate 1 nobody there")
    assert onward.text.startswith("#1 is with security-ops, outside the network chain, so it has no next level; "
                                  "name a group: `escalate 1 <group> <reason>`")
    back = say(desk, people.bob, "escalate 1 network-eng back to the network team")
    assert back.text == "Escalated #1 to network-eng (level 2)."


def test_a_requester_served_without_a_profile_gets_their_details_once_known(desk, people, engine):
    """A surge's tickets, opened with only the chat id and username (the profile look-up refused):
    once the profile comes, that person's open tickets get the contact details, keeping a phone
    they typed, and nobody else's change; it is done once, the history says so, and their email
    is linked to them, so they are one person."""
    bare = desk.actor("slack:U0UNA", name="una", platform="slack")
    say(desk, bare, "new VPN drops every few minutes phone=+44 20 7946 0000")
    say(desk, desk.actor("slack:U0VIC", name="vic", platform="slack"), "new VPN drops for me too")
    say(desk, bare, "new Outlook will not start")
    known = desk.actor("slack:U0UNA", name="Una Nine", email="una@corp.example", phone="+1 555 0100",
                       department="Finance", platform="slack")
    assert sorted(desk.complete_requester(known)) == [1, 3]
    assert desk.complete_requester(known) == [], "done once"
    r = stored(engine, 1).requester
    assert (r.id, r.name, r.email, r.phone, r.department) == ("slack:U0UNA", "Una Nine", "una@corp.example",
                                                              "+44 20 7946 0000", "Finance")
    assert stored(engine, 3).requester.phone == "+1 555 0100"
    assert (stored(engine, 2).requester.name, stored(engine, 2).requester.email) == ("vic", None)
    assert sentence(stored_events(engine, 1)[-1]) == (
        "The requester's contact details came from their profile; name una → Una Nine, email — → una@corp.example, "
        "department — → Finance")
    by_email = desk.actor("una@corp.example", platform="terminal")
    assert sorted(t.id for t in desk.open_tickets_of(by_email)) == [1, 3]


def test_technician_identities_from_config_are_one_person(desk, people, engine):
    """Bob in Slack (slack:U0BOB) and Bob in the terminal are the same technician."""
    say(desk, people.alice, "new laptop will not boot past the logo")
    slack_bob = desk.actor("slack:U0BOB", platform="slack")
    assert desk.is_technician(slack_bob)
    say(desk, slack_bob, "claim 1")
    assert say(desk, people.bob, "claim 1").text == "#1 is already yours."
