"""Major incidents at the desk: linking, merging, declaring, the surge found and proposed once,
new tickets joining an open incident, answering everyone once, the cascade on resolve, one
requester reopening, reports. On SQLite and PostgreSQL, through `Desk.handle` as every adapter."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, insert, select

from bot.model import Status
from storage.knowledge import TicketKnowledge
from storage.repository import SqlStore
from storage.schema import incident_proposal_members, incident_proposals, metadata
from tests.conftest import outbox_rows, say, stored, stored_events, stored_notes
from tests.incident_texts import SAME_SYMPTOM, UNRELATED, VPN_OUTAGE


def requester(desk, n: int):
    return desk.actor(f"user{n}@corp.example", f"User {n:02d}")


def open_tickets(desk, clock, texts, first_user: int = 0, every: float = 20, sweep: bool = False) -> list[int]:
    """Each text opened by its own requester, `every` seconds apart; the sweep after each when asked."""
    ids = []
    for n, text in enumerate(texts):
        clock.advance(seconds=every)
        reply = say(desk, requester(desk, first_user + n), f"new {text}")
        assert reply.ok, reply.text
        ids.append(reply.ticket.id)
        if sweep:
            desk.sweep()
    return ids


def assert_refused(desk, actor, refusals: dict[str, str]) -> None:
    """Each line is refused with exactly its sentence."""
    for line, refusal in refusals.items():
        reply = say(desk, actor, line)
        assert not reply.ok and reply.text == refusal, line


def sent(engine, kind: str, audience: str | None = None) -> list[dict]:
    return [r for r in outbox_rows(engine) if r["kind"] == kind and (audience is None or r["audience"] == audience)]


def proposals(engine) -> list[tuple[int, str, set[int]]]:
    with engine.connect() as conn:
        rows = conn.execute(select(incident_proposals.c.id, incident_proposals.c.state).order_by(incident_proposals.c.id)).all()
        return [(r.id, r.state, set(conn.execute(select(incident_proposal_members.c.ticket_id).where(
            incident_proposal_members.c.proposal_id == r.id)).scalars())) for r in rows]


class TestLinking:
    def test_a_linked_ticket_is_its_parents_problem_with_no_clock_and_no_queue_place(self, desk, people, engine):
        assert say(desk, people.alice, "new The printer on floor 3 jams on every page severity=high").ok
        assert say(desk, people.frank, "new printer on the third floor jams constantly severity=high").ok
        reply = say(desk, people.bob, "link 2 to #1")
        assert reply.ok and reply.text == "Linked #2 to #1: the same problem, resolved with it; its requester was told."
        child = stored(engine, 2)
        assert child.parent_id == 1
        assert (child.sla_next_at, child.sla_step, child.due_at) == (None, None, None), "its clock is its parent's"
        assert stored(engine, 1).sla_next_at is not None
        parent = stored(engine, 1)
        assert (child.response_due_at, child.resolution_due_at) == (parent.response_due_at, parent.resolution_due_at), \
            "reports measure it against its parent's targets"
        assert [e.changes for e in stored_events(engine, 2) if e.action == "linked"] == [{"parent_id": [None, 1]}]
        assert [e.changes for e in stored_events(engine, 1) if e.action == "linked_child"] == [{"child": [None, 2]}]
        told = sent(engine, "known_problem", "user:frank@corp.example")
        assert [r["text"] for r in told] == [
            "Your ticket #2 is the same problem as #1 (The printer on floor 3 jams on every page), which the help desk "
            "is working on; you will hear when it is fixed."]
        queue = say(desk, people.bob, "queue")
        assert [t.id for t in queue.sections[0].tickets] == [1], "worked through its parent"

    def test_a_link_goes_to_the_parent_of_a_linked_ticket_and_bad_links_are_refused(self, desk, people, engine):
        for text in ("new printer on floor 3 jams", "new printer floor 3 jams again", "new floor 3 printer jam",
                     "new printer on floor 5 out of toner"):
            assert say(desk, people.alice, text).ok
        assert say(desk, people.bob, "link 2 1").ok
        reply = say(desk, people.bob, "link 3 2")
        assert reply.ok and "#2 is linked to #1, so #3 went to #1 too" in reply.text
        assert stored(engine, 3).parent_id == 1
        refusals = {
            "link 4 4": "#4 cannot be linked to itself; name the ticket it is the same problem as.",
            "link 4": "The parent ticket is missing: type `link <id> <parent>`.",
            "link 4 printer": "`printer` is not a ticket number; type `link 4 <ticket>`, for example `link 4 41`.",
            "link 4 99": "There is no ticket #99 that you can see; type `mine` to list yours.",
            "link 2 1": "#2 is already linked to #1.",
            "unlink 4": "#4 is not linked to another ticket, so there is nothing to unlink.",
        }
        assert_refused(desk, people.bob, refusals)
        assert say(desk, people.alice, "link 4 1").text.startswith("Only technicians can link tickets")
        say(desk, people.bob, "resolve 4 replaced the toner cartridge on floor 5")
        assert say(desk, people.bob, "link 3 4").text.startswith("#4 is resolved, so nothing can be linked to it")

    def test_unlinking_puts_the_ticket_back_on_its_own_clock(self, desk, people, engine):
        assert say(desk, people.alice, "new printer on floor 3 jams").ok
        assert say(desk, people.frank, "new my laptop will not charge on the dock").ok
        assert say(desk, people.bob, "link 2 1").ok
        reply = say(desk, people.frank, "unlink 2")
        assert reply.ok and reply.text.startswith("OK: #2 is handled on its own, not as part of #1.")
        child = stored(engine, 2)
        assert child.parent_id is None and child.sla_next_at is not None
        assert [e.changes["reason"] for e in stored_events(engine, 2) if e.action == "unlinked"] == [
            [None, "Frank Ode says it is something else"]]
        assert len([r for r in sent(engine, "new_ticket") if r["ticket_id"] == 2]) == 1, "it had its card: no second one"


class TestMerging:
    def test_merge_moves_notes_and_the_requester_and_closes_the_duplicate(self, desk, people, engine):
        assert say(desk, people.alice, "new Outlook cannot connect to the mail server").ok
        assert say(desk, people.frank, "new Outlook says disconnected, no mail arrives").ok
        assert say(desk, people.frank, "note 2 started after the 10:00 update").ok
        assert say(desk, people.bob, "internal 2 same as #1, Exchange side").ok
        reply = say(desk, people.bob, "merge 2 into 1")
        assert reply.ok and reply.text == ("Merged #2 into #1: 2 notes. #2 is closed; its requester was told and hears "
                                           "about #1 from now on.")
        gone = stored(engine, 2)
        assert (gone.status, gone.merged_into_id, gone.resolution) == (Status.CLOSED, 1, None)
        assert stored_notes(engine, 2) == []
        bodies = [n.body for n in stored_notes(engine, 1)]
        assert bodies == ["started after the 10:00 update", "same as #1, Exchange side",
                          "Merged in from #2, opened by Frank Ode: Outlook says disconnected, no mail arrives"]
        assert [e.changes["merged_into_id"] for e in stored_events(engine, 2) if e.action == "merged"] == [[None, 1]]
        assert [e.changes["merged"] for e in stored_events(engine, 1) if e.action == "merged_in"] == [[None, 2]]
        assert [r["text"] for r in sent(engine, "merged", "user:frank@corp.example")] == [
            "Your ticket #2 was merged into #1 (Outlook cannot connect to the mail server), the same problem; you will "
            "hear about it there."]
        # Frank is kept on #1: he may read it, and hears what its requester hears
        assert say(desk, people.frank, "show 1").ok
        say(desk, people.bob, "claim 1")
        assert sent(engine, "claimed", "user:frank@corp.example"), "the merged requester hears about #1 too"
        say(desk, people.bob, "resolve 1 restarted the Exchange transport service")
        assert {r["audience"] for r in sent(engine, "resolved")} == {"user:alice@corp.example", "user:frank@corp.example"}

    def test_every_table_naming_the_ticket_follows_a_merge(self, desk, people, engine):
        """Attachments (added by another change) or any later table with a ticket reference move
        with the merge without this code knowing them."""
        probe = Table("probe_attachments", metadata, Column("id", Integer, primary_key=True),
                      Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
                      Column("name", String(100), nullable=False))
        try:
            probe.create(engine)
            assert say(desk, people.alice, "new printer on floor 3 jams").ok
            assert say(desk, people.frank, "new printer on the third floor jams").ok
            with engine.begin() as conn:
                conn.execute(insert(probe).values(id=1, ticket_id=2, name="jam.jpg"))
            reply = say(desk, people.bob, "merge 2 into 1")
            assert reply.ok and "1 probe attachments" in reply.text
            with engine.connect() as conn:
                assert conn.execute(select(probe.c.ticket_id)).scalars().all() == [1]
        finally:
            probe.drop(engine)
            metadata.remove(probe)

    def test_refused_merges_say_why(self, desk, people, engine):
        for text in ("printer on floor 3 jams", "printer floor 3 jams again", "printer floor 5 out of toner"):
            assert say(desk, people.alice, f"new {text}").ok
        say(desk, people.bob, "resolve 3 replaced the toner cartridge on floor 5")
        assert say(desk, people.bob, "incident 1 Floor 3 printer down").ok
        refusals = {
            "merge 2 into 2": "#2 cannot be merged into itself; name the ticket that stays.",
            "merge 2 into 3": "#3 is resolved; merge into an open ticket, or reopen #3 first.",
            "merge 1 into 2": "#1 is a major incident, so it stays; merge the other ticket into it: `merge 2 into 1`.",
            "merge 2": "The ticket to merge into is missing: type `merge <id> into <id>`.",
        }
        assert_refused(desk, people.bob, refusals)


class TestDeclaring:
    def test_declaring_links_the_alike_open_tickets_and_queues_its_card(self, desk, people, engine, clock):
        ids = open_tickets(desk, clock, VPN_OUTAGE[:6] + UNRELATED[:4])
        reply = say(desk, people.bob, f"incident {ids[0]} VPN disconnects every few minutes severity=critical")
        assert reply.ok, reply.text
        linked = {t.id for t in stored_linked(engine, ids[0])}
        assert linked and linked <= set(ids[1:6]), "open VPN tickets of the window alike to it, none of the others"
        parent = stored(engine, ids[0])
        assert parent.severity.value == "critical"
        card = sent(engine, "incident", "group:service-desk")
        assert len(card) == 1 and card[0]["ticket_id"] == ids[0]
        assert len(sent(engine, "known_problem")) == len(linked)
        for ticket_id in set(ids[1:6]) - linked:  # what the words did not catch, linked by hand
            assert say(desk, people.bob, f"link {ticket_id} {ids[0]}").ok
        listing = say(desk, people.bob, "incidents")
        assert listing.text.splitlines()[1].startswith(
            f"#{ids[0]} VPN disconnects every few minutes — critical, 6 affected (6 tickets), declared")
        again = say(desk, people.bob, f"incident {ids[0]}")
        assert not again.ok and again.text.startswith(f"#{ids[0]} is already a major incident")
        child = say(desk, people.bob, f"incident {ids[1]}")
        assert not child.ok and child.text == f"#{ids[1]} is linked to #{ids[0]}; declare the incident on #{ids[0]}: `incident {ids[0]}`."


def stored_linked(engine, parent_id):
    with SqlStore(engine).transaction(write=False) as tx:
        return tx.linked_tickets(parent_id)


class TestFound:
    def test_a_burst_of_twenty_alike_among_twenty_unrelated_is_proposed_once(self, desk, people, engine, clock):
        """Tickets arrive interleaved, the sweep looking after each (bench/incident_bench.py measures
        the grouping over many orders)."""
        texts = [t for pair in zip(UNRELATED, VPN_OUTAGE[:20]) for t in pair]
        ids = open_tickets(desk, clock, texts, every=15, sweep=True)
        alike = {i for i, t in zip(ids, texts) if t in VPN_OUTAGE}
        found = proposals(engine)
        assert len(found) == 1, found
        members = found[0][2]
        precision, recall = len(members & alike) / len(members), len(members & alike) / len(alike)
        print(f"burst of 20 among 20 unrelated ({engine.dialect.name}): precision {precision:.2f}, recall {recall:.2f}")
        assert precision >= 0.9 and recall >= 0.9, (precision, recall)
        posted = sent(engine, "incident_proposal", "group:service-desk")
        assert len(posted) == 1
        assert re.match(r"^\d+ tickets in (a minute|\d+ minutes) look like the same problem: “.+” \(#\d+, #\d+", posted[0]["text"])
        for _ in range(3):  # later sweeps, with nothing new: nothing more
            clock.advance(seconds=30)
            desk.sweep()
        assert len(proposals(engine)) == 1 and len(sent(engine, "incident_proposal")) == 1

    def test_a_surge_sharing_only_a_symptom_with_other_problems(self, desk, people, engine, clock):
        """The harder case, measured and written down: other problems that also "keep disconnecting"."""
        texts = [t for pair in zip(UNRELATED[:14] + SAME_SYMPTOM, VPN_OUTAGE[:20]) for t in pair]
        ids = open_tickets(desk, clock, texts, every=15, sweep=True)
        alike = {i for i, t in zip(ids, texts) if t in VPN_OUTAGE}
        found = proposals(engine)
        assert found, "the surge was found"
        members = max(found, key=lambda f: len(f[2] & alike))[2]
        precision, recall = len(members & alike) / len(members), len(members & alike) / len(alike)
        print(f"with 6 same-symptom tickets ({engine.dialect.name}): precision {precision:.2f}, recall {recall:.2f}")
        assert precision >= 0.7 and recall >= 0.8, (precision, recall)

    def test_declaring_a_proposal_links_its_members_and_not_the_same_is_not_asked_again(self, desk, people, engine, clock):
        open_tickets(desk, clock, VPN_OUTAGE[:7], sweep=True)
        (proposal_id, state, members), = proposals(engine)
        assert state == "open" and len(members) >= 5
        waiting = say(desk, people.bob, "incidents")
        assert "Proposed by the help desk, waiting for a decision (1):" in waiting.text
        seed = next(r["ticket_id"] for r in sent(engine, "incident_proposal"))
        dismissed = say(desk, people.bob, f"dismiss {seed}")
        assert dismissed.ok and dismissed.text.startswith("OK: ")
        assert proposals(engine)[0][1] == "dismissed"
        clock.advance(minutes=1)
        open_tickets(desk, clock, VPN_OUTAGE[7:9], first_user=20, sweep=True)
        assert len(proposals(engine)) == 1, "the same tickets are not proposed again; two new ones are too few"
        again = say(desk, people.bob, f"incident {seed} proposal={proposal_id}")
        assert not again.ok and again.text == "That proposal was already dismissed by Bob Lee."

    def test_declaring_from_the_proposal(self, desk, people, engine, clock):
        open_tickets(desk, clock, VPN_OUTAGE[:7], sweep=True)
        (proposal_id, _, members), = proposals(engine)
        seed = next(r["ticket_id"] for r in sent(engine, "incident_proposal"))
        reply = say(desk, people.bob, f"incident {seed} proposal={proposal_id}")
        assert reply.ok, reply.text
        assert {t.id for t in stored_linked(engine, seed)} == members - {seed}
        assert proposals(engine)[0][1] == "declared"


class TestOpenIncident:
    @pytest.fixture
    def incident(self, desk, people, engine, clock):
        ids = open_tickets(desk, clock, VPN_OUTAGE[:5])
        assert say(desk, people.bob, f"incident {ids[0]} VPN disconnects every few minutes").ok
        for ticket_id in ids[1:]:  # those the declaration did not link, by hand: five tickets, five people
            if stored(engine, ticket_id).parent_id is None:
                assert say(desk, people.bob, f"link {ticket_id} {ids[0]}").ok
        return ids[0]

    def test_a_new_alike_ticket_joins_at_once_without_a_card(self, desk, people, engine, clock, incident):
        before = len(sent(engine, "new_ticket"))
        clock.advance(minutes=2)
        reply = say(desk, people.alice, f"new {VPN_OUTAGE[20]}")
        assert reply.ok and reply.text == (
            f"Opened #{reply.ticket.id}: this is a known problem, tracked as #{incident} (VPN disconnects every few "
            f"minutes); you will hear when it is fixed. If yours is something else, type `unlink {reply.ticket.id}`.")
        joined = stored(engine, reply.ticket.id)
        assert joined.parent_id == incident and joined.sla_next_at is None
        assert joined.resolution_due_at == stored(engine, incident).resolution_due_at
        assert len(sent(engine, "new_ticket")) == before, "no card of its own"
        assert len(sent(engine, "incident_changed")) == 1, "one update of the incident's card waits (coalesced)"
        other = say(desk, people.frank, f"new {UNRELATED[0]}")
        assert stored(engine, other.ticket.id).parent_id is None and len(sent(engine, "new_ticket")) == before + 1

    def test_a_requester_who_says_something_else_goes_through_normal_triage(self, desk, people, engine, clock, incident):
        joined = say(desk, people.alice, f"new {VPN_OUTAGE[21]}").ticket.id
        assert not [r for r in sent(engine, "new_ticket") if r["ticket_id"] == joined]
        reply = say(desk, people.alice, f"unlink {joined}")
        assert reply.ok and reply.text == (f"OK: #{joined} is handled on its own, not as part of #{incident}. "
                                           "service-desk will pick it up; you will hear from them here.")
        assert stored(engine, joined).parent_id is None
        assert [r["audience"] for r in sent(engine, "new_ticket") if r["ticket_id"] == joined] == ["group:service-desk"]

    def test_a_form_submission_hears_by_message_with_its_way_out(self, desk, people, engine, clock, incident):
        from bot.commands.registry import Call, Source

        reply = desk.execute(people.frank, Call("new", None, VPN_OUTAGE[22], {"severity": "high"}, Source.FORM))
        assert reply.ok
        told = sent(engine, "known_problem", "user:frank@corp.example")
        assert [r["text"] for r in told] == [
            f"Your ticket #{reply.ticket.id} is a known problem, tracked as #{incident}: VPN disconnects every few "
            "minutes. You will hear when it is fixed."]

    def test_broadcast_tells_each_requester_once(self, desk, people, engine, clock, incident):
        second = say(desk, requester(desk, 3), f"new {VPN_OUTAGE[23]}")  # User 03 already has a ticket in it
        assert stored(engine, second.ticket.id).parent_id == incident
        reply = say(desk, people.bob, f"broadcast {incident} the VPN gateway is being restarted, reconnect in 10 minutes")
        assert reply.ok and reply.text == (f"Told the 5 people affected by #{incident}: the VPN gateway is being "
                                           "restarted, reconnect in 10 minutes")
        rows = sent(engine, "broadcast")
        assert sorted(r["audience"] for r in rows) == sorted(f"user:user{n}@corp.example" for n in range(5))
        assert all(r["text"].startswith(f"Update on #{incident} (VPN disconnects every few minutes), the problem you "
                                        "reported as #") for r in rows)
        assert all(stored(engine, t.id).first_response_at is not None for t in stored_linked(engine, incident))
        assert [n.body for n in stored_notes(engine, incident)] == [
            "📣 Update to everyone affected: the VPN gateway is being restarted, reconnect in 10 minutes"]
        alone = say(desk, people.alice, "new printer on floor 3 jams")
        refused = say(desk, people.bob, f"broadcast {alone.ticket.id} toner is on its way")
        assert not refused.ok and refused.text.startswith(f"#{alone.ticket.id} has no open linked tickets")

    def test_resolving_the_incident_resolves_every_linked_ticket_and_one_ticket_reopens_alone(
            self, desk, people, engine, clock, incident):
        linked = [t.id for t in stored_linked(engine, incident)]
        reply = say(desk, people.bob, f"resolve {incident} restarted the VPN gateway and raised its session limit")
        assert reply.ok and reply.text.endswith("4 linked ticket(s) were resolved with it and 4 requester(s) told.")
        for ticket_id in linked:
            t = stored(engine, ticket_id)
            assert t.status is Status.RESOLVED
            assert t.resolution == f"Resolved with #{incident}: restarted the VPN gateway and raised its session limit"
        resolved = sent(engine, "resolved")
        assert sorted(r["audience"] for r in resolved) == sorted(f"user:user{n}@corp.example" for n in range(5))
        assert all(r["text"].startswith("Your ticket #") for r in resolved)
        # the knowledge base offers the incident's fix once, not once per linked ticket
        feed, _, _ = TicketKnowledge(engine, desk.settings).changes_since(None)
        assert [e.ticket_id for e in feed] == [incident]
        # one requester says it is still broken: only their ticket reopens, and it leaves the incident
        one = linked[0]
        owner = stored(engine, one).requester.id
        back = say(desk, desk.actor(owner), f"reopen {one} still drops every few minutes for me")
        assert back.ok
        assert (stored(engine, one).status, stored(engine, one).parent_id) == (Status.IN_PROGRESS, None)
        assert all(stored(engine, t).status is Status.RESOLVED for t in linked[1:])
        assert stored(engine, incident).status is Status.RESOLVED
        assert [r["ticket_id"] for r in sent(engine, "new_ticket")].count(one) == 1, "it gets a card of its own now"
        assert stored(engine, one).sla_next_at is not None, "and its own clock"

    def test_linked_tickets_are_not_escalated_on_their_own(self, desk, people, engine, clock, incident):
        clock.advance(hours=6)
        desk.sweep()
        pages = sent(engine, "escalation")
        assert {r["ticket_id"] for r in pages} == {incident}, "only the parent is paged; the linked follow it"

    def test_reports_count_incidents(self, desk, people, engine, clock, incident):
        open_tickets(desk, clock, UNRELATED[:5], first_user=30)
        clock.advance(minutes=1)
        report = say(desk, people.bob, "report 1d").report
        figures = report.figures.incidents
        assert (figures.declared, figures.tickets, figures.tickets_per_incident) == (1, 5, 5.0)
        assert figures.to_declare.median == 80.0, "five tickets 20 s apart, declared with the fifth"
        assert (figures.opened_in_one, figures.share_percent) == (5, 50.0)
        assert report.as_dict()["figures"]["incidents"]["tickets_per_incident"] == 5.0


def test_two_desks_looking_at_the_same_surge_at_once_propose_it_once(settings, engine, clock):
    """As two replicas do: each its own Desk (its own corpus and watch), on one database, sweeping
    at the same instant, again and again; a ticket is in one proposal at most."""
    import threading

    from bot.desk import Desk

    first, second = Desk(settings, SqlStore(engine), clock=clock), Desk(settings, SqlStore(engine), clock=clock)
    open_tickets(first, clock, [t for pair in zip(UNRELATED[:8], VPN_OUTAGE[:8]) for t in pair])
    made, errors = [], []
    start = threading.Barrier(2)

    def look(desk) -> None:
        try:
            start.wait(5)
            made.append(desk.find_surges())
        except Exception as exc:  # the test reports it below
            errors.append(exc)

    threads = [threading.Thread(target=look, args=(d,)) for d in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and sorted(made) == [0, 1], (errors, made)
    assert len(proposals(engine)) == 1 and len(sent(engine, "incident_proposal")) == 1


def test_one_replica_looks_for_surges_until_it_stops_and_then_another_takes_over(settings, engine, clock):
    """Comparing every new ticket with the others is CPU each replica would spend on all of them:
    the replica holding the `surges` lease looks (renewing it), the others do not, and when the
    holder stops looking (it died) another takes the look over once the lease ran out."""
    from bot.desk import SURGE_LEASE_SWEEPS, Desk

    first, second = Desk(settings, SqlStore(engine), clock=clock), Desk(settings, SqlStore(engine), clock=clock)
    open_tickets(first, clock, [t for pair in zip(UNRELATED[:8], VPN_OUTAGE[:8]) for t in pair])
    assert second.find_surges() == 1
    members = proposals(engine)[0][2]
    joining = open_tickets(first, clock, [VPN_OUTAGE[13]], first_user=100, every=1)
    assert first.find_surges() == 0 and proposals(engine)[0][2] == members, "the other replica looks, not this one"
    assert second.find_surges() == 0 and joining[0] in proposals(engine)[0][2], "the holder did"
    clock.advance(seconds=SURGE_LEASE_SWEEPS * settings.escalation.sweep_seconds + 1)  # the holder stopped
    later = open_tickets(first, clock, [VPN_OUTAGE[18]], first_user=101, every=1)
    assert first.find_surges() == 0 and later[0] in proposals(engine)[0][2], "taken over"
    members = proposals(engine)[0][2]
    more = open_tickets(first, clock, [VPN_OUTAGE[21]], first_user=102, every=1)
    assert second.find_surges() == 0 and proposals(engine)[0][2] == members, "kept by the new holder"
    assert first.find_surges() == 0 and more[0] in proposals(engine)[0][2]


def test_each_ticket_is_searched_whole_once_across_looks_and_a_rebuilt_corpus(desk, engine, clock):
    """The look ahead searches the window; the look that writes leaves out the tickets opened in
    between (their searches are kept for the next look), and the corpus rebuilding its index keeps
    them too: a surge costs one whole search per ticket, and a kept search gives what it gave."""
    from bot.incidents import Corpus
    from bot.knowledge import KnowledgeIndex

    whole: list[str] = []

    class Counted(KnowledgeIndex):
        def likeness(self, text, limit, exclude=None, among=None):
            if among is None:
                whole.append(text)
            return super().likeness(text, limit, exclude=exclude, among=among)

    class Small(Corpus):
        @staticmethod
        def _prior():
            return Counted()  # no everyday problems: the rebuild comes after a few tickets

    texts = VPN_OUTAGE[:12]
    ids = open_tickets(desk, clock, texts)
    corpus = Small(size=4)
    with desk.store.transaction(write=False) as tx:
        tickets = [tx.get_ticket(i) for i in ids]
        corpus.refresh(tx)
        ahead = corpus.likeness(tickets[:8])
        writing = corpus.likeness(tickets[:6])  # tickets 7 and 8 opened after the look ahead
        rebuilt_before, n = id(corpus.index), 0
        while id(corpus.index) == rebuilt_before:  # more tickets than twice its size: the index is rebuilt
            clock.advance(seconds=5)
            assert say(desk, requester(desk, 99), f"new {UNRELATED[n % len(UNRELATED)]}").ok
            n += 1
            with desk.store.transaction(write=False) as fresh:
                corpus.refresh(fresh)
        later = corpus.likeness(tickets)
    assert sorted(whole) == sorted(texts), "each of the 12 searched whole once"
    assert writing == {i: {j: v for j, v in row.items() if j in ahead and j <= ids[5]}
                       for i, row in ahead.items() if i <= ids[5]}
    assert later[ids[0]][ids[1]] == ahead[ids[0]][ids[1]] > 0


def looked_ahead(desk, clock):
    """12 unrelated tickets and 12 of a VPN surge, and the look for surges compared ahead: (the VPN
    tickets' ids, a system Context maker for a transaction, what `compare_surge_window` found)."""
    from bot import incidents
    from bot.context import Context
    from bot.model import SYSTEM_ID

    ids = open_tickets(desk, clock, [t for pair in zip(UNRELATED[:12], VPN_OUTAGE[:12]) for t in pair])
    system = desk.actor(SYSTEM_ID, "Help desk", platform="system")

    def context(tx):
        return Context(desk.settings, system, True, desk.clock(), desk.router, tx=tx, knowledge=desk.knowledge,
                       incidents=desk.incidents)

    with desk.store.transaction(write=False) as tx:
        return ids[1::2], context, incidents.compare_surge_window(context(tx))


def test_a_ticket_resolved_between_the_look_ahead_and_the_look_that_writes_is_left_out(desk, people, engine, clock):
    """The look searches and groups ahead, outside the write lock; when the window changed before
    it writes (a ticket of the surge resolved meanwhile) it groups again, so the proposal holds
    only open tickets."""
    from bot import incidents

    vpn, context, ahead = looked_ahead(desk, clock)
    assert ahead is not None and len(ahead[1].groups) == 1
    grouped = [t.id for t in ahead[1].groups[0][0]]
    assert set(grouped) <= set(vpn) and len(grouped) >= 5, "the surge, grouped ahead"
    assert say(desk, people.bob, f"resolve {grouped[0]} reset the VPN client profile").ok
    assert desk.unit_of_work(lambda tx: incidents.find_surges(context(tx), ahead)) == 1
    members = proposals(engine)[0][2]
    assert grouped[0] not in members and members <= set(vpn), "grouped again without the resolved ticket"


def test_a_look_that_may_not_group_under_the_write_lock_compares_the_changed_window_again(desk, people, engine, clock):
    """The look in a process of its own on SQLite (`regroup_under_lock` off): a window that changed
    after the look ahead is stored by nobody under the lock; the desk's look compares it again
    ahead and stores that, without the ticket resolved meanwhile."""
    from bot import incidents

    vpn, context, ahead = looked_ahead(desk, clock)
    grouped = [t.id for t in ahead[1].groups[0][0]]
    assert say(desk, people.bob, f"resolve {grouped[0]} reset the VPN client profile").ok
    with pytest.raises(incidents.WindowChanged):
        desk.unit_of_work(lambda tx: incidents.find_surges(context(tx), ahead, regroup=False))
    assert proposals(engine) == [] and sent(engine, "incident_proposal") == [], "nothing stored"
    desk.regroup_under_lock = False
    assert desk.find_surges() == 1
    members = proposals(engine)[0][2]
    assert grouped[0] not in members and members <= set(vpn) and len(members) >= 5, "compared again, then stored"
    assert len(sent(engine, "incident_proposal")) == 1


def test_tickets_opened_while_a_busy_window_is_compared_leave_its_plan_valid(desk, people, engine, clock, monkeypatch):
    """A window busier than the candidates compared at once (storage's limit, the newest): tickets
    opened between the look ahead and the look that writes do not push the oldest compared out of
    it, so the plan is stored as grouped, by a look that may not group under the write lock too."""
    from bot import incidents
    from storage import incidents as stored_incidents

    monkeypatch.setattr(stored_incidents, "CANDIDATES_MAX", 24)  # the 24 tickets looked_ahead opens
    vpn, context, ahead = looked_ahead(desk, clock)
    later = set(open_tickets(desk, clock, UNRELATED[12:14], first_user=50))
    assert desk.unit_of_work(lambda tx: incidents.find_surges(context(tx), ahead, regroup=False)) == 1
    members = proposals(engine)[0][2]
    assert members <= set(vpn) and len(members) >= 5 and not members & later, "the surge as grouped ahead"
