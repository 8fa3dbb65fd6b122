"""Major incidents: one problem, many tickets, worked once and answered once.

A ticket is *linked* to a parent when it is the same problem (`tickets.parent_id`): it has no
SLA clock of its own (bot/sla.py), no card, and is resolved with its parent. A ticket *merged*
into another is closed; its notes (and every other row naming it) and its requester move to
the one that stays. A *major incident* is a parent declared as one: its card in the triage
group's channel counts the people affected and updates in place as tickets join.

Surges are found, not only declared: open tickets opened within a window that are alike by the
knowledge base's similarity (bot.knowledge.KnowledgeIndex, over just those tickets) are grouped,
and a group of at least `[incidents] min_tickets` is proposed once, in the database (a ticket
belongs to one proposal at most), so replicas looking at the same surge propose it once.

The grouping rule (average linkage from the most central ticket): two tickets are *alike* when
their similarity (the higher of both directions, 0..1) reaches `likeness`; a ticket belongs to a
group when it is alike to at least one member and its mean similarity to all members reaches
`cohesion`. The group grows from the ticket most alike to its nearest neighbours, taking the
best-fitting ticket each time, so a ticket sharing only a symptom with a few members ("keeps
disconnecting") is not pulled in by them: it must be like the group as a whole. A new ticket
joins an open incident by the same rule, against the incident's parent and its most recent
tickets. Likeness is measured in a corpus of the help desk's recent tickets and everyday
problems (`Corpus`), so the words a surge shares keep their weight.
"""
from __future__ import annotations

import heapq
import itertools
import math
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from bot import messages as M
from bot.background import PROBLEMS
from bot.knowledge import Entry, KnowledgeIndex
from bot.model import Notice, Severity, Status, Ticket
from bot.routing import CONSOLE
from bot.text import one_line

if TYPE_CHECKING:
    from bot.config import IncidentSettings
    from bot.context import Context
    from bot.ports import Transaction

SAMPLE = 20  # an open incident's tickets a new ticket is compared with: the parent and the most recent
PROPOSALS_OPEN_FOR = timedelta(days=1)  # an unanswered proposal still gathers alike tickets this long


@dataclass(frozen=True)
class IncidentRecord:
    """A declared incident: its parent ticket, title, the group whose channel shows its card,
    who declared it and when, and when the first of its tickets was opened (UTC)."""

    ticket_id: int
    title: str
    group: str
    declared_at: datetime
    declared_by_id: str
    declared_by_name: str
    first_ticket_at: datetime
    proposal_id: int | None = None

    @property
    def ref(self) -> str:
        """"#41": an incident is named by its parent ticket."""
        return f"#{self.ticket_id}"


@dataclass(frozen=True)
class Incident:
    """An incident as its card shows it: the record, the parent ticket, and every other ticket
    of it (linked to it or merged into it), most recent first."""

    record: IncidentRecord
    parent: Ticket
    members: tuple[Ticket, ...]

    @property
    def tickets(self) -> int:
        """How many tickets are part of it, the parent included."""
        return 1 + len(self.members)

    def people(self) -> list[tuple[str, str]]:
        """(identity, name) of everyone affected, each once, most recent report first."""
        found: dict[str, str] = {}
        for ticket in sorted((self.parent, *self.members), key=lambda t: (t.created_at, t.id or 0), reverse=True):
            found.setdefault(ticket.requester.id, ticket.requester.name)
        return list(found.items())


@dataclass(frozen=True)
class Proposal:
    """Alike tickets the help desk proposed as one incident: `state` open, declared or dismissed;
    `ticket_id` the most central of `members` (ticket ids, ascending)."""

    id: int
    ticket_id: int
    group: str
    headline: str
    state: str
    created_at: datetime
    members: tuple[int, ...]
    decided_at: datetime | None = None
    decided_by_name: str | None = None


# How alike: the knowledge base's similarity, in the help desk's own language

