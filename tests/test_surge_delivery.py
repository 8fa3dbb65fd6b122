"""Delivery when the whole company reports at once (issue 20, items 5 and 6): Slack refusing
posts with 429 for a while, the per-channel pace of Slack, more new tickets for one channel than
that pace shows one by one, and two delivery workers on one database. Behaviour only: what
people see in Slack and what the outbox holds, never how long it took (that is bench/)."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Callable, TypeVar

import pytest
from sqlalchemy import update

from adapters.dispatcher import Dispatcher
from adapters.server import STATE
from adapters.slack.sender import SlackSender
from storage.outbox import MAX_ATTEMPTS, MAX_WAITING, Outbox
from storage.repository import SqlStore
from storage.schema import outbox
from tests.conftest import outbox_rows, say, stored
from tests.slack_harness import DESK_CHANNEL, NET_CHANNEL, LiveSlack
from tests.teams_harness import DESK, NET, LiveTeams, _nodes, card_content, texts
from tests.test_slack_requests import _pause_dispatchers, _resume_dispatchers

HEADLINE = "GlobalProtect VPN drops every few minutes for person {n}"
T = TypeVar("T")


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def report(live: LiveSlack, people: range) -> dict[str, int]:
    """Each person opens a ticket through the intake form, as many do in an outage; returns
    their Slack id → ticket id."""
    opened = {}
    for n in people:
        user = f"U0S{n:04d}"
        live.slack.add_user(user, f"person{n}", f"Person {n}", email=f"person{n}@corp.example")
        assert live.slash(user).status == 200
        view = live.eventually(lambda: [v for v in live.slack.views() if v["trigger_id"].endswith(f".{user}")])[0]
        response = live.submit(user, view, {"description": HEADLINE.format(n=n), "severity": "high"})
        assert response.status == 200 and not response.body, response.body
        opened[user] = n
    return opened


def shown_in_channel(live: LiveSlack, channel: str = DESK_CHANNEL) -> tuple[list[int], list[dict], list[dict]]:
    """(every ticket number the channel shows, on a card of its own or as a line of a combined
    post; the cards; the combined posts), top-level messages only."""
    numbers, cards, combined = [], [], []
    for message in live.slack.messages(channel):
        blocks = message.get("blocks") or []
        if blocks and blocks[0]["type"] == "header":
            cards.append(message)
            numbers.append(int(re.match(r"#(\d+)", blocks[0]["text"]["text"]).group(1)))
        elif any(b["text"]["text"].startswith("*#") for b in blocks[1:] if b["type"] == "section"):
            combined.append(message)
            numbers += [int(m) for b in blocks[1:] if b["type"] == "section"
                        for m in re.findall(r"^\*#(\d+)\*", b["text"]["text"], re.M)]
    return numbers, cards, combined


def combined_line(post: dict, number: int | None = None) -> str:
    """The line of ticket `number` (or the first line) in a combined post."""
    lines = [line for b in post["blocks"] if b["type"] == "section" for line in b["text"]["text"].split("\n")
             if line.startswith("*#")]
    return next(line for line in lines if number is None or line.startswith(f"*#{number}*"))


def confirmations(live: LiveSlack, user: str) -> list[dict]:
    """The messages in the person's DM with the bot confirming a ticket was opened."""
    return [m for m in live.slack.messages(live.slack.dm_channel(user)) if "Your ticket #" in json.dumps(m)]


def no_dead_letters(engine) -> None:
    failed = [(r["kind"], r["audience"], r["last_error"]) for r in outbox_rows(engine) if r["status"] == "failed"]
    assert failed == []


def after_backlog(live: LiveSlack, engine, opened: Callable[[], T]) -> T:
    """`opened()` while delivery is paused (people report before it starts), then every message
    delivered: none a dead letter, every call waiting the Retry-After it was given. Returns what
    `opened` returned."""
    live.call(_pause_dispatchers(live))
    result = opened()
    live.call(_resume_dispatchers(live))
    live.settled(timeout=90)
    no_dead_letters(engine)
    assert live.slack.impatient == []
    return result


