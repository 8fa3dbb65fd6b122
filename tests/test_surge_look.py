"""The look for surges in a process of its own (adapters/surge_look.py), as `helpdesk serve`
runs it: the child proposes the surge on the shared database while the server's sweep leaves the
look out, and when the child ends the server's sweep takes the look over at once."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from adapters import surge_look
from adapters.chat.journal import IntakeSettings
from adapters.runtime import build
from adapters.settings import AppSettings as Settings
from adapters.surge_look import SurgeLook, can_look_apart
from storage.database import in_memory
from storage.kb_files import index_dir
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


def surged(engine, sweep_seconds: float | None = None):
    """A runtime on the real clock (the child has no other) whose desk holds 16 open tickets, 8
    of them one VPN surge."""
    data = {**SETTINGS, "knowledge": {"enabled": False}}
    if sweep_seconds is not None:
        data["escalation"] = {**SETTINGS.get("escalation", {}), "sweep_seconds": sweep_seconds}
    runtime = build(Settings.model_validate(data), engine=engine)
    desk = runtime.desk
    for n, text in enumerate(t for pair in zip(UNRELATED[:8], VPN_OUTAGE[:8]) for t in pair):
        assert say(desk, desk.actor(f"user{n}@corp.example", f"User {n:02d}"), f"new {text}").ok
    return runtime, desk


@contextmanager
def looking(runtime):
    """`SurgeLook(runtime).run()` on an event loop of its own, stopped as the server stops it."""
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
        yield look
    finally:
        asyncio.run_coroutine_threadsafe(end(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        runtime.close()


def test_a_child_proposes_the_surge_and_the_server_looks_again_once_it_ended(engine, monkeypatch):
    monkeypatch.setattr(surge_look, "RESTART_AFTER", 3600.0)  # the server looks after the child ended
    runtime, desk = surged(engine, sweep_seconds=0.2)
    assert can_look_apart(runtime), "a database file another process can open, SQLite too"
    with looking(runtime) as look:
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


def test_a_child_that_cannot_be_started_leaves_the_look_to_the_server(engine, monkeypatch, caplog):
    monkeypatch.setattr(surge_look.sys, "executable", "/nonexistent/python")  # no interpreter to start
    runtime, desk = surged(engine)

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


def test_a_hung_child_is_ended_and_the_server_looks_again(engine, monkeypatch):
    monkeypatch.setattr(surge_look, "RESTART_AFTER", 3600.0)
    monkeypatch.setattr(surge_look, "SILENT_AT_LEAST", 1.0)
    runtime, desk = surged(engine, sweep_seconds=0.2)
    with looking(runtime) as look:
        assert until(lambda: len(proposals(engine)) == 1), "the child proposed the surge"
        child = look.child
        os.kill(child.pid, signal.SIGSTOP)  # alive, looking no more
        assert until(lambda: desk.look_for_surges and look.child is None), "ended after its lease ran out long ago"
        assert child.returncode == -signal.SIGKILL
        joining = say(desk, desk.actor("user100@corp.example", "User 100"), f"new {VPN_OUTAGE[13]}").ticket.id
        assert until(lambda: desk.sweep() >= 0 and joining in proposals(engine)[0][2]), "the server looks again"


def test_a_child_slower_to_start_than_the_quiet_is_not_taken_for_hung(engine, monkeypatch):
    """On a busy machine a child took longer to start (Python, its imports, the database) than a
    short quiet, and was ended as hung before its first look; silence counts from its first look,
    and a start gets START_WITHIN."""
    monkeypatch.setattr(surge_look, "SILENT_AT_LEAST", 1.0)
    started = surge_look.python_module

    def slow(module: str):
        command, env = started(module)
        return [command[0], "-P", "-c", f"import time, runpy; time.sleep(3); runpy.run_module({module!r}, "
                                         "run_name='__main__', alter_sys=True)"], env
    monkeypatch.setattr(surge_look, "python_module", slow)
    runtime, desk = surged(engine, sweep_seconds=0.2)
    with looking(runtime) as look:
        assert until(lambda: len(proposals(engine)) == 1), "the child proposed the surge"
        assert look.child is not None and look.child.returncode is None and not desk.look_for_surges


@pytest.mark.parametrize("url, memory", [
    ("sqlite://", True), ("sqlite:///:memory:", True),
    ("sqlite:///file:hdmem?mode=memory&cache=shared&uri=true", True),
    ("sqlite:///var/helpdesk.db", False), ("postgresql://postgres@127.0.0.1:5432/test", False),
])
def test_an_in_memory_database_gets_no_files_and_no_helpers(url, memory):
    """A shared-cache in-memory SQLite URI was taken for a file: `file:hdmem.kb` and
    `file:hdmem.intake` appeared where the server started, and a helper was started that could
    never open the database."""
    settings = Settings.model_validate({**SETTINGS, "database_url": url})
    assert in_memory(url) is memory
    assert (index_dir(settings, url) is None) is memory
    assert (IntakeSettings().directory(url) is None) is memory
