"""One chat layer for every platform: what people write reaches the ticket intact, one person is
one requester on every platform, and Slack and Teams decide nothing of their own."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.chat.interactions import Interactions
from adapters.chat.outcomes import Acknowledged, Answer, CardRefreshed, Refusal, ShowForm
from bot.model import Status
from storage.database import downgrade, make_engine, upgrade
from tests.conftest import say, stored, stored_notes
from tests.slack_harness import DESK_CHANNEL, LiveSlack
from tests.teams_harness import DESK, LiveTeams

ROOT = Path(__file__).resolve().parent.parent
NOTES = [("2 more monitors are dead on the same desk", False), ("2 spare docks are in the store room", True)]


def open_two(desk, people) -> None:
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    say(desk, people.alice, "new my monitor stays black after the docking station update")


class TestThreadRepliesKeepTheirText:
    """A reply in #2's thread that starts with a number is a note about #2, every word of it kept."""

    def test_in_slack(self, engine):
        live = LiveSlack(engine).start()
        try:
            for text_ in ("The printer on floor 3 jams on every page", "My monitor stays black after the dock update"):
                live.slash("U0ALICE", f"new {text_}")
            live.settled()  # the cards are posted and known
            card = live.slack.messages(DESK_CHANNEL)[1]
            assert card["text"].startswith("#2 ")
            ts, _ = live.say("U0BOB", "2 more monitors are dead on the same desk", DESK_CHANNEL, thread_ts=card["ts"])
            live.eventually(lambda: live.slack.reactions(DESK_CHANNEL, ts) == ["white_check_mark"])
            ts2, _ = live.say("U0BOB", "// 2 spare docks are in the store room", DESK_CHANNEL, thread_ts=card["ts"])
            live.eventually(lambda: live.slack.reactions(DESK_CHANNEL, ts2) == ["lock"])
            assert [(n.body, n.internal) for n in stored_notes(engine, 2)] == NOTES
            assert stored_notes(engine, 1) == []
        finally:
            live.stop()

    def test_in_teams(self, engine):
        live = LiveTeams(engine).start()
        try:
            for text_ in ("The printer on floor 3 jams on every page", "My monitor stays black after the dock update"):
                live.post(live.personal("alice", f"new {text_}"))
            live.settled()  # the cards are posted and known
            card = live.card(DESK, 1)
            live.post(live.channel("bob", "2 more monitors are dead on the same desk", root=card.id))
            live.post(live.channel("bob", "// 2 spare docks are in the store room", root=card.id))
            assert [(n.body, n.internal) for n in stored_notes(engine, 2)] == NOTES
            assert stored_notes(engine, 1) == []
        finally:
            live.stop()

    def test_a_typed_command_in_a_thread_still_takes_its_ticket_number(self, desk, people, engine):
        open_two(desk, people)
        assert desk.handle(people.bob, "note 2 checked the cable", ticket_id=2).ok
        assert [n.body for n in stored_notes(engine, 2)] == ["checked the cable"]


