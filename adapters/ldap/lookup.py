"""`Lookup`: any Directory made safe for the core to call (bot.directory.DirectoryPort): an
overall time limit per question, answers cached for a while, failures turned into "nothing
known" and one warning. The worker threads live here, not in the core."""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, TypeVar

from adapters.ldap.settings import DirectorySettings
from bot.directory import KEY_MAX, SEARCH_LIMIT, Computer, Directory, DirectoryError, Person, Profile

log = logging.getLogger("helpdesk.directory")

T = TypeVar("T")
_MISSING = object()


class TTLCache:
    """A small thread-safe cache whose entries expire; the oldest go first when it is full."""

    def __init__(self, ttl: float, max_entries: int = 2048, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value, or the _MISSING marker when absent or expired."""
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return _MISSING
            if hit[0] <= self.clock():
                del self._data[key]
                return _MISSING
            return hit[1]

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        """Keep a value for `ttl` seconds (at most the cache's own; 0: not kept); the oldest go when full."""
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if ttl <= 0:
            return
        with self._lock:
            self._data.pop(key, None)
            self._data[key] = (self.clock() + ttl, value)
            while len(self._data) > self.max_entries:
                del self._data[next(iter(self._data))]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class Workers:
    """At most `size` daemon threads answering questions in the order they were asked.

    Not concurrent.futures.ThreadPoolExecutor: its threads are joined when the interpreter
    exits (it registers an exit hook), so a thread stuck in a TLS handshake with a hung
    server held a one-shot command open until the receive timeout ran out, long after its
    answer was printed. A question nobody waits for any more is not worth waiting for at
    exit: these threads are daemons and the process ends when its work is done."""

    def __init__(self, size: int, name: str = "directory") -> None:
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # released by a thread each time it is free for more
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, ask: Callable[[], T]) -> "Future[T]":
        """Queue `ask`; its Future holds the answer or the exception it raised. A thread is
        started when none is free and fewer than `size` run. RuntimeError after close()."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the directory workers are closed")
            self._queue.put((future, ask))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def close(self) -> None:
        """Take no more questions and cancel those not started; threads still asking finish
        (their answers land where their question said) and end without being waited for."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for _ in self._threads:
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, ask = item
            if future.set_running_or_notify_cancel():  # False: cancelled while queued, never runs
                try:
                    result = ask()
                except BaseException as exc:  # handed to whoever waits; the thread carries on
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, ask
            self._idle.release()


def _normal_key(key: str | None) -> str | None:
    key = (key or "").strip()
    if not key or len(key) > KEY_MAX:
        return None
    return key


class Lookup:
    """Any Directory, made safe for the core to call.

    Each question gets at most `time_limit` seconds. When the directory is down, slow or
    refuses the bind, the answer is "nothing known" (None, [] or Profile state
    "unavailable") and exactly one warning is logged for that question; nothing is
    remembered about the failure, so the next question asks the directory again. An answer
    that arrives after the time limit still lands in the cache for the next question.

    Answers (including "nobody by that key", for a shorter while) are cached for
    `cache_ttl` seconds. Blocking: call it from a worker thread (asyncio.to_thread)."""

    def __init__(self, directory: Directory | None, *, time_limit: float = 1.5, cache_ttl: float = 300.0,
                 negative_ttl: float = 60.0, workers: int = 4, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger | None = None) -> None:
        self.directory = directory
        self.time_limit = time_limit
        self.negative_ttl = negative_ttl
        self.cache = TTLCache(cache_ttl, clock=clock)
        self.log = logger or log
        self._workers = workers
        self._pool: Workers | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_settings(cls, directory: Directory | None, settings: DirectorySettings | None, **kw: Any) -> "Lookup":
        """A Lookup over `directory` with the time limit and cache lifetime of `[directory]`; a disabled
        one when either is None."""
        if directory is None or settings is None:
            return cls(None)
        return cls(directory, time_limit=settings.lookup_timeout_seconds, cache_ttl=settings.cache_ttl_seconds, **kw)

    @property
    def enabled(self) -> bool:
        """Whether a directory is configured."""
        return self.directory is not None

    # The Directory protocol, never raising.

    def find_person(self, key: str) -> Person | None:
        """The person by key within the time limit; None when unknown or when the directory cannot answer."""
        return self.profile(key, with_computers=False).person

    def computers_of(self, person: Person) -> list[Computer]:
        """The person's computers within the time limit; [] when the directory cannot answer."""
        if self.directory is None:
            return []
        value = self._guarded(f"the computers of {person.identity or person.display_name!r}",
                              lambda: self._computers(person), _MISSING)
        return [] if value is _MISSING else list(value)

    def find_computer(self, name: str) -> Computer | None:
        """A computer by name within the time limit; None when unknown or unanswered."""
        name_key = _normal_key(name)
        if self.directory is None or name_key is None:
            return None
        directory, key = self.directory, ("computer", name_key.casefold())
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return hit
        return self._guarded(f"computer {name_key!r}", lambda: self._cached(
            key, lambda: directory.find_computer(name_key)), None)

    def search_people(self, fragment: str, limit: int = SEARCH_LIMIT) -> list[Person]:
        """People matching a fragment within the time limit; [] when the directory cannot answer."""
        fragment_key = _normal_key(fragment)
        if self.directory is None or fragment_key is None or limit < 1:
            return []
        directory, key = self.directory, ("search", fragment_key.casefold(), limit)
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return list(hit)
        return list(self._guarded(f"people matching {fragment_key!r}", lambda: self._cached(
            key, lambda: tuple(directory.search_people(fragment_key, limit))), []))

    def profile(self, key: str, *, with_computers: bool = True) -> Profile:
        """The requester and their computers, in one time budget: what the intake form pre-fills."""
        if self.directory is None:
            return Profile("off")
        person_key = _normal_key(key)
        if person_key is None:
            return Profile("unknown")
        directory, key = self.directory, ("person", person_key.casefold())
        cached = self._cached_profile(key, with_computers)
        if cached is not None:
            return cached
        known: list[Person] = []  # the person, once found, even if their computers fail or come late

        def ask() -> Profile:
            person = self._cached(key, lambda: directory.find_person(person_key))
            if person is None:
                return Profile("unknown")
            known.append(person)
            computers = self._computers(person) if with_computers else ()
            return Profile("found", person, tuple(computers))

        value = self._guarded(f"person {person_key!r}", ask, _MISSING)
        if value is _MISSING:
            return Profile("found", known[0]) if known else Profile("unavailable")
        return value

    def close(self) -> None:
        """Stop the worker threads without waiting for them; look-ups still running finish into
        the cache unseen (a later question starts new threads)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # Internals.

    def _cached_profile(self, key: Any, with_computers: bool) -> Profile | None:
        """The answer from the cache alone, without a trip to a worker thread; None if not all there."""
        person = self.cache.get(key)
        if person is _MISSING:
            return None
        if person is None:
            return Profile("unknown")
        if not with_computers:
            return Profile("found", person)
        computers = self.cache.get(self._computers_key(person))
        return None if computers is _MISSING else Profile("found", person, computers)

    @staticmethod
    def _computers_key(person: Person) -> Any:
        return ("computers", (person.dn or person.identity or person.display_name).casefold())

    def _computers(self, person: Person) -> tuple[Computer, ...]:
        assert self.directory is not None
        directory = self.directory
        return self._cached(self._computers_key(person), lambda: tuple(directory.computers_of(person)))

    def _cached(self, key: Any, ask: Callable[[], T]) -> T:
        hit = self.cache.get(key)
        if hit is not _MISSING:
            return hit
        value = ask()
        self.cache.put(key, value, ttl=self.negative_ttl if value is None or value == () or value == [] else None)
        return value

    def _executor(self) -> Workers:
        with self._pool_lock:
            if self._pool is None:
                self._pool = Workers(self._workers, "directory")
            return self._pool

    def _guarded(self, what: str, ask: Callable[[], T], failed: Any) -> Any:
        """Run `ask` within the time limit; on failure log one warning and return `failed`."""
        started = time.monotonic()
        future: Future = self._executor().submit(ask)
        try:
            return future.result(timeout=self.time_limit)
        except FutureTimeout:
            future.cancel()  # still queued behind slow lookups: never runs; running: finishes into the cache
            future.add_done_callback(_late(self.log, what))
            self.log.warning("directory: no answer about %s within %.1f s; carrying on without it "
                             "(the next lookup asks again)", what, self.time_limit)
        except DirectoryError as exc:
            self.log.warning("directory: could not look up %s after %.1f s: %s; carrying on without it "
                             "(the next lookup asks again)", what, time.monotonic() - started, exc)
        except Exception as exc:  # a bug or an unexpected library error must not cost the ticket either
            self.log.warning("directory: looking up %s failed unexpectedly (%s: %s); carrying on without it",
                             what, type(exc).__name__, exc, exc_info=True)
        return failed


def _late(logger: logging.Logger, what: str) -> Callable[[Future], None]:
    def done(future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            logger.debug("directory: the late answer about %s arrived and is cached", what)
        else:  # already warned once at the time limit
            logger.debug("directory: the late lookup of %s failed too: %s", what, exc)
    return done