class Corpus:
    """The index likeness is measured in: the most recent `size` tickets of every kind, kept by the
    process and brought up to date from the tickets table before each use. Measured over only the
    few tickets compared, a word every ticket of a surge shares ("VPN") would weigh almost nothing
    (it is in all of them); over the help desk's recent tickets it weighs what it usually weighs.
    Thread-safe (the index is); one per process."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self.index = self._prior()
        self.upto = 0  # the newest ticket id in the index
        self.order: list[int] = []  # ids in the index, oldest first
        # ticket id → (how far down its search reached (inf: to its end), the newest ticket in the index when it
        # was measured, its matches best first as (ticket id, confidence), and {ticket id: confidence} of
        # tickets opened since, measured against it alone)
        self.rows: dict[int, tuple[float, int, list[tuple[int, float]], dict[int, float]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _prior() -> KnowledgeIndex:
        """An index holding the everyday problems of bot/background.py (negative ids: never a ticket)."""
        index = KnowledgeIndex()
        for number, problem in enumerate(PROBLEMS, start=1):
            index.add(Entry(-number, problem))
        return index

    def refresh(self, tx: "Transaction") -> None:
        """Add the tickets opened since the last refresh (the oldest are withdrawn past `size`;
        the index is rebuilt once withdrawn entries outnumber the live ones)."""
        with self._lock:
            fresh = tx.recent_problems(self.upto, self.size)
            for ticket_id, problem in fresh:
                self.index.add(Entry(ticket_id, problem))
                self.order.append(ticket_id)
                self.upto = max(self.upto, ticket_id)
            while len(self.order) > self.size:
                self.index.remove(self.order.pop(0))
            if len(self.index.headlines) > 2 * self.size + len(PROBLEMS):  # kept searches stay good
                self.index, self.upto, self.order = self._prior(), 0, []
                for ticket_id, problem in tx.recent_problems(0, self.size):
                    self.index.add(Entry(ticket_id, problem))
                    self.order.append(ticket_id)
                    self.upto = max(self.upto, ticket_id)

    def _matches(self, text: str, exclude: int | None, among: set[int]) -> dict[int, float]:
        """How alike `text` is to each of `among` found among its closest matches in the corpus (a
        ticket further down than 2 × len(among) + 20 matches is less alike than that many
        others: it counts as nothing in common)."""
        found = self.index.likeness(text, limit=2 * len(among) + 20, exclude=exclude)
        return {key: value for key, value in found if key in among and key != exclude}

    def likeness(self, tickets: list[Ticket]) -> dict[int, dict[int, float]]:
        """For each pair of `tickets` (stored ones, by id), how alike they are: the knowledge base's
        confidence (0..1), the higher of both directions; pairs with nothing in common are left out.

        Each ticket is searched once: its search is kept (`rows`) and used again while it reaches as
        far down the matches as the pool needs (2 × len(tickets) + 20); tickets opened since are then
        measured against it alone (`KnowledgeIndex.likeness(among=…)`, cheaper than a whole search),
        giving the same confidences a whole search would; a rebuilt corpus index keeps the rows. So a
        surge that keeps growing costs one search per new ticket per look, not one per ticket of the
        window; and a look that compares the window ahead, outside the write lock
        (`compare_surge_window`), leaves the look that writes only grouping to do. Rows of tickets no longer compared are dropped, but for those newer than any compared
        here: the look that writes leaves out the tickets opened since the look ahead searched them,
        and the next look takes them."""
        ids = {t.id for t in tickets}
        if not ids:
            return {}
        reach = 2 * len(ids) + 20  # a ticket further down than this is less alike than that many others
        found: dict[int, dict[int, float]] = {t.id: {} for t in tickets}
        last = max(ids)
        with self._lock:
            rows = {i: row for i, row in self.rows.items() if i in ids or i > last}
        for ticket in tickets:
            if ticket.id not in self.index.slot_of:  # older than the index holds
                self.index.add(Entry(ticket.id, ticket.description))
        with self._lock:
            newest = max(self.upto, max(ids))  # every ticket up to this one is in the index now
        for ticket in tickets:
            kept = rows.get(ticket.id)
            if kept is None or kept[0] < reach:
                matches = self.index.likeness(ticket.description, limit=reach, exclude=ticket.id)
                # fewer matches than asked for: the search found all it finds, however far a pool reaches
                kept = rows[ticket.id] = (reach if len(matches) == reach else math.inf, newest, matches, {})
            elif later := [i for i in ids if i > kept[1]]:  # opened since its search: measured against it alone
                extra = dict(kept[3])
                extra.update(self.index.likeness(ticket.description, limit=len(later), among=later))
                kept = rows[ticket.id] = (kept[0], newest, kept[2], extra)
            for other, value in itertools.chain(kept[2][:reach], kept[3].items()):
                if other in ids and other != ticket.id:
                    value = max(value, found[ticket.id].get(other, 0.0))
                    found[ticket.id][other] = found[other][ticket.id] = value
        with self._lock:
            self.rows = rows
        return found

    def alike_to(self, text: str, ids: list[int], tx: "Transaction") -> list[float]:
        """How alike a problem not stored yet is to each of the tickets `ids` (its direction only);
        tickets older than the corpus holds are read and added first."""
        missing = [i for i in ids if i not in self.index.slot_of]
        for ticket_id, problem in tx.problems_of(missing):
            self.index.add(Entry(ticket_id, problem))
        matches = self._matches(text, None, set(ids))
        return [matches.get(i, 0.0) for i in ids]


def corpus(ctx: "Context") -> Corpus:
    """The process's corpus (the desk keeps one), brought up to date in this transaction."""
    found = ctx.incidents.corpus if ctx.incidents is not None else Corpus()
    found.refresh(ctx.tx)
    return found


