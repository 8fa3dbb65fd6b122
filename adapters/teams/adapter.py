"""The botbuilder CloudAdapter with the one fix 4.17 needs, and Bot Framework auth from settings.

botbuilder 4.17's `CloudAdapter.process()` serialises an invoke's response body twice: the
ActivityHandler already turned it into a dict, and msrest cannot serialise a dict as a Model,
so every `adaptiveCard/action` with a body answers 500. `HelpdeskCloudAdapter` writes the body
as it is. tests/test_teams_flow.py keeps the stock adapter's failure next to the fix: when that
test starts failing, upstream has fixed it and this subclass can go.
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticationConstants, BotFrameworkAuthentication

from bot.config import TeamsSettings

log = logging.getLogger("helpdesk.teams")


class HelpdeskCloudAdapter(CloudAdapter):
    def __init__(self, auth: BotFrameworkAuthentication, auth_disabled: bool = False) -> None:
        super().__init__(auth)
        self.auth_disabled = auth_disabled

    async def process(self, request: web.Request, bot: Bot, ws_response: web.WebSocketResponse | None = None) -> web.Response:
        """POST /api/messages: 415 not JSON, 400 not an activity, 401 not authenticated (checked
        before anything runs), the invoke's own status and body for invokes, 201 otherwise."""
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        if "application/json" not in request.headers.get("Content-Type", ""):
            raise web.HTTPUnsupportedMediaType()
        try:
            body = await request.json()
            activity = Activity().deserialize(body) if isinstance(body, dict) else None
        except ValueError:
            activity = None
        if activity is None or not activity.type:
            raise web.HTTPBadRequest(text="not a Bot Framework activity")
        header = request.headers.get("Authorization") or None
        if header is None and not self.auth_disabled:
            raise web.HTTPUnauthorized()  # botbuilder's parameterised auth would fail on "" with a 500
        try:
            authenticated = await self.bot_framework_authentication.authenticate_request(activity, header)
        except Exception as exc:  # botbuilder lets PyJWT's errors (bad signature, expired…) escape as they are
            log.warning("Teams: refused a request that failed Bot Framework authentication: %s: %s",
                        type(exc).__name__, exc)
            raise web.HTTPUnauthorized() from None
        invoke_response = await self.process_activity(authenticated, activity, bot.on_turn)
        if invoke_response is None:
            return web.Response(status=201)
        return web.json_response(invoke_response.body, status=invoke_response.status)  # already a dict: the fix


def authentication(teams: TeamsSettings) -> BotFrameworkAuthentication:
    """Bot Framework auth for the configured app; without an app id (emulator mode) it is off."""
    config = SimpleNamespace(
        APP_ID=teams.app_id or "",
        APP_PASSWORD=teams.app_password.get_secret_value() if teams.app_password else "",
        APP_TYPE=teams.app_type,
        APP_TENANTID=teams.tenant_id,
    )
    if teams.openid_metadata_url:  # the parameterised flavour needs every endpoint: the public cloud's
        config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = teams.openid_metadata_url
        config.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = teams.openid_metadata_url
        config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
        config.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX + (
            teams.tenant_id or AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT)
        config.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        config.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        config.VALIDATE_AUTHORITY = True
    return ConfigurationBotFrameworkAuthentication(config)
