"""Bot Framework authentication that never blocks the event loop and refuses bad tokens with a 401.

botframework-connector 4.17 checks a channel's token with a synchronous `requests.get` of the
OpenID metadata and signing keys (no timeout) on the event loop, fetches again for every token
after a failed fetch, and fails with an AttributeError or IndexError on a token with no `kid`, an
unknown one, `alg=none` or HS256, all of which our adapter could only answer 503. And botbuilder's
credentials fetch the bot's own Azure AD token with MSAL, synchronously, on the loop, once per
turn. So this module does both halves itself:

- `SigningKeys`: the Connector's published keys, fetched with aiohttp (with a timeout), the last
  good set kept, a back-off after failures, a set older than a day refreshed in the background,
  and an unknown `kid` refreshing at most once per interval.
- `ChannelTokens`: the channel token checked as Microsoft's "Authentication with the Bot
  Connector API" asks (Bearer scheme, RS256 signature by a published key endorsed for the
  activity's channel, issuer https://api.botframework.com, audience this bot's app id, 5 minutes
  of clock skew, `serviceurl` claim equal to the activity's serviceUrl). Everything the caller got
  wrong is `Unauthenticated` (401); only keys that could not be fetched are `KeysUnavailable` (503).
- `OffLoopCredentialFactory`: botbuilder's credentials, but the bot's Azure AD token is fetched
  in a worker thread with a timeout, one fetch at a time, kept between turns, with a back-off
  after failures; msrest's synchronous `signed_session` only reads the kept token.

Only Bot Framework channel tokens are accepted: the Emulator (whose tokens come from Azure AD
directly) is used with authentication off, as the README says.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
import jwt
import msal
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AppCredentials,
    AuthenticationConstants,
    ClaimsIdentity,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msrest.authentication import Authentication

log = logging.getLogger("helpdesk.teams")

ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER  # https://api.botframework.com
METADATA_URL = AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
ASYMMETRIC = ("RS256", "RS384", "RS512")  # never "none" nor HS*: a shared secret is no signature here
CLOCK_SKEW_SECONDS = 300


class Unauthenticated(Exception):
    """The request's token is missing, malformed, forged, expired or for someone else (→ 401).
    The message says which, for the log."""


class KeysUnavailable(Exception):
    """The Connector's signing keys could not be fetched, so no token can be checked (→ 503)."""


class Backoff:
    """Seconds to wait after the n-th failure in a row: first, doubling, at most cap."""

    def __init__(self, first: float = 5.0, cap: float = 300.0) -> None:
        self.first, self.cap = first, cap
        self.failures = 0
        self.until = 0.0  # clock value before which no new attempt is made

    def failed(self, now: float) -> float:
        """Count a failure; returns the seconds to wait before trying again (doubling, up to the maximum)."""
        self.failures += 1
        wait = min(self.cap, self.first * 2 ** (self.failures - 1))
        self.until = now + wait
        return wait

    def succeeded(self) -> None:
        """Forget the failures."""
        self.failures, self.until = 0, 0.0

    def waiting(self, now: float) -> bool:
        """Whether it is still too soon (`now`, monotonic seconds) to try again."""
        return now < self.until


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Any  # the public key, as PyJWT verifies with it
    endorsements: frozenset[str]  # channel ids this key may sign for ("msteams", …)


