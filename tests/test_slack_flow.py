"""Slack end to end: the real Bolt app in the real aiohttp server, over HTTP, against a fake Slack."""
from __future__ import annotations

import json

import pytest

from bot.model import Status
from tests.conftest import stored, stored_events, stored_notes
from tests.slack_harness import DESK_CHANNEL, NET_CHANNEL, LiveSlack, shown_texts


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def opened_view(live: LiveSlack, index: int = -1) -> dict:
    return live.eventually(lambda: live.slack.views())[index]


def card(live: LiveSlack, channel: str = DESK_CHANNEL) -> dict:
    return live.eventually(lambda: live.slack.messages(channel))[0]


def card_text(message: dict) -> str:
    return json.dumps(message.get("blocks"), ensure_ascii=False)


def mrkdwn(message: dict) -> str:
    """The texts Slack parses for mentions and links (plain_text shows `<!channel>` as typed)."""
    return shown_texts(message)


def open_ticket(live: LiveSlack, user: str = "U0ALICE", description: str = "The printer on floor 3 jams on every page") -> dict:
    assert live.slash(user).status == 200
    view = opened_view(live)
    response = live.submit(user, view, {"description": description, "severity": "high", "device": "HP-4050"})
    assert response.status == 200 and not response.body, response.body
    live.settled()
    return card(live)


