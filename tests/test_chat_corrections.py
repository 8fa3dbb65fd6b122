"""Issue 18 in chat, over real HTTP against the fake Slack and the fake Bot Connector: a paused
clock on the card, corrections (`set`, `unassign`, a category that moves the ticket), and a
first-time caller logged by a technician."""
from __future__ import annotations

import json

import pytest

from bot.model import Severity, Status
from tests.conftest import SETTINGS, stored
from tests.slack_harness import DESK_CHANNEL, NET_CHANNEL, LiveSlack
from tests.teams_harness import DESK, NET, LiveTeams, card_content, texts

CATEGORIES = {**SETTINGS["categories"], "wan": {"escalation": ["network-eng", "network-vendor"], "keywords": ["mpls"]}}


class TestSlack:
    @pytest.fixture
    def live(self, engine):
        server = LiveSlack(engine, {"categories": CATEGORIES}).start()
        yield server
        server.stop()

    def card(self, live: LiveSlack) -> str:
        """The ticket's card as Slack shows it now, as JSON text."""
        return json.dumps(live.slack.messages(DESK_CHANNEL)[0]["blocks"], ensure_ascii=False)

    def open(self, live: LiveSlack) -> None:
        assert live.slash("U0ALICE", "new the printer on floor 3 jams on every page severity=high").status == 200
        live.settled()

    def test_the_card_and_the_queue_say_the_clock_is_paused(self, live, engine):
        self.open(live)
        assert live.slash("U0BOB", "wait 1 which tray do you print from?").json()["text"].startswith("Asked the requester")
        live.settled()
        paused_at = stored(engine, 1).paused_at
        assert f"⏸ SLA clock paused since <!date^{int(paused_at.timestamp())}^" in self.card(live)
        queue = live.slash("U0BOB", "queue").json()["text"]
        assert "waiting on requester · Bob Lee · paused since " in queue
        shown = live.slash("U0BOB", "show 1").json()["text"]
        assert "· ⏸ paused since " in shown
        live.say("U0ALICE", "Tray 2, the big one", live.slack.dm_channel("U0ALICE"), channel_type="im")
        live.eventually(lambda: stored(engine, 1).status is Status.IN_PROGRESS)
        live.settled()
        assert "paused since" not in self.card(live), "the clock runs again"

    def test_set_corrects_the_ticket_and_its_card_and_unassign_frees_it(self, live, engine):
        self.open(live)
        live.slash("U0BOB", "claim 1")
        answer = live.slash("U0BOB", "set 1 severity=critical location=\"Floor 3, room 12\"").json()["text"]
        assert answer == "Corrected #1: severity high → critical, location — → Floor 3, room 12."
        live.settled()
        card = self.card(live)
        assert "critical" in card and "Floor 3, room 12" in card
        card_ts = live.slack.messages(DESK_CHANNEL)[0]["ts"]
        thread = [m["text"] for m in live.slack.replies(DESK_CHANNEL, card_ts)]
        assert "✏️ Bob Lee corrected it: severity high → critical, location — → Floor 3, room 12" in thread
        assert any(m["text"].startswith("Critical ticket for service-desk: #1") for m in live.slack.messages(DESK_CHANNEL))
        refused = live.slash("U0ALICE", "set 1 severity=low").json()["text"]
        assert refused.startswith("Only technicians can change a ticket's severity")
        assert live.slash("U0BOB", "unassign 1").json()["text"] == "Unassigned #1; it is back in the service-desk queue."
        live.settled()
        assert "ticket:claim" in self.card(live), "the card offers Claim again"

    def test_a_new_category_moves_the_ticket_to_its_group(self, live, engine):
        self.open(live)
        live.slash("U0BOB", "set 1 category=wan")
        live.settled()
        assert (stored(engine, 1).group, stored(engine, 1).assignee_id) == ("network-eng", None)
        told = live.slack.messages(NET_CHANNEL)[-1]["text"]
        assert told.startswith("#1 (high) is now network-eng's: its category changed to wan.")
        assert f"/archives/{DESK_CHANNEL}/p" in told, "with a link to the ticket's one card and thread"
        assert "network-eng · level 1" in self.card(live)

    def test_a_technician_logs_a_first_time_caller(self, live, engine):
        answer = live.slash("U0BOB", 'new for=erin@corp.example name="Erin Moss" her laptop will not boot').json()
        assert answer["text"].startswith("Opened #1 for Erin Moss (via phone): her laptop will not boot.")
        assert (stored(engine, 1).requester.id, stored(engine, 1).requester.name) == ("erin@corp.example", "Erin Moss")

    def test_the_intake_form_takes_a_first_time_callers_name(self, live, engine):
        live.slash("U0BOB")
        view = live.eventually(lambda: live.slack.views())[-1]
        fields = [b.get("block_id") for b in view["blocks"]]
        assert fields.index("requester_name") == fields.index("requester_text") + 1
        unknown = live.submit("U0BOB", view, {"requester_text": "erin@corp.example",
                                              "description": "Her laptop will not boot since the update"})
        assert unknown.json()["errors"]["requester"].endswith(
            'If this is their first call, log it with their name: `name="Their Name"`.')
        response = live.submit("U0BOB", view, {"requester_text": "erin@corp.example", "requester_name": "Erin Moss",
                                               "description": "Her laptop will not boot since the update"})
        assert response.status == 200 and response.body == b"", response.body
        assert (stored(engine, 1).requester.name, stored(engine, 1).logged_by_name) == ("Erin Moss", "Bob Lee")