class SigningKeys:
    """The Bot Connector's signing keys, from its OpenID metadata (`jwks_uri`).

    Times are seconds of `clock` (monotonic). A set older than `max_age` is refreshed in the
    background while it keeps serving; a `kid` not in the set refreshes it, at most once per
    `unknown_kid_interval` (so forged key ids cannot make us fetch at will); after a failed fetch
    nothing is fetched again until the back-off has passed, and the last good set keeps serving.
    """

    def __init__(self, metadata_url: str = METADATA_URL, *, timeout: float = 10.0, max_age: float = 24 * 3600,
                 unknown_kid_interval: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.metadata_url = metadata_url
        self.timeout = timeout
        self.max_age = max_age
        self.unknown_kid_interval = unknown_kid_interval
        self.clock = clock
        self.backoff = Backoff()
        self.algorithms: tuple[str, ...] = ("RS256",)
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # last good fetch
        self._tried_at: float | None = None  # last attempt, good or not
        self._fetch: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    async def get(self, kid: str) -> SigningKey | None:
        """The published key with this id, or None when the Connector does not publish it.

        Raises KeysUnavailable when no set could be had: never fetched yet and the fetch failed
        (or is backing off), or an unknown `kid` sent us to refresh and that refresh failed."""
        now = self.clock()
        if not self._keys:
            await self._refresh(now)
        elif now >= self._fetched_at + self.max_age and not self.backoff.waiting(now):
            self._start(now)  # in the background: the set we have serves meanwhile
        key = self._keys.get(kid)
        if key is None and self._may_look_again(now):
            await self._refresh(now)
            key = self._keys.get(kid)
        return key

    async def close(self) -> None:
        """Stop a fetch still running (at shutdown)."""
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
            await asyncio.gather(self._fetch, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _may_look_again(self, now: float) -> bool:
        if self._fetch is not None and not self._fetch.done():
            return True  # a fetch is under way anyway: wait for it
        return (not self.backoff.waiting(now)
                # a deadline, not a difference: (t + d) - t can come out a hair under d in floating point
                and (self._tried_at is None or now >= self._tried_at + self.unknown_kid_interval))

    def _start(self, now: float) -> asyncio.Task:
        if self._fetch is None or self._fetch.done():
            self._tried_at = now
            self._fetch = asyncio.ensure_future(self._download())
            self._fetch.add_done_callback(lambda task: task.cancelled() or task.exception())  # logged in _download
        return self._fetch

    async def _refresh(self, now: float) -> None:
        if (self._fetch is None or self._fetch.done()) and self.backoff.waiting(now):
            raise KeysUnavailable(f"the last fetch of {self.metadata_url} failed; "
                                  f"trying again in {self.backoff.until - now:.0f} s")
        try:  # shielded: a caller that goes away does not cancel the fetch the others wait for
            await asyncio.shield(self._start(now))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _download(self) -> None:
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            async with self._session.get(self.metadata_url) as response:
                response.raise_for_status()
                metadata = await response.json(content_type=None)
            async with self._session.get(metadata["jwks_uri"]) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
            keys = _parse_keys(document)
            if not keys:
                raise ValueError(f"{metadata['jwks_uri']} lists no RSA signing key")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            wait = self.backoff.failed(self.clock())
            log.error("Teams: could not fetch the Bot Connector's signing keys from %s (%s: %s); %s; next try "
                      "in %.0f s", self.metadata_url, type(exc).__name__, str(exc)[:200],
                      "the last good keys keep serving" if self._keys else "tokens cannot be checked meanwhile",
                      wait)
            raise
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        self.algorithms = tuple(a for a in ASYMMETRIC if a in offered) or ("RS256",)
        self._keys = keys
        self._fetched_at = self.clock()
        self.backoff.succeeded()
        log.info("Teams: %d Bot Connector signing keys from %s", len(keys), self.metadata_url)


def _parse_keys(document: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    for jwk in (document or {}).get("keys") or []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or not jwk.get("kid"):
            continue
        try:
            public = jwt.PyJWK({k: v for k, v in jwk.items() if k != "endorsements"}).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.warning("Teams: skipped the Connector's signing key %r: %s", jwk.get("kid"), exc)
            continue
        keys[jwk["kid"]] = SigningKey(jwk["kid"], public, frozenset(jwk.get("endorsements") or ()))
    return keys


class ChannelTokens:
    """Checks the token in a Bot Framework request's Authorization header for one bot."""

    def __init__(self, app_id: str, keys: SigningKeys) -> None:
        self.app_id = app_id
        self.keys = keys

    async def identity(self, header: str | None, activity: Activity) -> ClaimsIdentity:
        """The token's claims, once every check passed.

        Raises Unauthenticated (the caller is not the Bot Connector speaking to this bot) or
        KeysUnavailable (the keys to check it with could not be fetched)."""
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("no Bearer token in the Authorization header")
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"not a JWT ({exc})") from None
        alg, kid = head.get("alg"), head.get("kid")
        if alg not in ASYMMETRIC:
            raise Unauthenticated(f"signed with {str(alg)[:20]!r}, not with the Connector's RSA keys")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key (kid)")
        key = await self.keys.get(kid)
        if key is None:
            raise Unauthenticated(f"signed with key {kid[:60]!r}, which the Bot Connector does not publish")
        if alg not in self.keys.algorithms:
            raise Unauthenticated(f"signed with {alg}, which the Bot Connector does not use")
        channel = activity.channel_id
        if channel and key.endorsements and channel not in key.endorsements:
            raise Unauthenticated(f"key {kid[:60]!r} is not endorsed for channel {channel[:40]!r}")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.app_id, issuer=ISSUER,
                                leeway=CLOCK_SKEW_SECONDS, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"{type(exc).__name__}: {exc}") from None
        if claims.get(AuthenticationConstants.SERVICE_URL_CLAIM) != activity.service_url:
            raise Unauthenticated("the token's serviceurl claim is not the activity's serviceUrl")
        return ClaimsIdentity(claims, True)


# The bot's own Azure AD token, for its calls to the Connector


class AppToken:
    """The bot's Azure AD token for one app, scope and authority. `refresh()` asks MSAL in a
    worker thread (MSAL answers from its cache until the token nears expiry), waits at most
    `timeout` seconds, and keeps the last token it got; after a failure it does not ask again
    until the back-off has passed (the calls then go out with the last token, or fail)."""

    def __init__(self, credentials: AppCredentials, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.credentials = credentials  # botbuilder's: get_access_token() blocks on MSAL's HTTP calls
        self.timeout = timeout
        self.clock = clock
        self.backoff = Backoff()
        self.token: str | None = None
        self._pending: asyncio.Future | None = None

    async def refresh(self) -> str | None:
        """The bot's token, fetched in a worker thread when it is missing or about to expire (one fetch at
        a time, backing off after failures); the token kept (possibly None) when it cannot be had now."""
        if self._pending is None:
            if self.backoff.waiting(self.clock()):
                return self.token
            self._pending = asyncio.ensure_future(asyncio.to_thread(self._fetch))
            self._pending.add_done_callback(self._settled)
        try:
            self.token = await asyncio.wait_for(asyncio.shield(self._pending), self.timeout)
        except TimeoutError:  # the fetch goes on in its thread; the next refresh waits for that one
            log.warning("Teams: Azure AD has not answered for the bot's token in %.0f s; going on without a new one",
                        self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged once, by _settled
            pass
        return self.token

    def _fetch(self) -> str:
        credentials = self.credentials
        if isinstance(credentials, MicrosoftAppCredentials) and credentials.app is None:
            # botbuilder builds MSAL without a timeout; the same app, with one (built here, in the
            # thread, since MSAL looks its authority up over HTTP as it starts)
            credentials.app = msal.ConfidentialClientApplication(
                client_id=credentials.microsoft_app_id, client_credential=credentials.microsoft_app_password,
                authority=credentials.oauth_endpoint, timeout=self.timeout)
        return credentials.get_access_token()

    def _settled(self, future: asyncio.Future) -> None:
        self._pending = None
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self.token = future.result()
            self.backoff.succeeded()
            return
        wait = self.backoff.failed(self.clock())
        log.warning("Teams: could not get the bot's Azure AD token (%s: %s); next try in %.0f s",
                    type(exc).__name__, str(exc)[:200], wait)


class OffLoopCredentials(AppCredentials):
    """What msrest signs the Connector calls with: the token `AppToken` last fetched. msrest
    calls `signed_session` synchronously on the loop, so it must never fetch."""

    def __init__(self, token: AppToken) -> None:
        inner = token.credentials
        super().__init__(app_id=inner.microsoft_app_id, channel_auth_tenant=inner.tenant, oauth_scope=inner.oauth_scope)
        self.oauth_endpoint = inner.oauth_endpoint
        self.app_token = token

    async def refresh(self) -> None:
        """Make sure the token is current before msrest signs a request with it."""
        await self.app_token.refresh()

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The kept token, for msrest's synchronous signing. Raises PermissionError when there is none yet."""
        if self.app_token.token is None:
            raise PermissionError("the bot has no Azure AD token yet (see the warning above), so the Bot "
                                  "Connector cannot be called")
        return self.app_token.token


class OffLoopCredentialFactory(ServiceClientCredentialsFactory):
    """botbuilder's credentials factory (app id, password, tenant, app type), handing out
    `OffLoopCredentials` whose token is refreshed, off the loop, before each turn's client is built.
    One `AppToken` per app, scope and login endpoint, so turns share the token."""

    def __init__(self, inner: ServiceClientCredentialsFactory, *, timeout: float = 10.0) -> None:
        self.inner = inner
        self.timeout = timeout
        self._tokens: dict[tuple[str, str, str], AppToken] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        """As the wrapped factory."""
        return await self.inner.is_valid_app_id(app_id)

    async def is_authentication_disabled(self) -> bool:
        """As the wrapped factory."""
        return await self.inner.is_authentication_disabled()

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> Authentication:
        """The wrapped factory's credentials, their token fetched off the event loop and shared."""
        if await self.inner.is_authentication_disabled():
            return await self.inner.create_credentials(app_id, oauth_scope, login_endpoint, validate_authority)
        key = (app_id, oauth_scope or "", login_endpoint or "")
        token = self._tokens.get(key)
        if token is None:
            inner = await self.inner.create_credentials(app_id, oauth_scope, login_endpoint, validate_authority)
            token = self._tokens[key] = AppToken(inner, timeout=self.timeout)
        credentials = OffLoopCredentials(token)
        await credentials.refresh()
        return credentials

