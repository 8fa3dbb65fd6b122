"""Teams end to end: the real CloudAdapter in the real aiohttp server, over HTTP, against a
fake Bot Connector; activities shaped as Teams sends them."""
from __future__ import annotations

from bot.model import Status
from tests.conftest import stored, stored_events, stored_notes
from urllib.parse import quote

from tests.teams_harness import ALICE, BOB, DAVE, DESK, NET, TENANT, USERS, LiveTeams, card_content, inputs, live, texts, verbs  # noqa: F401 (live: the fixture)


def invoke_card(response) -> dict:
    """The card an invoke answered with (Universal Actions: shown to the person who pressed)."""
    body = response.json()
    assert response.status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", response.body
    return body["value"]


def invoke_message(response) -> str:
    body = response.json()
    assert response.status == 200 and body["type"] == "application/vnd.microsoft.activity.message", response.body
    return body["value"]


def chat_texts(live: LiveTeams, user: str) -> list[str]:
    """What the user reads in their chat with the bot: message texts and card texts."""
    return [p.activity.get("text") or texts(card_content(p)) for p in live.chat(user)]


def thread_lines(live: LiveTeams, card) -> list[str]:
    return [p.activity.get("text") or "" for p in live.connector.in_thread(DESK, card.id)]


def current(live: LiveTeams, card) -> dict:
    """The card as Teams shows it now (after the bot's updates)."""
    return card_content(live.connector.posts[card.id])


def open_ticket(live: LiveTeams, user: str = "alice", description: str = "The printer on floor 3 jams on every page"):
    assert live.post(live.personal(user, "new")).status == 201
    invoke_card(live.post(live.invoke(user, "submit", {"form": "new", "description": description, "severity": "high"})))
    live.settled()
    return live.card(index=len(live.cards_in()) - 1)


