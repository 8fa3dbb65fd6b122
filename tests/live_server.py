"""The real server (aiohttp + the platform adapters + the outbox dispatchers) on loopback in a
background event loop, next to a platform's fake; subclasses bring the fake and its settings."""
from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import shutil
import socket
import tempfile
import threading
import time
import warnings
from typing import Any, Callable

from aiohttp import web

from adapters.runtime import build
from adapters.server import STATE, build_web_app
from adapters.settings import AppSettings as Settings

STOP_GRACE = 5.0  # seconds the server's own shutdown gets before stop() steps in


class Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class LiveServer:
    platform = ""

    def __init__(self, engine, overrides: dict | None = None, *, poll_seconds: float = 0.05) -> None:
        self.engine = engine
        self.overrides = overrides or {}
        self.poll_seconds = poll_seconds  # how often the outbox dispatcher looks for work unwoken
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ids = itertools.count(1)

    async def _start_fakes(self) -> dict:
        """Start the platform's fake; return the settings (as data) that point the server at it."""
        raise NotImplementedError

    def _built(self) -> None:
        """Anything to wire into the server's app before it starts (a fake behind an SDK seam)."""

    async def _started(self) -> None:
        """Anything to wait for once the server listens."""

    async def _stop_fakes(self) -> None:
        raise NotImplementedError

    # lifecycle

    def start(self):
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        # the port is taken first, so the settings can name the server's own address (public_url)
        self._listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listening.bind(("127.0.0.1", 0))
        self.port = self._listening.getsockname()[1]
        data = await self._start_fakes()
        self.files = tempfile.mkdtemp(prefix="helpdesk-attachments-")  # never the checkout's own directory
        data["attachments"] = {"directory": self.files}
        for key, value in self.overrides.items():  # a section the fake already set up is completed, not replaced
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        self.settings = Settings.model_validate(data)
        self.runtime = build(self.settings, engine=self.engine)
        self.app = build_web_app(self.runtime, poll_seconds=self.poll_seconds)
        self._built()
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.SockSite(self.runner, self._listening).start()
        await self._started()

    def stop(self) -> list[str]:
        """Stop the server (its shutdown hooks: dispatchers cancelled, connections closed), then the fake.

        Returns the names of server tasks that ignored their cancellation and had to be
        cancelled again after STOP_GRACE seconds, and warns about them, so that such a bug
        does not hang unrelated tests."""
        async def _stop() -> list[str]:
            cleanup = asyncio.ensure_future(self.runner.cleanup())
            done, _ = await asyncio.wait({cleanup}, timeout=STOP_GRACE)
            stuck: list[str] = []
            if not done:
                tasks = self.app[STATE].tasks[:]
                stuck = [task.get_name() for task in tasks if not task.done()]
                while not cleanup.done():  # each cancel can meet the same race again
                    for task in tasks:
                        task.cancel()
                    await asyncio.wait({cleanup}, timeout=0.5)
            await cleanup
            await self._stop_fakes()
            if self.runtime.desk.knowledge is not None:
                await asyncio.to_thread(self.runtime.desk.knowledge.close)
            return stuck
        stuck = self.call(_stop(), timeout=STOP_GRACE + 30)
        shutil.rmtree(self.files, ignore_errors=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if stuck:
            warnings.warn(f"server shutdown hung: {stuck} ignored cancellation and was cancelled again",
                          RuntimeWarning, stacklevel=2)
        return stuck

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # raw HTTP

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.read(), dict(r.getheaders()))
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    # waiting on the background dispatcher

    def eventually(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s: {check}")
            time.sleep(0.02)

    def attachments(self, ticket_id: int) -> list:
        """The files recorded on a ticket, as stored."""
        with self.runtime.store.transaction(write=False) as tx:
            return tx.attachments(ticket_id)

    def written(self, timeout: float = 10.0) -> None:
        """Every submitted form's ticket written (they are written just after the form's answer)."""
        for intake in self.app[STATE].intakes:
            assert self.call(intake.drained(timeout), timeout + 5), "submitted forms still unwritten"

    def settled(self, timeout: float = 10.0) -> None:
        """Every submitted form written, and every queued message for this platform delivered (or dead)."""
        self.written(timeout)
        self.eventually(lambda: self.runtime.outbox.pending_count(self.platform) == 0, timeout)

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self.app[STATE].wake)
