"""The botbuilder CloudAdapter with the fixes 4.17 needs, and Bot Framework auth from settings.

Incoming tokens are checked by our `ChannelTokens` (adapters/teams/auth.py) before botbuilder
sees the activity: botbuilder's own check blocks the event loop on its key fetch and turns a
malformed token into a 503. And botbuilder 4.17's `CloudAdapter.process()` serialises an
invoke's response body twice: the ActivityHandler already turned it into a dict, and msrest
cannot serialise a dict as a Model, so every `adaptiveCard/action` with a body answers 500.
`HelpdeskCloudAdapter` writes the body as it is. tests/test_teams_requests.py keeps the stock adapter's failure next to the fix: when that
test starts failing, upstream has fixed it and this subclass can go.
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ServiceClientCredentialsFactory,
)

from adapters.teams.auth import (
    METADATA_URL,
    ChannelTokens,
    KeysUnavailable,
    OffLoopCredentialFactory,
    SigningKeys,
    Unauthenticated,
)
from adapters.teams.settings import TeamsSettings

log = logging.getLogger("helpdesk.teams")


class HelpdeskCloudAdapter(CloudAdapter):
    def __init__(self, auth: BotFrameworkAuthentication, auth_disabled: bool = False, tenant: str | None = None,
                 tokens: ChannelTokens | None = None, credentials: OffLoopCredentialFactory | None = None) -> None:
        super().__init__(auth)
        if tokens is None and not auth_disabled:
            raise ValueError("with authentication on, the adapter needs ChannelTokens to check requests with")
        self.auth_disabled = auth_disabled
        self.tenant = tenant  # the one Microsoft 365 organisation served, when configured
        self.tokens = tokens
        self.credentials = credentials  # the factory behind the bot's own Connector calls, when ours

    async def process(self, request: web.Request, bot: Bot, ws_response: web.WebSocketResponse | None = None) -> web.Response:
        """POST /api/messages: 415 not JSON, 400 not an activity, 401 not authenticated, 503 when the
        Connector's signing keys cannot be fetched, and 403 from another organisation (all checked
        before anything runs or is stored), the invoke's own status and body for invokes, 201 otherwise.
        The refusals are raised as aiohttp's HTTP exceptions (HTTPUnauthorized…), which it answers."""
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        if request.content_type != "application/json":  # charset and other parameters aside
            raise web.HTTPUnsupportedMediaType(text="send the activity as application/json")
        try:
            body = await request.json()
            activity = Activity().deserialize(body) if isinstance(body, dict) else None
        except ValueError:
            activity = None
        if activity is None or not activity.type:
            raise web.HTTPBadRequest(text="not a Bot Framework activity")
        authenticated = await self._authenticate(request, activity)
        if self.tenant and tenant_of(activity) != self.tenant:
            log.warning("Teams: refused an activity from tenant %s (this bot serves %s)", tenant_of(activity), self.tenant)
            raise web.HTTPForbidden(text="this bot serves another organisation")
        invoke_response = await self.process_activity(authenticated, activity, bot.on_turn)
        if invoke_response is None:
            return web.Response(status=201)
        return web.json_response(invoke_response.body, status=invoke_response.status)  # already a dict: the fix

    async def _authenticate(self, request: web.Request, activity: Activity) -> AuthenticateRequestResult:
        """What botbuilder's own authenticate_request returns, from our check of the channel token
        (adapters/teams/auth.py); with authentication off, botbuilder's anonymous identity."""
        auth = self.bot_framework_authentication
        if self.auth_disabled:  # no app id: a token could be checked against nothing
            return await auth.authenticate_request(activity, None)
        try:
            identity = await self.tokens.identity(request.headers.get("Authorization"), activity)
        except Unauthenticated as exc:  # the caller's fault: no error, no retry asked for
            log.info("Teams: 401 for a request from %s: %s", request.remote, exc)
            raise web.HTTPUnauthorized() from None
        except KeysUnavailable as exc:  # ours (or the network's): Teams retries a 503
            log.warning("Teams: could not check a request's token, asking Teams to retry: %s", exc)
            raise web.HTTPServiceUnavailable() from None
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = auth.get_originating_audience()
        result.caller_id = CallerIdConstants.public_azure_channel
        result.connector_factory = auth.create_connector_factory(identity)
        return result

    async def close(self) -> None:
        """Stop the signing-key fetcher (at shutdown)."""
        if self.tokens is not None:
            await self.tokens.keys.close()


def tenant_of(activity: Activity) -> str | None:
    """The Microsoft 365 organisation an activity comes from (its conversation's tenant, else its channel data's)."""
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    return (activity.conversation.tenant_id if activity.conversation else None) or (channel_data.get("tenant") or {}).get("id")


def _configuration(teams: TeamsSettings) -> SimpleNamespace:
    return SimpleNamespace(
        APP_ID=teams.app_id or "",
        APP_PASSWORD=teams.app_password.get_secret_value() if teams.app_password else "",
        APP_TYPE=teams.app_type,
        APP_TENANTID=teams.tenant_id,
    )


def authentication(teams: TeamsSettings, credentials: ServiceClientCredentialsFactory | None = None,
                   ) -> BotFrameworkAuthentication:
    """botbuilder's Bot Framework auth for the configured app (public cloud). Incoming tokens are
    checked by `ChannelTokens`, not by it; it makes the Connector clients for the bot's own calls."""
    return ConfigurationBotFrameworkAuthentication(_configuration(teams), credentials_factory=credentials)


def build_adapter(teams: TeamsSettings) -> HelpdeskCloudAdapter:
    """The adapter for the configured app: channel tokens checked against the Connector's published
    keys (`[teams] openid_metadata_url`, else the public cloud's), and the bot's own Azure AD token
    fetched off the event loop. Without an app id (emulator mode) authentication is off."""
    credentials = OffLoopCredentialFactory(ConfigurationServiceClientCredentialFactory(_configuration(teams)))
    tokens = None
    if not teams.auth_disabled:
        tokens = ChannelTokens(teams.app_id or "", SigningKeys(teams.openid_metadata_url or METADATA_URL))
    return HelpdeskCloudAdapter(authentication(teams, credentials), teams.auth_disabled, teams.tenant_id,
                                tokens=tokens, credentials=credentials)
