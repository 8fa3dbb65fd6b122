"""Slack on the help desk's server: the Bolt app behind POST /slack/events (or Socket Mode when an
app-level token is set), and the outbox sender with its dispatcher."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat.charts import ReportCharts
from adapters.chat.intake import Someone
from adapters.chat.interactions import Interactions
from adapters.chat.journal import open_journal
from adapters.dispatcher import Dispatcher
from adapters.slack.answer import SlackAnswers
from adapters.slack.app import build_app
from adapters.slack.endpoint import SlackEndpoint
from adapters.slack.from_message import add_listeners
from adapters.slack.people import SlackPeople
from adapters.slack.sender import SlackSender

log = logging.getLogger("helpdesk.slack")


def mount(app: web.Application, runtime: Any, state: Any, poll_seconds: float) -> None:
    """Add Slack's route (or Socket Mode connection), its sender and dispatcher to the server."""
    slack = runtime.settings.slack
    kwargs = {"base_url": slack.api_url} if slack.api_url else {}
    client = AsyncWebClient(token=slack.bot_token.get_secret_value(), **kwargs)

    async def open_session(_: web.Application) -> None:
        client.session = aiohttp.ClientSession()  # one pool of connections, not a connection per call

    async def close_session() -> None:
        if client.session is not None:
            await client.session.close()

    app.on_startup.insert(0, open_session)
    state.closers.append(close_session)
    sender = SlackSender(client, runtime.settings, runtime.store, runtime.desk.clock)
    state.dispatchers.append(Dispatcher(runtime.outbox, sender, runtime.desk.clock, poll_seconds=poll_seconds))
    people = SlackPeople(client, runtime.desk, enrich=runtime.enricher)
    state.loops["slack-profiles"] = lambda: people.backfill(  # who a surge served without a profile
        lambda actor: asyncio.to_thread(runtime.desk.complete_requester, actor))
    state.closers.insert(state.closers.index(close_session), people.close)
    chat = Interactions(runtime.desk, state.wake, devices=people.devices, files=runtime.files,
                        charts=ReportCharts(runtime.store, runtime.desk.clock))  # uploaded to Slack, not hosted
    state.intakes.append(chat.intake_queue)  # what a test's `settled` waits for too; replayed at start
    journal = open_journal(runtime, "slack")
    if journal is not None:
        answers = SlackAnswers(client)

        def revive(identity: str):  # a form journaled before its submitter was looked up
            user = identity.partition(":")[2]
            return Someone(identity, lambda: people.get(user)), (lambda text: answers.tell(user, text))

        chat.intake_queue.keep_journal(journal, revive)
    bolt = build_app(chat, people, client, slack.signing_secret.get_secret_value(), command=slack.command)
    add_listeners(bolt, chat, people, client, slack)  # the shortcut, the reaction; Slack as a message source
    state.closers.insert(0, chat.settled)  # files still being taken in finish before the connections close
    if slack.app_token:
        app_token = slack.app_token.get_secret_value()

        async def connect(_: web.Application) -> None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            # Built on start-up, not here: its aiohttp session and tasks need the running loop,
            # and serve() builds the app before web.run_app starts one.
            handler = AsyncSocketModeHandler(bolt, app_token)
            state.closers.insert(0, handler.close_async)  # first at shutdown: no new events
            await handler.connect_async()

        app.on_startup.append(connect)
        log.info("Slack: Socket Mode")
    else:
        app.router.add_post("/slack/events", SlackEndpoint(bolt, slack.signing_secret.get_secret_value()).handle)
        log.info("Slack: HTTP events at /slack/events")
