"""The help desk: the one entry point every adapter calls with (actor, text).

Cross-cutting checks are middleware around the registry: a guard that turns any
failure into one sentence, the permission check, the transaction (retried when a
concurrent change wins), and loading the ticket the command names.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from bot import messages as M
from bot.commands import REGISTRY, Role
from bot.commands.registry import ParseError, Registry
from bot.config import Settings, normalise_identity
from bot.context import Context
from bot.digest import send_if_due
from bot.escalation import run_due_step
from bot.knowledge import Knowledge
from bot.model import SYSTEM_ID, Actor, Ticket, TicketFilter
from bot.ports import Conflict, Store
from bot.routing import Router
from bot.replies import Reply

log = logging.getLogger("helpdesk")

Handler = Callable[[Context], Reply]
Middleware = Callable[[Context, Handler], Reply]

MAX_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Rollback(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


class Desk:
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
        self.middleware: list[Middleware] = [self._transaction, self._dedupe, self._permission, self._load_ticket]

    def actor(self, identity: str, name: str | None = None, **details: str | None) -> Actor:
        """An Actor for a platform identity, with every id config knows them by."""
        identity = normalise_identity(identity)
        ids = {identity}
        email = details.pop("email", None) or (identity if "@" in identity and ":" not in identity else None)
        if email:
            ids.add(normalise_identity(email))
        tech = self.settings.technician_for(ids)
        if tech:
            ids.update(tech.ids)
        display = name or (tech.name if tech else None) or identity.split("@")[0].split(":")[-1]
        return Actor(id=identity, name=display, ids=frozenset(ids), email=email, **details)

    def is_technician(self, actor: Actor) -> bool:
        return actor.id == SYSTEM_ID or self.settings.technician_for(actor.ids) is not None

    def handle(self, actor: Actor, text: str, *, ticket_id: int | None = None, dedupe_key: str | None = None,
               mentioned: dict[str, Actor] | None = None) -> Reply:
        """Run one line of the grammar as `actor`; always answers, never raises.

        `ticket_id` is the ticket whose conversation the line was typed in (a card's
        thread); `dedupe_key` is the platform's id for the request, so a retried
        delivery is answered with a `duplicate` reply and changes nothing."""
        try:
            try:
                call = self.registry.parse(text, default_ticket=ticket_id)
            except ParseError as exc:
                return Reply.refuse(str(exc), draft=exc.draft)
            ctx = Context(self.settings, actor, self.is_technician(actor), self.clock(), call, self.router,
                          from_thread=ticket_id is not None, mentioned=mentioned or {})
            return self._guarded(ctx, dedupe_key)
        except Exception:
            return self._failed(actor, text)

    def submit(self, actor: Actor, command: str, text: str, options: dict[str, str], *,
               ticket_id: int | None = None, dedupe_key: str | None = None,
               mentioned: dict[str, Actor] | None = None) -> Reply:
        """Run a command filled in through a form; `Reply.field_errors` names the bad fields."""
        try:
            call = self.registry.form_call(command, text, options, ticket_id)
            ctx = Context(self.settings, actor, self.is_technician(actor), self.clock(), call, self.router,
                          reply_visible=False, mentioned=mentioned or {})
            return self._guarded(ctx, dedupe_key)
        except Exception:
            return self._failed(actor, text)

    def _guarded(self, ctx: Context, dedupe_key: str | None) -> Reply:
        ctx.dedupe_key = dedupe_key
        ctx.knowledge = self.knowledge
        ctx.directory = self.directory
        reply = self._run(ctx, 0)
        if reply.ok and ctx.call.spec.writes and self.knowledge is not None and ctx.ticket is not None:
            self.knowledge.apply(ctx.ticket)  # this process's change shows in the very next suggestion
        return reply

    def _failed(self, actor: Actor, text: str) -> Reply:
        ref = uuid.uuid4().hex[:8]
        log.exception("command failed (reference %s) for %s: %.200r", ref, actor.id, text)
        return Reply.refuse(M.INTERNAL_ERROR.format(ref=ref), draft=text if len(text) <= 8000 else None)

    def _run(self, ctx: Context, index: int) -> Reply:
        if index == len(self.middleware):
            return ctx.call.spec.handler(ctx)
        return self.middleware[index](ctx, lambda c: self._run(c, index + 1))

    # Middleware

    def _permission(self, ctx: Context, nxt: Handler) -> Reply:
        spec = ctx.call.spec
        if spec.role is Role.TECHNICIAN and not ctx.is_technician:
            return Reply.refuse(M.TECHNICIANS_ONLY.format(verb=spec.verb or f"use `{spec.name}`"))
        return nxt(ctx)

    def _transaction(self, ctx: Context, nxt: Handler) -> Reply:
        """One transaction per command; a refusal rolls back; a lost race runs again."""
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.store.transaction(write=ctx.call.spec.writes) as tx:
                    ctx.tx, ctx.ticket, ctx.now = tx, None, self.clock()
                    reply = nxt(ctx)
                    if not reply.ok:
                        raise _Rollback(reply)
                    return reply
            except _Rollback as rollback:
                if ctx.dedupe_key:  # a refusal is an answer too: a retry must not repeat it
                    with self.store.transaction() as tx:
                        tx.first_time(ctx.dedupe_key, ctx.now)
                return rollback.reply
            except Conflict:
                continue
            finally:
                ctx.tx = None
        return Reply.refuse(M.BUSY.format(ref=f"#{ctx.call.ticket_id}"))

    def _dedupe(self, ctx: Context, nxt: Handler) -> Reply:
        """A platform retry of a request already handled does nothing, on any replica."""
        if ctx.dedupe_key and not ctx.tx.first_time(ctx.dedupe_key, ctx.now):
            return Reply("", duplicate=True)
        return nxt(ctx)

    def _load_ticket(self, ctx: Context, nxt: Handler) -> Reply:
        """Find the named ticket; people who may not see it are told it does not exist."""
        if ctx.call.ticket_id is None:
            return nxt(ctx)
        ticket = ctx.tx.get_ticket(ctx.call.ticket_id, lock=ctx.call.spec.writes)
        if ticket is None or not self.may_see(ctx, ticket):
            refusal = M.NOT_PARTICIPANT if ctx.from_thread else M.NOT_VISIBLE  # a thread's ticket is no secret
            return Reply.refuse(refusal.format(ref=f"#{ctx.call.ticket_id}"))
        ctx.ticket = ticket
        return nxt(ctx)

    def sweep(self, limit: int = 200) -> int:
        """Take every SLA step that is due (warnings, automatic escalations, repeat pages,
        overdue flags), one ticket per transaction; returns how many steps were taken."""
        system = self.actor(SYSTEM_ID, M.SYSTEM_NAME, platform="system")
        done = 0
        for _ in range(limit):
            with self.store.transaction() as tx:
                ticket = tx.next_due(self.clock())
                if ticket is None:
                    break
                call = self.registry.form_call("show", "", {}, ticket.id)
                ctx = Context(self.settings, system, True, self.clock(), call, self.router, tx=tx, ticket=ticket)
                if run_due_step(ctx, ticket):
                    done += 1
        if self.settings.reports.digest and self.digest_renderer is not None:
            with self.store.transaction() as tx:
                call = self.registry.form_call("report", "", {})
                ctx = Context(self.settings, system, True, self.clock(), call, self.router, tx=tx)
                done += send_if_due(ctx, self.digest_renderer)
        return done

    def first_time(self, dedupe_key: str) -> bool:
        """Record a platform request that runs no command (a form being shown); False for a retry."""
        with self.store.transaction() as tx:
            return tx.first_time(dedupe_key, self.clock())

    def open_tickets_of(self, actor: Actor) -> list[Ticket]:
        """The requester's open tickets, most urgent first: what a free-text message may be about."""
        with self.store.transaction(write=False) as tx:
            return tx.find_tickets(TicketFilter(requester_ids=actor.ids))[0]

    @staticmethod
    def may_see(ctx: Context, ticket: Ticket) -> bool:
        return ctx.is_technician or ctx.is_requester(ticket)