def belongs(alike: list[float], config: "IncidentSettings") -> bool:
    """The rule for joining a group, given how alike a ticket is to each of its members: alike to
    at least one of them, and alike enough to all of them on average."""
    return bool(alike) and fits(max(alike), sum(alike) / len(alike), config)


def fits(highest: float, mean: float, config: "IncidentSettings") -> bool:
    """`belongs`, given a ticket's highest and mean likeness to a group's members."""
    return highest >= config.likeness and mean >= config.cohesion


def grow(members: list[int], candidates: Iterable[int], alike: dict[int, dict[int, float]],
         config: "IncidentSettings") -> list[int]:
    """The group `members` (a seed, or an existing group) grown with `candidates`: the best-fitting
    candidate joins while one `belongs`. Returns the ids, `members` first."""
    members = list(members)
    if not members:
        return members
    # each candidate's likeness to the members so far, summed in the members' order, and its highest:
    # what `belongs` decides on, kept up to date as members join (a group of n costs n², not n³)
    total: dict[int, float] = {}
    highest: dict[int, float] = {}
    for candidate in set(candidates) - set(members):
        values = [alike[candidate].get(m, 0.0) for m in members]
        total[candidate], highest[candidate] = sum(values), max(values)
    while total:
        size = len(members)
        fitting = [(total[c] / size, -c, c) for c in total if fits(highest[c], total[c] / size, config)]
        if not fitting:
            break
        _, _, best = max(fitting)
        members.append(best)
        del total[best], highest[best]
        for candidate in total:
            value = alike[candidate].get(best, 0.0)
            total[candidate] += value
            if value > highest[candidate]:
                highest[candidate] = value
    return members


def groups(tickets: list[Ticket], config: "IncidentSettings", alike: dict[int, dict[int, float]]) -> list[list[Ticket]]:
    """Groups of at least `config.min_tickets` alike tickets (`alike`: as `Corpus.likeness` measures
    them), each grown from the ticket most alike to its nearest neighbours (its seed, first in the
    list); no ticket is in two groups."""
    if len(tickets) < config.min_tickets:
        return []
    by_id = {t.id: t for t in tickets}
    left = set(by_id)
    nearest = config.min_tickets - 1

    def density(i: int) -> float:  # over its neighbours only: `alike` leaves out pairs with nothing in common
        return sum(heapq.nlargest(nearest, (v for j, v in alike[i].items() if j in left and j != i)))

    # Densities are worked out once and again only for the neighbours of a group's members when
    # it leaves; seeds are tried in the same order as before (densest first, then by id), every
    # one again after each group found. Working every density out for every seed tried took
    # minutes on a window of 2,500 tickets, inside the look's write transaction, and SQLite's
    # other writers (the intake) waited for all of it (bench/startup_bench.py, 2026-12-02).
    densities = {i: density(i) for i in left}
    found: list[list[Ticket]] = []
    while len(left) >= config.min_tickets:
        for seed in sorted(left, key=lambda i: (-densities[i], i)):
            members = grow([seed], left, alike, config)
            if len(members) >= config.min_tickets:
                break
        else:
            break
        found.append([by_id[i] for i in members])
        left -= set(members)
        touched = {j for m in members for j in alike[m] if j in left}
        for i in touched:
            densities[i] = density(i)
    return found


def linkage(group: Iterable[int], other: Iterable[int], alike: dict[int, dict[int, float]]) -> float:
    """The mean likeness between the members of two groups (0 when either is empty)."""
    values = [alike[a].get(b, 0.0) for a in group for b in other if a != b]
    return sum(values) / len(values) if values else 0.0


# What the help desk says about groups of tickets

def span(tickets: Iterable[Ticket]) -> str:
    """How long the tickets took to arrive, in minutes ("9 minutes", "a minute")."""
    times = [t.created_at for t in tickets]
    minutes = max(1, math.ceil((max(times) - min(times)).total_seconds() / 60))
    return M.ONE_MINUTE if minutes == 1 else M.MINUTES.format(count=minutes)


def refs(ids: Iterable[int], shown: int = 6) -> str:
    """"#41, #43, #44 and 4 more"."""
    ids = list(ids)
    text = ", ".join(f"#{i}" for i in ids[:shown])
    return text + (" " + M.PROPOSAL_MORE.format(count=len(ids) - shown) if len(ids) > shown else "")


