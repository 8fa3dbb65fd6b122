"""User text is inert in every field a platform parses (issue 15, item 1).

A ticket's whole life is run with text that tries to broadcast, mention, and disguise a link —
in the description, the device, the location, notes, questions, answers, reasons, resolutions
and a person's own name — and then every payload the bot sent is walked: no field Slack parses
as mrkdwn (message text, blocks, notification text) and no Teams text or card may carry a live
broadcast, a mention or a disguised link that came from that text."""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest

from bot.model import Status
from tests.conftest import stored
from tests.slack_harness import DESK_CHANNEL, NET_CHANNEL, LiveSlack
from tests.teams_harness import DESK, LiveTeams, card_content

# As a person types it (the terminal and Teams pass it as it is; Slack sends it escaped, below).
PROBE = "Injection probe <!channel> <!here> <!subteam^S123> <@U0NINA> <https://evil.example|click here>"
SLACK_LIVE = re.compile(r"<!channel>|<!here>|<!subteam\^S123|<@U0NINA>|<https://evil\.example")
TEAMS_PROBE = "Injection probe <at>Bob Lee</at> [click here](https://evil.example) <!channel>"
TEAMS_LINK = re.compile(r"\[[^\]]*\]\((?:https?://)?evil\.example")  # a live link, in a message or a card
TEAMS_MENTION = re.compile(r"<at>Bob Lee</at>")  # a mention: in a message's text (cards carry no mention entities)


def as_slack_sends(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parsed_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string Slack parses as mrkdwn: not plain_text objects (shown as typed), not the
    values a form carries back or is pre-filled with, not a modal's private metadata."""
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return
        for k, value in node.items():
            if k in ("private_metadata", "initial_value", "value", "errors", "metadata", "action_id", "block_id"):
                continue
            yield from parsed_strings(value, k)
    elif isinstance(node, list):
        for value in node:
            yield from parsed_strings(value, key)
    elif isinstance(node, str):
        yield key, node


def live_constructs(payloads: list[tuple[str, Any]], pattern: re.Pattern) -> list[str]:
    return [f"{where}.{key}: {text[:160]!r}" for where, payload in payloads for key, text in parsed_strings(payload)
            if pattern.search(text)]


@pytest.fixture
def slack(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def test_nothing_from_user_text_is_live_in_any_slack_payload(slack, engine, desk, people):
    acks = []
    # Eve, whose own name is a probe, opens a ticket through the form; every field carries the probe
    slack.slash("U0EVE")
    view = slack.eventually(lambda: slack.slack.views())[-1]
    acks.append(slack.submit("U0EVE", view, {"description": PROBE, "device": PROBE[:60], "location": PROBE[:60],
                                             "phone": "+1 555 0199"}).json())
    slack.settled()
    card = slack.slack.messages(DESK_CHANNEL)[0]
    # Bob works it from the card and its thread; Alice's ticket comes in from the terminal
    say_desk = desk.handle(people.alice, f"new {PROBE} location=\"{PROBE[:40]}\"")
    assert say_desk.ok
    slack.button("U0BOB", "claim", 1, message_ts=card["ts"])
    slack.say("U0BOB", as_slack_sends(PROBE), DESK_CHANNEL, thread_ts=card["ts"])
    slack.say("U0BOB", "wait " + as_slack_sends(PROBE), DESK_CHANNEL, thread_ts=card["ts"])
    slack.eventually(lambda: stored(engine, 1).status is Status.WAITING)
    slack.settled()
    dm = slack.slack.dm_channel("U0EVE")
    slack.say("U0EVE", as_slack_sends(PROBE), dm, channel_type="im")
    slack.eventually(lambda: stored(engine, 1).status is Status.IN_PROGRESS)
    slack.say("U0BOB", "escalate network-eng " + as_slack_sends(PROBE), DESK_CHANNEL, thread_ts=card["ts"])
    slack.eventually(lambda: stored(engine, 1).group == "network-eng")
    acks.append(slack.slash("U0BOB", "show 1").json())
    acks.append(slack.slash("U0BOB", "queue").json())
    acks.append(slack.slash("U0DAVE", "resolve 1 " + as_slack_sends(PROBE)).json())
    slack.settled()
    assert stored(engine, 1).status is Status.RESOLVED and stored(engine, 1).resolution == PROBE
    assert slack.slack.messages(NET_CHANNEL), "the page reached the next group's channel"

    payloads = [(c.method, c.args) for c in slack.slack.calls
                if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.update",
                                "response_url")]
    payloads += [("ack", a) for a in acks if a]
    assert len(payloads) > 15
    assert live_constructs(payloads, SLACK_LIVE) == []
    texts = [text for _, p in payloads for _, text in parsed_strings(p)]
    assert any("&lt;!channel&gt;" in t for t in texts), "the probe is there, shown as typed"
    assert any("<@U0BOB>" in t for t in texts), "the bot's own mentions of people stay live"


def test_nothing_from_user_text_is_live_in_any_teams_payload(engine, desk, people):
    live = LiveTeams(engine).start()
    try:
        live.post(live.personal("alice", f"new {TEAMS_PROBE} location=\"{TEAMS_PROBE[:40]}\""))
        card = live.card(DESK)
        answers = [live.post(live.invoke("bob", "claim", {"ticket_id": 1, "where": "card"}, card)).json()]
        live.post(live.channel("bob", TEAMS_PROBE.replace("<at>Bob Lee</at>", "@bob"), root=card.id, mentions=("bob",)))
        live.post(live.channel("bob", "wait " + TEAMS_PROBE, root=card.id))
        live.eventually(lambda: stored(engine, 1).status is Status.WAITING)
        live.post(live.personal("alice", TEAMS_PROBE))
        form = live.post(live.invoke("bob", "resolve", {"ticket_id": 1, "where": "card"}, card)).json()
        answers.append(form)
        submit = next(a for a in card_content({"attachments": [{"content": form["value"]}]})["actions"]
                      if a["verb"] == "submit")
        answers.append(live.post(live.invoke("bob", "submit", {**submit["data"], "text": TEAMS_PROBE}, card)).json())
        live.post(live.personal("bob", "show 1"))
        live.settled()
        assert stored(engine, 1).status is Status.RESOLVED

        payloads = [("activity", p.activity) for p in live.connector.sent()]
        payloads += [("version", v) for p in live.connector.sent() for v in p.versions]
        payloads += [("invoke", a) for a in answers]
        assert len(payloads) > 8
        found = [f"{where}: {text[:160]!r}" for where, payload in payloads for text in _strings(payload)
                 if TEAMS_LINK.search(text)]
        found += [f"{where}: {p['text'][:160]!r}" for where, p in payloads
                  if isinstance(p.get("text"), str) and TEAMS_MENTION.search(p["text"])]
        assert found == []
        texts = [t for _, p in payloads for t in _strings(p)]
        assert any("[click here]\u200b(https://evil.example)" in t for t in texts), "the probe is there, as typed"
    finally:
        live.stop()


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in ("entities", "data", "value") or not isinstance(value, (dict, list)) or key == "value":
                yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node
