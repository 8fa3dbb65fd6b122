"""Slack: a technician on a call opens the caller's ticket in one line or one form."""
from __future__ import annotations

import pytest

from tests.conftest import stored, stored_events
from tests.slack_harness import LiveSlack


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def test_one_line_with_a_mention_opens_the_callers_ticket_and_tells_them(live, engine):
    answer = live.slash("U0BOB", "new for=<@U0ALICE|alice> the VPN drops every ten minutes severity=high").json()
    assert answer["text"].startswith("Opened #1 for Alice Park (via phone): the VPN drops every ten minutes.")
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.email, t.logged_by_name, t.via) == ("slack:U0ALICE", "alice@corp.example", "Bob Lee", "phone")
    opened = stored_events(engine, 1)[0]
    assert opened.actor_id == "slack:U0BOB" and opened.changes["requester"] == [None, "slack:U0ALICE"]
    live.settled()
    dm = live.slack.messages(live.slack.dm_channel("U0ALICE"))[-1]
    assert dm["text"].startswith("Bob Lee opened ticket #1 for you (phone): the VPN drops every ten minutes")
    card = live.slack.messages("C0DESK")[0]
    assert "Opened by <@U0BOB> (phone)" in str(card["blocks"])


def test_employees_are_refused_for(live, engine):
    answer = live.slash("U0FRANK", "new for=<@U0ALICE> her laptop is broken").json()
    assert answer["text"].startswith("Only technicians can open tickets for someone else")
    assert stored(engine, 1) is None


def test_the_form_has_a_caller_field_for_technicians_only(live, engine):
    live.slash("U0FRANK")
    employee_view = live.eventually(lambda: live.slack.views())[-1]
    assert "requester" not in [b.get("block_id") for b in employee_view["blocks"]]
    live.slash("U0BOB")
    view = live.eventually(lambda: len(live.slack.views()) == 2 and live.slack.views()[-1])
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["requester"]["element"]["type"] == "users_select"
    assert blocks["requester_text"]["element"]["type"] == "plain_text_input"
    response = live.submit("U0BOB", view, {"requester": "U0ALICE", "via": "walk-in",
                                           "description": "Her docking station no longer charges the laptop"})
    assert response.status == 200 and response.body == b"", response.body
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.via, t.logged_by_name) == ("slack:U0ALICE", "Alice Park", "walk-in", "Bob Lee")


def test_a_caller_typed_in_who_is_unknown_is_refused_on_the_field(live, engine):
    live.slash("U0BOB")
    view = live.eventually(lambda: live.slack.views())[-1]
    response = live.submit("U0BOB", view, {"requester_text": "nobody-known@corp.example",
                                           "description": "Printer on floor 3 jams on every page"})
    assert response.json()["response_action"] == "errors"
    assert response.json()["errors"]["requester"].startswith("I can't find `nobody-known@corp.example`")
    assert stored(engine, 1) is None