def triage_group(ctx: "Context", tickets: Iterable[Ticket]) -> str:
    """The level-1 group of the category most of `tickets` have: whose channel hears about them."""
    counts: dict[str, int] = {}
    for ticket in tickets:
        counts[ticket.category] = counts.get(ticket.category, 0) + 1
    category = max(counts, key=lambda c: (counts[c], c in ctx.settings.categories))
    return ctx.settings.chain(category if category in ctx.settings.categories else ctx.settings.default_category)[0]


def title_of(ctx: "Context", ticket_id: int) -> str:
    """An incident's title, or the ticket's headline for a parent that is not an incident."""
    record = ctx.tx.incident_record(ticket_id)
    if record is not None:
        return record.title
    ticket = ctx.tx.get_ticket(ticket_id)
    return one_line(ticket.description, 80) if ticket else f"#{ticket_id}"


# The incident's card

def refresh_card(ctx: "Context", parent_id: int) -> None:
    """Ask every chat platform to update the incident's card in place, once: an update already
    waiting (not yet taken by a sender) will show this change too, so none is added."""
    if ctx.tx.incident_record(parent_id) is None:
        return
    for platform in ctx.router.platforms(f"ticket:{parent_id}"):
        if not ctx.tx.notice_waiting(platform, "incident_changed", parent_id, ctx.now):
            ctx.tx.enqueue(Notice("incident_changed", f"ticket:{parent_id}", parent_id, ""), platform, ctx.now)


def announce(ctx: "Context", ticket: Ticket) -> None:
    """Put a ticket in front of its group as a new one (its card), as intake would have."""
    ctx.notify("new_ticket", f"group:{ticket.group}", ticket, M.OPENED_FOR_GROUP.format(
        ref=ticket.ref, severity=ticket.severity.value, category=ticket.category, requester=ticket.requester.name,
        headline=one_line(ticket.description)))


def never_announced(ctx: "Context", ticket: Ticket) -> bool:
    """Whether the ticket joined an incident when it was opened and has had no card since."""
    events = ctx.tx.events(ticket.id)
    joined = any(e.action == "opened" and (e.changes.get("parent_id") or [None, None])[1] for e in events)
    return joined and not any(e.action == "unlinked" for e in events)


# Linking and unlinking

def link(ctx: "Context", child: Ticket, parent: Ticket, *, tell: str = "same") -> Ticket:
    """Link `child` to `parent` (the same problem): audited on both, the child's requester told
    (`tell`: "same", "known" for an incident, "" nobody), the incident's card refreshed by the
    caller. Returns the child as stored."""
    before_parent = child.parent_id
    child = ctx.record("linked", child, following(ctx, child.with_changes(parent_id=parent.id), parent),
                       {"parent_id": [before_parent, parent.id]}, summary=ctx.line("linked", parent=parent.ref))
    ctx.audit("linked_child", parent, {"child": [None, child.id]})
    record = ctx.tx.incident_record(parent.id)
    if record is not None and child.created_at < record.first_ticket_at:  # an earlier report: the incident began then
        ctx.tx.update_incident(parent.id, first_ticket_at=child.created_at)
    if tell:
        title = title_of(ctx, parent.id)
        text = (M.KNOWN_PROBLEM if tell == "known" else M.SAME_PROBLEM).format(ref=child.ref, parent=parent.ref,
                                                                              title=title, id=child.id)
        ctx.notify_requester("known_problem", child, text, parent=parent.id)
    return child


def following(ctx: "Context", child: Ticket, parent: Ticket) -> Ticket:
    """`child` on its parent's clock: the parent's targets are its own (for reports: met when the
    parent's are), and when the parent already had a response, being told it is a known problem
    is this ticket's first response."""
    responded = child.first_response_at or (ctx.now if parent.first_response_at else None)
    return child.with_changes(response_due_at=parent.response_due_at, resolution_due_at=parent.resolution_due_at,
                              first_response_at=responded)


def unlink(ctx: "Context", child: Ticket, reason: str) -> Ticket:
    """Take `child` out of its parent: audited on both; a ticket that never had a card gets one now
    (it goes through normal triage); the incident's card is refreshed. Returns the child."""
    parent_id = child.parent_id
    card_due = child.status.is_open and never_announced(ctx, child)  # asked before this unlinking is in its history
    child = ctx.record("unlinked", child, child.with_changes(parent_id=None), {"parent_id": [parent_id, None],
                                                                              "reason": [None, reason]},
                       summary=ctx.line("unlinked", parent=f"#{parent_id}", reason=reason))
    parent = ctx.tx.get_ticket(parent_id)
    if parent is not None:
        ctx.audit("unlinked_child", parent, {"child": [child.id, None], "reason": [None, reason]})
        refresh_card(ctx, parent_id)
    if card_due:
        announce(ctx, child)
    return child