def test_the_whole_ticket_flow(live, engine):
    # "new" in the personal chat answers with the form card
    assert live.post(live.personal("alice", "new")).status == 201
    form = card_content(live.eventually(lambda: live.chat("alice"))[-1])
    assert list(inputs(form)) == ["description", "category", "severity", "device", "location", "phone"]
    assert inputs(form)["severity"]["value"] == "medium"
    assert "Many people or a whole site cannot work" in str(inputs(form)["severity"]["choices"])
    assert verbs(form) == ["submit"]

    # a too-short description comes back on its field, with what was typed; nothing is stored
    bad = invoke_card(live.post(live.invoke("alice", "submit", {"form": "new", "description": "broken",
                                                                 "severity": "high", "device": "HP-4050"})))
    assert "The description needs at least 10 characters" in texts(bad)
    assert inputs(bad)["description"]["value"] == "broken" and inputs(bad)["device"]["value"] == "HP-4050"
    assert inputs(bad)["severity"]["value"] == "high"
    assert stored(engine, 1) is None

    description = "The printer on floor 3 jams on every page <at>Everyone</at> [click](http://evil.example)"
    done = invoke_card(live.post(live.invoke("alice", "submit", {
        "form": "new", "description": description, "severity": "high", "device": "HP-4050", "location": "Floor 3"})))
    assert texts(done).startswith("✅ #1 is open: The printer on floor 3 jams")
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.requester.email, t.severity.value, t.category) == (
        ALICE, "Alice Park", "alice@corp.example", "high", "printer")
    live.settled()

    # the card is a new thread in the triage group's channel; the requester hears in her chat
    card = live.card()
    shown = texts(card_content(card))
    assert "#1 · The printer on floor 3 jams" in shown and "HP-4050" in shown and "Floor 3" in shown
    assert "alice@corp.example" in shown
    assert "<at>Everyone</at>" in shown and not card_content(card).get("msteams", {}).get("entities"), "no mention"
    assert "[click]\u200b(http://evil.example)" in shown and "](" not in shown, "no link"
    assert verbs(card_content(card)) == ["claim", "note", "escalate", "resolve", "link", "incident"]
    assert chat_texts(live, "alice")[-1].startswith("Your ticket #1 is open: The printer on floor 3 jams")

    # Bob claims from the card: his answer is the refreshed card; everyone's card is updated in place
    claimed = invoke_card(live.post(live.invoke("bob", "claim", {"ticket_id": 1}, card=card)))
    assert "Assignee: Bob Lee" in texts(claimed) and "claim" not in verbs(claimed)
    assert stored(engine, 1).assignee_id == BOB
    live.settled()
    assert "Assignee: Bob Lee" in texts(current(live, card)) and "claim" not in verbs(current(live, card))
    assert thread_lines(live, card) == ["🙋 Bob Lee claimed it."]
    assert chat_texts(live, "alice")[-1].startswith("Bob Lee is working on your ticket #1")

    # @mentioned replies in the card's thread are notes: plain → public, // → internal
    assert live.post(live.channel("bob", "Cleared the paper path, testing now", root=card.id)).status == 201
    assert live.post(live.channel("bob", "// the fuser is worn, order a new one", root=card.id)).status == 201
    assert [(n.body, n.internal) for n in stored_notes(engine, 1)] == [
        ("Cleared the paper path, testing now", False), ("the fuser is worn, order a new one", True)]

    # a command in the thread acts on its ticket; Alice answers the question in her chat
    live.post(live.channel("bob", "wait which tray do you print from?", root=card.id))
    assert stored(engine, 1).status is Status.WAITING
    live.settled()
    assert chat_texts(live, "alice")[-1].startswith("Bob Lee has a question about your ticket #1: which tray")
    assert live.post(live.personal("alice", "Tray 2, the big one")).status == 201
    assert stored(engine, 1).status is Status.IN_PROGRESS
    assert stored_notes(engine, 1)[-1].body == "Tray 2, the big one"

    # Dave has talked to the bot in his channel, so the escalation ping @mentions him
    live.post(live.channel("dave", "queue", channel=NET))
    form = invoke_card(live.post(live.invoke("bob", "escalate", {"ticket_id": 1}, card=card)))
    assert "network-eng" in [c["value"] for c in inputs(form)["group"]["choices"]] and "text" in inputs(form)
    live.post(live.invoke("bob", "submit", {"ticket_id": 1, "form": "escalate", "group": "network-eng",
                                            "text": "Printer drops off the network between jobs"}, card=card))
    t = stored(engine, 1)
    assert (t.group, t.escalation_level, t.status) == ("network-eng", 0, Status.NEW), "printer's chain has no network-eng"
    live.settled()
    ping = [p for p in live.connector.sent() if p.conversation.startswith(NET) and "Escalated" in (p.activity.get("text") or "")]
    assert len(ping) == 1
    assert "Escalated to network-eng (outside the printer chain): #1 (high) from Alice Park" in ping[0].activity["text"]
    assert f"teams.microsoft.com/l/message/{quote(DESK, safe='')}/{card.id}?tenantId={TENANT}" in ping[0].activity["text"], \
        "the ping links to the card's thread"
    assert "<at>Dave Kim</at>" in ping[0].activity["text"]
    assert [e["mentioned"]["id"] for e in ping[0].activity["entities"]] == [USERS["dave"][0]]

    # Dave claims and resolves from the card; a too-short resolution comes back on its field
    live.post(live.invoke("dave", "claim", {"ticket_id": 1}, card=card))
    assert stored(engine, 1).assignee_id == DAVE
    form = invoke_card(live.post(live.invoke("dave", "resolve", {"ticket_id": 1}, card=card)))
    short = invoke_card(live.post(live.invoke("dave", "submit", {"ticket_id": 1, "form": "resolve", "text": "fixed"}, card=card)))
    assert "Describe the resolution in at least 10 characters" in texts(short) and inputs(short)["text"]["value"] == "fixed"
    resolved = invoke_card(live.post(live.invoke("dave", "submit", {
        "ticket_id": 1, "form": "resolve", "text": "Gave the printer a static IP and replaced the fuser"}, card=card)))
    assert verbs(resolved) == ["reopen", "close"] and stored(engine, 1).status is Status.RESOLVED
    live.settled()
    resolved_card = live.chat("alice")[-1]
    assert verbs(card_content(resolved_card)) == ["rate"] * 6 + ["confirm", "reopen"], "the rating row, then the answers"

    # "Still broken" asks why in the chat and reopens; a second resolution, then "That fixed it" closes
    why = invoke_card(live.post(live.invoke("alice", "reopen", {"ticket_id": 1, "where": "chat"})))
    assert list(inputs(why)) == ["text"]
    live.post(live.invoke("alice", "submit", {"ticket_id": 1, "where": "chat", "form": "reopen",
                                              "text": "It jammed again after lunch"}))
    assert stored(engine, 1).status is Status.IN_PROGRESS
    live.post(live.channel("dave", "resolve replaced the pickup roller as well", root=card.id))
    assert stored(engine, 1).status is Status.RESOLVED
    live.settled()
    thanks = invoke_card(live.post(live.invoke("alice", "confirm", {"ticket_id": 1, "where": "chat"})))
    assert verbs(thanks) == [] and texts(thanks).startswith("👍")
    assert stored(engine, 1).status is Status.CLOSED
    live.settled()
    assert "📦 closed" in texts(current(live, card)) and verbs(current(live, card)) == [], "a closed card has no buttons"
    assert [e.action for e in stored_events(engine, 1)] == [
        "opened", "claimed", "note", "internal_note", "waiting", "note", "escalated", "claimed",
        "resolved", "reopened", "resolved", "confirmed"]
    assert len(live.cards_in(DESK)) == 1, "one card, updated in place"


