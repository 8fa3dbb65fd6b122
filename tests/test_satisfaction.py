"""Satisfaction (issue 18, item 3): the requester rates the help 1–5 with an optional comment,
once per resolution, changeable for 7 days; low ratings reach the group; reports and the digest
show the average, the share of 4–5 and the response rate by technician, group and category.
On SQLite and PostgreSQL; the chat faces over real HTTP."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from adapters.console.render import Style, TextRenderer
from adapters.report_render import table
from bot.history import technician_names
from bot.reports import ReportQuery, Satisfaction
from storage.schema import ratings
from tests.conftest import START, outbox_rows, say, stored_events


def rating_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ratings).order_by(ratings.c.id))]


def resolved(desk, people, description="the printer on floor 3 jams on every page", who=None) -> int:
    reply = say(desk, people.alice, f"new {description}")
    ticket_id = reply.ticket.id
    say(desk, who or people.bob, f"claim {ticket_id}")
    assert say(desk, who or people.bob, f"resolve {ticket_id} replaced the worn pickup roller").ok
    return ticket_id


def test_the_requester_rates_once_per_resolution_and_may_change_it_for_7_days(desk, people, clock, engine):
    resolved(desk, people)
    asked = rating_rows(engine)
    assert [(r["ticket_id"], r["assignee_id"], r["group_name"], r["category"], r["score"]) for r in asked] == [
        (1, "bob@corp.example", "service-desk", "printer", None)], "resolving asks for a rating"
    notice = [r for r in outbox_rows(engine) if r["kind"] == "resolved"][-1]
    assert "How did we do? `rate 1 <1-5> [comment]`" in notice["text"]

    clock.advance(hours=1)
    reply = say(desk, people.alice, "rate 1 4 quick and friendly")
    assert reply.ok and reply.text == "Thanks! You rated the help on #1 4/5; you can change it until 2026-03-09 09:00."
    row = rating_rows(engine)[0]
    assert (row["score"], row["comment"], row["rated_at"]) == (4, "quick and friendly", clock.now)
    assert say(desk, people.alice, "rate 1 4").text == "Your rating of #1 is already 4/5; nothing changed."
    clock.advance(days=6)
    assert say(desk, people.alice, "rate #1 5").text == "Changed your rating of #1 to 5/5."
    assert rating_rows(engine)[0]["comment"] == "quick and friendly", "a score alone keeps the comment"
    clock.advance(days=1)
    late = say(desk, people.alice, "rate 1 2 it broke again")
    assert not late.ok and late.text == ("The rating of #1 could be given or changed until 2026-03-09 09:00, 7 days "
                                         "after it was resolved; it stays as it was.")
    assert rating_rows(engine)[0]["score"] == 5

    # a reopen and a second resolution ask again; the first rating stays with the first resolution
    say(desk, people.alice, "reopen 1 it jams again")
    assert say(desk, people.alice, "rate 1 3").text == "#1 is in progress; the help can be rated once it is resolved."
    clock.advance(hours=2)
    say(desk, people.carol, "resolve 1 replaced the fuser unit as well")
    assert say(desk, people.alice, "rate 1 3").ok
    assert [(r["assignee_id"], r["score"]) for r in rating_rows(engine)] == [("bob@corp.example", 5),
                                                                             ("bob@corp.example", 3)]
    say(desk, people.alice, "reopen 1 it jams once more")
    assert [r["score"] for r in rating_rows(engine)] == [5, 3], "given ratings stay with their resolutions"
    clock.advance(hours=1)
    say(desk, people.carol, "resolve 1 replaced the whole paper tray")
    say(desk, people.alice, "reopen 1 still jamming")
    assert [r["score"] for r in rating_rows(engine)] == [5, 3], "reopened before rating: asks for nothing any more"
    say(desk, people.carol, "resolve 1 replaced the printer")
    assert say(desk, people.alice, "rate 1 3").ok
    say(desk, people.alice, "confirm 1")
    assert say(desk, people.alice, "rate 1 4").text == "Changed your rating of #1 to 4/5.", "closed, still within 7 days"


def test_refusals_say_the_range_and_who_may_rate(desk, people, engine):
    resolved(desk, people)
    for value in ("7", "0", "four", "4.5", "-1"):
        refused = say(desk, people.alice, f"rate 1 {value} great")
        assert not refused.ok, value
        assert refused.text == (f"A rating is a whole number from 1 (poor) to 5 (excellent), and `{value}` is not one; "
                                "type `rate 1 <1-5> [comment]`, for example `rate 1 5 fixed in minutes`.")
        assert refused.draft == f"rate 1 {value} great", "the line comes back for editing"
    assert say(desk, people.alice, "rate 1").text.startswith("The rating is missing")
    assert say(desk, people.bob, "rate 1 5").text == "Only the requester of #1 can rate the help it got."
    assert say(desk, people.frank, "rate 1 5").text == "There is no ticket #1 that you can see; type `mine` to list yours."
    assert say(desk, people.alice, "rate 1 5/5").ok, "5/5 reads as 5"
    assert [r["score"] for r in rating_rows(engine)] == [5]


def test_a_ticket_solved_by_a_past_fix_has_no_help_to_rate(desk, people, engine):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    from storage.repository import SqlStore

    with SqlStore(engine).transaction() as tx:  # as `solved` leaves it, without the knowledge base
        ticket = tx.get_ticket(1)
        closed = ticket.with_changes(status=ticket.status.CLOSED, resolution="see #0", resolved_at=START,
                                     closed_at=START, version=ticket.version + 1)
        tx.update_ticket(ticket, closed)
        from bot.model import AuditEvent
        tx.add_event(AuditEvent(1, "alice@corp.example", "Alice Park", "deflected", START, {}))
    assert say(desk, people.alice, "rate 1 5").text == ("#1 was solved with a past resolution, so there is no help of "
                                                        "ours to rate.")


def test_a_low_rating_is_a_line_in_the_tickets_thread_and_in_its_history(desk, people, engine):
    resolved(desk, people)
    say(desk, people.alice, "rate 1 4")
    assert not [r for r in outbox_rows(engine) if r["data"].get("action") == "rated"], "a good rating bothers nobody"
    say(desk, people.alice, "rate 1 2 took three days and two visits")
    lines = [r for r in outbox_rows(engine) if r["data"].get("action") == "rated"]
    assert [(r["kind"], r["audience"], r["text"]) for r in lines] == [
        ("ticket_changed", "ticket:1", "⭐ Alice Park rated the help 2/5: “took three days and two visits”")]
    shown = TextRenderer(desk.settings.zone, Style(False), technician_names(desk.settings)).reply(say(desk, people.bob, "show 1"))
    assert "Alice Park rated the help 4/5" in shown
    assert "Alice Park rated the help 2/5: “took three days and two visits”" in shown
    assert [e.action for e in stored_events(engine, 1)][-2:] == ["rated", "rated"]


def week_of_ratings(desk, people, clock):
    """Five resolutions in a week: Bob's three (rated 5, 4 and 2), Carol's one (rated 3), Dave's
    one (not rated); one ticket resolved the week after."""
    plan = [(people.bob, "the printer on floor 3 jams on every page", "5 fast"), (people.bob, "my laptop screen flickers", "4"),
            (people.bob, "the vpn drops every ten minutes", "2 took days"), (people.carol, "the printer in room 4 is offline", "3"),
            (people.dave, "the wifi on floor 2 is slow", None)]
    for n, (tech, description, score) in enumerate(plan, start=1):
        clock.now = START + timedelta(hours=n)
        resolved(desk, people, description, who=tech)
        if score:
            assert say(desk, people.alice, f"rate {n} {score}").ok
    clock.now = START + timedelta(days=8)
    resolved(desk, people, "the scanner on floor 2 is offline")
    say(desk, people.alice, "rate 6 1")
    return ReportQuery(START, START + timedelta(days=7))


def report(desk, query):
    with desk.store.transaction(write=False) as tx:
        return tx.report(query, desk.settings)


def test_reports_show_satisfaction_by_technician_group_and_category(desk, people, clock):
    week = week_of_ratings(desk, people, clock)
    result = report(desk, week)
    s = result.figures.satisfaction
    assert s == Satisfaction(asked=5, rated=4, total=14, good=2)
    assert (s.average, s.good_percent, s.response_percent) == (3.5, 50.0, 80.0)
    by_tech = {name: (x.asked, x.rated, x.average) for _, name, x in result.satisfaction["technician"]}
    assert by_tech == {"Bob Lee": (3, 3, 3.7), "Carol Diaz": (1, 1, 3.0), "Dave Kim": (1, 0, None)}
    assert [name for _, name, _ in result.satisfaction["technician"]] == ["Bob Lee", "Carol Diaz", "Dave Kim"]
    by_category = {k: (x.asked, x.rated, x.average) for k, _, x in result.satisfaction["category"]}
    assert by_category == {"printer": (2, 2, 4.0), "hardware": (1, 1, 4.0), "network": (2, 1, 2.0)}
    assert {k: x.asked for k, _, x in result.satisfaction["group"]} == {"service-desk": 5}
    text = table(result)
    assert "  Satisfaction: 3.5 of 5, 50% rated 4–5; 4 of 5 resolutions rated (80%)" in text
    assert "    Bob Lee                      3.7   67%      3 of 3" in text
    data = json.loads(json.dumps(result.as_dict()))
    assert data["figures"]["satisfaction"]["response_percent"] == 80.0
    assert data["satisfaction"]["technician"][0] == {"key": "bob@corp.example", "name": "Bob Lee", "asked": 3,
                                                    "rated": 3, "total": 11, "good": 2, "average": 3.7,
                                                    "good_percent": 66.7, "response_percent": 100.0}
    carol = report(desk, ReportQuery(week.since, week.until, technician="carol@corp.example"))
    assert carol.figures.satisfaction == Satisfaction(1, 1, 3, 0)


def test_report_by_technician_names_them(desk, people, clock):
    week = week_of_ratings(desk, people, clock)
    reply = say(desk, people.bob, "report 2026-03-02 by=technician")
    text = table(reply.report)
    assert "  Bob Lee " in text and "  Carol Diaz " in text and "bob@corp.example" not in text
    by = report(desk, ReportQuery(week.since, week.until, by="technician"))
    assert [(by.name(k), f.satisfaction.rated) for k, f in by.breakdown] == [("Bob Lee", 3), ("Carol Diaz", 1),
                                                                              ("Dave Kim", 0)]


def test_the_weekly_digest_shows_satisfaction(engine, clock):
    from adapters.settings import AppSettings
    from bot.desk import Desk
    from storage.repository import SqlStore
    from tests.conftest import SETTINGS, People

    settings = AppSettings.model_validate({**SETTINGS, "reports": {"digest": True, "digest_day": "mon", "digest_hour": 9}})
    desk = Desk(settings, SqlStore(engine), clock=clock)
    desk.digest_renderer = table
    week_of_ratings(desk, People(desk), clock)
    clock.now = START + timedelta(days=7, minutes=1)
    desk.sweep()
    digest = next(r for r in outbox_rows(engine) if r["kind"] == "digest" and r["audience"] == "group:service-desk")
    assert "Satisfaction: 3.5 of 5, 50% rated 4–5; 4 of 5 resolutions rated (80%)" in digest["text"]
    assert "Carol Diaz" in digest["text"]