def root_of(ctx: "Context", ticket: Ticket) -> Ticket:
    """The ticket a link to `ticket` really goes to: its own parent when it is linked (links are one level)."""
    seen = {ticket.id}
    while ticket.parent_id is not None and ticket.parent_id not in seen:
        parent = ctx.tx.get_ticket(ticket.parent_id, lock=True)
        if parent is None:
            break
        seen.add(parent.id)
        ticket = parent
    return ticket


# Opening a ticket while an incident is open

def matching_incident(ctx: "Context", description: str) -> IncidentRecord | None:
    """The open incident a new problem belongs to by the grouping rule (the best fit when several
    do), compared with each incident's parent and its most recent tickets; None if none."""
    config = ctx.settings.incidents
    if not config.join_open:
        return None
    best: tuple[float, IncidentRecord] | None = None
    samples = ctx.tx.incident_samples(SAMPLE)
    if not samples:
        return None
    measure = corpus(ctx)
    for record, sample in samples:
        values = measure.alike_to(description, sample, ctx.tx)
        if belongs(values, config):
            score = sum(values) / len(values)
            if best is None or score > best[0]:
                best = (score, record)
    return best[1] if best else None


def joined_at_intake(ctx: "Context", ticket: Ticket, record: IncidentRecord, logged_by) -> str:
    """A ticket opened as part of an open incident: the parent's history notes it, the card counts
    it, the requester hears it is a known problem (and how to say it is not). Returns the reply."""
    parent = ctx.tx.get_ticket(record.ticket_id)
    ctx.record("linked", ticket, following(ctx, ticket, parent), {"parent_id": [None, parent.id]}, summary="")
    ctx.audit("linked_child", parent, {"child": [None, ticket.id]})
    refresh_card(ctx, record.ticket_id)
    text = M.KNOWN_PROBLEM.format(ref=ticket.ref, parent=record.ref, title=record.title)
    audience = f"user:{ticket.requester.id}"
    by_chat = ctx.router.platforms(audience) != [CONSOLE]  # where "This is something else" is a button
    if logged_by is not None or not ctx.reply_visible or by_chat:
        ctx.notify("known_problem", audience, ticket, text, parent=record.ticket_id)
    if logged_by is not None:
        return M.LOGGED_KNOWN.format(ref=ticket.ref, name=ticket.requester.name, via=ticket.via, parent=record.ref,
                                     title=record.title)
    return M.KNOWN_PROBLEM_REPLY.format(ref=ticket.ref, parent=record.ref, title=record.title, id=ticket.id)


# Declaring

def declare(ctx: "Context", parent: Ticket, title: str, severity: Severity | None) -> tuple[Ticket, list[Ticket]]:
    """Declare `parent` a major incident: the tickets of its open proposal (else the open tickets of
    the window alike to it) are linked to it, its severity rises to the highest among them (or
    `severity`), and its card is posted to the triage group's channel. Returns the parent and the
    tickets linked."""
    config = ctx.settings.incidents
    proposal = ctx.tx.proposal_of(parent.id)
    if proposal is not None and proposal.state == "open":
        found = [t for i in proposal.members if i != parent.id and (t := ctx.tx.get_ticket(i, lock=True)) is not None]
        ctx.tx.decide_proposal(proposal.id, "declared", ctx.actor.name, ctx.now)
    else:
        proposal = None
        window = ctx.tx.surge_candidates(ctx.now - timedelta(minutes=config.window_minutes))
        pool = [parent, *(t for t in window if t.id != parent.id)]
        alike = corpus(ctx).likeness(pool)
        # the window's group the parent is part of (grown from its most central ticket), else its own
        mine = [g for g in groups(pool, config.model_copy(update={"min_tickets": 2}), alike) if parent in g]
        members = [t.id for t in mine[0]] if mine else grow([parent.id], [t.id for t in pool], alike, config)
        found = [ctx.tx.get_ticket(i, lock=True) for i in members if i != parent.id]
    joining = [t for t in found if t is not None and t.status.is_open and t.parent_id is None and t.id != parent.id
               and ctx.tx.incident_record(t.id) is None]
    top = max([parent.severity, *(t.severity for t in joining), *([severity] if severity else [])], key=lambda s: s.rank)
    if severity is not None:
        top = severity
    group = triage_group(ctx, [parent])
    first = min([parent.created_at, *(t.created_at for t in joining)])
    ctx.tx.add_incident(IncidentRecord(parent.id, title, group, ctx.now, ctx.actor.id, ctx.actor.name, first,
                                       proposal.id if proposal else None))
    parent = ctx.record("declared", parent, parent.with_changes(severity=top), {"incident": [None, title]},
                        summary=ctx.line("declared", title=title))
    linked = []
    for ticket in joining:
        moved = ctx.tx.linked_tickets(ticket.id)
        linked.append(link(ctx, ticket, parent, tell="known"))
        for grandchild in moved:  # links are one level: what was linked to it comes along
            linked.append(link(ctx, grandchild, parent, tell="known"))
    ctx.notify("incident", f"group:{group}", parent, M.CHANGED["declared"].format(actor=ctx.actor.name, title=title))
    return parent, linked