def test_a_non_technician_pressing_claim_is_refused_and_nothing_changes(live, engine):
    card = open_ticket(live)
    refused = invoke_message(live.post(live.invoke("frank", "claim", {"ticket_id": 1}, card=card)))
    assert refused.startswith("Only technicians can claim tickets")
    assert invoke_message(live.post(live.invoke("frank", "resolve", {"ticket_id": 1}, card=card))).startswith(
        "Only technicians can resolve")
    live.settled()
    assert stored(engine, 1).assignee_id is None and [e.action for e in stored_events(engine, 1)] == ["opened"]
    assert live.connector.calls_to("PUT") == [], "the card was not touched"
    # a button naming no ticket, and an unknown verb, are answered too
    assert invoke_message(live.post(live.invoke("bob", "claim", {"ticket_id": "abc"}, card=card))).startswith(
        "That button does not name a ticket")
    assert "out of date" in invoke_message(live.post(live.invoke("bob", "explode", {"ticket_id": 1}, card=card)))
    assert "#404" in invoke_message(live.post(live.invoke("bob", "claim", {"ticket_id": 404}, card=card)))


def test_retried_activities_change_nothing(live, engine):
    new = live.personal("alice", "new My laptop screen flickers when it is on the dock")
    assert live.post(new).status == 201
    assert live.post(new).status == 201, "Teams retries with the same activity id"
    live.settled()
    assert stored(engine, 2) is None
    card = live.card()
    assert len(live.cards_in()) == 1
    answers = [p.activity.get("text") for p in live.chat("alice")]
    assert len(answers) == 1 and answers[0].startswith("Opened #1 (medium, hardware)"), "the retry is not answered again"
    assert live.chat("alice")[0].reply_to == new["id"]

    claim = live.invoke("bob", "claim", {"ticket_id": 1}, card=card)
    first, again = live.post(claim), live.post(claim)
    assert "Assignee: Bob Lee" in texts(invoke_card(first)) and "Assignee: Bob Lee" in texts(invoke_card(again))
    note = live.channel("bob", "Swapped the dock's cable", root=card.id)
    live.post(note)
    live.post(note)
    live.settled()
    assert [e.action for e in stored_events(engine, 1)] == ["opened", "claimed", "note"]
    assert [n.body for n in stored_notes(engine, 1)] == ["Swapped the dock's cable"]
    assert thread_lines(live, card).count("🙋 Bob Lee claimed it.") == 1


def test_a_technician_opens_a_ticket_for_a_mentioned_caller(live, engine):
    live.post(live.personal("alice", "hello"))  # Alice has a chat with the bot
    r = live.post(live.channel("bob", "new for=@alice via=phone Her laptop screen flickers on the dock", mentions=("alice",)))
    assert r.status == 201
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.email, t.logged_by_id, t.via) == (ALICE, "alice@corp.example", BOB, "phone")
    live.settled()
    assert any(s.startswith("Bob Lee opened ticket #1 for you (phone)") for s in chat_texts(live, "alice"))
    assert "by Bob Lee (phone)" in texts(card_content(live.card()))