def test_the_whole_ticket_flow(live, engine):
    slack = live.slack
    # /ticket opens the intake modal, with contact details from Slack's profile
    ack = live.slash("U0ALICE")
    assert ack.status == 200 and ack.body == b""
    view = opened_view(live)
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "description", "category", "severity", "device", "location", "phone"]
    phone = next(b for b in view["blocks"] if b.get("block_id") == "phone")
    assert phone["element"]["initial_value"] == "+1 555 0142"
    severity = next(b for b in view["blocks"] if b.get("block_id") == "severity")
    assert severity["element"]["options"][3]["description"]["text"].startswith("Many people or a whole site cannot work")

    # a too-short description comes back on its field; nothing is stored
    bad = live.submit("U0ALICE", view, {"description": "broken", "severity": "high"})
    assert bad.status == 200
    assert bad.json()["response_action"] == "errors"
    assert bad.json()["errors"]["description"].startswith("The description needs at least 10 characters")
    assert stored(engine, 1) is None

    good = live.submit("U0ALICE", view, {"description": "The printer on floor 3 jams on every page <!channel>",
                                         "severity": "high", "device": "HP-4050", "location": "Floor 3"})
    assert good.status == 200 and good.body == b""
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.requester.email, t.severity.value, t.category) == (
        "slack:U0ALICE", "Alice Park", "alice@corp.example", "high", "printer")
    live.settled()

    # the card lands in the triage group's channel; the requester gets a DM
    posted = card(live)
    text = card_text(posted)
    assert "#1 · The printer on floor 3 jams on every page" in text
    assert "&lt;!channel&gt;" in mrkdwn(posted) and "<!channel>" not in mrkdwn(posted), "user text is escaped: nobody gets pinged"
    assert "ticket:claim" in text and "ticket:resolve" in text
    assert "HP-4050" in text and "Floor 3" in text and "alice@corp.example" in text
    dm = slack.messages(slack.dm_channel("U0ALICE"))
    assert dm[0]["text"].startswith("Your ticket #1 is open: The printer on floor 3 jams")

    # Bob claims from the card: the card is edited in place, the thread says so, Alice hears
    assert live.button("U0BOB", "claim", 1, message_ts=posted["ts"]).status == 200
    live.eventually(lambda: stored(engine, 1).assignee_id == "slack:U0BOB")  # the work happens after the ack
    live.settled()
    edited = slack.messages(DESK_CHANNEL)[0]
    assert "*Assignee*\n<@U0BOB>" in mrkdwn(edited)
    assert "ticket:claim" not in card_text(edited), "no Claim button once claimed"
    thread = slack.replies(DESK_CHANNEL, posted["ts"])
    assert [m["text"] for m in thread] == ["🙋 Bob Lee claimed it."]
    assert slack.messages(slack.dm_channel("U0ALICE"))[-1]["text"].startswith("Bob Lee is working on your ticket #1")

    # thread replies are notes: plain → public, // → internal; confirmed with a reaction, not echoed
    ts, r = live.say("U0BOB", "Cleared the paper path, testing now", DESK_CHANNEL, thread_ts=posted["ts"])
    assert r.status == 200
    live.eventually(lambda: slack.reactions(DESK_CHANNEL, ts) == ["white_check_mark"])
    ts2, _ = live.say("U0BOB", "// the fuser is worn, order a new one", DESK_CHANNEL, thread_ts=posted["ts"])
    live.eventually(lambda: slack.reactions(DESK_CHANNEL, ts2) == ["lock"])
    live.settled()
    assert [(n.body, n.internal) for n in stored_notes(engine, 1)] == [
        ("Cleared the paper path, testing now", False), ("the fuser is worn, order a new one", True)]
    assert len(slack.replies(DESK_CHANNEL, posted["ts"])) == 3, "two user replies, no echo lines for them"

    # a command in the thread acts on the ticket without an id; Alice answers the question by DM
    live.say("U0BOB", "wait which tray do you print from?", DESK_CHANNEL, thread_ts=posted["ts"])
    live.eventually(lambda: stored(engine, 1).status is Status.WAITING)
    live.settled()
    question = slack.messages(slack.dm_channel("U0ALICE"))[-1]
    assert question["text"].startswith("Bob Lee has a question about your ticket #1: which tray do you print from?")
    ts3, _ = live.say("U0ALICE", "Tray 2, the big one", slack.dm_channel("U0ALICE"), channel_type="im")
    live.eventually(lambda: stored(engine, 1).status is Status.IN_PROGRESS)
    live.eventually(lambda: slack.reactions(slack.dm_channel("U0ALICE"), ts3) == ["white_check_mark"])
    assert stored_notes(engine, 1)[-1].body == "Tray 2, the big one"

    # Escalate from the card: a modal with the next group pre-selected, then a ping in that group's channel
    live.button("U0BOB", "escalate", 1, message_ts=posted["ts"])
    view = live.eventually(lambda: len(slack.views()) == 2 and slack.views()[-1])
    group = next(b for b in view["blocks"] if b.get("block_id") == "group")
    live.submit("U0BOB", view, {"group": "network-eng", "text": "Printer drops off the network between jobs"})
    live.settled()
    t = stored(engine, 1)
    assert (t.group, t.escalation_level, t.status) == ("network-eng", 0, Status.NEW), "printer's chain has no network-eng"
    ping = slack.messages(NET_CHANNEL)[-1]["text"]
    assert "Escalated to network-eng (outside the printer chain): #1 (high) from Alice Park" in ping
    assert f"/archives/{DESK_CHANNEL}/p{posted['ts'].replace('.', '')}" in ping, "the ping links to the card's thread"
    assert group["element"]["options"]

    # Dave resolves from the card; Alice gets the resolution with two buttons
    live.button("U0DAVE", "claim", 1, message_ts=posted["ts"])
    live.eventually(lambda: stored(engine, 1).assignee_id == "slack:U0DAVE")
    live.button("U0DAVE", "resolve", 1, message_ts=posted["ts"])
    view = live.eventually(lambda: len(slack.views()) == 3 and slack.views()[-1])
    short = live.submit("U0DAVE", view, {"text": "fixed"})
    assert short.json()["errors"]["text"].startswith("Describe the resolution in at least 10 characters")
    live.submit("U0DAVE", view, {"text": "Gave the printer a static IP and replaced the fuser"})
    live.settled()
    assert stored(engine, 1).status is Status.RESOLVED
    resolved_dm = slack.messages(slack.dm_channel("U0ALICE"))[-1]
    assert "ticket:confirm" in card_text(resolved_dm) and "ticket:reopen" in card_text(resolved_dm)

    # "Still broken" asks why and reopens; a second resolution, then "That fixed it" closes
    dm_channel = slack.dm_channel("U0ALICE")
    live.button("U0ALICE", "reopen", 1, channel=dm_channel, message_ts=resolved_dm["ts"])
    view = live.eventually(lambda: len(slack.views()) == 4 and slack.views()[-1])
    live.submit("U0ALICE", view, {"text": "It jammed again after lunch"})
    live.eventually(lambda: stored(engine, 1).status is Status.IN_PROGRESS)
    live.say("U0DAVE", "resolve replaced the pickup roller as well", DESK_CHANNEL, thread_ts=posted["ts"])
    live.eventually(lambda: stored(engine, 1).status is Status.RESOLVED)
    live.settled()
    second = slack.messages(dm_channel)[-1]
    live.button("U0ALICE", "confirm", 1, channel=dm_channel, message_ts=second["ts"])
    live.eventually(lambda: stored(engine, 1).status is Status.CLOSED)
    live.eventually(lambda: "confirm" not in card_text(slack.messages(dm_channel)[-1]))
    live.settled()
    final = slack.messages(DESK_CHANNEL)[0]
    assert "📦 closed" in card_text(final) and "ticket:" not in card_text(final), "a closed card has no buttons"
    actions = [e.action for e in stored_events(engine, 1)]
    assert actions == ["opened", "claimed", "note", "internal_note", "waiting", "note", "escalated", "claimed",
                       "resolved", "reopened", "resolved", "confirmed"]