class TestTeams:
    @pytest.fixture
    def live(self, engine):
        server = LiveTeams(engine, {"categories": CATEGORIES}).start()
        yield server
        server.stop()

    def open(self, live: LiveTeams):
        assert live.post(live.personal("alice", "new the printer on floor 3 jams on every page severity=high")).status == 201
        live.settled()
        return live.card()

    def said(self, live: LiveTeams, user: str, line: str) -> str:
        """What the bot answers `user` in their personal chat after `line`."""
        before = len(live.chat(user))
        assert live.post(live.personal(user, line)).status == 201
        answer = live.eventually(lambda: live.chat(user)[before:])[-1]
        return answer.activity.get("text") or texts(card_content(answer))

    def shown(self, live: LiveTeams, card) -> str:
        return texts(card_content(live.connector.posts[card.id]))

    def test_the_card_says_the_clock_is_paused_and_set_corrects_it(self, live, engine):
        card = self.open(live)
        assert self.said(live, "bob", "wait 1 which tray do you print from?").startswith("Asked the requester")
        live.settled()
        stamp = stored(engine, 1).paused_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"⏸ SLA clock paused since {{{{DATE({stamp}, SHORT)}}}}" in self.shown(live, card)
        assert "paused since" in self.said(live, "bob", "queue")
        assert self.said(live, "bob", "set 1 severity=critical") == "Corrected #1: severity high → critical."
        live.settled()
        assert "Severity: 🔴 critical" in self.shown(live, card)
        assert stored(engine, 1).severity is Severity.CRITICAL
        assert self.said(live, "bob", "unassign 1") == "Unassigned #1; it is back in the service-desk queue."

    def test_a_new_category_moves_the_ticket_to_its_group(self, live, engine):
        card = self.open(live)
        self.said(live, "bob", "set 1 category=wan")
        live.settled()
        moved = [p for p in live.connector.sent() if p.conversation.startswith(NET)
                 and "is now network-eng" in (p.activity.get("text") or "")]
        assert len(moved) == 1 and "its category changed to wan" in moved[0].activity["text"]
        assert "Group: network-eng · level 1" in self.shown(live, card)
        assert [c for c in live.cards_in(DESK)] and not live.cards_in(NET), "one card, updated where it is"

    def test_a_technician_logs_a_first_time_caller(self, live, engine):
        answer = self.said(live, "bob", 'new for=erin@corp.example name="Erin Moss" her laptop will not boot')
        assert answer.startswith("Opened #1 for Erin Moss (via phone): her laptop will not boot.")
        assert stored(engine, 1).requester.name == "Erin Moss"
