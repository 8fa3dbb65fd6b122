"""Requests made at about the same moment, answered by one blocking call (one transaction).

In a surge many coroutines need a short database read or write at once: the answers to forms
look for repeats; the outbox's lanes read the tickets they render, record where each post went
and mark what they delivered. A transaction each cost a round trip for BEGIN and another for
COMMIT, a pooled connection and a worker thread each, and on PostgreSQL every round trip waits
for the interpreter's lock again (bench/slack_load: 6–10 ms a statement while the writer and the
lanes compete). A `Together` runs one call of `work` for every key waiting when it starts;
keys asked for while it runs wait for the next call. Nothing is held back on purpose: with
nothing else waiting, a request is served by a call of its own at once, as before.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, Iterable, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Run = Callable[[Callable[[], Mapping[K, V]]], Awaitable[Mapping[K, V]]]  # runs a blocking call off the event loop


class Together(Generic[K, V]):
    """`await together.all(keys)` → {key: value} for those `work` found; `one(key)` → its value or None.

    `work(keys)` (distinct keys, in the order first asked for, at most `most` of them) is a
    blocking call run by `run` (a worker thread); it returns a mapping from key to value and
    leaves out keys it found nothing for. What `work` raises is raised to every caller whose
    keys it was given. Calls wait in the order they came; one event loop's callers at a time
    (a new event loop starts afresh: tests run several)."""

    def __init__(self, work: Callable[[list[K]], Mapping[K, V]], run: Run, most: int = 500,
                 name: str = "together") -> None:
        self.work = work
        self.run = run
        self.most = most
        self.name = name
        self._waiting: list[tuple[list[K], asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def one(self, key: K) -> V | None:
        """The value `work` gives for `key`, None when it gives none."""
        return (await self.all([key])).get(key)

    async def all(self, keys: Iterable[K]) -> dict[K, V]:
        """The values `work` gives for `keys`, by key (a key it gives none for is left out)."""
        keys = list(keys)
        if not keys:
            return {}
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waiting, self._runner = loop, [], None
        future = loop.create_future()
        self._waiting.append((keys, future))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._serve(), name=self.name)
        return await future

    async def close(self) -> None:
        """Stop (at shutdown): callers still waiting are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done() and runner.get_loop() is asyncio.get_running_loop():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for _, future in self._waiting:
            future.cancel()
        self._waiting = []

    async def _serve(self) -> None:
        """Call `work` for the keys waiting (up to `most`, and always one caller's whole list)
        until none wait. Cancelled, it cancels the callers it had taken: none is left waiting."""
        taken: list[tuple[list[K], asyncio.Future]] = []
        try:
            await self._serve_waiting(taken)
        except asyncio.CancelledError:
            for _, future in taken:
                future.cancel()
            raise

    async def _serve_waiting(self, taken: list[tuple[list[K], asyncio.Future]]) -> None:
        while self._waiting:
            taken.clear()
            keys: dict[K, None] = {}
            while self._waiting and (not taken or len(keys) + len(self._waiting[0][0]) <= self.most):
                entry = self._waiting.pop(0)
                if entry[1].done():  # its caller was cancelled
                    continue
                taken.append(entry)
                keys.update(dict.fromkeys(entry[0]))
            if not taken:
                continue
            chosen = list(keys)
            try:
                found = await self.run(lambda: self.work(chosen))
            except Exception as exc:  # each caller sees the failure, as a call of its own would have
                for _, future in taken:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for wanted, future in taken:
                if not future.done():
                    future.set_result({k: found[k] for k in wanted if k in found})
