"""`helpdesk serve`: one aiohttp server for every platform, plus the outbox dispatchers.

Routes: `GET /healthz`, each configured chat platform's own (adapters/platforms.py), the
public pages the Teams app package links to (`GET /`, `/privacy`, `/terms`: adapters/pages.py),
and `GET /charts/<token>.png`, the report charts posted in Teams (adapters/chat/charts.py).
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from adapters import pages
from adapters.chat.charts import PATH as CHART_PATH, ReportCharts
from adapters.dispatcher import Dispatcher
from adapters.platforms import platform
from adapters.runtime import Runtime
from adapters.surge_look import SurgeLook, can_look_apart
from storage.kb_process import KnowledgeProcess

log = logging.getLogger("helpdesk.server")

RUNTIME = web.AppKey("runtime", Runtime)
STATE = web.AppKey("state", "ServerState")
CHART_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
DRAIN_SECONDS = 10.0  # how long shutdown waits for the deliveries in hand before cancelling them


@dataclass
class ServerState:
    dispatchers: list[Dispatcher] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # run at shutdown, after the tasks
    intakes: list[Any] = field(default_factory=list)  # each platform's IntakeQueue (adapters/chat/intake.py)
    loops: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)  # a platform's own, by task name
    surge_look: SurgeLook | None = None  # the look for surges' child, when it runs in one

    def wake(self) -> None:
        """Wake every outbox dispatcher: something was just queued."""
        for dispatcher in self.dispatchers:
            dispatcher.wake()


def helpers(runtime: Runtime, state: ServerState) -> dict[str, str]:
    """How the knowledge base and the look for surges are doing, for /healthz: `knowledge` "off",
    "loading" (suggestions are left out meanwhile) or "ready", in "its own process" or "the server";
    `surge_look` "off", "its own process" or "the server" (its child is not running: the server's
    sweep looks itself until it is started again)."""
    found: dict[str, str] = {}
    knowledge = runtime.desk.knowledge
    if knowledge is None or not runtime.settings.knowledge.enabled:
        found["knowledge"] = "off"
    else:
        found["knowledge"] = "ready" if knowledge.ready.is_set() else "loading"
        found["knowledge_in"] = "its own process" if isinstance(knowledge, KnowledgeProcess) else "the server"
    if not runtime.settings.incidents.enabled:
        found["surge_look"] = "off"
    else:
        apart = state.surge_look is not None and state.surge_look.child is not None
        found["surge_look"] = "its own process" if apart else "the server"
    return found


async def healthz(request: web.Request) -> web.Response:
    """`GET /healthz`: 200 with the outbox backlog, the platforms served and the helpers' state
    (`helpers`: a helper down degrades, it does not fail the server), 503 when the database is down."""
    runtime = request.app[RUNTIME]

    def probe() -> int:
        return runtime.outbox.pending_count()

    try:
        pending = await asyncio.to_thread(probe)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "outbox_pending": pending,
                              "platforms": runtime.settings.chat_platforms(), **helpers(runtime, request.app[STATE])})


async def public_page(request: web.Request) -> web.Response:
    """`GET /`, `/privacy`, `/terms`: the short pages the Teams app package links to."""
    return web.Response(text=pages.page(request.path), content_type="text/html")


async def chart_image(request: web.Request) -> web.Response:
    """`GET /charts/<token>.png`: a report chart posted in a chat (adapters/chat/charts.py), while it
    has not expired; 404 for any other token (they are unguessable: knowing one is the permission).
    Raises web.HTTPNotFound, which aiohttp answers as that 404."""
    token = request.match_info["token"]
    if not CHART_TOKEN.fullmatch(token):
        raise web.HTTPNotFound(text="no such chart")
    runtime = request.app[RUNTIME]
    found = await asyncio.to_thread(ReportCharts(runtime.store, runtime.desk.clock).get, token)
    if found is None:
        raise web.HTTPNotFound(text="no such chart (they are kept for a week)")
    return web.Response(body=found, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


async def sweep_forever(runtime: Runtime, state: ServerState) -> None:
    """Take due SLA steps (warnings, escalations, pages) on a timer; replicas may all run
    this: each due ticket is taken by one of them (row locks, SKIP LOCKED)."""
    while True:
        try:
            if await asyncio.to_thread(runtime.desk.sweep):
                state.wake()
            for intake in state.intakes:  # a replica that died and was not started again: its forms, here
                await intake.replay()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("SLA sweep failed; trying again at the next tick")
        await asyncio.sleep(runtime.settings.escalation.sweep_seconds)


def build_web_app(runtime: Runtime, *, dispatch: bool = True, poll_seconds: float | None = None,
                  processes: bool = False) -> web.Application:
    """The server: /healthz, and each configured chat platform's routes and outbox dispatcher
    (adapters/platforms.py), plus the SLA sweep. `dispatch=False` leaves the loops off (tools).
    `processes` (`helpdesk serve`) looks for surges in a process of its own when the settings
    allow (adapters/surge_look.py); tests that set the clock keep the look in the sweep."""
    app = web.Application(client_max_size=2 * 1024 * 1024)
    state = ServerState()
    app[RUNTIME] = runtime
    app[STATE] = state
    app.router.add_get("/healthz", healthz)
    app.router.add_get(CHART_PATH + "{token}.png", chart_image)
    for path in pages.PAGES:
        app.router.add_get(path, public_page)
    poll = poll_seconds or runtime.settings.delivery.poll_seconds
    for name in runtime.settings.chat_platforms():
        platform(name).mounter()(app, runtime, state, poll)

    async def start(_: web.Application) -> None:
        if dispatch:
            for intake in state.intakes:  # forms an earlier process accepted and never wrote
                await intake.replay()
            state.tasks = [asyncio.create_task(d.run(), name=f"outbox-{d.sender.platform}") for d in state.dispatchers]
            if processes and can_look_apart(runtime):
                state.surge_look = SurgeLook(runtime)
                state.tasks.append(asyncio.create_task(state.surge_look.run(), name="surge-look"))
            state.tasks.append(asyncio.create_task(sweep_forever(runtime, state), name="sla-sweep"))
            state.tasks += [asyncio.create_task(loop(), name=name) for name, loop in state.loops.items()]

    async def stop(_: web.Application) -> None:
        """On shutdown: each dispatcher finishes and records the delivery in hand, then the SLA
        sweep (and a delivery still going after DRAIN_SECONDS) is cancelled; then the platforms'
        closers run (Socket Mode first, so no new events arrive, then client sessions)."""
        for dispatcher in state.dispatchers:
            dispatcher.stop()
        delivering = [task for task in state.tasks if task.get_name().startswith("outbox-")]
        if delivering:
            _, late = await asyncio.wait(delivering, timeout=DRAIN_SECONDS)
            if late:
                log.warning("shutdown: %s still delivering after %.0f s; cancelled (those messages are retried "
                            "at the next start)", ", ".join(t.get_name() for t in late), DRAIN_SECONDS)
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        for close in state.closers:
            await close()
        for intake in state.intakes:  # what is still unwritten stays in its journal for the next start
            await intake.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app


def serve(runtime: Runtime, host: str, port: int) -> None:
    """Run the server until interrupted (`helpdesk serve`)."""
    log.info("helpdesk serving on http://%s:%s", host, port)
    web.run_app(build_web_app(runtime, processes=True), host=host, port=port, print=None)