def test_a_known_problem_is_answered_with_past_fixes_in_slack(live, engine):
    slack = live.slack
    live.runtime.desk.knowledge.ready.wait(10)
    # history: a solved problem
    live.slash("U0FRANK", "new Outlook keeps asking for my password after the update")
    live.settled()  # the card is posted and known before anyone replies in its thread
    live.say("U0BOB", "resolve Removed the stale credentials from Credential Manager", DESK_CHANNEL,
             thread_ts=card(live)["ts"])
    live.eventually(lambda: stored(engine, 1).status is Status.RESOLVED)
    live.settled()

    # Alice's form: her confirmation DM offers the fix with "This solved it"
    live.slash("U0ALICE")
    view = live.eventually(lambda: slack.views())[-1]
    live.submit("U0ALICE", view, {"description": "Outlook asks for my password again and again since the update"})
    live.settled()
    dm_channel = slack.dm_channel("U0ALICE")
    dm = slack.messages(dm_channel)[-1]
    text = card_text(dm)
    assert "Removed the stale credentials from Credential Manager" in text
    assert '"action_id": "ticket:solved", "value": "{\\"ticket_id\\":2,\\"where\\":\\"dm\\",\\"position\\":1}"' in text
    assert "ticket:keep" in text
    assert "#1" not in mrkdwn(dm), "requesters are not shown other people's ticket numbers"

    # Carol claims it from the card and privately sees the similar ticket, with its number
    cards = slack.messages(DESK_CHANNEL)
    live.button("U0CAROL", "claim", 2, message_ts=cards[-1]["ts"])
    live.eventually(lambda: slack.ephemerals)
    assert "*#1*" in slack.ephemerals[-1]["text"] and slack.ephemerals[-1]["user"] == "U0CAROL"

    # Alice presses "This solved it" (on a message sent before buttons carried their data as JSON, as
    # older messages still in people's DMs do): the ticket closes as deflected and the buttons go
    live.interactive({
        "type": "block_actions", "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0TEST"},
        "api_app_id": "A0APP", "token": "legacy", "trigger_id": "9.trigger", "team": {"id": "T0TEST"},
        "container": {"type": "message", "message_ts": dm["ts"], "channel_id": dm_channel},
        "channel": {"id": dm_channel}, "message": {"type": "message", "ts": dm["ts"], "text": "x"},
        "response_url": slack.response_url("solved"),
        "actions": [{"action_id": "ticket:solved:1", "value": "2:1", "type": "button", "action_ts": "1.2",
                     "block_id": "b", "text": {"type": "plain_text", "text": "This solved it"}}]})
    live.eventually(lambda: stored(engine, 2).status is Status.CLOSED)
    assert [e.action for e in stored_events(engine, 2)][-1] == "deflected"
    live.eventually(lambda: "ticket:solved" not in card_text(slack.messages(dm_channel)[-1]))
