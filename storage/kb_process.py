"""The knowledge index in a process of its own, searched over a pipe.

In a surge every new ticket is searched for past resolutions before its confirmation goes out.
In the serving process that search is CPU under the interpreter's lock, shared with every answer
to Slack and Teams and every delivery: a profile of 2,000 submissions on 100,000 tickets of
history put half the intake writer's time in it, and storing went from about 104–136 tickets a
second to 170 with the search left out (bench/README.md, "Fifth measurement"). Here the index lives in a child
process (`python -m storage.kb_process`), which maps the on-disk index (storage/kb_files.py),
follows the change feed as the in-process index does, and answers one request at a time; the
server's thread waits on the pipe without the lock, and the search runs on another core.

`KnowledgeProcess` has the surface the desk uses of `bot.knowledge.Knowledge`: `ready`,
`search`, `apply`, `refresh`, `load_in_background`, `close`. Until the child has its index, or
while it is being started again after it died, `search` gives [] (suggestions are simply left
out), as the in-process index does while it loads.

A submitted form's search is asked `ahead` when the form is accepted, so the child searches while
the form waits for the writer; the writer's `search` then finds the answer there.

Frames both ways: a 4-byte big-endian length, then a pickle (parent and child are the same
program; nothing else writes to these pipes). Parent → child: the spec first, then
`("search", n, text, kwargs)` → `("ok", n, [Match, …])` or `("error", n, "why")`, and
`("apply", 0, ticket)`, not answered (its effect is in the next search's answer: the child takes
frames in order). The child's first frame is `("ready", entries)` or `("error", "why")`; it ends
when its standard input closes.
"""
from __future__ import annotations

import itertools
import logging
import math
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

from storage.child import python_module

from bot.knowledge import EntryRules, Match

log = logging.getLogger("helpdesk")
RESTART_AFTER = 30.0  # seconds between starts of a child (a child that failed to load waits this long)
ANSWER_WITHIN = 2.0  # seconds a search waits for the child (inside the writer's transaction), then goes without
STUCK_AFTER = 10.0  # seconds without any answer after which the child is ended and started again
AHEAD_IN_PIPE = 4  # searches asked ahead in the pipe at once: a search waited for queues behind no more
AHEAD_FOR = 60.0  # seconds an answer asked ahead is used for (a form waits for the writer far less)
AHEAD_KEPT = 5_000  # answers asked ahead kept at most (a surge's waiting forms)
_LENGTH = struct.Struct(">I")


