"""Requests made at the same moment answered by one blocking call (adapters/together.py): what
each caller gets, how many calls the store sees, failures and shutdown."""
from __future__ import annotations

import asyncio
import threading

import pytest

from adapters.together import Together


class Squares:
    """A blocking lookup that remembers every call it was given (the store's side of it)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()

    def __call__(self, keys: list[int]) -> dict[int, int]:
        self.calls.append(list(keys))
        self.release.wait(5)
        if self.fail_on in keys:
            raise RuntimeError(f"the database refused {self.fail_on}")
        return {k: k * k for k in keys if k >= 0}  # negative keys: "not found"

    async def held(self, together: Together, key: int, calls: int = 1) -> asyncio.Future:
        """Ask for `key` while this lookup holds its answer; returns once it is running (its `calls`th call)."""
        self.release.clear()
        asked = asyncio.ensure_future(together.one(key))
        while len(self.calls) < calls:
            await asyncio.sleep(0.005)
        return asked


def test_callers_at_the_same_moment_share_one_call_each_getting_its_own_values():
    work = Squares()
    together = Together(work, asyncio.to_thread)

    async def main():
        return await asyncio.gather(together.one(3), together.all([4, 5]), together.one(-1), together.one(3))

    three, four_five, missing, three_again = asyncio.run(main())
    assert (three, four_five, missing, three_again) == (9, {4: 16, 5: 25}, None, 9)
    assert work.calls == [[3, 4, 5, -1]], "one call, each key once, in the order first asked for"


def test_keys_asked_for_while_a_call_runs_go_in_the_next_call():
    work = Squares()
    together = Together(work, asyncio.to_thread)

    async def main():
        first = await work.held(together, 1)
        later = [asyncio.ensure_future(together.one(k)) for k in (2, 3, 4)]
        await asyncio.sleep(0.05)
        work.release.set()
        return await first, await asyncio.gather(*later)

    assert asyncio.run(main()) == (1, [4, 9, 16])
    assert work.calls == [[1], [2, 3, 4]]


def test_a_call_holds_at_most_most_keys_and_never_splits_a_callers_list():
    work = Squares()
    together = Together(work, asyncio.to_thread, most=3)

    async def main():
        return await asyncio.gather(together.all([1, 2]), together.all([3, 4]), together.one(5))

    assert asyncio.run(main()) == [{1: 1, 2: 4}, {3: 9, 4: 16}, 25]
    assert work.calls == [[1, 2], [3, 4, 5]]


def test_a_failing_call_fails_each_of_its_callers_and_the_next_call_is_made_afresh():
    work = Squares(fail_on=7)
    together = Together(work, asyncio.to_thread)

    async def main():
        failed = await asyncio.gather(together.one(7), together.one(2), return_exceptions=True)
        return failed, await together.one(2)

    (first, second), again = asyncio.run(main())
    assert str(first) == str(second) == "the database refused 7"
    assert again == 4
    assert work.calls == [[7, 2], [2]]


def test_a_cancelled_caller_is_left_out_and_closing_cancels_those_still_waiting():
    work = Squares()
    together = Together(work, asyncio.to_thread)

    async def main():
        running = await work.held(together, 1)
        gone = asyncio.ensure_future(together.one(2))
        waiting = asyncio.ensure_future(together.one(3))
        await asyncio.sleep(0.01)
        gone.cancel()
        work.release.set()
        assert await running == 1
        assert await waiting == 9
        assert work.calls == [[1], [3]], "the cancelled caller's key was not looked up"
        held = await work.held(together, 4, calls=3)
        queued = asyncio.ensure_future(together.one(5))
        await asyncio.sleep(0)
        await together.close()
        work.release.set()
        return held, queued

    held, queued = asyncio.run(main())
    assert held.cancelled() and queued.cancelled(), "nobody is left waiting after close"


def test_each_event_loop_starts_afresh():
    together = Together(Squares(), asyncio.to_thread)
    assert asyncio.run(together.one(2)) == 4
    assert asyncio.run(together.one(3)) == 9


@pytest.mark.parametrize("keys", [[], ()])
def test_no_keys_make_no_call(keys):
    work = Squares()
    assert asyncio.run(Together(work, asyncio.to_thread).all(keys)) == {}
    assert work.calls == []