def test_a_429_storm_leaves_no_dead_letter_and_each_method_waits_as_told(live, engine):
    # Slack refuses the next 80 posts (ten times the attempts a message has) with Retry-After: 1
    live.slack.fail_next("chat.postMessage", times=80, status=429, retry_after=1)
    people = report(live, range(10))
    live.settled(timeout=90)

    no_dead_letters(engine)
    assert live.slack.impatient == [], "every call waited the Retry-After it was given"
    numbers, _, _ = shown_in_channel(live)
    assert sorted(numbers) == list(range(1, 11)), "every ticket is in the triage channel, once"
    assert {user: len(confirmations(live, user)) for user in people} == {user: 1 for user in people}
    rows = outbox_rows(engine)
    assert max(r["attempts"] - r["waits"] for r in rows) <= 1, "a wait is never a failed attempt"
    looked = [c.method for c in live.slack.calls if c.method in ("conversations.history", "conversations.open")]
    assert looked == [], "a retry of this process's own knows it posted nothing: no look-up on Slack (Tier 3)"


def test_more_new_tickets_than_the_channel_pace_go_in_one_combined_post(live, engine):
    people = after_backlog(live, engine, lambda: report(live, range(24)))  # more than the pace allows
    numbers, cards, combined = shown_in_channel(live)
    assert sorted(numbers) == list(range(1, 25)), "every ticket is shown once: on its card or in a combined post"
    assert combined, "the tickets waiting beyond the channel's pace were posted together"
    assert len(live.slack.messages(DESK_CHANNEL)) < 24
    assert {user: len(confirmations(live, user)) for user in people} == {user: 1 for user in people}, \
        "the busy channel held up no one's confirmation"

    # each line names the ticket, its severity, headline and requester, with a button to claim it
    post = combined[0]
    cards_of = {r["id"]: r["ticket_id"] for r in outbox_rows(engine) if r["kind"] == "new_ticket"}
    delivers = post["metadata"]["event_payload"]["outbox_ids"]
    assert [cards_of.get(i) for i in delivers] == [int(n) for n in re.findall(r"^\*#(\d+)\*", "\n".join(
        b["text"]["text"] for b in post["blocks"][1:] if b["type"] == "section"), re.M)], \
        "it carries the outbox ids of the cards it shows (a retry finds it by them)"
    line = combined_line(post)
    number = int(re.match(r"\*#(\d+)\*", line).group(1))
    assert "high" in line and "VPN drops every few minutes" in line
    assert "<@U0S" in line, "the requester, mentioned by their Slack id"
    claim = next(e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == f"ticket:claim:{number}")
    assert claim["text"]["text"] == f"Claim #{number}"

    # claiming it there gives it a card of its own, and the line says who has it
    press = live.button_payload("U0BOB", "claim", number, DESK_CHANNEL, message_ts=post["ts"])
    press["actions"][0].update(action_id=claim["action_id"], value=claim["value"])  # this ticket's, of the many
    assert live.interactive(press).status == 200
    live.eventually(lambda: stored(engine, number).assignee_id == "slack:U0BOB")
    live.settled(timeout=30)
    _, cards_now, _ = shown_in_channel(live)
    own = [c for c in cards_now if c["blocks"][0]["text"]["text"].startswith(f"#{number} ")]
    assert len(own) == 1, "the claimed ticket got its own card"
    assert "<@U0BOB>" in json.dumps(own[0]["blocks"]), "its assignee on it"
    relisted = live.slack.message(DESK_CHANNEL, post["ts"])
    assert "claimed by <@U0BOB>" in combined_line(relisted, number)
    buttons = [e["action_id"] for b in relisted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert f"ticket:claim:{number}" not in buttons and buttons, "no claim button for it any more; the others keep theirs"
    claimed_lines = [r for r in live.slack.replies(DESK_CHANNEL, own[0]["ts"]) if "claimed" in r.get("text", "")]
    assert len(claimed_lines) == 1, "what happened is said in the new card's thread"

    # escalated while only listed: the page in the other group's channel links to where it is shown
    other = next(n for n in numbers if n != number)
    post_of_other = next(p for p in combined if any(line.startswith(f"*#{other}*") for b in p["blocks"]
                                                    if b["type"] == "section" for line in b["text"]["text"].split("\n")))
    assert live.slash("U0BOB", f"escalate {other} network-eng the whole floor lost the VPN").status == 200
    live.settled(timeout=30)
    page = live.slack.messages(NET_CHANNEL)[-1]["text"]
    assert f"#{other} (high)" in page
    assert f"/archives/{DESK_CHANNEL}/p{post_of_other['ts'].replace('.', '')}" in page, \
        "the page links to the combined post that lists it, its only place in the channel so far"


def test_two_workers_deliver_every_card_and_dm_exactly_once(live, engine):
    """A second delivery worker (as a second replica has) on the same database, with its own
    Slack client pace: every card and every confirmation goes out once."""
    state = live.app[STATE]
    first = state.dispatchers[0]
    other_outbox = Outbox(first.outbox.store, "replica-2", lease=timedelta(seconds=60))
    sender = SlackSender(first.sender.client, live.runtime.settings, live.runtime.store, live.runtime.desk.clock)
    second = Dispatcher(other_outbox, sender, live.runtime.desk.clock, batch=3, poll_seconds=0.05)
    first.batch = 3
    task = live.call(_start(second))
    try:
        people = report(live, range(16))
        live.settled(timeout=90)
    finally:
        second.stop()
        live.call(_wait(task))

    no_dead_letters(engine)
    numbers, _, _ = shown_in_channel(live)
    assert sorted(numbers) == list(range(1, 17))
    assert {user: len(confirmations(live, user)) for user in people} == {user: 1 for user in people}


async def _start(dispatcher: Dispatcher):
    import asyncio
    return asyncio.create_task(dispatcher.run())


async def _wait(task) -> None:
    await task


def test_a_replica_claims_nothing_for_a_destination_another_replica_is_delivering_to(desk, people, engine, clock):
    """Each replica paces a channel on its own, so two posting into one channel at once would
    post twice its pace (and be refused for it): while one holds a message for a destination,
    the other takes messages for other destinations only, and that one's once it is free."""
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    say(desk, people.frank, "new outlook will not start since the update")
    say(desk, people.bob, "new the badge reader at the back door is dead")
    with desk.store.transaction() as tx:  # the third ticket's card goes to another group's channel
        tx.conn.execute(outbox.update().where(outbox.c.id == 3).values(audience="group:network-eng"))
    first, second = Outbox(SqlStore(engine), "replica-1"), Outbox(SqlStore(engine), "replica-2")
    now = clock.now
    [held] = first.claim("slack", now, limit=1)
    assert held.audience == "group:service-desk"
    assert [m.id for m in second.claim("slack", now)] == [3], "only the destination nobody holds"
    assert first.delivered(held.id, now)
    assert [m.id for m in second.claim("slack", now)] == [2], "free again: the other replica may take it"
    assert first.claim("slack", now) == [], "held by the other one now"
    later = now + timedelta(minutes=2)  # replica-2 died holding them: its lease runs out
    assert [m.id for m in first.claim("slack", later)] == [2, 3]


def test_waits_never_use_up_attempts_but_a_day_of_only_waiting_does(desk, people, engine, clock):
    """The outbox itself: a wait (rate limit, outage) gives a message back without spending one
    of its attempts, however often; a message that has done nothing but wait for a day is a
    dead letter, so an endless outage is still seen by an operator."""
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    box = Outbox(SqlStore(engine), "w")
    now = clock.now
    for _ in range(MAX_ATTEMPTS * 3):
        [message] = box.claim("slack", now)
        box.retry_later(message.id, now, "Slack rate limit", delay=timedelta(seconds=1), counts=False)
        now += timedelta(seconds=1)
    row = outbox_rows(engine)[0]
    assert (row["status"], row["attempts"], row["waits"]) == ("pending", MAX_ATTEMPTS * 3, MAX_ATTEMPTS * 3)
    [message] = box.claim("slack", now)
    box.retry_later(message.id, now, "HTTP 400 from the platform")  # one real failure: one attempt of eight spent
    assert outbox_rows(engine)[0]["status"] == "pending"
    later = clock.now + MAX_WAITING + timedelta(minutes=1)
    [message] = box.claim("slack", later)
    box.retry_later(message.id, later, "Slack answered 503", delay=timedelta(seconds=5), counts=False)
    row = outbox_rows(engine)[0]
    assert (row["status"], row["last_error"]) == ("failed", "Slack answered 503")


@pytest.fixture
def teams(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def teams_backlog(teams: LiveTeams, engine, tag: str, name: str, count: int, severity: str) -> None:
    """`count` people on Teams open a ticket of `severity` while delivery is paused, then every
    message is delivered and none is a dead letter."""
    desk = teams.runtime.desk
    teams.call(_pause_dispatchers(teams))
    for n in range(count):
        actor = desk.actor(f"teams:29:{tag}-{n}", f"{name} {n}", email=f"{tag}{n}@corp.example", platform="teams")
        assert desk.handle(actor, f"new {HEADLINE.format(n=n)} severity={severity}").ok
    teams.call(_resume_dispatchers(teams))
    teams.settled(timeout=90)
    no_dead_letters(engine)


def test_more_new_tickets_than_a_teams_channel_pace_go_in_one_combined_card(teams, engine):
    """Teams paces posts into one channel too (about two a second here): a surge of 40 new tickets
    would take its triage channel minutes to show one by one."""
    teams_backlog(teams, engine, "surge", "Person", 40, "high")  # 40 people report before delivery starts
    posts = teams.cards_in(DESK)
    combined = [p for p in posts if "came in faster than this channel" in texts(card_content(p))]
    own = [p for p in posts if p not in combined]
    shown = [int(n) for p in combined for n in re.findall(r"\*\*#(\d+)\*\*", texts(card_content(p)))]
    shown += [int(re.match(r"#(\d+)", texts(card_content(p))).group(1)) for p in own]
    assert sorted(shown) == list(range(1, 41)), "every ticket is shown once: on its card or in a combined card"
    assert combined and len(posts) < 40, "the tickets waiting beyond the channel's pace were posted together"
    print(f"Teams: 40 new tickets shown in {len(posts)} posts, {len(combined)} of them combined")

    # each line names the ticket, its severity, headline and requester, with a button to claim it
    post = combined[0]
    number = int(re.search(r"\*\*#(\d+)\*\*", texts(card_content(post))).group(1))
    line = next(t for t in texts(card_content(post)).splitlines() if t.startswith(f"**#{number}**"))
    assert "high" in line and "VPN drops every few minutes" in line and f"from Person {number - 1}" in line
    claim = next(n for n in _nodes(card_content(post)) if n.get("type") == "Action.Execute"
                 and n["data"].get("ticket_id") == number)
    assert claim["title"] == f"Claim #{number}" and claim["verb"] == "claim"

    # claimed there: the presser is told, the list stays, the line says who has it, and it gets its own card
    answer = teams.post(teams.invoke("bob", "claim", claim["data"], card=post)).json()
    assert answer["type"] == "application/vnd.microsoft.activity.message", answer
    assert answer["value"].startswith(f"Done: #{number} gets its own card in this channel")
    teams.eventually(lambda: stored(engine, number).assignee_name == "Bob Lee")
    teams.settled(timeout=30)
    relisted = card_content(teams.connector.sent(post.conversation)[0])
    mine = next(t for t in texts(relisted).splitlines() if t.startswith(f"**#{number}**"))
    assert "claimed by Bob Lee" in mine
    assert number not in [n["data"].get("ticket_id") for n in _nodes(relisted) if n.get("type") == "Action.Execute"]
    cards_now = [p for p in teams.cards_in(DESK) if texts(card_content(p)).startswith(f"#{number} ")]
    assert len(cards_now) == 1 and "Bob Lee" in texts(card_content(cards_now[0])), "its own card, with its assignee"

    # escalated while only listed: the page in the other group's channel links to where it is shown
    other, post_of_other = next((int(n), p) for p in combined for n in re.findall(r"\*\*#(\d+)\*\*", texts(card_content(p)))
                                if int(n) != number)
    bob = teams.runtime.desk.actor("teams:29:bob", "Bob Lee", email="bob@corp.example", platform="teams")
    assert teams.runtime.desk.handle(bob, f"escalate {other} network-eng the whole floor lost the VPN").ok
    teams.settled(timeout=30)
    page = [p for p in teams.connector.sent() if p.conversation.startswith(NET)][-1].activity["text"]
    assert f"#{other} (high)" in page
    assert f"/{post_of_other.id}?" in page and "parentMessageId=" + post_of_other.id in page, \
        "the page links to the combined card that lists it, its only place in the channel so far"


CRITICAL_PAGE = re.compile(r"Critical ticket for service-desk: #(\d+) from ")


def test_pages_waiting_beyond_the_channel_pace_go_in_one_post_and_hold_up_no_card(live, engine):
    """Critical tickets page their group at creation: in an outage every one of them is a page and
    a card for the same channel. One post per page would keep the cards minutes behind them."""
    after_backlog(live, engine, lambda: report_critical(live, range(24)))
    numbers, _, _ = shown_in_channel(live)
    assert sorted(numbers) == list(range(1, 25)), "every ticket is shown once: on its card or in a combined post"
    posts = live.slack.messages(DESK_CHANNEL)
    paged = [int(n) for m in posts for n in CRITICAL_PAGE.findall(m.get("text", ""))]
    assert sorted(paged) == list(range(1, 25)), "every page is shown once"
    together = [m for m in posts if len(CRITICAL_PAGE.findall(m.get("text", ""))) > 1]
    assert together, "the pages waiting beyond the channel's pace were posted together"
    head, *lines = together[0]["text"].split("\n\n")
    assert re.fullmatch(r"\d+ notices came in faster than this channel can show them one by one; "
                        r"here they are together:", head), head
    assert all(CRITICAL_PAGE.match(line) for line in lines), lines
    assert len(posts) < 24, "48 cards and pages in fewer posts than tickets"

    # the server died between posting and marking them delivered: claimed again, regrouped, none shown twice
    pages_delivered_again(engine)
    live.wake()
    live.settled(timeout=60)
    assert live.slack.messages(DESK_CHANNEL) == posts


def report_critical(live: LiveSlack, people: range) -> None:
    """Each person opens a critical ticket with `/ticket new`, and is told its number."""
    for n in people:
        user = f"U0C{n:04d}"
        live.slack.add_user(user, f"crit{n}", f"Crit {n}", email=f"crit{n}@corp.example")
        response = live.slash(user, f"new {HEADLINE.format(n=n)} severity=critical")
        assert response.status == 200 and f"#{n + 1}".encode() in response.body, response.body


def test_pages_waiting_beyond_a_teams_channel_pace_go_in_one_post(teams, engine):
    teams_backlog(teams, engine, "crit", "Crit", 30, "critical")
    roots = [p for p in teams.connector.sent() if p.conversation == f"{DESK};messageid={p.id}"]
    pages = [p for p in roots if CRITICAL_PAGE.search(p.activity.get("text") or "")]
    paged = [int(n) for p in pages for n in CRITICAL_PAGE.findall(p.activity["text"])]
    assert sorted(paged) == list(range(1, 31)), "every page is shown once"
    together = [p for p in pages if len(CRITICAL_PAGE.findall(p.activity["text"])) > 1]
    assert together and len(pages) < 30, "the pages waiting beyond the channel's pace were posted together"
    text = together[0].activity["text"]
    assert text.startswith(f"{len(CRITICAL_PAGE.findall(text))} notices came in faster than this channel")
    assert len(json.dumps(together[0].activity).encode()) < 28 * 1024, "within Teams' 28 KB for an activity"

    # the server died between posting and marking them delivered: claimed again, regrouped, none shown twice
    sent = len(teams.connector.sent())
    pages_delivered_again(engine)
    teams.wake()
    teams.settled(timeout=60)
    assert len(teams.connector.sent()) == sent


def pages_delivered_again(engine) -> None:
    """Every other page back in the outbox, as a server that died before marking them delivered
    leaves them once their lease runs out: claimed again, each an attempt more, and grouped
    otherwise than the first time."""
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.kind == "escalation", outbox.c.ticket_id % 2 == 1).values(
            status="pending", claimed_by=None, claimed_until=None, delivered_at=None))