def write_frame(stream: BinaryIO, value: Any) -> None:
    """Send one frame (length, pickle) and flush. Raises OSError when the other end is gone."""
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """Receive one frame. Raises EOFError when the other end closed its side."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the other end closed the pipe")
    size = _LENGTH.unpack(head)[0]
    body = stream.read(size)
    if len(body) < size:
        raise EOFError("the other end closed the pipe mid-frame")
    return pickle.loads(body)


class KnowledgeProcess:
    """The server's side: starts the child, hands it searches and this process's changes, and
    starts it again when it died (at once, but at most every RESTART_AFTER seconds; a child that
    failed to load waits that long). Thread-safe; nothing but `search` ever waits for the child.

    Frames go out through a sender thread, in this order: searches somebody waits for and this
    process's changes first, in the order asked; then searches asked `ahead`, at most AHEAD_IN_PIPE
    in the pipe at once, so a search that is waited for never queues behind a surge's worth of
    them. Answers come back through a reader thread, each to the request that asked (by number).

    `ahead(text, …)` asks for a search now; the `search` with the same arguments within AHEAD_FOR
    seconds takes its answer (one still waiting to be sent is sent next), as does every other
    such search meanwhile (a surge's forms often say the same words), unless a ticket was resolved
    or closed here since it was asked: its answer may lack it, so it is searched again.

    `search` waits at most ANSWER_WITHIN seconds (it runs inside the writer's transaction); after
    that the child is behind: searches give [] at once until it answers again, and a child that
    answers nothing for STUCK_AFTER seconds is ended and started again."""

    def __init__(self, engine: Engine, rules: EntryRules, directory: Path, max_age: float = 2.0) -> None:
        self.engine, self.rules, self.directory, self.max_age = engine, rules, Path(directory), max_age
        self.ready = threading.Event()  # set while a child answers
        self.searched = 0  # searches sent to the child (an answer asked ahead and used counts once)
        self.entries = 0  # entries the child's index held when it said it was ready
        self._lock = threading.Condition()  # everything below; the sender waits on it for frames
        self._process: subprocess.Popen | None = None  # the child answering
        self._loading: subprocess.Popen | None = None  # the child being started
        self._starting = False
        self._next_start = 0.0  # time.monotonic() before which no child is started
        self._last_start = -math.inf
        self._urgent: deque = deque()  # frames somebody waits for, and changes
        self._later: OrderedDict[int, tuple] = OrderedDict()  # number → search asked ahead, not sent yet
        self._in_pipe = 0  # searches asked ahead, sent and not answered
        self._waiting: dict[int, tuple[Future, bool]] = {}  # number → (its answer, counted in _in_pipe)
        self._ahead: OrderedDict[tuple, tuple[float, int, int, Future]] = OrderedDict()  # key → asked at, generation, number, answer
        self._generation = 0  # tickets resolved or closed here so far
        self._behind_since: float | None = None  # a search timed out since the child last answered
        self._numbers = itertools.count(1)
        self._closing = threading.Event()
        self._loader: threading.Thread | None = None

    # starting and stopping

    def load_in_background(self) -> threading.Thread | None:
        """Start the child from a daemon thread; serving goes on, without suggestions until it is
        ready. Returns that thread (None when a child runs, is starting, or may not start yet)."""
        with self._lock:
            if self._closing.is_set() or self._starting or self._process is not None \
                    or time.monotonic() < self._next_start:
                return None
            self._starting, self._last_start = True, time.monotonic()
            self._loader = threading.Thread(target=self._loaded, name="kb-process", daemon=True)
        self._loader.start()
        return self._loader

    def _loaded(self) -> None:
        started = False
        try:
            started = self._start()
        except Exception:  # the desk serves on without suggestions; the log says why
            if not self._closing.is_set():
                log.exception("the knowledge process could not be started; suggestions stay off for now")
        finally:
            with self._lock:
                self._starting = False
                if not started:
                    self._next_start = time.monotonic() + RESTART_AFTER
            if not started:
                self._start_later()

    def _start(self) -> bool:
        """Start the child and wait for its index (on the loader thread: no request waits on this).
        True when it answers."""
        spec = self._spec()
        command, env = python_module("storage.kb_process")
        # a session of its own: a Ctrl-C to the server does not end it first (the server ends it)
        process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, env=env, start_new_session=True)
        with self._lock:
            self._loading = None if self._closing.is_set() else process
        try:
            if self._closing.is_set():
                raise EOFError("the server is stopping")
            write_frame(process.stdin, spec)
            answer = read_frame(process.stdout)
        except Exception as exc:
            answer = ("error", f"it ended before it was ready ({exc})")
        with self._lock:
            self._loading = None
            ready = answer[0] == "ready" and not self._closing.is_set()
            if ready:
                self._process, self.entries = process, answer[1]
                self.ready.set()
        if not ready:
            if not self._closing.is_set():
                log.error("the knowledge process could not load the index: %s; suggestions stay off until it "
                          "is started again", answer[1])
            _close_quietly(process.stdin)
            self._stop(process)
            _close_quietly(process.stdout)
            return False
        threading.Thread(target=self._send, args=(process,), name="kb-process-send", daemon=True).start()
        threading.Thread(target=self._read, args=(process,), name="kb-process-read", daemon=True).start()
        log.info("knowledge index ready in its own process: %d entries", answer[1])
        return True

    def _start_later(self) -> None:
        """Start a child once one may be started again (a timer: no search needs to ask for it)."""
        if self._closing.is_set():
            return
        timer = threading.Timer(max(0.0, self._next_start - time.monotonic()) + 0.05, self.load_in_background)
        timer.daemon = True
        timer.start()

    def _spec(self) -> dict[str, Any]:
        from storage.kb_files import database_identity

        return {"database": database_identity(self.engine), "directory": str(self.directory.resolve()),
                "rules": self.rules, "max_age": self.max_age}

    def _detach(self) -> list[Future]:
        """(Holding the lock.) Forget the child and everything asked of it; the answers to fail."""
        self._process = None
        self.ready.clear()
        waiting = [future for future, _ in self._waiting.values()]
        self._urgent.clear()
        self._later.clear()
        self._waiting, self._in_pipe, self._behind_since = {}, 0, None
        self._ahead.clear()
        self._lock.notify_all()  # the sender sees it is no longer wanted and closes the child's input
        return waiting

    def _lost(self, process: subprocess.Popen, why: str) -> None:
        """`process` stopped answering: suggestions off, what waited for it answered with nothing,
        it is ended (in the background), and a new one started when allowed."""
        with self._lock:
            if self._process is not process:
                return  # already handled (the sender, the reader and a search may all notice)
            waiting = self._detach()
            self._next_start = max(time.monotonic(), self._last_start + RESTART_AFTER)
        _fail(waiting, f"the knowledge process stopped ({why})")
        threading.Thread(target=self._stop, args=(process,), name="kb-process-stop", daemon=True).start()
        if not self._closing.is_set():
            log.error("the knowledge process stopped (%s); suggestions are left out until it is started again", why)
            if self.load_in_background() is None:
                self._start_later()

    @staticmethod
    def _stop(process: subprocess.Popen, timeout: float = 5.0) -> None:
        """Wait for the child to end (its input was closed), killing it after `timeout` seconds."""
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self, timeout: float = 5.0) -> None:
        """End the child (it stops when its standard input closes; killed after `timeout` seconds),
        or the one being started."""
        self._closing.set()
        with self._lock:
            process, loading = self._process, self._loading
            waiting = self._detach() if process is not None else []
        _fail(waiting, "the server is stopping")
        if loading is not None:
            loading.kill()
        if process is not None:
            self._stop(process, timeout)
        if self._loader is not None:
            self._loader.join(timeout)

    # the pipe's two ends

    def _send(self, process: subprocess.Popen) -> None:
        """The sender thread: frames to the child (see the class); closes its input once it is no
        longer the child answering."""
        while True:
            with self._lock:
                while True:
                    if self._process is not process:
                        frame = None
                    elif self._urgent:
                        frame = self._urgent.popleft()
                    elif self._later and self._in_pipe < AHEAD_IN_PIPE:
                        frame = self._later.popitem(last=False)[1]
                        self._in_pipe += 1
                    else:
                        self._lock.wait()
                        continue
                    break
            if frame is None:
                _close_quietly(process.stdin)
                return
            try:
                write_frame(process.stdin, frame)
            except Exception as exc:  # a closed pipe (OSError, ValueError), or a frame that cannot be pickled
                self._lost(process, str(exc) or type(exc).__name__)
                _close_quietly(process.stdin)
                return

    def _read(self, process: subprocess.Popen) -> None:
        """The reader thread: each answer to the request that waits for it."""
        try:
            while True:
                try:
                    kind, number, value = read_frame(process.stdout)
                except Exception as exc:  # the end of the pipe, or a frame that cannot be read
                    self._lost(process, str(exc) or type(exc).__name__)
                    return
                with self._lock:
                    self._behind_since = None
                    future, counted = self._waiting.pop(number, (None, False))
                    if counted:
                        self._in_pipe -= 1
                        self._lock.notify_all()
                if future is not None and not future.done():
                    future.set_result(value) if kind == "ok" else future.set_exception(RuntimeError(value))
        finally:
            _close_quietly(process.stdout)

    # asking

    @staticmethod
    def _key(text: str, kwargs: dict[str, Any]) -> tuple | None:
        key = (text, tuple(sorted((k, v) for k, v in kwargs.items() if k != "exclude")))
        try:
            hash(key)
        except TypeError:
            return None  # an argument that is a collection (`among`): never asked ahead
        return key

    def _expire(self, now: float) -> None:
        """(Holding the lock.) Forget answers asked ahead past AHEAD_FOR seconds or AHEAD_KEPT, and
        any asked before a ticket was resolved or closed here."""
        while self._ahead:
            key, (asked_at, generation, number, _) = next(iter(self._ahead.items()))
            if now - asked_at < AHEAD_FOR and generation == self._generation and len(self._ahead) <= AHEAD_KEPT:
                break
            del self._ahead[key]
            if self._later.pop(number, None) is not None:  # never sent: nobody asks for it now
                self._waiting.pop(number, None)

    def ahead(self, text: str, **kwargs: Any) -> None:
        """Ask for the search `search(text, **kwargs)` will make (`exclude` aside) now, to be sent
        when the child has room for it. Never blocks."""
        key = self._key(text, kwargs)
        if key is None or not self.ready.is_set():
            return
        with self._lock:
            self._expire(time.monotonic())
            if self._process is None or key in self._ahead:
                return
            number = next(self._numbers)
            future: Future = Future()
            self.searched += 1
            self._waiting[number] = (future, True)
            self._later[number] = ("search", number, text, {k: v for k, v in kwargs.items() if k != "exclude"})
            self._ahead[key] = (time.monotonic(), self._generation, number, future)
            self._lock.notify_all()

    def _asked(self, key: tuple | None, text: str, kwargs: dict[str, Any]) -> tuple[int, Future] | None:
        """(Holding the lock.) The answer asked ahead for `key`, sent next if it still waits to be;
        else a new search at the front. None when no child answers."""
        if self._process is None:
            return None
        self._expire(time.monotonic())
        held = self._ahead.get(key) if key is not None else None
        if held is not None:
            number = held[2]
            frame = self._later.pop(number, None)
            if frame is not None:  # not sent yet: sent now, ahead of the rest
                self._urgent.append(frame)
                self._waiting[number] = (held[3], False)
                self._lock.notify_all()
            return number, held[3]
        number = next(self._numbers)
        future: Future = Future()
        self.searched += 1
        self._waiting[number] = (future, False)
        self._urgent.append(("search", number, text, kwargs))
        self._lock.notify_all()
        return number, future

    def search(self, text: str, **kwargs: Any) -> list[Match]:
        """The past resolutions most like `text` (bot.knowledge.KnowledgeIndex.search's arguments),
        searched by the child, or taken from the same search asked `ahead` (searched again when
        that answer holds the ticket to `exclude`); [] while no child is ready, when it is behind,
        or if it fails or takes longer than ANSWER_WITHIN seconds (logged)."""
        self.load_in_background()  # nothing when a child runs or may not start yet
        if not self.ready.is_set():
            return []
        exclude, key = kwargs.get("exclude"), self._key(text, kwargs)
        for attempt in range(2):
            with self._lock:
                process = self._process
                if self._behind_since is not None:
                    stuck = time.monotonic() - self._behind_since > STUCK_AFTER
                    asked = None
                else:
                    stuck, asked = False, self._asked(key if attempt == 0 else None, text, kwargs)
            if stuck and process is not None:
                self._lost(process, f"no answer for {STUCK_AFTER:.0f} s")
            if asked is None:
                return []
            future = asked[1]
            try:
                matches = future.result(ANSWER_WITHIN)
            except FutureTimeout:  # its answer still comes, for whoever else waits for it
                with self._lock:
                    if self._behind_since is None:
                        self._behind_since = time.monotonic()
                log.error("a knowledge search took more than %s s in its process; this ticket goes on without "
                          "suggestions", ANSWER_WITHIN)
                return []
            except ChildGone:
                return []  # `_lost` said why, once for every search that waited
            except RuntimeError as exc:
                log.error("a knowledge search failed in its process: %s", exc)
                return []
            if exclude is None or all(m.ticket_id != exclude for m in matches):
                return matches
        return []

    def apply(self, ticket: Any) -> None:
        """A ticket this process just committed: the child adds or withdraws its entry before it
        answers the next search; answers asked ahead before a resolution or closure are not used."""
        with self._lock:
            if getattr(getattr(ticket, "status", None), "value", None) in ("resolved", "closed"):
                self._generation += 1
            if self._process is not None:
                self._urgent.append(("apply", 0, ticket))
                self._lock.notify_all()

    def refresh(self, force: bool = False) -> None:
        """Nothing here: the child follows the change feed before each search."""


class ChildGone(RuntimeError):
    """The child stopped (or the server is stopping) before it answered: already logged once."""


def _fail(waiting: list[Future], why: str) -> None:
    for future in waiting:
        if not future.done():
            future.set_exception(ChildGone(why))


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except (OSError, ValueError):
        pass


# The child process


def serve(spec: dict[str, Any], requests: BinaryIO, answers: BinaryIO) -> None:
    """Load the index `spec` names (mapped from disk, then caught up with the feed), say so, then
    answer frames until `requests` closes (or `answers` does: the server is gone)."""
    from bot.knowledge import Knowledge
    from storage.kb_files import DiskIndex, open_database
    from storage.knowledge import TicketKnowledge

    engine = open_database(spec["database"])
    source = TicketKnowledge(engine, spec["rules"])
    knowledge = Knowledge(source, max_age=spec["max_age"], builder=DiskIndex(engine, spec["rules"], spec["directory"]))
    try:
        try:
            first = ("ready", knowledge.load_from_disk())
        except Exception as exc:
            first = ("error", str(exc) or type(exc).__name__)
        write_frame(answers, first)
        while first[0] == "ready":
            try:
                frame = read_frame(requests)
            except EOFError:
                break
            if frame[0] == "apply":
                try:
                    knowledge.apply(frame[2])
                except Exception:  # the feed brings the change within max_age anyway
                    log.exception("a change could not be applied to the knowledge index")
                continue
            try:
                answer = ("ok", frame[1], knowledge.search(frame[2], **frame[3]))
            except Exception as exc:  # one bad search is reported; the next is answered
                log.exception("knowledge search failed")
                answer = ("error", frame[1], str(exc) or type(exc).__name__)
            write_frame(answers, answer)
    except OSError:
        pass  # the server is gone
    finally:
        knowledge.close()
        engine.dispose()


def main() -> int:
    """`python -m storage.kb_process`: the spec frame on standard input, then requests; answers on
    standard output; log lines on standard error. 0 when standard input closed."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[knowledge process] %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server ends this process, after its own requests
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answer frames
    try:
        spec = read_frame(requests)
    except EOFError:
        return 0
    serve(spec, requests, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
