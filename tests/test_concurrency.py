"""Races between real concurrent sessions: one winner, the others told who has it, nothing half-written."""
from __future__ import annotations

import threading

import pytest

from bot.model import Status
from tests.conftest import say, stored, stored_events, stored_notes

TECHS = ["bob@corp.example", "carol@corp.example", "dave@corp.example"]


def race(desk, actors, line_for):
    """Run one line per actor at the same instant, each on its own thread and connection."""
    barrier = threading.Barrier(len(actors))
    replies: dict[int, object] = {}

    def run(i, actor):
        barrier.wait()
        replies[i] = desk.handle(actor, line_for(i))

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return [replies[i] for i in range(len(actors))]


@pytest.mark.parametrize("round_", range(5))
def test_simultaneous_claims_have_exactly_one_winner(desk, people, engine, round_):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    actors = [desk.actor(t) for t in TECHS for _ in range(2)]  # each technician clicks twice
    replies = race(desk, actors, lambda i: "claim 1")
    winners = [(a, r) for a, r in zip(actors, replies) if r.ok]
    assert len(winners) == 1, [r.text for r in replies]
    winner = winners[0][0]
    for actor, reply in zip(actors, replies):
        if reply.ok:
            continue
        if actor.id == winner.id:
            assert reply.text == "#1 is already yours."
        else:
            assert reply.text == f"#1 is already claimed by {winner.name}; ask them, or `assign 1 <technician>` to hand it over."
    ticket = stored(engine, 1)
    assert (ticket.assignee_id, ticket.status, ticket.version) == (winner.id, Status.IN_PROGRESS, 2)
    assert [e.action for e in stored_events(engine, 1)] == ["opened", "claimed"]


def test_simultaneous_notes_are_all_kept(desk, people, engine):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    actors = [people.alice, people.bob, people.carol, people.dave] * 3
    replies = race(desk, actors, lambda i: f"note 1 note number {i}")
    assert all(r.ok for r in replies), [r.text for r in replies if not r.ok]
    assert sorted(n.body for n in stored_notes(engine, 1)) == sorted(f"note number {i}" for i in range(12))
    assert stored(engine, 1).version == 13
    assert len(stored_events(engine, 1)) == 13


def test_resolve_racing_a_claim_never_loses_either_change(desk, people, engine):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    actors = [people.bob, people.carol]
    replies = race(desk, actors, lambda i: ["resolve 1 replaced the pickup roller, prints fine", "claim 1"][i])
    ticket = stored(engine, 1)
    assert replies[0].ok
    assert ticket.status is Status.RESOLVED
    assert ticket.resolution == "replaced the pickup roller, prints fine"
    actions = [e.action for e in stored_events(engine, 1)]
    if replies[1].ok:  # the claim went first, then bob resolved Carol's ticket
        assert actions == ["opened", "claimed", "resolved"] and ticket.assignee_id == "carol@corp.example"
    else:  # bob's resolve went first (and made him the assignee); the claim was refused
        assert actions == ["opened", "resolved"] and ticket.assignee_id == "bob@corp.example"
        assert replies[1].text == "#1 is resolved, so it cannot be claimed; type `reopen 1 <why>` if the problem is back."


def test_many_tickets_opened_at_once_get_distinct_numbers(desk, people, engine):
    actors = [people.alice, people.frank] * 6
    replies = race(desk, actors, lambda i: f"new parallel ticket number {i} about a printer")
    assert all(r.ok for r in replies)
    assert sorted(r.ticket.id for r in replies) == list(range(1, 13))
    assert {stored(engine, r.ticket.id).description for r in replies} == {f"parallel ticket number {i} about a printer" for i in range(12)}
