"""Major incidents in Teams, end to end over HTTP against the fake Bot Connector: the proposal
declared from its card, the incident's card updated in place, "This is something else", everyone
told once from the incident's card, the cascade on resolve and one requester's "Still broken"."""
from __future__ import annotations

import re

import pytest

from bot.model import Status
from tests.conftest import stored
from tests.incident_texts import UNRELATED, VPN_OUTAGE
from tests.teams_harness import DESK, USERS, LiveTeams, card_content, inputs, texts, verbs


@pytest.fixture
def live(engine):
    server = LiveTeams(engine, {"escalation": {"sweep_seconds": 0.1}}).start()
    added = []
    for n in range(12):
        key = f"user{n:02d}"
        USERS[key] = (f"29:1{key}", f"aad-0000-{key}", f"User {n:02d}", f"{key}@corp.example")
        server.connector.add_member(*USERS[key])
        added.append(key)
    yield server
    server.stop()
    for key in added:
        del USERS[key]


def user(n: int) -> str:
    return f"user{n:02d}"


def invoke_card(response) -> dict:
    body = response.json()
    assert response.status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", response.body
    return body["value"]


def roots(live: LiveTeams, marker: str):
    """Cards posted as new threads in the triage channel whose text holds `marker`."""
    return [p for p in live.cards_in(DESK) if marker in texts(card_content(p))]


def current(live: LiveTeams, posted) -> dict:
    return card_content(live.connector.posts[posted.id])


def chat(live: LiveTeams, who: str) -> list[str]:
    return [p.activity.get("text") or texts(card_content(p)) for p in live.chat(who)]


def action_data(card: dict, verb: str) -> dict:
    return next(a["data"] for a in card.get("actions", []) if a.get("verb") == verb)


