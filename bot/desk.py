"""The help desk: the one entry point every adapter calls.

`Desk.execute(actor, call)` runs a typed call; `Desk.handle(actor, line)` parses a line a
person typed into one and runs it. Cross-cutting checks are middleware around the
command's handler, in this order:

    transaction (retried when a concurrent change wins) → dedupe → identify the person →
    permission → load the ticket → the command's preconditions → handler

and `execute` turns any failure into one sentence with a log reference.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, TypeVar

from bot import identity, incidents, messages as M
from bot.commands import REGISTRY, Role
from bot.commands.opening import check_intake
from bot.commands.registry import Call, CommandSpec, ParseError, Registry, Source
from bot.config import Settings, normalise_identity
from bot.context import Context, suggestion_query
from bot.digest import send_if_due
from bot.escalation import run_due_step
from bot.knowledge import Knowledge
from bot.model import SYSTEM_ID, Actor, Requester, Ticket, TicketFilter
from bot.ports import Conflict, Store, Transaction
from bot.routing import Router
from bot.replies import Reply, ReplyKind
from bot.text import TEXT_MAX, clean

log = logging.getLogger("helpdesk")
LOOKS_AHEAD = 3  # looks ahead a look for surges makes when the window keeps changing (`regroup_under_lock` off)

Handler = Callable[[Context], Reply]
Middleware = Callable[[Context, Handler], Reply]
SURGE_LEASE = "surges"  # the lease of the look for surges (one process looks at a time)
SURGE_LEASE_SWEEPS = 3  # sweeps a replica holds the look for surges for, unless it looks again
REQUESTER_FIELDS = ("name", "email", "phone", "department", "office", "manager")
T = TypeVar("T")

MAX_ATTEMPTS = 5


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the desk's default clock)."""
    return datetime.now(timezone.utc)