def test_a_known_problem_is_answered_with_past_fixes_in_teams(live, engine):
    live.runtime.desk.knowledge.ready.wait(10)
    card = open_ticket(live, "frank", "Outlook keeps asking for my password after the update")
    live.post(live.channel("bob", "resolve Removed the stale credentials from Credential Manager", root=card.id))
    assert stored(engine, 1).status is Status.RESOLVED
    live.settled()

    second = open_ticket(live, "alice", "Outlook asks for my password again and again since the update")
    offer = card_content(live.chat("alice")[-1])
    assert "Removed the stale credentials from Credential Manager" in texts(offer)
    assert verbs(offer) == ["solved", "keep"] and "#1" not in texts(offer), "requesters see fixes, not ticket numbers"

    # Bob claims it and sees the similar ticket, with its number, in the card's thread
    live.post(live.invoke("bob", "claim", {"ticket_id": 2}, card=second))
    hint = [p.activity.get("text") or "" for p in live.connector.in_thread(DESK, second.id)]
    assert any("**#1**" in h for h in hint)

    solved = invoke_card(live.post(live.invoke("alice", "solved", {"ticket_id": 2, "position": 1, "where": "chat"})))
    assert verbs(solved) == [] and "closed" in texts(solved)
    assert stored(engine, 2).status is Status.CLOSED
    assert [e.action for e in stored_events(engine, 2)][-1] == "deflected"


def test_a_technician_logs_a_call_with_the_people_picker(live, engine):
    """In Bob's 1:1 chat the Connector cannot look Alice up (she is not in it): the bot uses what
    it learnt when she last wrote to it; someone it never heard of is refused, not invented."""
    unknown = invoke_card(live.post(live.invoke("bob", "submit", {
        "form": "new", "requester": USERS["frank"][1], "description": "Needs a second monitor for the new desk"})))
    assert "could not look up" in texts(unknown) and stored(engine, 1) is None
    live.post(live.personal("alice", "mine"))
    assert live.post(live.personal("bob", "new")).status == 201
    form = card_content(live.eventually(lambda: live.chat("bob"))[-1])
    picker = inputs(form)["requester"]
    assert picker["choices.data"]["dataset"] == "graph.microsoft.com/users", "Teams' own people picker"
    assert "requester_text" in inputs(form) and inputs(form)["via"]["value"] == "phone"
    done = invoke_card(live.post(live.invoke("bob", "submit", {
        "form": "new", "requester": USERS["alice"][1], "via": "walk-in", "severity": "low",
        "description": "Needs a second monitor for the new desk"})))
    assert texts(done).startswith("✅ #1 is open")
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.requester.email, t.logged_by_id, t.via) == (
        ALICE, "Alice Park", "alice@corp.example", BOB, "walk-in")
    # someone not in Teams is typed in instead, and found among known requesters or refused clearly
    refused = invoke_card(live.post(live.invoke("bob", "submit", {
        "form": "new", "requester_text": "nobody@nowhere.example", "description": "Printer out of toner again"})))
    assert "nobody@nowhere.example" in texts(refused) and inputs(refused)["requester_text"]["value"] == "nobody@nowhere.example"
    assert stored(engine, 2) is None


def test_the_weekly_digest_reaches_each_groups_channel_as_a_table(engine):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    digest = {"digest": True, "digest_day": now.strftime("%a").lower(), "digest_hour": now.hour, "timezone": "UTC"}
    live = LiveTeams(engine, {"reports": digest}).start()  # the SLA sweep sends it when the server starts
    try:
        live.settled()
        digests = lambda: [p for p in live.connector.sent() if "Weekly digest" in (p.activity.get("text") or "")]
        posts = live.eventually(lambda: len(digests()) >= 2 and digests())
        assert sorted(p.conversation.partition(";")[0] for p in posts) == sorted([DESK, NET]), "one per group, once"
        text = posts[0].activity["text"]
        assert text.startswith("**Weekly digest for ") and "\n```\n" in text and "opened" in text.lower()
        assert not posts[0].activity.get("entities"), "a digest @mentions nobody"
    finally:
        live.stop()
