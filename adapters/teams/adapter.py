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

import jwt

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticationConstants, BotFrameworkAuthentication

from adapters.teams.settings import TeamsSettings

log = logging.getLogger("helpdesk.teams")


class HelpdeskCloudAdapter(CloudAdapter):
    def __init__(self, auth: BotFrameworkAuthentication, auth_disabled: bool = False, tenant: str | None = None) -> None:
        super().__init__(auth)
        self.auth_disabled = auth_disabled
        self.tenant = tenant  # the one Microsoft 365 organisation served, when configured

    async def process(self, request: web.Request, bot: Bot, ws_response: web.WebSocketResponse | None = None) -> web.Response:
        """POST /api/messages: 415 not JSON, 400 not an activity, 401 not authenticated and 403
        from another organisation (both checked before anything runs or is stored), the
        invoke's own status and body for invokes, 201 otherwise."""
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
        except (PermissionError, jwt.PyJWTError, ValueError) as exc:  # botbuilder lets PyJWT's errors escape as they are
            log.warning("Teams: refused a request that failed Bot Framework authentication: %s: %s",
                        type(exc).__name__, exc)
            raise web.HTTPUnauthorized() from None
        except Exception as exc:  # the signing keys could not be fetched: Teams retries a 503
            log.error("Teams: could not check a request's token (%s: %s); asking Teams to retry", type(exc).__name__, exc)
            raise web.HTTPServiceUnavailable() from None
        if self.tenant and tenant_of(activity) != self.tenant:
            log.warning("Teams: refused an activity from tenant %s (this bot serves %s)", tenant_of(activity), self.tenant)
            raise web.HTTPForbidden(text="this bot serves another organisation")
        invoke_response = await self.process_activity(authenticated, activity, bot.on_turn)
        if invoke_response is None:
            return web.Response(status=201)
        return web.json_response(invoke_response.body, status=invoke_response.status)  # already a dict: the fix


def tenant_of(activity: Activity) -> str | None:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    return (activity.conversation.tenant_id if activity.conversation else None) or (channel_data.get("tenant") or {}).get("id")


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
        single = teams.app_type != "MultiTenant" and teams.tenant_id  # multi-tenant bots log in at botframework.com
        config.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX + (
            teams.tenant_id if single else AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT)
        config.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        config.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        config.VALIDATE_AUTHORITY = True
    return ConfigurationBotFrameworkAuthentication(config)