# Answering once

def broadcast(ctx: "Context", parent: Ticket, text: str) -> int:
    """Tell every requester of the parent's open linked tickets (and the parent's own, and those
    merged into it) once, each about their own ticket; a linked ticket that had no response yet
    has one now. Returns how many people were told."""
    title = title_of(ctx, parent.id)
    told = {ctx.actor.id, *ctx.actor.ids}
    count = 0
    own = [parent.requester.id, *(r.id for r in ctx.tx.merged_requesters(parent.id))]
    for requester in own:
        if requester not in told:
            ctx.notify("broadcast", f"user:{requester}", parent, M.BROADCAST_FOR_REQUESTER.format(
                parent=parent.ref, title=title, ref=parent.ref, text=text))
            told.add(requester)
            count += 1
    for child in ctx.tx.linked_tickets(parent.id, open_only=True):
        if child.requester.id not in told:
            ctx.notify("broadcast", f"user:{child.requester.id}", child, M.BROADCAST_FOR_REQUESTER.format(
                parent=parent.ref, title=title, ref=child.ref, text=text))
            told.add(child.requester.id)
            count += 1
        if child.first_response_at is None:  # the update is the help desk's first response to them
            fresh = ctx.tx.get_ticket(child.id, lock=True)
            ctx.record("broadcast", fresh, fresh.with_changes(first_response_at=ctx.now), summary="")
    return count


def resolve_linked(ctx: "Context", parent: Ticket, assignee: tuple[str | None, str | None]) -> tuple[int, int]:
    """The parent is resolved: each open linked ticket is resolved with its resolution, and each of
    their requesters told once (with *That fixed it* / *Still broken* on their own ticket).
    Returns (tickets resolved, people told)."""
    told = {parent.requester.id, *(r.id for r in ctx.tx.merged_requesters(parent.id)), *ctx.actor.ids}
    title = title_of(ctx, parent.id)
    resolution = parent.resolution or ""
    resolved = people = 0
    for child in ctx.tx.linked_tickets(parent.id, open_only=True):
        child = ctx.tx.get_ticket(child.id, lock=True)
        after = child.with_changes(status=Status.RESOLVED, resolution=M.RESOLVED_WITH.format(
            parent=parent.ref, resolution=resolution), resolved_at=ctx.now,
            first_response_at=child.first_response_at or ctx.now,
            assignee_id=child.assignee_id or assignee[0], assignee_name=child.assignee_name or assignee[1])
        child = ctx.record("resolved", child, after, {"resolved_with": [None, parent.id]},
                           summary=ctx.line("resolved_with", parent=parent.ref, resolution=one_line(resolution, 300)))
        resolved += 1
        for requester in [child.requester.id, *(r.id for r in ctx.tx.merged_requesters(child.id))]:
            if requester not in told:
                ctx.notify("resolved", f"user:{requester}", child, M.RESOLVED_WITH_FOR_REQUESTER.format(
                    ref=child.ref, parent=parent.ref, title=title, resolution=one_line(resolution, 500), id=child.id))
                told.add(requester)
                people += 1
    refresh_card(ctx, parent.id)
    return resolved, people


# Found, not only declared

def surge_window(ctx: "Context", since: datetime | None = None, upto: int | None = None
                 ) -> tuple[list[Ticket], list[tuple[Proposal, list[Ticket]]], list[Ticket]] | None:
    """What a look for surges compares: the window's candidates (opened since `since`, by default
    the configured window before now, with ids up to `upto`), the proposals still open with a
    sample of their tickets, and both together (the pool: one comparison over all of them, so every
    likeness is measured alike). None when there is nothing to look at, or nothing new since this
    process's last look (`ctx.incidents.seen`)."""
    config = ctx.settings.incidents
    candidates = ctx.tx.surge_candidates(since or ctx.now - timedelta(minutes=config.window_minutes), upto)
    if not candidates or (ctx.incidents is not None and tuple(c.id for c in candidates) == ctx.incidents.seen):
        return None
    proposals = [(p, [t for i in p.members[-SAMPLE:] if (t := ctx.tx.get_ticket(i)) is not None])
                 for p in ctx.tx.open_proposals(ctx.now - PROPOSALS_OPEN_FOR)]
    pool = {t.id: t for t in candidates}
    for _, sample in proposals:
        pool.update((t.id, t) for t in sample)
    return candidates, proposals, list(pool.values())


