"""Tickets from submitted intake forms, written right after the platform's answer.

A surge (the VPN is down; hundreds of people submit the form within minutes) must never make a
person wait past the platform's limit (Slack's 3 s, Teams' 5 s) for the answer to a form, and
must never be shown an error for a ticket that exists. So a submitted form is checked first
(field problems go back in the answer), then answered, and its ticket is written just after by
this queue:

- submissions waiting together are written in one unit of work (`Desk.execute_together`: one
  commit, a savepoint each), by threads of the queue's own (one on SQLite, which lets one writer
  in at a time; a few on PostgreSQL, whose round trips then overlap), so a surge costs one commit
  per batch and never takes every worker thread waiting for the database's write lock;
- each keeps its platform request id (`key`): the same form submitted again while it waits is
  the same submission (one ticket), and the store's dedupe answers a repeat after it is written;
- a database that is locked or gone is tried again (growing waits, for `retry_for` seconds);
  then, or if the ticket is refused after all, the person is told in one sentence by `tell`, a
  direct message from the platform itself (the store that holds the outbox is what failed).
  A written ticket is confirmed by the core's own message to the requester (the outbox).

What is accepted is written to the queue's journal before the form is answered
(adapters/chat/journal.py) and settled there once written: a shutdown writes what is waiting
first (`drained`), and a crash or kill in between loses nothing, since the next start accepts
again what the journal holds unsettled (`replay`; the request key makes a ticket written just
before the crash a repeat, not a second ticket). Without a journal directory (an in-memory
database) what is accepted lives in this process's memory until written.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from adapters.chat import messages as CM
from adapters.chat.journal import Journal
from adapters.together import Together
from bot.commands.registry import Call
from bot.desk import Desk
from bot.model import Actor, Ticket
from bot.replies import Reply

log = logging.getLogger("helpdesk")
LOOK_AT_ONCE = 500  # request ids read in one query by IntakeQueue.written

Tell = Callable[[str], Awaitable[None]]  # a direct message to the person who submitted (plain text)


@dataclass(frozen=True)
class Someone:
    """A person whose profile is still being looked up: their identity (`<platform>:<id>`) now,
    the Actor when `look_up()` answers (a platform call; it answers with a bare actor if slow)."""

    identity: str
    look_up: Callable[[], Awaitable[Actor]]


Revive = Callable[[str], "tuple[Actor | Someone, Tell | None]"]  # identity → who they are, how to tell them


@dataclass
class Submission:
    """One accepted form: who (being looked up), the call, its request id, how to reach them."""

    who: asyncio.Future
    call: Call
    key: str | None
    tell: Tell | None
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class IntakeQueue:
    """Accepted intake forms, written in batches of up to `batch` by one thread of its own.

    `wake()` is called after each batch (the outbox delivers the confirmations at once);
    `retry_for` is how many seconds a database that fails is tried again before the people
    waiting are told their ticket could not be recorded; `remember` how many seconds a
    submission's outcome is kept to answer its repeats from memory."""

    def __init__(self, desk: Desk, wake: Callable[[], None] = lambda: None, batch: int = 50,
                 retry_for: float = 300.0, remember: float = 600.0, writers: int | None = None) -> None:
        self.desk = desk
        # batches written at once: what the store says is worth it (one for SQLite)
        self.writers = writers or getattr(desk.store, "concurrent_writers", 1)
        self.wake = wake
        self.batch = batch
        self.retry_for = retry_for
        self.remember = remember
        self.submissions: OrderedDict[str, tuple[float, Submission]] = OrderedDict()  # by key, oldest first
        self._queue: asyncio.Queue[Submission] | None = None
        self._workers: set[asyncio.Task] = set()
        self._writing = 0
        self._threads = ThreadPoolExecutor(self.writers, thread_name_prefix="intake")
        self.journal: Journal | None = None
        self.revive: Revive | None = None
        self._repeats: Together[str, Ticket] = Together(desk.seen_tickets, asyncio.to_thread, LOOK_AT_ONCE,
                                                        "intake-repeats")

    async def written(self, key: str) -> Ticket | None:
        """The ticket a form with this request id opened before and the store holds (written by
        this process before a restart, or by another replica); None: none. The forms answered at the
        same moment are looked up together, in one read (adapters/together.py): in a surge every
        answer needs this look, and a read each kept most answers waiting for a worker thread
        behind the others (bench/slack_load on PostgreSQL: 46 of 50 in flight). Raises what the
        read raises."""
        return await self._repeats.one(key)

    def keep_journal(self, journal: Journal, revive: "Revive | None" = None) -> None:
        """Journal every accepted form with a key from now on (see adapters/chat/journal.py);
        `revive(identity)` gives, for a form replayed with only its submitter's identity, who they
        are (a Someone to look up) and how to tell them (None: they are not told of a refusal)."""
        self.journal, self.revive = journal, revive

    async def replay(self) -> int:
        """Accept again the forms an earlier process journaled and never wrote (it crashed or was
        killed): each is written as if just submitted, a ticket written before the crash answered
        as a repeat of its key. Called at start and at every SLA sweep (a replica that died and
        is not started again leaves its journal to the others). Returns how many were accepted."""
        journal = self.journal
        if journal is None:
            return 0
        count = 0
        for path, forms, damaged in journal.orphans():
            try:
                for form in forms:
                    revived = self.revive(form.identity) if self.revive is not None else None
                    who = form.actor or (revived[0] if revived else self.desk.actor(form.identity))
                    self.accept(who, form.call, form.key, revived[1] if revived else None)
                    count += 1
                if self.journal is not journal:  # ours could not be written: theirs stays for a later start
                    journal.release(path)
                    continue
                (journal.set_aside if damaged else journal.forget)(path)  # its forms are in our journal now
                log.warning("intake: %s submitted forms an earlier process accepted and did not write are being "
                            "written now (journal %s%s)", len(forms), path.name,
                            "; lines that could not be read are kept in it, renamed .unreadable" if damaged else "")
            except Exception:  # one bad journal never stops the server: it is left for a person, said here
                log.exception("intake: the journal %s could not be taken over; left as it is", path)
                journal.release(path)
        return count

    async def close(self) -> None:
        """At shutdown, after `drained`: forms still unwritten (the database never answered) are
        given up by this process, kept in the journal for the next start; the journal file is
        deleted when nothing is outstanding."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, self._repeats.close(), return_exceptions=True)
        self._threads.shutdown(wait=False)
        if self.journal is not None:
            self.journal.close(remove=not self.journal.outstanding)
            self.journal = None

    def earlier(self, key: str | None) -> Submission | None:
        """The submission this process accepted under `key` lately (waiting or written), if any."""
        found = self.submissions.get(key) if key else None
        return found[1] if found else None

    def accept(self, who: Actor | Someone, call: Call, key: str | None, tell: Tell | None = None) -> Submission:
        """Queue a checked intake call; answers at once. Its `done` future gets the core's Reply
        (ok with the ticket, a duplicate, or the refusal the person was told of)."""
        self._forget_old()
        earlier = self.earlier(key)
        if earlier is not None:
            return earlier
        try:
            self.desk.search_ahead(call)  # its suggestions are searched while it waits (an index in its own process)
        except Exception:  # only sooner suggestions are lost: the writer searches for them anyway
            log.exception("intake: the search ahead for a submitted form failed")
        looked_up = asyncio.ensure_future(who.look_up()) if isinstance(who, Someone) else _ready(who)
        submission = Submission(looked_up, call, key, tell)
        if key:
            self.submissions[key] = (time.monotonic(), submission)
            self._journal(lambda j: j.accepted(key, who.identity if isinstance(who, Someone) else who, call))
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait(submission)
        self._workers = {w for w in self._workers if not w.done()}  # one that just found nothing left has ended
        if len(self._workers) < self.writers:
            self._workers.add(asyncio.create_task(self._work(), name="intake"))
        return submission

    async def drained(self, timeout: float = 10.0) -> bool:
        """Wait until every accepted form is written (or its person told), up to `timeout`
        seconds (tests; shutdown, before the connections close). False when time ran out."""
        deadline = time.monotonic() + timeout
        while (self._queue is not None and not self._queue.empty()) or self._writing:
            if time.monotonic() > deadline:
                log.warning("intake: %s submitted forms still unwritten after %.0f s",
                            (self._queue.qsize() if self._queue else 0) + self._writing, timeout)
                return False
            await asyncio.sleep(0.02)
        return True

    async def _work(self) -> None:
        """Write batches while forms wait; ends when none do (the next `accept` starts it again)."""
        assert self._queue is not None
        while not self._queue.empty():
            share = -(-self._queue.qsize() // self.writers)  # what is waiting, shared among the writers
            batch = [self._queue.get_nowait()]
            while not self._queue.empty() and len(batch) < min(self.batch, share):
                batch.append(self._queue.get_nowait())
            self._writing += len(batch)
            try:
                await self._write(batch)
            except Exception:  # never lose the worker: each submission is answered below
                log.exception("intake: writing %s submitted forms failed", len(batch))
                for s in batch:
                    if not s.done.done():
                        await self._lost(s)
            finally:
                self._writing -= len(batch)

    async def _write(self, batch: list[Submission]) -> None:
        actors = [await s.who for s in batch]
        calls = [(actor, s.call, s.key) for actor, s in zip(actors, batch)]
        loop = asyncio.get_running_loop()
        given_up, wait = time.monotonic() + self.retry_for, 0.25
        while True:
            try:
                replies = await loop.run_in_executor(self._threads, self.desk.execute_together, calls)
                break
            except Exception as exc:
                if time.monotonic() + wait > given_up:
                    log.exception("intake: the database refused %s submitted forms for %.0f s; telling each person",
                                  len(batch), self.retry_for)
                    for s in batch:
                        await self._lost(s)
                    return
                log.warning("intake: could not write %s submitted forms (%s: %s); trying again in %.1f s",
                            len(batch), type(exc).__name__, exc, wait, exc_info=True)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 10.0)
        self.wake()
        for s, reply in zip(batch, replies):
            self._settled(s)  # first: a crash after telling them must not replay what they were told
            if not reply.ok and not reply.duplicate:  # refused after the answer: the person hears why
                self._drop(s)
                await self._tell(s, CM.INTAKE_REFUSED.format(reason=reply.text))
            s.done.set_result(reply)

    async def _lost(self, s: Submission) -> None:
        self._settled(s)
        self._drop(s)  # submitting it again is a new try
        await self._tell(s, CM.INTAKE_LOST)
        s.done.set_result(Reply.refuse(CM.INTAKE_LOST))

    def _settled(self, s: Submission) -> None:
        if s.key:
            self._journal(lambda j: j.settled(s.key))

    def _journal(self, write: Callable[[Journal], None]) -> None:
        """Write to the journal; a journal that fails (a full or read-only disk) is given up and
        deleted, said once: forms are then kept in memory only, as without a journal (a later
        replay of its unsettled lines could repeat what people were told since)."""
        if self.journal is None:
            return
        try:
            write(self.journal)
        except Exception as exc:
            journal, self.journal = self.journal, None
            log.error("intake: the journal %s cannot be written (%s: %s); submitted forms are kept in memory only "
                      "until written", journal.path, type(exc).__name__, exc)
            try:
                journal.close(remove=True)
            except OSError:
                pass

    def _drop(self, s: Submission) -> None:
        if s.key and self.earlier(s.key) is s:
            del self.submissions[s.key]

    @staticmethod
    async def _tell(s: Submission, text: str) -> None:
        if s.tell is None:
            log.warning("intake: %s (no way to tell the person)", text)
            return
        try:
            await s.tell(text)
        except Exception as exc:
            log.warning("intake: could not tell the person %r: %s", text, exc)

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self.remember
        while self.submissions:
            key, (at, submission) = next(iter(self.submissions.items()))
            if at > horizon or not submission.done.done():
                break
            del self.submissions[key]


def _ready(value: Actor) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
