"""Slack requests that go wrong: forged, stale, malformed, retried, refused, rate-limited, interrupted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from storage.repository import SqlStore
from tests.conftest import count_rows, outbox_rows, stored, stored_notes
from tests.slack_harness import DESK_CHANNEL, LiveSlack, sign


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def open_ticket(live, text="new the printer on floor 3 jams on every page"):
    reply = live.slash("U0ALICE", text)
    assert reply.status == 200, reply.body
    live.settled()
    return live.slack.messages(DESK_CHANNEL)[-1]


class TestForgedAndMalformed:
    def test_a_wrong_signature_is_401_and_stores_nothing(self, live, engine):
        body = b"command=%2Fticket&text=new+the+printer+on+floor+3+jams&user_id=U0ALICE&trigger_id=1.2"
        now = int(time.time())
        response = live.post(body, "application/x-www-form-urlencoded", timestamp=now, signature=sign(body, now, "wrong-secret"))
        assert response.status == 401
        assert response.json() == {"ok": False, "error": "invalid signature"}
        assert count_rows(engine, "tickets") == 0 and live.slack.calls == []

    def test_no_signature_is_401(self, live, engine):
        response = live.post(b"command=%2Fticket&text=help&user_id=U0ALICE", "application/x-www-form-urlencoded", signature="")
        assert response.status == 401

    def test_a_signed_but_stale_request_is_401(self, live, engine):
        six_minutes_ago = int(time.time()) - 360
        response = live.slash("U0ALICE", "new the printer on floor 3 jams", timestamp=six_minutes_ago)
        assert response.status == 401
        assert count_rows(engine, "tickets") == 0

    def test_a_body_changed_after_signing_is_401(self, live, engine):
        now = int(time.time())
        signed_for = b"command=%2Fticket&text=help&user_id=U0ALICE"
        response = live.post(signed_for + b"x", "application/x-www-form-urlencoded", timestamp=now,
                             signature=sign(signed_for, now))
        assert response.status == 401

    @pytest.mark.parametrize("body, content_type", [
        (b"this is not a form at all", "application/x-www-form-urlencoded"),
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        (b"text=hello&user_id=U0ALICE", "application/x-www-form-urlencoded"),
        (b"{\"event\": {}}", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
    ])
    def test_a_malformed_body_is_400_and_stores_nothing(self, live, engine, body, content_type):
        response = live.post(body, content_type)
        assert response.status == 400
        assert response.json()["ok"] is False
        assert count_rows(engine, "tickets") == 0 and count_rows(engine, "notes") == 0

    def test_a_huge_body_is_refused(self, live, engine):
        response = live.post(b"command=%2Fticket&text=" + b"x" * (1024 * 1024 + 10), "application/x-www-form-urlencoded")
        assert response.status == 413

    @pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "application/octet-stream",
                                              "multipart/form-data; boundary=x", "application/jsonl"])
    def test_a_signed_body_neither_form_nor_json_is_415_and_runs_nothing(self, live, engine, content_type):
        """A signed text/plain body used to be read as a form: this one opened a ticket."""
        body = urlencode(live.slash_fields("U0ALICE", "new the printer on floor 3 jams on every page")).encode()
        response = live.post(body, content_type)
        assert response.status == 415
        assert response.json() == {"ok": False, "error": "send application/x-www-form-urlencoded or application/json"}
        assert count_rows(engine, "tickets") == 0 and live.slack.calls == []

    def test_slacks_own_content_types_are_taken_with_a_charset(self, live, engine):
        fields = live.slash_fields("U0ALICE", "new the printer on floor 3 jams on every page")
        reply = live.post(urlencode(fields).encode(), "application/x-www-form-urlencoded; charset=utf-8")
        assert reply.status == 200 and reply.json()["text"].startswith("Opened #1")
        body = json.dumps({"token": "legacy", "challenge": "c0ffee", "type": "url_verification"}).encode()
        assert live.post(body, "application/json; charset=utf-8").json() == {"challenge": "c0ffee"}

    @pytest.mark.parametrize("text", ["new the payload service rejects every upload since this morning",
                                      "new our app shows {payload} instead of the invoice number"])
    def test_a_slash_command_that_says_payload_opens_its_ticket(self, live, engine, text):
        """Bolt read any form containing the word "payload" as an interactivity payload, found none,
        and answered nothing: the endpoint parses the body once, by its shape, and hands Bolt the fields."""
        reply = live.slash("U0ALICE", text)
        assert reply.status == 200 and reply.json()["text"].startswith("Opened #1")
        assert stored(engine, 1).description == text.removeprefix("new ")

    def test_url_verification_is_answered(self, live):
        body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                           "type": "url_verification"}).encode()
        response = live.post(body, "application/json")
        assert response.status == 200
        assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}

    def test_a_forged_ticket_id_in_a_button_is_refused_quietly(self, live, engine):
        live.button("U0BOB", "claim", "1; DROP TABLE tickets")
        live.eventually(lambda: live.slack.ephemerals)
        assert live.slack.ephemerals[0]["text"] == "That button does not name a ticket; use `show &lt;id&gt;` instead."
        assert count_rows(engine, "tickets") == 0


class TestSlashGrammar:
    def test_commands_answer_only_the_caller(self, live, engine):
        open_ticket(live)
        mine = live.slash("U0ALICE", "mine")
        assert mine.status == 200
        answer = mine.json()
        assert answer["response_type"] == "ephemeral"
        assert "*Your tickets (1)*" in answer["text"] and "the printer on floor 3 jams" in answer["text"]
        refused = live.slash("U0ALICE", "show 999").json()
        assert refused["text"] == "There is no ticket #999 that you can see; type `mine` to list yours."
        queue = live.slash("U0ALICE", "queue").json()
        assert queue["text"].startswith("Only technicians can see the queue")

    def test_free_text_opens_the_form_with_the_description_filled_in(self, live):
        assert live.slash("U0ALICE", "my laptop will not wake from sleep").body == b""
        view = live.eventually(lambda: live.slack.views())[0]
        description = next(b for b in view["blocks"] if b.get("block_id") == "description")
        assert description["element"]["initial_value"] == "my laptop will not wake from sleep"

    def test_a_new_ticket_from_the_command_line_confirms_in_the_reply_not_by_dm(self, live, engine):
        reply = live.slash("U0ALICE", "new the printer on floor 3 jams on every page severity=high").json()
        assert reply["text"].startswith("Opened #1 (high, printer) for service-desk")
        live.settled()
        assert live.slack.messages(live.slack.dm_channel("U0ALICE")) == []


class TestRetriesAndRaces:
    def test_a_resent_event_makes_one_note_and_one_reaction(self, live, engine):
        card = open_ticket(live)
        ts = live.slack.add_message(DESK_CHANNEL, "U0BOB", "rebooted the printer", thread_ts=card["ts"])
        event = {"type": "message", "channel": DESK_CHANNEL, "user": "U0BOB", "text": "rebooted the printer", "ts": ts,
                 "thread_ts": card["ts"], "channel_type": "channel", "event_ts": ts}
        assert live.event(event, event_id="Ev0RETRY").status == 200
        for attempt in (1, 2, 3):
            assert live.event(event, event_id="Ev0RETRY", headers={"X-Slack-Retry-Num": str(attempt),
                                                                    "X-Slack-Retry-Reason": "http_timeout"}).status == 200
        live.eventually(lambda: live.slack.reactions(DESK_CHANNEL, ts))
        time.sleep(0.3)
        assert [n.body for n in stored_notes(engine, 1)] == ["rebooted the printer"]
        assert live.slack.reactions(DESK_CHANNEL, ts) == ["white_check_mark"]
        assert len(live.slack.calls_to("reactions.add")) == 1

    def test_two_technicians_clicking_claim_at_once(self, live, engine):
        card = open_ticket(live)
        barrier = threading.Barrier(2)

        def click(user):
            barrier.wait()
            live.button(user, "claim", 1, message_ts=card["ts"])

        threads = [threading.Thread(target=click, args=(u,)) for u in ("U0BOB", "U0CAROL")]
        [t.start() for t in threads]
        [t.join(30) for t in threads]
        live.eventually(lambda: live.slack.ephemerals)
        winner = stored(engine, 1).assignee_name
        loser = live.slack.ephemerals[0]
        assert winner in ("Bob Lee", "Carol Diaz")
        assert loser["text"] == f"#1 is already claimed by {winner}; ask them, or `assign 1 &lt;technician&gt;` to hand it over."
        assert loser["user"] == ("U0CAROL" if winner == "Bob Lee" else "U0BOB")

    def test_an_employee_pressing_claim_is_told_why_and_nothing_changes(self, live, engine):
        card = open_ticket(live)
        live.button("U0FRANK", "claim", 1, message_ts=card["ts"])
        live.eventually(lambda: live.slack.ephemerals)
        assert live.slack.ephemerals[0]["user"] == "U0FRANK"
        assert live.slack.ephemerals[0]["text"].startswith("Only technicians can claim tickets")
        assert stored(engine, 1).assignee_id is None
        live.button("U0FRANK", "resolve", 1, message_ts=card["ts"])
        live.eventually(lambda: len(live.slack.ephemerals) == 2)
        assert live.slack.ephemerals[1]["text"].startswith("Only technicians can resolve tickets")
        assert live.slack.views() == [], "no form opens for someone who may not use it"

    def test_an_action_the_ticket_no_longer_allows(self, live, engine):
        card = open_ticket(live)
        live.say("U0BOB", "resolve replaced the pickup roller", DESK_CHANNEL, thread_ts=card["ts"])
        live.eventually(lambda: stored(engine, 1).resolution)
        live.button("U0BOB", "resolve", 1, message_ts=card["ts"])
        live.button("U0CAROL", "claim", 1, message_ts=card["ts"])
        live.eventually(lambda: len(live.slack.ephemerals) == 2)
        texts = sorted(e["text"] for e in live.slack.ephemerals)
        assert texts == ["#1 is resolved, so it cannot be claimed; type `reopen 1 &lt;why&gt;` if the problem is back.",
                         "#1 is resolved, so it cannot be resolved; type `reopen 1 &lt;why&gt;` if the problem is back."]

    def test_someone_else_replying_in_a_card_thread_is_told_and_nothing_is_stored(self, live, engine):
        card = open_ticket(live)
        live.say("U0FRANK", "same problem on floor 2!", DESK_CHANNEL, thread_ts=card["ts"])
        live.eventually(lambda: live.slack.ephemerals)
        assert live.slack.ephemerals[0]["text"] == (
            "Only the requester of #1 and technicians can work on it here; your message was not recorded.")
        assert live.slack.ephemerals[0]["thread_ts"] == card["ts"]
        assert stored_notes(engine, 1) == []


class TestFormsWhenSlackWillNotOpenThem:
    """In a surge views.open runs out of its per-minute budget (Tier 4) and answers 429, and a
    trigger is good for 3 s: the person is offered the form as a message instead, in the response
    to their command (which spends no Web API budget), never left with nothing."""

    @pytest.mark.parametrize("refusal", ["budget", "expired_trigger_id"])
    def test_the_person_is_told_and_offered_a_button_and_the_command(self, live, engine, refusal):
        if refusal == "budget":
            live.slack._budget["views.open"] = (0.0, time.monotonic())  # a surge spent this minute's
        else:
            live.slack.fail_next("views.open", status=200, error=refusal, retry_after=None)
        assert live.slash("U0ALICE", "").status == 200
        offered = live.eventually(lambda: live.slack.calls_to("response_url"))[0].args
        assert offered["response_type"] == "ephemeral"
        assert offered["text"] == ("Slack could not open the form just now (it may be busy); press the button to try "
                                   "again. Tell us what is wrong in the form, or type `new &lt;what is wrong&gt;`.")
        button = next(e for b in offered["blocks"] for e in b.get("elements", []) if e.get("type") == "button")
        assert button["text"]["text"] == "Open the form"
        assert live.slack.views() == [] and count_rows(engine, "tickets") == 0
        if refusal == "budget":
            assert live.slack.over_tier == 1
        live.slack._budget.pop("views.open", None)  # a minute later
        live.interactive({**live.button_payload("U0ALICE", "intake", 0, channel="C0GENERAL"),
                          "actions": [{**button, "action_ts": f"{time.time():.6f}"}]})
        view = live.eventually(lambda: live.slack.views())[0]
        assert view["title"]["text"] and view["trigger_id"].endswith(".U0ALICE"), "the button opens the form"
        reply = live.slash("U0ALICE", "new the printer on floor 3 jams on every page").json()
        assert reply["text"].startswith("Opened #1"), "and the command opens a ticket without the form"


class TestDelivery:
    def test_a_rate_limit_waits_for_retry_after_then_posts_once(self, live, engine):
        live.slack.fail_next("chat.postMessage", times=1, status=429, retry_after=1)
        started = time.monotonic()
        live.slash("U0ALICE", "new the printer on floor 3 jams on every page")
        live.eventually(lambda: live.slack.messages(DESK_CHANNEL), timeout=10)
        assert time.monotonic() - started >= 0.9, "waited as Slack asked"
        live.settled()
        assert len(live.slack.messages(DESK_CHANNEL)) == 1
        card_row = next(r for r in outbox_rows(engine) if r["kind"] == "new_ticket")
        assert (card_row["status"], card_row["attempts"]) == ("delivered", 1), "the post waited in place, no new attempt"
        assert live.slack.impatient == []

    def test_a_crash_between_posting_and_marking_does_not_post_twice(self, live, engine):
        """Post the card, 'crash' before marking it delivered; the next attempt finds the post."""
        from adapters.runtime import build
        from storage.outbox import Outbox

        live.call(_pause_dispatchers(live))
        live.slash("U0ALICE", "new the printer on floor 3 jams on every page")
        sender = live.app[__import__("adapters.server", fromlist=["STATE"]).STATE].dispatchers[0].sender
        crashed = Outbox(SqlStore(engine), "crashed-replica", lease=__import__("datetime").timedelta(seconds=0))
        [message] = [m for m in crashed.claim("slack", live.runtime.desk.clock()) if m.kind == "new_ticket"] or [None]
        live.call(sender.deliver(message))  # posted; never marked: the process "died" here
        assert len(live.slack.messages(DESK_CHANNEL)) == 1
        from adapters.slack.ledger import PostLedger
        sender.ledger = PostLedger()  # and what it knew died with it: this one must look on Slack
        live.call(_resume_dispatchers(live))
        live.settled()
        assert len(live.slack.messages(DESK_CHANNEL)) == 1, "the retry found its earlier post"
        assert [c.args["channel"] for c in live.slack.calls_to("conversations.history")] == [DESK_CHANNEL]
        assert len(live.slack.calls_to("chat.postMessage")) == 1 + len(live.slack.messages(live.slack.dm_channel("U0ALICE")))
        assert next(r for r in outbox_rows(engine) if r["kind"] == "new_ticket")["status"] == "delivered"
        # and the card is known, so the thread still works
        live.say("U0BOB", "claim", DESK_CHANNEL, thread_ts=live.slack.messages(DESK_CHANNEL)[0]["ts"])
        live.eventually(lambda: stored(engine, 1).assignee_id == "slack:U0BOB")

    def test_an_answer_that_may_have_posted_makes_the_retry_look_first(self, live, engine):
        """Slack's internal_error means part of the call may have succeeded: the retry looks in the
        channel before posting (one card); a refusal that surely posted nothing (a 429) does not."""
        live.slack.fail_next("chat.postMessage", times=1, status=200, error="internal_error", retry_after=None)
        assert live.slash("U0ALICE", "new the printer on floor 3 jams on every page").status == 200
        live.eventually(lambda: live.slack.calls_to("conversations.history"), timeout=30)  # after its back-off
        live.settled(timeout=30)
        assert len(live.slack.messages(DESK_CHANNEL)) == 1, "one card"
        assert [c.args["channel"] for c in live.slack.calls_to("conversations.history")] == [DESK_CHANNEL]

    def test_an_unknown_channel_becomes_a_dead_letter_that_can_be_retried(self, live, engine, tmp_path):
        live.slack.fail_next("chat.postMessage", times=1, status=200, error="channel_not_found", retry_after=None)
        live.slash("U0ALICE", "new the printer on floor 3 jams on every page")
        live.eventually(lambda: any(r["status"] == "failed" for r in outbox_rows(engine)))
        failed = next(r for r in outbox_rows(engine) if r["status"] == "failed")
        assert failed["kind"] == "new_ticket" and failed["last_error"] == "Slack said channel_not_found"
        from storage.outbox import Outbox
        assert Outbox(SqlStore(engine)).requeue(live.runtime.desk.clock()) == 1
        live.wake()
        live.eventually(lambda: live.slack.messages(DESK_CHANNEL))
        live.settled()
        assert next(r for r in outbox_rows(engine) if r["id"] == failed["id"])["status"] == "delivered"

    def test_healthz_reports_the_database_and_the_outbox(self, live):
        health = live.eventually(lambda: (h := live.get("/healthz")).json()["knowledge"] == "ready" and h)
        assert health.status == 200
        assert health.json() == {"status": "ok", "database": "ok", "outbox_pending": 0, "platforms": ["slack"],
                                 "knowledge": "ready", "knowledge_in": "the server", "surge_look": "the server"}


async def _pause_dispatchers(live):
    from adapters.server import STATE
    for task in live.app[STATE].tasks:
        task.cancel()


async def _resume_dispatchers(live):
    import asyncio

    from adapters.server import STATE
    state = live.app[STATE]
    state.tasks = [asyncio.create_task(d.run()) for d in state.dispatchers]


def test_the_manifest_is_complete_and_filled_in_by_the_command():
    helpdesk = Path(sys.executable).parent / "helpdesk"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "SLACK_"))}
    out = subprocess.run([str(helpdesk), "manifest", "slack", "--url", "https://hd.corp.example/"], capture_output=True,
                         text=True, env=env, check=True).stdout
    manifest = yaml.safe_load(out)
    urls = {manifest["settings"]["event_subscriptions"]["request_url"], manifest["settings"]["interactivity"]["request_url"],
            manifest["features"]["slash_commands"][0]["url"]}
    assert urls == {"https://hd.corp.example/slack/events"}
    assert manifest["features"]["slash_commands"][0]["command"] == "/ticket"
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) >= {"message.channels", "message.im", "app_mention"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "commands", "chat:write", "users:read", "users:read.email", "im:write", "im:history", "channels:history",
        "reactions:write", "app_mentions:read", "files:read", "files:write", "reactions:read", "groups:history"}
    assert "reaction_added" in manifest["settings"]["event_subscriptions"]["bot_events"]
    from adapters.slack.from_message import SHORTCUT
    assert manifest["features"]["shortcuts"] == [{
        "name": "Open a ticket", "type": "message", "callback_id": SHORTCUT,
        "description": "Turn this message (and its screenshots) into a help desk ticket"}]
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    refused = subprocess.run([str(helpdesk), "manifest", "slack", "--url", "http://plain.example"], capture_output=True,
                             text=True, env=env)
    assert refused.returncode == 2 and "https://" in refused.stderr
