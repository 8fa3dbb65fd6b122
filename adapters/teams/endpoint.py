"""POST /api/messages: the Bot Framework's HTTP entry, wired to the Teams bot."""
from __future__ import annotations

import logging
import uuid

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes

from adapters.teams.adapter import HelpdeskCloudAdapter
from adapters.chat import messages as CM
from adapters.teams.app import TeamsBot
from adapters.teams.cards import html_safe

log = logging.getLogger("helpdesk.teams")

NO_AUTH_WARNING = ("Teams: Bot Framework authentication is OFF (HELPDESK_TEAMS_NO_AUTH=1, no MICROSOFT_APP_ID): "
                   "anyone who can reach /api/messages can act as any user. Use this only with the Emulator.")


class TeamsEndpoint:
    def __init__(self, adapter: HelpdeskCloudAdapter, bot: TeamsBot, auth_disabled: bool) -> None:
        self.adapter = adapter
        self.bot = bot
        self.auth_disabled = auth_disabled
        adapter.on_turn_error = self._on_turn_error

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/messages`, handed to the adapter (warned about on every request when auth is off)."""
        if self.auth_disabled:
            log.warning("%s (request from %s)", NO_AUTH_WARNING, request.remote)
        return await self.adapter.process(request, self.bot)

    async def _on_turn_error(self, turn: TurnContext, error: Exception) -> None:
        """A failure after the request was taken (often the Connector, answering back): logged with
        a reference; the person is told it may have been done, and an invoke still gets its answer."""
        ref = uuid.uuid4().hex[:8]
        log.error("Teams turn failed (reference %s) for a %s activity", ref, turn.activity.type, exc_info=error)
        text = CM.TURN_FAILED.format(ref=ref)
        if turn.activity.type == "invoke":
            body = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}
            await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body)))
            return
        if turn.activity.type == "message":
            try:
                await turn.send_activity(Activity(type="message", text=html_safe(text)))
            except Exception as exc:  # the Connector is what failed: nothing more to say, and a retry is deduped
                log.warning("Teams: could not tell the user about failure %s either: %s", ref, exc)