def test_a_surge_becomes_one_incident_in_teams(live, engine):
    texts_ = [VPN_OUTAGE[0], UNRELATED[0], VPN_OUTAGE[1], VPN_OUTAGE[4], UNRELATED[1], VPN_OUTAGE[5], VPN_OUTAGE[6],
              VPN_OUTAGE[13]]
    for n, text in enumerate(texts_):
        assert live.post(live.personal(user(n), f"new {text}")).status == 201
    proposal = live.eventually(lambda: roots(live, "look like the same problem"))
    live.settled()
    assert len(roots(live, "look like the same problem")) == 1
    offer = card_content(proposal[0])
    assert re.match(r"[56] tickets in", texts(offer)) and verbs(offer) == ["declare", "dismiss"]
    data = action_data(offer, "declare")

    # Bob declares it: his answer replaces the proposal; the incident's card is a thread of its own
    done = invoke_card(live.post(live.invoke("bob", "declare", data, card=proposal[0])))
    seed = data["ticket_id"]
    assert texts(done).startswith(f"👍 Declared major incident #{seed}") and verbs(done) == []
    card = live.eventually(lambda: roots(live, "🚨 Major incident"))[0]
    live.settled()
    assert "Affected: 6 people (6 tickets)" in texts(current(live, card))
    assert verbs(current(live, card)) == ["broadcast", "resolve"]
    members = {n for n in (1, 3, 4, 6, 7, 8) if n != seed}
    for n in members:
        assert chat(live, user(n - 1))[-1].startswith(f"Your ticket #{n} is a known problem, tracked as #{seed}")

    # a new report joins: no card of its own, the incident's card counts it, in place
    cards = len(live.cards_in(DESK))
    assert live.post(live.personal(user(8), f"new {VPN_OUTAGE[19]}")).status == 201
    live.eventually(lambda: "Affected: 7 people (7 tickets)" in texts(current(live, card)))
    live.settled()
    assert len(live.cards_in(DESK)) == cards

    # "This is something else" in User 09's chat: unlinked, and a card of its own
    assert live.post(live.personal(user(9), f"new {VPN_OUTAGE[7]}")).status == 201
    live.settled()
    known = card_content(live.chat(user(9))[-1])
    assert verbs(known) == ["unlink"]
    out = invoke_card(live.post(live.invoke(user(9), "unlink", action_data(known, "unlink"))))
    assert texts(out).startswith("👍 OK: #10 is handled on its own")
    assert stored(engine, 10).parent_id is None
    live.eventually(lambda: roots(live, "#10 · my vpn disconnected again"))

    # Update everyone, from the incident's card: a form, then one message in each requester's chat
    form = invoke_card(live.post(live.invoke("bob", "broadcast", action_data(current(live, card), "broadcast"), card=card)))
    assert list(inputs(form)) == ["text"]
    back = invoke_card(live.post(live.invoke("bob", "submit", {"ticket_id": seed, "form": "broadcast", "where": "incident",
                                                              "text": "The VPN gateway is being restarted"}, card=card)))
    assert texts(back).startswith("🚨 Major incident"), "the presser sees the incident's card again"
    live.settled()
    for n in members | {seed, 9}:
        assert sum(t.startswith(f"Update on #{seed}") for t in chat(live, user(n - 1))) == 1, n

    # Resolve incident: every linked ticket resolved, each requester told once, the card without buttons
    live.post(live.invoke("bob", "submit", {"ticket_id": seed, "form": "resolve", "where": "incident",
                                            "text": "Restarted the VPN gateway and raised its session limit"}, card=card))
    assert stored(engine, seed).status is Status.RESOLVED
    live.settled()
    for n in members | {9}:
        assert stored(engine, n).status is Status.RESOLVED
        assert sum("is resolved" in t for t in chat(live, user(n - 1))) == 1, n
    assert "✅ resolved" in texts(current(live, card)) and verbs(current(live, card)) == []

    # "Still broken" from one requester reopens their ticket alone, out of the incident
    one = sorted(members)[0]
    why = invoke_card(live.post(live.invoke(user(one - 1), "reopen", {"ticket_id": one, "where": "chat"})))
    assert list(inputs(why)) == ["text"]
    live.post(live.invoke(user(one - 1), "submit", {"ticket_id": one, "where": "chat", "form": "reopen",
                                                    "text": "Still drops every few minutes for me"}))
    assert (stored(engine, one).status, stored(engine, one).parent_id) == (Status.IN_PROGRESS, None)
    assert all(stored(engine, n).status is Status.RESOLVED for n in members - {one})


def test_link_and_merge_from_a_tickets_card_in_teams(live, engine):
    for who, text in (("alice", "The printer on floor 3 jams on every page"),
                      ("frank", "printer on the third floor jams constantly"),
                      ("dave", "Floor 3 printer: paper jam on each job")):
        assert live.post(live.personal(who, f"new {text}")).status == 201
    live.settled()
    cards = live.cards_in(DESK)
    assert verbs(card_content(cards[1])) == ["claim", "note", "escalate", "resolve", "link", "incident"]
    form = invoke_card(live.post(live.invoke("bob", "link", {"ticket_id": 2}, card=cards[1])))
    assert list(inputs(form)) == ["text", "how"] and inputs(form)["how"]["value"] == "link"
    linked = invoke_card(live.post(live.invoke("bob", "submit", {"ticket_id": 2, "form": "link", "text": "1",
                                                                  "how": "link"}, card=cards[1])))
    assert "Same problem as: #1" in texts(linked) and "unlink" in verbs(linked) and "escalate" not in verbs(linked)
    assert stored(engine, 2).parent_id == 1
    live.post(live.invoke("bob", "submit", {"ticket_id": 3, "form": "link", "text": "#1", "how": "merge"}, card=cards[2]))
    assert (stored(engine, 3).status, stored(engine, 3).merged_into_id) == (Status.CLOSED, 1)
    live.settled()
    assert chat(live, "dave")[-1].startswith("Your ticket #3 was merged into #1")
    assert "Merged into: #1" in texts(current(live, cards[2]))
