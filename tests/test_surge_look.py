"""The look for surges in a process of its own (adapters/surge_look.py), as `helpdesk serve`
runs it: the child proposes the surge on the shared database while the server's sweep leaves the
look out, and when the child ends the server's sweep takes the look over at once."""
from __future__ import annotations

import asyncio
import threading
import time

from adapters import surge_look
from adapters.runtime import build
from adapters.settings import AppSettings as Settings
from adapters.surge_look import SurgeLook, can_look_apart
from tests.conftest import SETTINGS, say
from tests.incident_texts import UNRELATED, VPN_OUTAGE
from tests.test_incidents import proposals, sent


def until(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    return check()


def test_a_child_proposes_the_surge_and_the_server_looks_again_once_it_ended(engine, monkeypatch):
    monkeypatch.setattr(surge_look, "RESTART_AFTER", 3600.0)  # the server looks after the child ended
    settings = Settings.model_validate({**SETTINGS, "escalation": {**SETTINGS.get("escalation", {}), "sweep_seconds": 0.2},
                                        "knowledge": {"enabled": False}})
    runtime = build(settings, engine=engine)  # the real clock: the child has no other
    desk = runtime.desk
    assert can_look_apart(runtime)
    for n, text in enumerate(t for pair in zip(UNRELATED[:8], VPN_OUTAGE[:8]) for t in pair):
        assert say(desk, desk.actor(f"user{n}@corp.example", f"User {n:02d}"), f"new {text}").ok
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    look = SurgeLook(runtime)

    async def begin() -> asyncio.Task:
        return asyncio.get_running_loop().create_task(look.run())

    async def end() -> None:  # as the server stops: the child's input closed, the child waited for
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    task = asyncio.run_coroutine_threadsafe(begin(), loop).result(10)
    try:
        assert until(lambda: len(proposals(engine)) == 1), "the child proposed the surge"
        assert desk.look_for_surges is False and look.child is not None
        assert desk.sweep() == 0 and len(proposals(engine)) == 1, "the server's sweep left the look out"
        members = proposals(engine)[0][2]
        assert len(members) >= 5 and len(sent(engine, "incident_proposal")) == 1
        look.child.kill()
        assert until(lambda: desk.look_for_surges), "the child ended: the server looks again"
        joining = say(desk, desk.actor("user100@corp.example", "User 100"), f"new {VPN_OUTAGE[13]}").ticket.id
        assert until(lambda: desk.sweep() >= 0 and joining in proposals(engine)[0][2]), \
            "the server took the look over (the child held the lease in the server's name)"
        assert len(proposals(engine)) == 1 and len(sent(engine, "incident_proposal")) == 1
    finally:
        asyncio.run_coroutine_threadsafe(end(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        runtime.close()


def test_a_child_that_cannot_be_started_leaves_the_look_to_the_server(engine, monkeypatch, caplog):
    monkeypatch.setattr(surge_look.sys, "executable", "/nonexistent/python")  # no interpreter to start
    settings = Settings.model_validate({**SETTINGS, "knowledge": {"enabled": False}})
    runtime = build(settings, engine=engine)
    desk = runtime.desk
    for n, text in enumerate(t for pair in zip(UNRELATED[:8], VPN_OUTAGE[:8]) for t in pair):
        assert say(desk, desk.actor(f"user{n}@corp.example", f"User {n:02d}"), f"new {text}").ok

    async def attempt() -> None:
        task = asyncio.get_running_loop().create_task(SurgeLook(runtime).run())
        await asyncio.sleep(0.5)  # the start fails at once; the task then waits to try again
        assert not task.done(), "it keeps trying"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(attempt())
        assert "could not be started" in caplog.text
        assert desk.look_for_surges and desk.sweep() >= 1 and len(proposals(engine)) == 1, "the server looked itself"
    finally:
        runtime.close()
