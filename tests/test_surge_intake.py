"""Intake that holds in a surge: a submitted intake form is answered before its ticket is written,
a repeat of it makes no second ticket, and a database locked by another process delays the ticket,
never the answer. The real Bolt app and botbuilder in the real server; Slack and the Bot Connector
are the fakes in tests/fakes (Socket Mode's ack limit is Slack's: past it the fake gives up)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from adapters.server import STATE
from storage.database import make_engine, reading, upgrade
from tests.conftest import count_rows, stored, stored_events
from tests.slack_harness import DESK_CHANNEL, LiveSlack
from tests.teams_harness import LiveTeams, _nodes, card_content, texts

FORM = {"description": "VPN drops every few minutes since this morning", "severity": "high"}


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def intake_view(live: LiveSlack, user: str = "U0ALICE") -> dict:
    """The modal `/ticket` opens for `user` (the one opened after those already there)."""
    shown = len(live.slack.views())
    if live.socket_mode:
        live.socket_slash(user)
    else:
        assert live.slash(user).status == 200
    return live.eventually(lambda: live.slack.views()[shown:])[0]


def dms(live: LiveSlack, user: str = "U0ALICE") -> list[str]:
    return [m["text"] for m in live.slack.messages(live.slack.dm_channel(user))]


def test_the_same_view_submitted_again_makes_one_ticket(live, engine):
    view = intake_view(live)
    payload = live.submission_payload("U0ALICE", view, FORM)
    first = live.interactive(payload)
    assert first.status == 200 and first.body == b""  # the modal closes
    live.settled()
    again = [live.interactive(payload) for _ in range(4)]  # "trouble connecting": Submit pressed again
    live.settled()
    assert count_rows(engine, "tickets") == 1
    for response in again:
        answer = response.json()
        assert response.status == 200 and answer["response_action"] == "update"
        assert answer["view"]["blocks"][0]["text"]["text"].startswith("You already opened this as #1: VPN drops")
    assert [t for t in dms(live) if "#1" in t] == [dms(live)[0]], "one confirmation"
    assert dms(live)[0].startswith("Your ticket #1 is open: VPN drops every few minutes")
    assert len(live.slack.messages(DESK_CHANNEL)) == 1, "one card"


def test_a_form_whose_profile_look_up_is_refused_keeps_the_username_slack_sent(live, engine):
    """In a surge of different people users.info is refused past its Tier 4 budget (429): the
    ticket is still written, for the person, named by the username the submission carried rather
    than a bare id, and confirmed in their DM; no look-up is made again before the Retry-After."""
    live.slack.refuse_for("users.info", seconds=30, retry_after=30)
    view = intake_view(live)
    answer = live.submit("U0ALICE", view, FORM)
    assert answer.status == 200 and answer.body == b""
    live.settled()
    ticket = stored(engine, 1)
    assert (ticket.requester.id, ticket.requester.name) == ("slack:U0ALICE", "alice")
    assert len(live.slack.calls_to("users.info")) == 1, "refused once, it is not asked again before its Retry-After"
    assert live.slack.impatient == []
    assert dms(live)[0].startswith("Your ticket #1 is open")


def test_a_profile_look_up_slower_than_its_request_is_kept_for_the_next_one(live, engine):
    """users.info slower than the 1 s `/ticket` gives it (the modal must open within Slack's 3 s):
    the modal opens without the profile, but the look-up is not dropped. The submission waits for
    the one under way instead of asking again, and the ticket has the person's name and email."""
    live.slack.delay_next("users.info", 1.6)
    view = intake_view(live)
    answer = live.submit("U0ALICE", view, FORM)
    assert answer.status == 200 and answer.body == b""
    live.settled()
    ticket = stored(engine, 1)
    assert (ticket.requester.name, ticket.requester.email) == ("Alice Park", "alice@corp.example")
    assert len(live.slack.calls_to("users.info")) == 1, "one look-up, waited for by both requests"


def test_a_surge_ticket_opened_without_a_profile_gets_the_requesters_details_once_slack_allows(
        live, engine, monkeypatch):
    """Refused by users.info for its rate limit, the form's ticket is written with the username
    the payload carried; once the Retry-After ran out, the person is looked up again in the
    background and the ticket gets their name and email, with an audit event saying so."""
    monkeypatch.setattr("adapters.chat.people.BACKFILL_GRACE", 0.5)
    live.slack.refuse_for("users.info", seconds=6, retry_after=6)
    view = intake_view(live)
    assert live.submit("U0ALICE", view, FORM).status == 200
    live.settled()
    assert (stored(engine, 1).requester.name, stored(engine, 1).requester.email) == ("alice", None)
    completed = live.eventually(lambda: stored(engine, 1).requester.email, timeout=30)
    ticket = stored(engine, 1)
    assert (completed, ticket.requester.name, ticket.requester.id) == ("alice@corp.example", "Alice Park", "slack:U0ALICE")
    event = stored_events(engine, 1)[-1]
    assert (event.action, event.changes["requester_email"]) == ("requester_completed", [None, "alice@corp.example"])
    assert live.slack.impatient == []


def test_repeats_arriving_together_make_one_ticket(live, engine):
    view = intake_view(live)
    payload = live.submission_payload("U0ALICE", view, FORM)
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(live.interactive(payload))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live.settled()
    assert [a.status for a in answers] == [200] * 5
    assert count_rows(engine, "tickets") == 1
    assert sum(1 for a in answers if a.body == b"") == 1, "one closes the modal; the others say it is already sent"
    repeats = [a.json()["view"]["blocks"][0]["text"]["text"] for a in answers if a.body]
    assert all(r.startswith(("You already opened this as #1", "You already sent this")) for r in repeats), repeats
    assert len([t for t in dms(live) if t.startswith("Your ticket #1 is open")]) == 1


def test_repeats_another_server_wrote_are_read_together_each_with_its_own_ticket(desk, people):
    """Forms written before (by another replica, or by this server before a restart) and submitted
    again at the same moment: one read of the store answers them all, each with its own ticket."""
    import asyncio

    from adapters.chat.intake import IntakeQueue
    from bot.commands.registry import Call, Source

    written = {}
    for n, who in enumerate((people.alice, people.frank)):
        key = f"slack:view:V0{n}.hash{n}"
        reply = desk.execute(who, Call("new", None, f"VPN drops every few minutes ({n})", {}, Source.FORM),
                             dedupe_key=key)
        written[key] = reply.ticket.id
    reads: list[list[str]] = []
    read = desk.seen_tickets
    desk.seen_tickets = lambda keys: (reads.append(sorted(keys)), read(keys))[1]
    asked = [*written, "slack:view:V09.never", *written]

    async def again() -> list:
        queue = IntakeQueue(desk)  # another server's queue: it remembers none of them
        return await asyncio.gather(*(queue.written(key) for key in asked))

    found = asyncio.run(again())
    assert [t.id if t else None for t in found] == [*written.values(), None, *written.values()]
    assert reads == [sorted({*asked})], "one read for all of them"


def test_a_button_pressed_twice_changes_the_ticket_once(live, engine):
    view = intake_view(live)
    assert live.submit("U0ALICE", view, FORM).status == 200
    live.settled()
    card = live.slack.messages(DESK_CHANNEL)[0]
    for _ in range(2):  # a double click: two presses, each with its own trigger
        assert live.button("U0BOB", "claim", 1, message_ts=card["ts"]).status == 200
    live.eventually(lambda: [e for e in live.slack.ephemerals if e["user"] == "U0BOB"])
    live.settled()
    assert [e.action for e in stored_events(engine, 1)].count("claimed") == 1
    assert [e["text"] for e in live.slack.ephemerals if e["user"] == "U0BOB"] == ["#1 is already yours."]


def test_distinct_people_at_once_each_get_their_own_ticket(live, engine):
    people = ["U0ALICE", "U0BOB", "U0CAROL"]
    views = {user: intake_view(live, user) for user in people}
    answers: dict = {}
    threads = [threading.Thread(target=lambda u=u: answers.__setitem__(u, live.submit(
        u, views[u], {**FORM, "description": f"{FORM['description']} ({u})"}, written=False))) for u in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live.settled()
    assert all(a.status == 200 and a.body == b"" for a in answers.values())
    requesters = sorted(stored(engine, n).requester.id for n in (1, 2, 3))
    assert requesters == sorted(f"slack:{u}" for u in people)
    assert all(stored(engine, n).description.endswith(f"({stored(engine, n).requester.id[6:]})") for n in (1, 2, 3))
    for user in people:
        assert any(t.startswith("Your ticket #") for t in dms(live, user))


def test_field_problems_come_back_in_the_answer_and_nothing_is_stored(live, engine):
    view = intake_view(live)
    bad = live.submit("U0ALICE", view, {"description": "vpn", "severity": "high", "phone": "12"})
    assert bad.status == 200 and bad.json()["response_action"] == "errors"
    assert bad.json()["errors"]["description"].startswith("The description needs at least 10 characters")
    assert "phone" in bad.json()["errors"]
    live.settled()
    assert count_rows(engine, "tickets") == 0
    good = live.submit("U0ALICE", view, FORM)  # corrected and sent again under the same view: it opens now
    assert good.status == 200 and good.body == b""
    live.settled()
    assert stored(engine, 1).description == FORM["description"]


HOLD_LOCK = """
import select, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO seen_requests (key, created_at) VALUES ('another process', '2026-01-01 00:00:00')")
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))  # held for that long, or until told to let go
db.execute("COMMIT")
"""


@pytest.fixture
def on_file(tmp_path):
    """A Slack server (Socket Mode) on a SQLite file another process can lock: (live, engine, path)."""
    path = tmp_path / "helpdesk.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    live = LiveSlack(engine, socket_mode=True).start()
    yield live, engine, path
    live.stop()
    engine.dispose()


def locked(path, seconds: float) -> subprocess.Popen:
    """Another process holding the database's write lock for `seconds` (or until a line on its
    stdin), once it says so."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def tickets_now(engine) -> int:
    with reading(engine) as conn:  # a reader does not wait for the lock
        return conn.exec_driver_sql("SELECT count(*) FROM tickets").scalar()


def test_a_database_locked_by_another_process_delays_the_ticket_not_the_ack(on_file):
    live, engine, path = on_file
    view = intake_view(live)
    holder = locked(path, 8)
    # Socket Mode: the fake gives up on an ack later than Slack's 3 s (TimeoutError)
    ack = live.socket_submit("U0ALICE", view, FORM, written=False)
    assert not (ack or {}).get("response_action"), ack  # acked empty: the modal closes
    assert tickets_now(engine) == 0, "nothing could be written yet"
    holder.wait(30)
    ticket = live.eventually(lambda: stored(engine, 1), timeout=30)
    assert ticket.requester.id == "slack:U0ALICE" and ticket.description == FORM["description"]
    live.settled()
    assert [t for t in dms(live) if t.startswith("Your ticket #1 is open: VPN drops")], dms(live)
    assert count_rows(engine, "tickets") == 1


def test_a_database_locked_past_every_retry_ends_in_one_message_and_nothing_stored(on_file):
    live, engine, path = on_file
    for intake in live.app[STATE].intakes:
        intake.retry_for = 1.0  # configuration: give up after the first locked attempt (SQLite waits 10 s)
    view = intake_view(live)
    holder = locked(path, 120)  # held until the person is told (each writer gives up after SQLite's 10 s)
    ack = live.socket_submit("U0ALICE", view, FORM, written=False)
    assert not (ack or {}).get("response_action"), ack
    try:
        told = live.eventually(lambda: [t for t in dms(live) if "could not record" in t], timeout=60)
    finally:
        holder.communicate("let go\n", timeout=30)
    assert told == ["Sorry: the help desk could not record the ticket you just submitted (its database is not "
                    "answering). Please submit it again in a few minutes."]
    assert tickets_now(engine) == 0
    again = live.socket_submit("U0ALICE", view, FORM)  # as told: sent again, it opens now
    assert not (again or {}).get("response_action"), again
    assert stored(engine, 1).description == FORM["description"]


def test_deliveries_waiting_on_a_locked_database_never_hold_up_an_answer(on_file):
    """In a surge many deliveries wait on the database at once (delivered marks, receipts). They
    once took every thread of the pool the answers use too, and forms were answered past Slack's
    3 s (404 in the delivery bench's burst): delivery has threads of its own now."""
    live, engine, path = on_file
    people = [f"U0SURGE{n}" for n in range(10)]
    for n, user in enumerate(people):
        live.slack.add_user(user, f"surge{n}", f"Surge Person {n}", email=f"surge{n}@corp.example")
    views = {user: intake_view(live, user) for user in people}
    alice = intake_view(live)
    live.slack.delay_next("chat.postMessage", 2.0, times=40)  # Slack slow: deliveries are in flight...
    for n, user in enumerate(people):
        live.socket_submit(user, views[user], {**FORM, "description": f"{FORM['description']} (desk {n})"})
    holder = locked(path, 8)  # ...and the database locked when their answers come back
    live.eventually(lambda: len(live.slack.calls_to("chat.postMessage")) >= 8, timeout=10)
    time.sleep(2.5)  # Slack has answered them: their lanes now wait on the database to record it
    ack = live.socket_submit("U0ALICE", alice, FORM, written=False)  # past 3 s the fake gives up
    assert not (ack or {}).get("response_action"), ack  # answered in time: the modal closes
    holder.wait(30)
    live.settled(timeout=60)
    assert count_rows(engine, "tickets") == 11
    for user in people + ["U0ALICE"]:
        assert len([t for t in dms(live, user) if t.startswith("Your ticket #")]) == 1, dms(live, user)


@pytest.fixture
def teams(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def test_the_same_teams_form_submitted_again_makes_one_ticket(teams, engine):
    assert teams.post(teams.personal("alice", "new")).status == 201
    form = card_content(teams.eventually(lambda: teams.chat("alice"))[-1])
    [submit] = [n for n in _nodes(form) if n.get("verb") == "submit"]
    data = {**submit["data"], "description": FORM["description"], "severity": "high"}
    first, again = (teams.post(teams.invoke("alice", "submit", data)) for _ in range(2))
    teams.settled()
    assert count_rows(engine, "tickets") == 1
    assert texts(first.json()["value"]).startswith("✅ #1 is open: VPN drops every few minutes")
    assert texts(again.json()["value"]).startswith("You already opened this as #1: VPN drops every few minutes")


# The journal: a form answered "received" outlives the process that accepted it

def journal_files(path) -> list:
    return sorted((path.parent / (path.name + ".intake")).glob("slack-*.jsonl"))


def test_a_form_accepted_by_a_server_that_stopped_before_writing_it_is_written_at_the_next_start(tmp_path):
    path = tmp_path / "helpdesk.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    live = LiveSlack(engine, socket_mode=True).start()
    payload = live.submission_payload("U0ALICE", intake_view(live), FORM)
    holder = locked(path, 120)  # the database stays locked past the server's end
    try:
        ack = live.socket("interactive", payload)
        assert not (ack or {}).get("response_action"), ack  # answered: the modal closes
        (journal,) = journal_files(path)
        assert FORM["description"] in journal.read_text()
        with warnings.catch_warnings():  # its dispatcher and sweep wait on the locked database: stop() says so
            warnings.simplefilter("ignore", RuntimeWarning)
            live.stop()  # its shutdown cannot write the ticket either
        for intake in live.app[STATE].intakes:  # the attempt in hand gives up at SQLite's busy timeout (10 s),
            intake._threads.shutdown(wait=True)  # as a process's exit would wait for it; a crash would not
        assert tickets_now(engine) == 0 and journal_files(path) == [journal], "kept, not written"
    finally:
        holder.communicate("let go\n", timeout=30)
    again = make_engine(f"sqlite:///{path}")
    restarted = LiveSlack(again, socket_mode=True).start()
    try:
        ticket = restarted.eventually(lambda: stored(again, 1), timeout=30)
        assert ticket.requester.id == "slack:U0ALICE" and ticket.requester.name == "Alice Park"
        assert ticket.description == FORM["description"] and ticket.severity.value == "high"
        restarted.settled()
        assert [t for t in dms(restarted) if t.startswith("Your ticket #1 is open: VPN drops")], dms(restarted)
        assert journal not in journal_files(path), "the earlier process's journal is gone once taken over"
        again_ack = restarted.socket("interactive", payload)  # the same form sent once more
        assert again_ack["response_action"] == "update", again_ack
        assert again_ack["view"]["blocks"][0]["text"]["text"].startswith("You already opened this as #1: VPN drops")
        assert count_rows(again, "tickets") == 1
    finally:
        restarted.stop()
        again.dispose()
        engine.dispose()
    assert journal_files(path) == [], "a clean stop with nothing outstanding leaves no journal"


JOURNAL_THEN_DIE = """
import os, signal, sys
from adapters.chat.journal import Journal
from bot.commands.registry import Call, Source
from bot.model import Actor
journal = Journal(sys.argv[1], "slack")
call = Call("new", None, "Wi-Fi \\u201cCorp\\u201d drops & rejoins", {"severity": "high"}, Source.FORM)
journal.accepted("slack:view:V1:h1", "slack:U0ALICE", call)
journal.accepted("slack:view:V2:h2", Actor("teams:29:bob", "Bob Lee", email="bob@corp.example"), call)
journal.settled("slack:view:V1:h1")
journal.accepted("slack:view:V3:h3", "slack:U0CAROL", call)
os.write(journal._fd, b'{"key": "slack:view:V4')  # a line cut short by the crash
print("journaled", flush=True)
sys.stdin.readline()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_leaves_its_unwritten_forms_to_the_next_one(tmp_path):
    from adapters.chat.journal import Journal
    checkout = Path(__file__).resolve().parent.parent
    dying = subprocess.Popen([sys.executable, "-c", JOURNAL_THEN_DIE, str(tmp_path)], cwd=checkout, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert dying.stdout.readline().strip() == "journaled"
    mine = Journal(tmp_path, "slack")
    assert mine.orphans() == [], "a running process's journal is its own"
    dying.communicate("die\n", timeout=30)
    ((path, forms, damaged),) = mine.orphans()
    assert not damaged, "only the last line was cut short"
    assert [f.key for f in forms] == ["slack:view:V2:h2", "slack:view:V3:h3"], "settled and cut-short lines are not"
    bob, carol = forms
    assert bob.actor is not None and bob.actor.name == "Bob Lee" and bob.actor.email == "bob@corp.example"
    assert carol.actor is None and carol.identity == "slack:U0CAROL"
    assert carol.call.text == "Wi-Fi \u201cCorp\u201d drops & rejoins" and dict(carol.call.options) == {"severity": "high"}
    mine.forget(path)
    later = Journal(tmp_path, "slack")
    assert not path.exists() and later.orphans() == [], "a running process's journal is still its own"
    later.close(remove=True)
    mine.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_a_batch_claims_its_request_ids_together_and_forgets_those_of_refused_calls(desk, people, engine):
    """Desk.execute_together claims a batch's request ids in one write and remembers the tickets
    after it: a repeat answers with its ticket, a refused call's id can come again corrected, and
    an id named twice in one batch still opens one ticket."""
    from bot.commands.registry import Call
    from bot.replies import ReplyKind

    def new(text: str) -> Call:
        return Call("new", None, text, options={"severity": "high", "category": "network"})

    first = desk.execute_together([(people.alice, new("the vpn drops every ten minutes at home"), "view-1")])
    assert first[0].ok and first[0].ticket.id == 1
    replies = desk.execute_together([
        (people.bob, new("the printer on floor 3 jams on every page"), "view-2"),
        (people.carol, Call("claim", 999, ""), "action-3"),  # no such ticket: refused after the answer
        (people.alice, new("the vpn drops every ten minutes at home"), "view-1"),  # Submit pressed again
    ])
    assert [r.kind for r in replies][0] is not ReplyKind.DUPLICATE and replies[0].ticket.id == 2
    assert not replies[1].ok and "#999" in replies[1].text
    assert replies[2].kind is ReplyKind.DUPLICATE and replies[2].ticket.id == 1
    assert desk.seen_tickets(["view-1", "view-2", "action-3"]).keys() == {"view-1", "view-2"}
    assert desk.execute_together([(people.bob, new("the printer on floor 3 jams on every page"), "view-2")])[0].ticket.id == 2
    again = desk.execute_together([(people.carol, Call("claim", 2, ""), "action-3")])  # the same id, now valid
    assert again[0].ok and stored(engine, 2).assignee_id == "carol@corp.example"
    twice = desk.execute_together([(people.dave, new("my laptop will not wake from sleep"), "view-4"),
                                   (people.dave, new("my laptop will not wake from sleep"), "view-4")])
    assert twice[0].ticket.id == 3 and twice[1].kind is ReplyKind.DUPLICATE
    assert count_rows(engine, "tickets") == 3