class _Rollback(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


class Desk:
    """The core: commands, their middleware, the SLA sweep. Thread-safe; one per process.

    `store` is the storage port, `knowledge` the index of past resolutions (optional),
    `directory` the directory port (optional), `clock` returns aware UTC datetimes."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime] = utcnow, registry: Registry = REGISTRY,
                 knowledge: Knowledge | None = None, directory: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.knowledge = knowledge
        self.directory = directory
        self.digest_renderer: Callable | None = None  # set by the app: how a digest report is written out
        self.clock = clock
        self.registry = registry
        self.router = Router(settings)
        self.people = identity.People()
        self.incidents = incidents.Incidents()  # this process's corpus for likeness, and its surge watch
        self.holder = f"desk-{uuid.uuid4().hex[:12]}"  # this process, as the holder of a lease
        self.look_for_surges = True  # off while a process of the server's own looks (adapters/surge_look.py)
        # a window changed between the look ahead and the look that writes is grouped again under the
        # write lock (True), or looked at again ahead (False: a process sharing SQLite with the server,
        # whose writers wait for another process's lock only up to the busy timeout)
        self.regroup_under_lock = True
        self.middleware: list[Middleware] = [self._transaction, self._dedupe, self._identify, self._permission,
                                             self._load_ticket, self._preconditions]

    # Who is asking

    def actor(self, identity_: str, name: str | None = None, **details: Any) -> Actor:
        """An Actor for an identity (an email, or `<platform>:<id>`), with every id the config
        knows them by; `details` are Actor fields (email, platform, phone, department…).
        Identities linked to the same person in the store are added when they act."""
        identity_ = normalise_identity(identity_)
        ids = {identity_}
        email = details.pop("email", None) or (identity_ if "@" in identity_ and ":" not in identity_ else None)
        if email:
            email = normalise_identity(email)
            ids.add(email)
        tech = self.settings.technician_for(ids)
        if tech:
            ids.update(tech.ids)
        display = name or (tech.name if tech else None) or identity_.split("@")[0].split(":")[-1]
        return Actor(id=identity_, name=display, ids=frozenset(ids), email=email, **details)

    def is_technician(self, actor: Actor) -> bool:
        """Whether the actor (any of their identities) is a configured technician or group member."""
        return actor.id == SYSTEM_ID or self.settings.technician_for(actor.ids) is not None

    def whoami(self, actor: Actor) -> Actor:
        """The actor with every identity their person has on any platform (read only: links nothing)."""
        with self.store.transaction(write=False) as tx:
            return self.people.resolve(tx, actor, self.clock(), create=False)

    # Running calls

    def handle(self, actor: Actor, text: str, *, ticket_id: int | None = None, dedupe_key: str | None = None,
               people: Mapping[str, Actor] | None = None) -> Reply:
        """Run one command line a person typed; always answers, never raises.

        `ticket_id` is the ticket whose conversation the line was typed in (a card's thread);
        `dedupe_key` is the platform's id for the request (a retry is answered DUPLICATE and
        changes nothing); `people` are the people the adapter resolved from @mentions."""
        try:
            call = self.registry.parse(text, default_ticket=ticket_id, people=people)
        except ParseError as exc:
            return Reply.refuse(str(exc), draft=exc.draft)
        except Exception:
            return self._failed(actor, text)
        return self.execute(actor, call, dedupe_key=dedupe_key)

    def execute(self, actor: Actor, call: Call, *, dedupe_key: str | None = None) -> Reply:
        """Run a typed call (a button, a form, a thread reply, a direct message, a parsed line);
        always answers, never raises. The reply's `kind` says whether something changed."""
        try:
            ctx = self._prepared(actor, call, dedupe_key)
            return self._finished(ctx, self._run(ctx, 0))
        except Exception:
            return self._failed(actor, call.raw or call.text)

    def _prepared(self, actor: Actor, call: Call, dedupe_key: str | None) -> Context:
        """The context a call runs in: its text and known options cleaned, its request id kept."""
        spec = self.registry.spec(call.command)
        call = replace(call, text=clean(call.text), options={k: clean(v) for k, v in call.options.items()
                                                              if k in spec.options and v is not None})
        ctx = self._context(actor, call, spec)
        ctx.dedupe_key = dedupe_key
        return ctx

    def search_ahead(self, call: Call) -> None:
        """A call about to be queued for writing (a submitted intake form): when it opens a ticket,
        the knowledge index is asked now for the suggestions it will get, so an index searching in
        a process of its own (storage/kb_process.py) works while the call waits. Never blocks;
        nothing for an index in this process (it is searched when the ticket is written)."""
        spec = self.registry.get(call.command)
        if self.knowledge is None or not self.settings.knowledge.enabled or spec is None or spec.name != "new":
            return
        self.knowledge.ahead(clean(call.text), **suggestion_query(self.settings.knowledge, technician=False))

    def _finished(self, ctx: Context, reply: Reply) -> Reply:
        """After the commit: the knowledge index learns the change, and a writing command's
        answer says something changed."""
        if reply.ok and ctx.spec.writes and self.knowledge is not None and ctx.ticket is not None:
            self.knowledge.apply(ctx.ticket)  # this process's change shows in the very next suggestion
        if reply.kind is ReplyKind.ANSWER and ctx.spec.writes:
            reply = replace(reply, kind=ReplyKind.CHANGED)
        return reply

    def execute_together(self, calls: list[tuple[Actor, Call, str | None]]) -> list[Reply]:
        """Run several writing calls (actor, call, dedupe_key) in one unit of work, one reply each,
        in order: one commit for all of them (what a surge of submitted forms needs), each call in a
        savepoint of its own, so a refused or failing one writes nothing and leaves the others be.
        Raises what the store raises when the unit of work cannot begin or commit (a database
        locked or gone): nothing was written then, and the caller may run them all again."""
        prepared: list[Context | Reply] = []
        for actor, call, key in calls:
            try:
                ctx = self._prepared(actor, call, key)
                ctx.writing = True
                prepared.append(ctx)
            except Exception:
                prepared.append(self._failed(actor, call.raw or call.text))

        def work(tx: Transaction) -> list[Reply]:
            keyed = [ctx for ctx in prepared if isinstance(ctx, Context) and ctx.dedupe_key]
            claimed = _claim_together(tx, keyed, self.clock())
            replies = []
            for ctx in prepared:
                if isinstance(ctx, Reply):
                    replies.append(ctx)
                    continue
                ctx.tx, ctx.ticket, ctx.now = tx, None, self.clock()
                try:
                    with tx.savepoint():
                        reply = self._run(ctx, 1)  # the chain after the transaction middleware
                        if not reply.ok:
                            raise _Rollback(reply)
                except _Rollback as rollback:
                    reply = rollback.reply
                except Conflict:
                    raise  # a concurrent change won: every call runs again on fresh data
                except Exception:  # rolled back to its savepoint; a broken connection fails the commit below
                    reply = self._failed(ctx.actor, ctx.call.raw or ctx.call.text)
                replies.append(reply)
            if claimed:
                _settle_claims(tx, prepared, replies)
            return replies

        replies = self.unit_of_work(work)
        for ctx in prepared:
            if isinstance(ctx, Context):
                ctx.tx, ctx.claimed = None, None
        return [self._finished(ctx, reply) if isinstance(ctx, Context) else reply
                for ctx, reply in zip(prepared, replies)]

    def intake_problems(self, actor: Actor, call: Call) -> dict[str, str]:
        """What is wrong with a `new` call's fields, by field name, found without the store (the
        description's length, severity, category, phone…): what a submitted form shows next to its
        fields in the platform's immediate answer. Empty when every field is fine."""
        ctx = self._prepared(actor, call, None)
        return check_intake(ctx, ctx.call.text, dict(ctx.call.options))[1]

    def seen_ticket(self, dedupe_key: str) -> Ticket | None:
        """The ticket a request already handled opened or changed (None: not seen, or it made none);
        read only, so a busy writer never delays it."""
        return self.seen_tickets([dedupe_key]).get(dedupe_key)

    def seen_tickets(self, dedupe_keys: list[str]) -> dict[str, Ticket]:
        """`seen_ticket` of several requests in one read-only transaction: the tickets of those
        already handled that opened or changed one, by request id."""
        with self.store.transaction(write=False) as tx:
            results = tx.seen_results(dedupe_keys)
            found = tx.get_tickets(list(results.values()))
        return {key: found[ticket_id] for key, ticket_id in results.items() if ticket_id in found}

    def check(self, actor: Actor, call: Call) -> Reply:
        """Whether `call` may run now, without running it: the permission, the ticket's visibility
        and the command's preconditions (what a button checks before opening its form). Answers
        the ticket (ok) or the refusal the command itself would give."""
        spec = self.registry.spec(call.command)
        ctx = self._context(actor, call, spec)

        def look(c: Context) -> Reply:
            return Reply("", ticket=c.ticket)

        with self.store.transaction(write=False) as tx:
            ctx.tx, ctx.now = tx, self.clock()
            chain = [self._identify, self._permission, self._load_ticket, self._preconditions]
            return self._chain(ctx, chain, look)

    def _context(self, actor: Actor, call: Call, spec: CommandSpec) -> Context:
        return Context(self.settings, actor, self.is_technician(actor), self.clock(), self.router, call, spec,
                       knowledge=self.knowledge, directory=self.directory, incidents=self.incidents)

    def _failed(self, actor: Actor, text: str) -> Reply:
        ref = uuid.uuid4().hex[:8]
        log.exception("command failed (reference %s) for %s: %.200r", ref, actor.id, text)
        return Reply.refuse(M.INTERNAL_ERROR.format(ref=ref), draft=text if len(text) <= 8000 else None)

    def _run(self, ctx: Context, index: int) -> Reply:
        return self._chain(ctx, self.middleware[index:], ctx.spec.handler)

    def _chain(self, ctx: Context, chain: list[Middleware], handler: Handler) -> Reply:
        if not chain:
            return handler(ctx)
        return chain[0](ctx, lambda c: self._chain(c, chain[1:], handler))

    # One unit of work, retried when a concurrent writer wins

    def unit_of_work(self, work: Callable[[Transaction], T], write: bool = True) -> T:
        """Run `work(tx)` in one transaction; a `Conflict` (a concurrent change won) runs it
        again on fresh data, up to MAX_ATTEMPTS times. Raises Conflict when every attempt lost,
        and whatever `work` raises otherwise (the transaction is rolled back)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.store.transaction(write=write) as tx:
                    return work(tx)
            except Conflict:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # Middleware

    def _transaction(self, ctx: Context, nxt: Handler) -> Reply:
        """One transaction per command; a refusal rolls it back; a lost race runs it again."""
        def work(tx: Transaction) -> Reply:
            ctx.tx, ctx.ticket, ctx.now = tx, None, self.clock()
            reply = nxt(ctx)
            if not reply.ok:
                raise _Rollback(reply)
            return reply

        # remembering a request's id is a write too, and so is linking a person's identities
        ctx.writing = ctx.spec.writes or ctx.dedupe_key is not None
        try:
            return self.unit_of_work(work, write=ctx.writing)
        except _Rollback as rollback:
            if ctx.dedupe_key and ctx.call.source is not Source.FORM:
                # a refusal is an answer too: a retry must not repeat it (a refused form, though,
                # is corrected and sent again under the same id)
                with self.store.transaction() as tx:
                    tx.first_time(ctx.dedupe_key, ctx.now)
            return rollback.reply
        except Conflict:
            return Reply.refuse(M.BUSY.format(ref=f"#{ctx.call.ticket_id}"))
        finally:
            ctx.tx = None

    def _dedupe(self, ctx: Context, nxt: Handler) -> Reply:
        """A platform retry of a request already handled does nothing, on any replica, and
        answers with what the first one made (the ticket it opened or changed)."""
        if ctx.dedupe_key and not (ctx.tx.first_time(ctx.dedupe_key, ctx.now) if ctx.claimed is None else ctx.claimed):
            earlier = ctx.tx.seen_result(ctx.dedupe_key)
            ticket = ctx.tx.get_ticket(earlier) if earlier else None
            return Reply("", kind=ReplyKind.DUPLICATE, ticket=ticket)
        reply = nxt(ctx)
        if ctx.dedupe_key and ctx.claimed is None and reply.ok and ctx.ticket is not None and ctx.ticket.id is not None:
            ctx.tx.remember_result(ctx.dedupe_key, ctx.ticket.id)
        return reply

    def _identify(self, ctx: Context, nxt: Handler) -> Reply:
        """The actor as one person: identities linked on any platform become theirs. A writing
        unit of work (a change, or any request a chat platform sent) links new ones, so Alice in a
        chat app and alice@corp.example are one requester."""
        if ctx.actor.id != SYSTEM_ID:
            ctx.actor = self.people.resolve(ctx.tx, ctx.actor, ctx.now, create=ctx.writing)
        return nxt(ctx)

    def _permission(self, ctx: Context, nxt: Handler) -> Reply:
        spec = ctx.spec
        if spec.role is Role.TECHNICIAN and not ctx.is_technician:
            return Reply.refuse(M.TECHNICIANS_ONLY.format(verb=spec.verb or f"use `{spec.name}`"))
        return nxt(ctx)

    def _load_ticket(self, ctx: Context, nxt: Handler) -> Reply:
        """Find the named ticket; people who may not see it are told it does not exist."""
        if ctx.call.ticket_id is None:
            if ctx.spec.takes_ticket:
                return Reply.refuse(M.NEED_TICKET.format(usage=ctx.spec.usage, example=ctx.spec.example))
            return nxt(ctx)
        ticket = ctx.tx.get_ticket(ctx.call.ticket_id, lock=ctx.spec.writes)
        if ticket is None or not self.may_see(ctx, ticket):
            refusal = M.NOT_PARTICIPANT if ctx.from_thread else M.NOT_VISIBLE  # a thread's ticket is no secret
            return Reply.refuse(refusal.format(ref=f"#{ctx.call.ticket_id}"))
        ctx.ticket = ticket
        return nxt(ctx)

    def _preconditions(self, ctx: Context, nxt: Handler) -> Reply:
        """What the command's spec requires: a ticket in a state it can act on, text within its limit."""
        spec, call = ctx.spec, ctx.call
        if ctx.ticket is not None and spec.guard is not None:
            refusal = spec.guard(ctx.ticket)
            if refusal:
                return Reply.refuse(refusal)
        if spec.text and spec.text_limit is not None and len(call.text) > spec.text_limit:
            draft = call.raw if call.raw and len(call.raw) <= 2 * TEXT_MAX else None
            return Reply.refuse(M.TOO_LONG.format(what=spec.text.capitalize(), length=len(call.text),
                                                  limit=spec.text_limit), draft=draft)
        return nxt(ctx)

    # The help desk's own work

    def sweep(self, limit: int = 200) -> int:
        """Take every SLA step that is due (warnings, automatic escalations, repeat pages,
        overdue flags), one ticket per unit of work, then the weekly digest if it is due, then the
        look for surges (unless `look_for_surges` is off: another process looks); returns how
        many steps were taken."""
        system = self.actor(SYSTEM_ID, M.SYSTEM_NAME, platform="system")
        done = 0

        def step(tx: Transaction) -> bool | None:
            ticket = tx.next_due(self.clock())
            if ticket is None:
                return None
            ctx = Context(self.settings, system, True, self.clock(), self.router, tx=tx, ticket=ticket,
                          knowledge=self.knowledge, directory=self.directory)
            return bool(run_due_step(ctx, ticket))

        for _ in range(limit):
            taken = self.unit_of_work(step)
            if taken is None:
                break
            done += taken
        if self.settings.reports.digest and self.digest_renderer is not None:
            def digest(tx: Transaction) -> int:
                ctx = Context(self.settings, system, True, self.clock(), self.router, tx=tx)
                return send_if_due(ctx, self.digest_renderer)
            done += self.unit_of_work(digest)
        if self.look_for_surges:
            done += self.find_surges(system)
        return done

    def find_surges(self, system: Actor | None = None) -> int:
        """Propose major incidents for surges of alike open tickets (bot/incidents.py), once across
        replicas; part of the sweep. Returns how many proposals were made.

        One replica looks at a time: the one holding the `surges` lease, renewed by each look
        and taken over by another replica once it ran out (SURGE_LEASE_SWEEPS sweeps): comparing
        every new ticket with the others costs CPU that each replica would otherwise spend on
        every ticket of them all."""
        if not self.settings.incidents.enabled:
            return 0
        seconds = SURGE_LEASE_SWEEPS * self.settings.escalation.sweep_seconds
        if not self.unit_of_work(lambda tx: tx.take_lease(SURGE_LEASE, self.holder, self.clock(), seconds)):
            return 0
        system = system or self.actor(SYSTEM_ID, M.SYSTEM_NAME, platform="system")

        def context(tx: Transaction) -> Context:
            return Context(self.settings, system, True, self.clock(), self.router, tx=tx, knowledge=self.knowledge,
                           incidents=self.incidents)

        for _ in range(LOOKS_AHEAD):
            with self.store.transaction(write=False) as tx:  # searching and grouping, before the write lock is taken
                ahead = incidents.compare_surge_window(context(tx))
            if ahead is None:
                return 0
            try:
                made = self.unit_of_work(lambda tx: incidents.find_surges(context(tx), ahead, self.regroup_under_lock))
            except incidents.WindowChanged:
                continue  # compared again ahead: the corpus kept its searches, only what changed costs
            self.incidents.committed()
            return made
        log.warning("the look for surges found the window changed %d times while it compared it; the next sweep "
                    "looks again", LOOKS_AHEAD)
        return 0

    def complete_requester(self, actor: Actor) -> list[int]:
        """Fill in the contact details of the open tickets `actor` opened as themselves without
        them (their chat platform's profile could not be looked up then: refused in a surge, or
        too slow: the requester is their chat identity, with no email), from `actor` as looked
        up since: their name replaces the one the platform's payload gave, and the email, phone,
        department, office and manager fill what is empty (a phone typed on the form stays).
        Links their identities (their email) to the person they are. Each ticket gets a
        `requester_completed` audit event; its card is not touched. Returns the ids completed."""
        system = self.actor(SYSTEM_ID, M.SYSTEM_NAME, platform="system")
        fresh = Requester.from_actor(actor)

        def work(tx: Transaction) -> list[int]:
            self.people.resolve(tx, actor, self.clock(), create=True)
            ctx = Context(self.settings, system, True, self.clock(), self.router, tx=tx)
            found, _ = tx.find_tickets(TicketFilter(requester_ids=frozenset({actor.id}), limit=500))
            done = []
            for ticket in found:
                was = ticket.requester
                if was.id != actor.id or was.email or not fresh.email:
                    continue  # someone else's, opened with a profile, or none to give it
                now = replace(was, name=fresh.name, **{name: getattr(was, name) or getattr(fresh, name)
                                                       for name in REQUESTER_FIELDS if name != "name"})
                changes = {f"requester_{name}": [getattr(was, name), getattr(now, name)] for name in REQUESTER_FIELDS
                           if getattr(was, name) != getattr(now, name)}
                ctx.record("requester_completed", ticket, ticket.with_changes(requester=now), changes, summary="")
                done.append(ticket.id)
            return done

        return self.unit_of_work(work)

    def first_time(self, dedupe_key: str) -> bool:
        """Record a platform request that runs no command (a form being shown); False for a retry."""
        with self.store.transaction() as tx:
            return tx.first_time(dedupe_key, self.clock())

    @staticmethod
    def may_see(ctx: Context, ticket: Ticket) -> bool:
        """Technicians see every ticket; anyone else only those they requested (or that a ticket
        of theirs was merged into)."""
        return (ctx.is_technician or ctx.is_requester(ticket)
                or any(ctx.actor.is_(r.id) for r in ctx.tx.merged_requesters(ticket.id)))

    def open_tickets_of(self, actor: Actor) -> list[Ticket]:
        """The requester's open tickets (as one person, on every platform), most urgent first."""
        with self.store.transaction(write=False) as tx:
            person = self.people.resolve(tx, actor, self.clock(), create=False)
            return tx.find_tickets(TicketFilter(requester_ids=person.ids))[0]


def _claim_together(tx: Transaction, keyed: list[Context], now: datetime) -> bool:
    """Claim the request ids of a batch's calls in one write (`Transaction.first_times`), each
    call's answer kept in `ctx.claimed` for the dedupe middleware; their results are remembered
    together after the batch (`_settle_claims`). A batch naming one id twice is left to the
    middleware, call by call. Returns whether the ids were claimed here."""
    keys = [ctx.dedupe_key for ctx in keyed]
    for ctx in keyed:
        ctx.claimed = None
    if not keys or len(set(keys)) < len(keys):
        return False
    first = tx.first_times(keys, now)
    for ctx in keyed:
        ctx.claimed = ctx.dedupe_key in first
    return True


def _settle_claims(tx: Transaction, prepared: list[Context | Reply], replies: list[Reply]) -> None:
    """After a batch claimed its request ids together: the tickets opened or changed remembered
    for their ids, in one statement; the ids of calls refused or failed forgotten (their savepoints
    undid everything else they did, and a corrected form is sent again under the same id)."""
    results, refused = [], []
    for ctx, reply in zip(prepared, replies):
        if not isinstance(ctx, Context) or not ctx.claimed:
            continue
        if not reply.ok:
            refused.append(ctx.dedupe_key)
        elif ctx.ticket is not None and ctx.ticket.id is not None:
            results.append((ctx.dedupe_key, ctx.ticket.id))
    tx.remember_results(results)
    tx.forget_requests(refused)
