"""Slack end to end in Socket Mode: the real server connects out to the fake Slack with an
app-level token, and Slack's payloads arrive as envelopes on that WebSocket; what Slack shows the
user is the payload of the app's ack. Also: the slow path of the slash command, in both modes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from adapters.server import STATE
from bot.model import Status
from tests.conftest import stored, stored_notes
from tests.slack_harness import APP_TOKEN, DESK_CHANNEL, SECRET, TOKEN, LiveSlack

PRINTER = "The printer on floor 3 jams on every page"


@pytest.fixture
def live(engine):
    server = LiveSlack(engine, socket_mode=True).start()
    yield server
    server.stop()


def card_text(message: dict) -> str:
    return json.dumps(message.get("blocks"), ensure_ascii=False)


def open_ticket(live: LiveSlack, user: str = "U0ALICE") -> dict:
    """/ticket, fill the modal in, submit; returns the card posted in the desk channel."""
    assert live.socket_slash(user) is None
    view = live.eventually(lambda: live.slack.views())[-1]
    assert live.socket_submit(user, view, {"description": PRINTER, "severity": "high", "device": "HP-4050"}) is None
    live.settled()
    return live.eventually(lambda: live.slack.messages(DESK_CHANNEL))[0]


def test_a_ticket_from_the_modal_to_a_note_in_its_thread(live, engine):
    slack = live.slack
    # the server connected out with the app-level token; there is no public request URL to post to
    (opened,) = slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert slack.socket_connections == 1
    assert live.slash("U0ALICE", "mine").status == 404

    # /ticket is acked bare, and the intake modal opens with Alice's details from Slack
    assert live.socket_slash("U0ALICE") is None
    view = live.eventually(lambda: slack.views())[0]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "description", "category", "severity", "device", "location", "phone"]
    phone = next(b for b in view["blocks"] if b.get("block_id") == "phone")
    assert phone["element"]["initial_value"] == "+1 555 0142"

    # a too-short description: the ack keeps the modal open with the error on its field
    bad = live.socket_submit("U0ALICE", view, {"description": "broken", "severity": "high"})
    assert bad["response_action"] == "errors"
    assert bad["errors"]["description"].startswith("The description needs at least 10 characters")
    assert stored(engine, 1) is None

    # a valid submission closes the modal (bare ack) and opens #1
    assert live.socket_submit("U0ALICE", view, {"description": PRINTER, "severity": "high",
                                                "device": "HP-4050", "location": "Floor 3"}) is None
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.severity.value, t.category) == (
        "slack:U0ALICE", "Alice Park", "high", "printer")
    live.settled()

    # the card lands in the triage group's channel; Alice gets a DM
    card = live.eventually(lambda: slack.messages(DESK_CHANNEL))[0]
    assert f"#1 · {PRINTER}" in card_text(card)
    assert "ticket:claim" in card_text(card) and "HP-4050" in card_text(card)
    assert slack.messages(slack.dm_channel("U0ALICE"))[0]["text"].startswith(f"Your ticket #1 is open: {PRINTER}")

    # Bob claims from the card's button: acked bare, the card shows him
    assert live.socket_button("U0BOB", "claim", 1, message_ts=card["ts"]) is None
    live.eventually(lambda: stored(engine, 1).assignee_id == "slack:U0BOB")
    live.settled()
    assert "ticket:claim" not in card_text(slack.messages(DESK_CHANNEL)[0])

    # his reply in the card's thread becomes a public note, confirmed with a reaction
    event, ack = live.socket_say("U0BOB", "Cleared the paper path, testing now", DESK_CHANNEL,
                                 thread_ts=card["ts"], event_id="Ev0NOTE")
    assert ack is None
    live.eventually(lambda: slack.reactions(DESK_CHANNEL, event["ts"]) == ["white_check_mark"])
    assert [(n.body, n.internal) for n in stored_notes(engine, 1)] == [("Cleared the paper path, testing now", False)]
    assert stored(engine, 1).status is Status.IN_PROGRESS


def test_a_redelivered_event_makes_one_note_and_one_reaction(live, engine):
    card = open_ticket(live)
    event, ack = live.socket_say("U0BOB", "rebooted the printer", DESK_CHANNEL, thread_ts=card["ts"],
                                 event_id="Ev0RETRY")
    assert ack is None
    # Slack did not see the ack in time and sends the same event again, in a new envelope
    for attempt in (1, 2):
        assert live.socket_event(event, event_id="Ev0RETRY", retry_attempt=attempt, retry_reason="timeout") is None
    live.eventually(lambda: live.slack.reactions(DESK_CHANNEL, event["ts"]))
    time.sleep(0.5)  # each redelivery is handled after its ack; give them time to (not) act
    assert [n.body for n in stored_notes(engine, 1)] == ["rebooted the printer"]
    assert live.slack.reactions(DESK_CHANNEL, event["ts"]) == ["white_check_mark"]
    assert len(live.slack.calls_to("reactions.add")) == 1
    retries = [e for e in live.slack.envelopes if e["type"] == "events_api"]
    assert [(e["retry_attempt"], e["retry_reason"]) for e in retries] == [(0, ""), (1, "timeout"), (2, "timeout")]


def test_commands_are_answered_in_the_ack(live, engine):
    open_ticket(live)
    mine = live.socket_slash("U0ALICE", "mine")
    assert mine["response_type"] == "ephemeral"
    assert "*Your tickets (1)*" in mine["text"] and "printer on floor 3 jams" in mine["text"]
    refused = live.socket_slash("U0ALICE", "show 999")
    assert refused["text"] == "There is no ticket #999 that you can see; type `mine` to list yours."
    assert live.slack.calls_to("response_url") == [], "answered in the ack, not later"


def test_the_bot_reconnects_when_slack_refreshes_the_connection(live, engine):
    assert live.call(live.slack.socket_disconnect("refresh_requested")) == 1
    live.eventually(lambda: live.slack.hellos == 2 and live.slack.socket_connections == 1)
    assert len(live.slack.calls_to("apps.connections.open")) == 2
    card = open_ticket(live)  # everything still works over the new connection
    assert f"#1 · {PRINTER}" in card_text(card)
    assert stored(engine, 1).requester.name == "Alice Park"


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_slow_slash_command_is_acked_at_once_and_answered_later(engine, mode):
    """users.info takes 2.5 s: the command must still be acked inside Slack's 3 s, with a
    'working on it', and the real answer must follow at the command's response_url."""
    live = LiveSlack(engine, socket_mode=mode == "socket").start()
    try:
        # Alice's ticket is already stored (e.g. from before a restart), so the bot has no cached profile of her
        desk = live.runtime.desk
        alice = desk.actor("slack:U0ALICE", name="Alice Park", email="alice@corp.example", platform="slack")
        assert desk.handle(alice, f"new {PRINTER}").ok
        live.settled()
        live.slack.delay_next("users.info", 2.5)

        started = time.monotonic()
        if mode == "http":
            response = live.slash("U0ALICE", "mine")
            assert response.status == 200
            ack = response.json()
        else:
            ack = live.socket_slash("U0ALICE", "mine")
        acked_after = time.monotonic() - started

        assert ack == {"response_type": "ephemeral", "text": "Working on it…"}
        assert acked_after < 2.9, f"acked after {acked_after:.2f} s; Slack gives up at 3 s"
        assert [c.args["user"] for c in live.slack.calls_to("users.info")] == ["U0ALICE"], "the slow call was made"
        answer = live.eventually(lambda: live.slack.calls_to("response_url"), timeout=10)[0].args
        assert answer["key"].startswith("cmd")
        assert answer["response_type"] == "ephemeral" and answer["replace_original"] is True
        assert "*Your tickets (1)*" in answer["text"] and "printer on floor 3 jams" in answer["text"]
    finally:
        live.stop()


