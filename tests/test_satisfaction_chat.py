"""Satisfaction in chat, over real HTTP: the resolution message carries a rating row (a button
per score, rated at once, and "Add a comment", a small form); the message then says the score
given and keeps its buttons; a low rating is a line in the card's thread. Slack and Teams."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage.schema import ratings
from tests.slack_harness import DESK_CHANNEL, LiveSlack
from tests.teams_harness import DESK, LiveTeams, card_content, inputs, texts, verbs


def rating_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(r.ticket_id, r.score, r.comment) for r in conn.execute(select(ratings).order_by(ratings.c.id))]


@pytest.fixture
def slack(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def shown(message: dict) -> str:
    return json.dumps(message.get("blocks"), ensure_ascii=False)


def test_slack_a_score_is_one_press_and_a_comment_a_small_form(slack, engine):
    s = slack.slack
    assert slack.slash("U0ALICE", "new the printer on floor 3 jams on every page").status == 200
    slack.eventually(lambda: rating_rows(engine) == [] and s.messages(DESK_CHANNEL))
    slack.slash("U0BOB", "claim 1")
    slack.slash("U0BOB", "resolve 1 replaced the worn pickup roller")
    slack.settled()
    dm = s.dm_channel("U0ALICE")
    message = slack.eventually(lambda: [m for m in s.messages(dm) if "is resolved" in m["text"]])[-1]
    assert buttons(message) == ["ticket:confirm", "ticket:reopen", "ticket:rate:1", "ticket:rate:2", "ticket:rate:3",
                                "ticket:rate:4", "ticket:rate:5", "ticket:rate"]
    assert "How did we do? Rate the help from 1 (poor) to 5 (excellent):" in shown(message)

    # a score: stored at once; the message says so and keeps its buttons
    assert slack.button("U0ALICE", "rate:4", 1, channel=dm, message_ts=message["ts"]).status == 200
    slack.eventually(lambda: rating_rows(engine) == [(1, 4, None)])
    updated = slack.eventually(lambda: [m for m in s.messages(dm) if m["ts"] == message["ts"] and "You rated" in shown(m)])[0]
    assert "You rated the help 4/5, thank you." in shown(updated)
    assert "Your ticket #1 is resolved: replaced the worn pickup roller" in shown(updated)
    assert "ticket:confirm" in buttons(updated) and "ticket:rate:4" in buttons(updated)

    # "Add a comment": a modal with the score pre-selected; sent, the message is shown anew
    slack.button("U0ALICE", "rate", 1, channel=dm, message_ts=message["ts"])
    view = slack.eventually(lambda: s.views())[-1]
    score = next(b for b in view["blocks"] if b.get("block_id") == "score")
    assert score["element"]["initial_option"]["value"] == "4"
    assert slack.submit("U0ALICE", view, {"score": "2", "comment": "took three days"}).body == b""
    slack.eventually(lambda: rating_rows(engine) == [(1, 2, "took three days")])
    slack.eventually(lambda: "You rated the help 2/5" in shown(next(m for m in s.messages(dm) if m["ts"] == message["ts"])))

    # a low rating: a line in the card's thread for the group
    card = s.messages(DESK_CHANNEL)[0]
    slack.settled()
    lines = [m["text"] for m in s.replies(DESK_CHANNEL, card["ts"])]
    assert lines[-1] == "⭐ Alice Park rated the help 2/5: “took three days”"

    # a technician pressing someone else's rating button is refused, nothing changes
    slack.button("U0BOB", "rate:5", 1, channel=DESK_CHANNEL, message_ts=card["ts"])
    slack.eventually(lambda: any("Only the requester of #1 can rate" in (e["text"] or "") for e in s.ephemerals))
    assert rating_rows(engine) == [(1, 2, "took three days")]


@pytest.fixture
def teams(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def invoke_card(response) -> dict:
    body = response.json()
    assert response.status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", response.body
    return body["value"]


def test_teams_a_score_is_one_press_and_a_comment_a_small_form(teams, engine):
    live = teams
    live.post(live.personal("alice", "new the printer on floor 3 jams on every page"))
    card = live.card()
    live.post(live.invoke("bob", "claim", {"ticket_id": 1}, card=card))
    live.post(live.channel("bob", "resolve replaced the worn pickup roller", root=card.id))
    live.settled()
    resolution = live.eventually(lambda: [p for p in live.chat("alice") if p.activity.get("attachments")
                                          and "is resolved" in texts(card_content(p))])[-1]
    shown = card_content(resolution)
    assert verbs(shown) == ["rate"] * 6 + ["confirm", "reopen"]
    assert "How did we do? Rate the help from 1 (poor) to 5 (excellent):" in texts(shown)

    rated = invoke_card(live.post(live.invoke("alice", "rate", {"ticket_id": 1, "where": "dm", "position": 5})))
    assert rating_rows(engine) == [(1, 5, None)]
    assert "You rated the help 5/5, thank you." in texts(rated) and "confirm" in verbs(rated)
    assert "Your ticket #1 is resolved: replaced the worn pickup roller" in texts(rated)

    form = invoke_card(live.post(live.invoke("alice", "rate", {"ticket_id": 1, "where": "dm"})))
    assert list(inputs(form)) == ["score", "comment"] and inputs(form)["score"]["value"] == "5"
    back = invoke_card(live.post(live.invoke("alice", "cancel", {"ticket_id": 1, "where": "dm", "form": "rate"})))
    assert "You rated the help 5/5" in texts(back), "Cancel puts the resolution back, not a status line"
    again = invoke_card(live.post(live.invoke("alice", "submit", {"ticket_id": 1, "where": "dm", "form": "rate",
                                                                  "score": "1", "comment": "it jams again"})))
    assert "You rated the help 1/5" in texts(again)
    assert rating_rows(engine) == [(1, 1, "it jams again")]
    live.settled()
    lines = [p.activity.get("text") for p in live.connector.in_thread(DESK, card.id)]
    assert lines[-1] == "⭐ Alice Park rated the help 1/5: “it jams again”"

    refused = live.post(live.invoke("alice", "rate", {"ticket_id": 1, "where": "dm", "position": 9}))
    assert refused.json()["type"] == "application/vnd.microsoft.activity.message"
    assert refused.json()["value"].startswith("A rating is a whole number from 1 (poor) to 5 (excellent)")