class TestOnePersonOnEveryPlatform:
    def test_tickets_opened_in_slack_are_alices_in_teams_and_in_the_terminal(self, desk, engine):
        in_slack = desk.actor("slack:U0ALICE", "Alice Park", email="alice@corp.example", platform="slack")
        in_teams = desk.actor("teams:aad-0000-alice", "Alice Park", email="Alice@Corp.Example", platform="teams")
        in_terminal = desk.actor("alice@corp.example")
        assert say(desk, in_slack, "new the VPN drops every ten minutes").ticket.id == 1
        assert say(desk, in_teams, "new Outlook asks for my password again").ticket.id == 2
        for alice in (in_slack, in_teams, in_terminal):
            mine = say(desk, alice, "mine")
            assert [t.id for t in mine.sections[0].tickets] == [1, 2], alice.id
            assert say(desk, alice, "show 1").ok and say(desk, alice, "note 2 it happens on Wi-Fi too").ok

    def test_someone_else_still_sees_nothing(self, desk, people):
        alice = desk.actor("slack:U0ALICE", "Alice Park", email="alice@corp.example", platform="slack")
        say(desk, alice, "new the VPN drops every ten minutes")
        frank = desk.actor("teams:aad-0000-frank", "Frank Ode", email="frank@corp.example", platform="teams")
        assert say(desk, frank, "show 1").text == "There is no ticket #1 that you can see; type `mine` to list yours."

    def test_an_identity_first_seen_without_an_email_joins_the_person_once_it_has_one(self, desk, engine):
        bare = desk.actor("slack:U0ALICE", "U0ALICE", platform="slack")  # users.info was down
        say(desk, bare, "new the VPN drops every ten minutes")
        assert say(desk, desk.actor("alice@corp.example"), "show 1").text.startswith("There is no ticket #1")
        say(desk, desk.actor("alice@corp.example"), "new my screen flickers when docked")
        # the next thing she asks in the chat app, now with her profile's email, joins the two
        desk.handle(desk.actor("slack:U0ALICE", "Alice Park", email="alice@corp.example", platform="slack"), "mine",
                    dedupe_key="slack:command:1.trigger")
        assert say(desk, desk.actor("alice@corp.example"), "show 1").ok

    def test_technicians_are_recognised_on_a_platform_the_config_does_not_list(self, desk, people):
        say(desk, people.alice, "new the VPN drops every ten minutes")
        carol_in_teams = desk.actor("teams:aad-0000-carol", "Carol Diaz", email="carol@corp.example", platform="teams")
        assert say(desk, carol_in_teams, "claim 1").ok

    def test_the_migration_joins_the_requesters_already_stored(self, tmp_path, settings, clock):
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        try:
            upgrade(engine, "0008")
            with engine.begin() as conn:
                for n, (rid, name, email) in enumerate([("slack:U0ALICE", "Alice P.", "alice@corp.example"),
                                                        ("alice@corp.example", "Alice Park", "Alice@Corp.Example"),
                                                        ("teams:aad-0000-alice", "Alice Park", "alice@corp.example"),
                                                        ("frank@corp.example", "Frank Ode", None)], start=1):
                    conn.execute(text(
                        "INSERT INTO tickets (id, requester_id, requester_name, requester_email, description, category,"
                        " severity, status, escalation_level, origin, via, created_at, updated_at, version, top_pings,"
                        " overdue_noticed) VALUES (:id, :rid, :name, :email, 'old problem', 'other', 'medium', 'new',"
                        " 1, 'console', 'chat', '2026-03-01 09:00:00', '2026-03-01 09:00:00', 1, 0, 0)"),
                        {"id": n, "rid": rid, "name": name, "email": email})
            upgrade(engine)
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT p.name, i.identity FROM identities i JOIN people p ON p.id = i.person_id"
                                         " ORDER BY i.identity")).all()
            people_ = {}
            for name, identity in rows:
                people_.setdefault(name, set()).add(identity)
            assert people_ == {"Alice Park": {"slack:U0ALICE", "alice@corp.example", "teams:aad-0000-alice"},
                               "Frank Ode": {"frank@corp.example"}}
            from bot.desk import Desk
            from storage.repository import SqlStore

            desk = Desk(settings, SqlStore(engine), clock=clock)
            assert [t.id for t in say(desk, desk.actor("teams:aad-0000-alice"), "mine").sections[0].tickets] == [1, 2, 3]
            downgrade(engine, "0008")  # and back
        finally:
            engine.dispose()


class TestOneDecisionForEveryPlatform:
    def test_a_button_press_and_a_form_go_through_the_chat_layer(self, desk, people, engine):
        import asyncio

        chat = Interactions(desk)
        say(desk, people.alice, "new the printer on floor 3 jams on every page")
        card = {"ticket_id": 1, "where": "card"}
        assert isinstance(asyncio.run(chat.press(people.alice, "claim", card)), Refusal)
        claimed = asyncio.run(chat.press(people.bob, "claim", card, key="press-1"))
        assert isinstance(claimed, CardRefreshed) and claimed.ticket.assignee_name == "Bob Lee"
        again = asyncio.run(chat.press(people.bob, "claim", card, key="press-1"))
        assert isinstance(again, CardRefreshed), "the same press delivered twice counts once"
        form = asyncio.run(chat.press(people.bob, "resolve", card))
        assert isinstance(form, ShowForm) and form.form.command == "resolve"
        refused = asyncio.run(chat.press(people.alice, "escalate", card))
        assert isinstance(refused, Refusal) and refused.text.startswith("Only technicians can escalate tickets")
        done = asyncio.run(chat.submit(people.bob, form.context.as_data(), {"text": "replaced the fuser unit"}))
        assert isinstance(done, CardRefreshed) and stored(engine, 1).status is Status.RESOLVED
        assert isinstance(asyncio.run(chat.press(people.bob, "resolve", card)), Refusal), "resolved: no form"

    def test_a_direct_message_answers_the_ticket_waiting_on_the_requester(self, desk, people, engine):
        import asyncio

        chat = Interactions(desk)
        open_two(desk, people)
        say(desk, people.bob, "wait 2 which dock model is it?")
        outcome = asyncio.run(chat.line(people.alice, "2 of them: the WD19 and the WD22", free="answer"))
        assert isinstance(outcome, Acknowledged) and outcome.mark == "note"
        assert stored_notes(engine, 2)[-1].body == "2 of them: the WD19 and the WD22"
        assert stored(engine, 2).status is Status.IN_PROGRESS
        which = asyncio.run(chat.line(people.alice, "any news?", free="answer"))
        assert isinstance(which, Answer) and which.reply.text.startswith("Which ticket is this about?")

    @pytest.mark.parametrize("platform", ["slack", "teams"])
    def test_the_platform_listeners_only_translate(self, platform):
        """No workflow in the listener modules: they neither run commands nor check roles or
        states themselves, and each is about 150 lines or fewer."""
        path = ROOT / "adapters" / platform / "app.py"
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 150
        names = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(ast.parse(source))
                 if isinstance(n, (ast.Attribute, ast.Name))}
        assert not names & {"handle", "execute", "Role", "registry", "action_form", "intake_form", "is_technician",
                            "transaction", "first_time", "Status"}