@dataclass(frozen=True)
class SurgePlan:
    """What a look for surges found, before it is stored: the window it grouped (`looked_at`: the
    candidates' ids, each open proposal's id and members), the candidates joining each proposal
    nobody answered yet, and each new group (tickets, seed first) with the proposal it is the
    same surge as (None: a proposal of its own)."""

    looked_at: tuple
    joins: tuple[tuple[int, tuple[int, ...]], ...]
    groups: tuple[tuple[tuple[Ticket, ...], int | None], ...]
    # the window's bounds as the look ahead read it: the look that writes reads the same stretch, so
    # tickets opened meanwhile (pushing the oldest out of a busy window's newest) change nothing
    since: datetime | None = None
    upto: int | None = None


def _looked_at(candidates: list[Ticket], proposals: list[tuple["Proposal", list[Ticket]]]) -> tuple:
    return tuple(t.id for t in candidates), tuple((p.id, tuple(p.members)) for p, _ in proposals)


def plan_surges(ctx: "Context", candidates: list[Ticket], proposals: list[tuple["Proposal", list[Ticket]]],
                pool: list[Ticket]) -> SurgePlan:
    """Group the window (`surge_window`'s three parts), storing nothing: candidates alike to a
    proposal join it; the rest form groups of at least `min_tickets`, each the same surge as the
    proposal it is most alike to (by `cohesion`) or a new one."""
    config = ctx.settings.incidents
    alike = corpus(ctx).likeness(pool)
    left = {t.id for t in candidates}
    joins = []
    for proposal, sample in proposals:  # alike to a proposal nobody answered yet: they join it
        joining = grow([t.id for t in sample], left, alike, config)[len(sample):]
        if joining:
            joins.append((proposal.id, tuple(joining)))
            left -= set(joining)
    found = []
    for group in groups([t for t in candidates if t.id in left], config, alike):
        ids = [t.id for t in group]
        fits = [(linkage(ids, [t.id for t in sample], alike), p) for p, sample in proposals]
        best = max(fits, key=lambda f: f[0], default=None)
        same = best[1].id if best is not None and best[0] >= config.cohesion else None  # described differently
        found.append((tuple(group), same))
    return SurgePlan(_looked_at(candidates, proposals), tuple(joins), tuple(found))


def compare_surge_window(ctx: "Context") -> tuple[frozenset[int], SurgePlan] | None:
    """The costly part of a look for surges, done ahead in a read-only transaction: every ticket of
    the window searched in the corpus (kept by `Corpus.likeness`) and grouped, so the look that
    writes, right after, holds the write lock only to check the window is the same and store
    (SQLite lets one writer in at a time). Returns (the candidates compared, the plan), None:
    nothing to look at."""
    if not ctx.settings.incidents.enabled:
        return None
    since = ctx.now - timedelta(minutes=ctx.settings.incidents.window_minutes)
    if (window := surge_window(ctx, since)) is None:
        return None
    plan = replace(plan_surges(ctx, *window), since=since, upto=max(t.id for t in window[0]))
    return frozenset(t.id for t in window[0]), plan


class WindowChanged(Exception):
    """The window a look ahead grouped changed before the look that writes (a ticket closed or
    proposed since, a proposal answered), and that look may not group it again itself."""