class _WakeFirst(list):
    """The server's task list; iterating it (as its stop hook does to cancel the tasks) first wakes
    the outbox dispatcher: a listener queued a message at the very moment shutdown began."""

    def __init__(self, tasks: list, wake) -> None:
        super().__init__(tasks)
        self._wake = wake

    def __iter__(self):
        self._wake()
        return super().__iter__()


def test_shutdown_finishes_even_if_a_message_was_just_queued(engine):
    live = LiveSlack(engine, socket_mode=True, poll_seconds=60).start()
    live.settled()
    time.sleep(0.5)  # the dispatcher has looked once and now waits to be woken, as it does most of the time
    state = live.app[STATE]
    state.tasks = _WakeFirst(state.tasks, state.wake)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the harness's note about the hang; asserted below
        stuck = live.stop()
    assert stuck == [], f"the server did not finish stopping on its own: {stuck} kept running"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_helpdesk_serve_runs_in_socket_mode(tmp_path: Path):
    """The real `helpdesk serve` process, configured by environment, connects out and answers."""
    import asyncio
    import threading

    from storage.database import make_engine, upgrade
    from tests.fakes.slack_api import FakeSlack

    db_url = f"sqlite:///{tmp_path / 'helpdesk.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    slack = FakeSlack(token=TOKEN, app_token=APP_TOKEN)
    call(slack.start())
    slack.add_user("U0ALICE", "alice", "Alice Park", email="alice@corp.example")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "SLACK_", "DATABASE_"))}
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN=APP_TOKEN,
               SLACK_API_URL=slack.url, DATABASE_URL=db_url, HELPDESK_HOST="127.0.0.1", PORT=str(_free_port()))
    helpdesk = Path(sys.executable).parent / "helpdesk"
    server = subprocess.Popen([str(helpdesk), "serve"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while slack.socket_connections == 0:
            assert server.poll() is None, f"helpdesk serve exited:\n{server.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "helpdesk serve never connected over Socket Mode"
            time.sleep(0.05)
        command = {"token": "legacy", "team_id": "T0TEST", "channel_id": "C0GENERAL", "user_id": "U0ALICE",
                   "user_name": "alice", "command": "/ticket", "text": "mine", "api_app_id": "A0APP",
                   "response_url": slack.response_url("cmd1"), "trigger_id": "1.trigger.U0ALICE"}
        ack = call(slack.socket_send("slash_commands", command))
        assert ack["response_type"] == "ephemeral"
        assert "You have no open tickets. Open one with `new &lt;description&gt;`." in ack["text"]
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        call(slack.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
