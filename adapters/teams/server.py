"""Teams on the help desk's server: botbuilder's CloudAdapter behind POST /api/messages, and the
outbox sender with its dispatcher."""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from adapters.chat.charts import ReportCharts
from adapters.chat.interactions import Interactions
from adapters.chat.journal import open_journal
from adapters.dispatcher import Dispatcher
from adapters.teams.adapter import HelpdeskCloudAdapter, build_adapter
from adapters.teams.app import TeamsBot
from adapters.teams.endpoint import NO_AUTH_WARNING, TeamsEndpoint
from adapters.teams.from_message import MessageActions, TeamsTokens
from adapters.teams.people import TeamsPeople
from adapters.teams.sender import Connector, TeamsSender
from storage.conversations import ConversationRefs

log = logging.getLogger("helpdesk.teams")

TEAMS = web.AppKey("teams", HelpdeskCloudAdapter)  # the Teams adapter, on the server it is mounted on


def mount(app: web.Application, runtime: Any, state: Any, poll_seconds: float) -> None:
    """Add Teams' route, its sender and dispatcher to the server."""
    teams = runtime.settings.teams
    adapter = build_adapter(teams)
    app[TEAMS] = adapter
    refs = ConversationRefs(runtime.store, "teams", runtime.desk.clock)
    people = TeamsPeople(runtime.desk, refs, enrich=runtime.enricher)
    charts = ReportCharts(runtime.store, runtime.desk.clock, runtime.settings.public_url)  # Teams shows images by URL
    chat = Interactions(runtime.desk, state.wake, devices=people.devices, files=runtime.files, charts=charts)
    state.intakes.append(chat.intake_queue)  # what a test's `settled` waits for too; replayed at start
    journal = open_journal(runtime, "teams")
    if journal is not None:  # a Teams form is accepted with its submitter known: the journal keeps them
        chat.intake_queue.keep_journal(journal)
    bot = TeamsBot(chat, people)
    connector = Connector(adapter, teams.app_id or "")
    bot.actions = MessageActions(chat, people, TeamsTokens(connector, teams), bot._values)
    state.closers.insert(0, chat.settled)  # files still being taken in finish before the connections close
    sender = TeamsSender(connector, runtime.settings, runtime.store, refs, runtime.desk.clock)
    state.dispatchers.append(Dispatcher(runtime.outbox, sender, runtime.desk.clock, poll_seconds=poll_seconds))
    app.router.add_post("/api/messages", TeamsEndpoint(adapter, bot, teams.auth_disabled).handle)
    state.closers += [people.close, connector.close, adapter.close]  # look-ups under way stop before the client
    if teams.auth_disabled:
        log.warning(NO_AUTH_WARNING)
    elif not teams.tenant_id:
        log.warning("Teams: MICROSOFT_APP_TENANT_ID is not set, so people of any Microsoft 365 organisation that "
                    "installs this app can use the help desk; set it to serve yours only")
    if not runtime.settings.public_url:
        log.warning("Teams: public_url (HELPDESK_PUBLIC_URL) is not set, so `report` in Teams comes without its chart: "
                    "Teams shows images from a URL, and the chart is served by this server")
    log.info("Teams: Bot Framework activities at /api/messages")