def find_surges(ctx: "Context", ahead: tuple[frozenset[int], SurgePlan] | None = None, regroup: bool = True) -> int:
    """Propose the surges of the window once: open tickets alike to an unanswered proposal join it;
    each new group of at least `min_tickets` alike tickets becomes a proposal posted to its triage
    group's channel. Returns how many proposals were made. Raises Conflict when another replica
    proposed one of the same tickets at the same moment (the unit of work then runs again).
    Candidates this process already compared (`ctx.incidents.seen`) are not compared again.
    `ahead` (from `compare_surge_window`): tickets opened since it compared them are left out (the
    next look takes them), and its plan is stored as it is when the window is still the one it
    grouped; otherwise (a ticket closed or proposed since, a proposal answered) it is grouped
    again here, or, with `regroup` off, WindowChanged is raised and nothing is stored (the caller
    compares again ahead: grouping a large window holds the write lock for seconds)."""
    config = ctx.settings.incidents
    if not config.enabled:
        return 0
    if ctx.incidents is not None:
        ctx.incidents.offered = None  # set below, once this look has candidates: what `committed` makes seen
    window = surge_window(ctx, *((ahead[1].since, ahead[1].upto) if ahead is not None else ()))
    if window is None:
        return 0
    candidates, proposals, pool = window
    plan = None
    if ahead is not None:
        among, plan = ahead
        later = {t.id for t in candidates} - among
        candidates = [t for t in candidates if t.id not in later]
        pool = [t for t in pool if t.id not in later]
        if not candidates:
            return 0
    if ctx.incidents is not None:
        ctx.incidents.offered = tuple(c.id for c in candidates)
    if plan is None or plan.looked_at != _looked_at(candidates, proposals):
        if plan is not None and not regroup:
            raise WindowChanged(f"{len(candidates)} candidates, {len(proposals)} open proposals")
        plan = plan_surges(ctx, candidates, proposals, pool)
    for proposal_id, joining in plan.joins:
        ctx.tx.add_proposal_members(proposal_id, list(joining), ctx.now)
    made, current = 0, {t.id: t for t in candidates}  # the tickets as this transaction reads them
    for grouped, same in plan.groups:
        group = [current[t.id] for t in grouped]
        ids = [t.id for t in group]
        if same is not None:
            ctx.tx.add_proposal_members(same, ids, ctx.now)
            continue
        seed = group[0]
        headline = one_line(seed.description, 100)
        ids = sorted(ids)
        channel = triage_group(ctx, group)
        proposal_id = ctx.tx.add_proposal(seed.id, channel, headline, ids, ctx.now)
        text = M.PROPOSAL.format(count=len(group), minutes=span(group), headline=headline, refs=refs(ids))
        ctx.notify("incident_proposal", f"group:{channel}", seed, text, proposal=proposal_id, members=ids)
        ctx.audit("proposed", seed, {"proposal": [None, proposal_id], "members": [None, ids]})
        made += 1
    return made


class Incidents:
    """What one process keeps for major incidents: the corpus likeness is measured in, and what it
    last compared when looking for surges (the window's candidates), so a sweep that finds the
    same candidates again does not compare them again. `offered` is set by `find_surges`; the
    caller makes it `seen` once that unit of work committed."""

    def __init__(self, corpus_size: int = 2000) -> None:
        self.corpus = Corpus(corpus_size)
        self.seen: tuple[int, ...] | None = None
        self.offered: tuple[int, ...] | None = None

    def committed(self) -> None:
        """The look at `offered` is done and stored: skip those candidates from now on."""
        self.seen = self.offered


# Merging

def merge(ctx: "Context", source: Ticket, target: Ticket) -> tuple[Ticket, Ticket, dict[str, int]]:
    """Merge `source` into `target`, which stays: the tickets linked to it or merged into it follow,
    every row naming it (notes, attachments…) moves, its description is kept as an internal note,
    and it is closed; its requester is told and hears about `target` from then on. Both tickets'
    histories say so. Returns (source, target, rows moved by table)."""
    for child in ctx.tx.linked_tickets(source.id):
        link(ctx, ctx.tx.get_ticket(child.id, lock=True), target, tell="same")
    for earlier in ctx.tx.merged_tickets(source.id):
        earlier = ctx.tx.get_ticket(earlier.id, lock=True)
        ctx.record("merged", earlier, earlier.with_changes(merged_into_id=target.id),
                   {"merged_into_id": [source.id, target.id]}, summary="")
    moved = ctx.tx.move_references(source.id, target.id)
    note = ctx.note(target, M.MERGED_NOTE.format(ref=source.ref, requester=source.requester.name,
                                                 description=source.description), internal=True)
    left_parent = source.parent_id
    source = ctx.record("merged", source, source.with_changes(
        status=Status.CLOSED, closed_at=ctx.now, merged_into_id=target.id, parent_id=None),
        {"merged_into_id": [None, target.id], "moved": [None, moved]}, summary=ctx.line("merged", target=target.ref))
    target = ctx.record("merged_in", target, target, {"merged": [None, source.id], "note": [None, note.id],
                                                      "moved": [None, moved]},
                        summary=ctx.line("merged_in", source=source.ref, requester=source.requester.name))
    if not ctx.actor.is_(source.requester.id):
        ctx.notify("merged", f"user:{source.requester.id}", target, M.MERGED_FOR_REQUESTER.format(
            ref=source.ref, target=target.ref, headline=one_line(target.description)))
    if left_parent is not None:
        refresh_card(ctx, left_parent)
    refresh_card(ctx, target.id)
    return source, target, moved
