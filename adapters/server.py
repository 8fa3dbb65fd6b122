"""`helpdesk serve`: one aiohttp server for every platform, plus the outbox dispatchers.

Routes: `GET /healthz`, `POST /slack/events` when Slack is configured (Socket Mode
instead when SLACK_APP_TOKEN is set), `POST /api/messages` when Teams is, and the public
pages the Teams app package links to (`GET /`, `/privacy`, `/terms`: adapters/pages.py).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import text

from adapters import pages
from adapters.dispatcher import Dispatcher
from adapters.runtime import Runtime
from storage.database import reading

log = logging.getLogger("helpdesk.server")

RUNTIME = web.AppKey("runtime", Runtime)
STATE = web.AppKey("state", "ServerState")
TEAMS = web.AppKey("teams", "HelpdeskCloudAdapter")  # the Teams adapter, when Teams is configured
DRAIN_SECONDS = 10.0  # how long shutdown waits for the deliveries in hand before cancelling them


@dataclass
class ServerState:
    dispatchers: list[Dispatcher] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    socket_mode: object | None = None

    def wake(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.wake()


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]

    def probe() -> int:
        with reading(runtime.engine) as conn:
            conn.execute(text("SELECT 1"))
        return runtime.outbox.pending_count()

    try:
        pending = await asyncio.to_thread(probe)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    platforms = [p for p in ("slack", "teams") if getattr(runtime.settings, p).enabled]
    return web.json_response({"status": "ok", "database": "ok", "outbox_pending": pending, "platforms": platforms})


async def public_page(request: web.Request) -> web.Response:
    return web.Response(text=pages.page(request.path), content_type="text/html")


async def sweep_forever(runtime: Runtime, state: ServerState) -> None:
    """Take due SLA steps (warnings, escalations, pages) on a timer; replicas may all run
    this: each due ticket is taken by one of them (row locks, SKIP LOCKED)."""
    while True:
        try:
            if await asyncio.to_thread(runtime.desk.sweep):
                state.wake()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("SLA sweep failed; trying again at the next tick")
        await asyncio.sleep(runtime.settings.escalation.sweep_seconds)


def build_web_app(runtime: Runtime, *, dispatch: bool = True, poll_seconds: float | None = None) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)
    state = ServerState()
    app[RUNTIME] = runtime
    app[STATE] = state
    app.router.add_get("/healthz", healthz)
    for path in pages.PAGES:
        app.router.add_get(path, public_page)
    if runtime.settings.slack.enabled:
        _add_slack(app, runtime, state, poll_seconds or runtime.settings.delivery.poll_seconds)
    if runtime.settings.teams.enabled:
        _add_teams(app, runtime, state, poll_seconds or runtime.settings.delivery.poll_seconds)

    async def start(_: web.Application) -> None:
        if dispatch:
            state.tasks = [asyncio.create_task(d.run(), name=f"outbox-{d.sender.platform}") for d in state.dispatchers]
            state.tasks.append(asyncio.create_task(sweep_forever(runtime, state), name="sla-sweep"))

    async def stop(_: web.Application) -> None:
        """On shutdown, before any client session closes (on_cleanup): no new Socket Mode events,
        each dispatcher finishes and records the delivery in hand, then the SLA sweep (and a
        delivery still going after DRAIN_SECONDS) is cancelled."""
        if state.socket_mode is not None:
            await state.socket_mode.close_async()
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

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app


def _add_slack(app: web.Application, runtime: Runtime, state: ServerState, poll_seconds: float) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.app import build_app
    from adapters.slack.endpoint import SlackEndpoint
    from adapters.slack.sender import SlackSender

    slack = runtime.settings.slack
    kwargs = {"base_url": slack.api_url} if slack.api_url else {}
    client = AsyncWebClient(token=slack.bot_token.get_secret_value(), **kwargs)

    async def open_session(_: web.Application) -> None:
        import aiohttp

        client.session = aiohttp.ClientSession()  # one pool of connections, not a connection per call

    async def close_session(_: web.Application) -> None:
        if client.session is not None:
            await client.session.close()

    app.on_startup.insert(0, open_session)
    app.on_cleanup.append(close_session)
    sender = SlackSender(client, runtime.settings, runtime.store, runtime.posts, runtime.outbox, runtime.desk.clock)
    state.dispatchers.append(Dispatcher(runtime.outbox, sender, runtime.desk.clock, poll_seconds=poll_seconds))
    bolt = build_app(runtime.desk, client, slack.signing_secret.get_secret_value(), runtime.posts, state.wake,
                     command=slack.command, enrich=runtime.with_directory)
    if slack.app_token:
        app_token = slack.app_token.get_secret_value()

        async def connect(_: web.Application) -> None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            # Built on start-up, not here: its aiohttp session and tasks need the running loop,
            # and serve() builds the app before web.run_app starts one.
            state.socket_mode = AsyncSocketModeHandler(bolt, app_token)
            await state.socket_mode.connect_async()

        app.on_startup.append(connect)
        log.info("Slack: Socket Mode")
    else:
        app.router.add_post("/slack/events", SlackEndpoint(bolt, slack.signing_secret.get_secret_value()).handle)
        log.info("Slack: HTTP events at /slack/events")


def _add_teams(app: web.Application, runtime: Runtime, state: ServerState, poll_seconds: float) -> None:
    from adapters.teams.adapter import build_adapter
    from adapters.teams.app import TeamsBot
    from adapters.teams.endpoint import NO_AUTH_WARNING, TeamsEndpoint
    from adapters.teams.sender import Connector, TeamsSender
    from storage.conversations import ConversationRefs, Receipts

    teams = runtime.settings.teams
    adapter = build_adapter(teams)
    app[TEAMS] = adapter
    refs = ConversationRefs(runtime.engine, "teams")
    bot = TeamsBot(runtime.desk, runtime.posts, refs, state.wake, enrich=runtime.with_directory)
    connector = Connector(adapter, teams.app_id or "")
    sender = TeamsSender(connector, runtime.settings, runtime.store, runtime.posts, runtime.outbox, refs,
                         Receipts(runtime.engine),
                         runtime.desk.clock)
    state.dispatchers.append(Dispatcher(runtime.outbox, sender, runtime.desk.clock, poll_seconds=poll_seconds))
    app.router.add_post("/api/messages", TeamsEndpoint(adapter, bot, teams.auth_disabled).handle)

    async def close_connector(_: web.Application) -> None:
        await connector.close()
        await adapter.close()

    app.on_cleanup.append(close_connector)
    if teams.auth_disabled:
        log.warning(NO_AUTH_WARNING)
    elif not teams.tenant_id:
        log.warning("Teams: MICROSOFT_APP_TENANT_ID is not set, so people of any Microsoft 365 organisation that "
                    "installs this app can use the help desk; set it to serve yours only")
    log.info("Teams: Bot Framework activities at /api/messages")


def serve(runtime: Runtime, host: str, port: int) -> None:
    log.info("helpdesk serving on http://%s:%s", host, port)
    web.run_app(build_web_app(runtime), host=host, port=port, print=None)
