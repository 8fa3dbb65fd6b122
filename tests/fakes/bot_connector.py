"""A local Bot Connector (the `serviceUrl` Teams puts in every activity), speaking its REST
protocol over real HTTP and recording every call the bot makes: replies, sends, card updates,
new channel threads and personal chats, member look-ups. It also publishes OpenID metadata
and signing keys, and mints the JWTs Teams would send, so Bot Framework auth runs for real.

It serves the bytes of files people share, as Teams' services do:
- an inline image in a message to the bot (`image/*`, contentUrl `…/v3/attachments/{id}/views/original`),
  to the bot's own token (`Authorization: Bearer`) when `bot_tokens` is set (an authenticated
  bot); without a token, as the Bot Framework Emulator serves an app running without one;
- a file sent in a personal chat (`application/vnd.microsoft.teams.file.download.info`): its
  `downloadUrl`, pre-authenticated by the `tempauth` it carries (no header needed; without it, 401);
- an image pasted into a channel or chat message, as a message action's payload names it
  (`<img src=…/hostedContents/{id}/$value>`, Microsoft Graph): to the app's Graph token when
  `bot_tokens` is set, as above otherwise.
An unknown file is a 404 everywhere.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://api.botframework.com"
OWN = object()  # token(kid=OWN): the kid of the key that signs


@dataclass
class Call:
    method: str
    path: str
    conversation: str | None
    activity_id: str | None
    body: Any
    authorization: str | None


@dataclass
class Posted:
    id: str
    conversation: str
    activity: dict[str, Any]
    reply_to: str | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)  # earlier contents, oldest first


ACTIVITY_MAX = 28 * 1024  # bytes of UTF-8


def activity_size(activity: dict[str, Any]) -> int:
    """An activity's size as Teams counts it: its JSON in UTF-8."""
    return len(json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotConnector:
    def __init__(self, tenant: str = "tenant-1") -> None:
        self.tenant = tenant
        self.calls: list[Call] = []
        self.posts: dict[str, Posted] = {}  # activity id → what is shown
        self.members: dict[str, dict[str, Any]] = {}  # by 29: id and by AAD object id
        self.failures: list[tuple[str, str, int, dict[str, str]]] = []  # (method, path pattern, status, headers)
        self.holds: list[tuple[str, str, asyncio.Event]] = []  # (method, path pattern, released)
        self.too_big: list[Call] = []  # posts and updates refused with 413 for their size
        self.held = 0  # calls being held right now
        self.hold_limit = 5.0  # seconds a held call (or key fetch) waits at most, then is answered
        self._holding: list[asyncio.Event] = []
        self.ids = itertools.count(int(time.time() * 1000))
        self.signing_key = _key()
        self.other_key = _key()  # signs forged tokens: same shape, wrong key
        self.kid = "helpdesk-test-key"
        self.published: dict[str, rsa.RSAPrivateKey] = {self.kid: self.signing_key}  # kid → key, as listed
        # The OpenID endpoints, as Microsoft's login.botframework.com serves them (they may be slow or down)
        self.key_fetches = 0  # GETs of the signing keys (the metadata is fetched just before each)
        self.key_failures: list[int] = []  # statuses the next key fetches answer, in order
        self.keys_held: asyncio.Event | None = None  # while set up and not released, key fetches wait
        self.keys_waiting = 0  # key fetches being held right now
        # As Teams: a member look-up in a 1:1 chat knows only that chat's user (channels: the whole team)
        self.rosters = True
        self.runner: web.AppRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.url = ""
        self.blobs: dict[str, tuple[bytes, str]] = {}  # file id → (bytes, content type)
        self.bot_tokens: set[str] | None = None  # bearer tokens accepted for files; None: none needed

    # lifecycle

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        app.router.add_get("/v3/attachments/{id}/views/{view}", self._attachment)
        app.router.add_get("/sites/files/{id}/{name}", self._download)
        app.router.add_get("/v1.0/{path:.+}/hostedContents/{id}/{value}", self._hosted)
        app.router.add_get("/openid/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/openid/keys", self._keys)
        # As the Slack fake: stopping does not wait a minute on a request the bot abandoned half-sent
        # (a cancelled delivery's body, in botbuilder's requests thread, may never arrive).
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def openid_url(self) -> str:
        return self.url + "openid/.well-known/openidconfiguration"

    # what the test sets up

    def add_member(self, teams_id: str, aad: str, name: str, email: str | None) -> None:
        given, _, surname = name.partition(" ")
        member = {"id": teams_id, "name": name, "aadObjectId": aad, "email": email, "userPrincipalName": email,
                  "givenName": given, "surname": surname, "tenantId": self.tenant, "userRole": "user"}
        self.members[teams_id] = self.members[aad] = member

    def add_blob(self, data: bytes, content_type: str = "image/png") -> str:
        """Keep a file's bytes; returns its id (use image_url, download_url or hosted_url)."""
        blob = f"0-weu-d1-{self.new_id()}"
        self.blobs[blob] = (data, content_type)
        return blob

    def image_url(self, blob: str) -> str:
        """An inline image's contentUrl in an activity (the Connector's attachments service)."""
        return f"{self.url}v3/attachments/{blob}/views/original"

    def download_url(self, blob: str, name: str) -> str:
        """A personal-chat file's downloadUrl: pre-authenticated by its tempauth."""
        return f"{self.url}sites/files/{blob}/{name}?tempauth={self._tempauth(blob)}"

    def hosted_url(self, blob: str, team: str, channel: str, message: str) -> str:
        """An image pasted into a channel message, as Graph names it in the message's HTML."""
        return f"{self.url}v1.0/teams/{team}/channels/{channel}/messages/{message}/hostedContents/{blob}/$value"

    def fetches(self) -> list[Call]:
        """Every request for a file's bytes, in order."""
        return [c for c in self.calls if c.method == "GET" and ("/attachments/" in c.path or "/sites/files/" in c.path
                                                                 or "/hostedContents/" in c.path)]

    def fail_next(self, method: str, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        """The next `method` call whose (decoded) path matches the regex `path` answers `status`
        (429 with Retry-After, 500, 403…). `/v3/conversations` alone is creating a conversation."""
        self.failures.append((method, path, status, headers or {}))

    def hold_next(self, method: str, path: str) -> None:
        """The next `method` call whose path matches the regex `path` is answered only once
        release() is called (or after hold_limit seconds): a Connector that is slow to answer."""
        self.holds.append((method, path, asyncio.Event()))

    def release(self) -> None:
        """Answer every held call (from any thread)."""
        for released in [event for _, _, event in self.holds] + self._holding:
            if self.loop is not None:
                self.loop.call_soon_threadsafe(released.set)

    def token(self, app_id: str, service_url: str, *, expired: bool = False, forged: bool = False,
              audience: str | None = None, kid: Any = OWN, algorithm: str = "RS256", secret: str | None = None) -> str:
        """A Bot Framework channel token as Teams sends it in Authorization: Bearer …

        The faults a caller can make: `forged` (signed with a key the Connector never published),
        `kid` another key id or None (no kid header), `algorithm` "none" (unsigned) or "HS256"
        signed with `secret` (say, the bot's app password)."""
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience or app_id, "serviceurl": service_url,  # botbuilder allows 5 min of skew
                  "nbf": now - 7200 if expired else now - 60, "exp": now - 600 if expired else now + 3600}
        key = self.other_key if forged else self.signing_key
        headers = {} if kid is None else {"kid": self.kid if kid is OWN else kid}
        if algorithm == "none":
            return jwt.encode(claims, None, algorithm="none", headers=headers)
        if algorithm.startswith("HS"):
            with warnings.catch_warnings():  # a short password is the point
                warnings.simplefilter("ignore")
                return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)

    def rotate_key(self) -> str:
        """Publish a new signing key (the old one stays listed, as in a real rotation) and sign with
        it from now on; returns its kid."""
        self.signing_key = _key()
        self.kid = f"helpdesk-test-key-{len(self.published) + 1}"
        self.published[self.kid] = self.signing_key
        return self.kid

    def hold_keys(self) -> None:
        """Key fetches wait from now on, until release_keys() (or hold_limit seconds). Callable
        from any thread, like release_keys()."""
        self.keys_held = asyncio.Event()

    def release_keys(self) -> None:
        if self.keys_held is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.keys_held.set)

    # what the test reads back

    def new_id(self) -> str:
        return str(next(self.ids))

    def sent(self, conversation: str | None = None) -> list[Posted]:
        """Activities the bot posted (in `conversation`, if given), in order."""
        # a copy first (one C call): the fake's server thread may store a post while this filters
        return [p for p in list(self.posts.values()) if conversation is None or p.conversation == conversation]

    def in_thread(self, channel: str, root: str) -> list[Posted]:
        return [p for p in list(self.posts.values()) if p.conversation == f"{channel};messageid={root}" and p.id != root]

    def calls_to(self, method: str, fragment: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    # the protocol

    async def _record(self, request: web.Request) -> tuple[Call, web.Response | None]:
        body = await request.json() if request.can_read_body else None
        conversation = unquote(request.match_info["conversation"]) if "conversation" in request.match_info else None
        call = Call(request.method, request.path, conversation, request.match_info.get("activity"), body,
                    request.headers.get("Authorization"))
        self.calls.append(call)
        for i, (method, pattern, released) in enumerate(self.holds):
            if method == request.method and re.fullmatch(pattern, unquote(request.path)):
                del self.holds[i]
                self._holding.append(released)
                self.held += 1
                try:
                    await asyncio.wait_for(released.wait(), self.hold_limit)
                except TimeoutError:
                    pass
                finally:
                    self.held -= 1
                    self._holding.remove(released)
                break
        activity = (body or {}).get("activity", body) if isinstance(body, dict) else None
        if request.method in ("POST", "PUT") and isinstance(activity, dict) and activity_size(activity) > ACTIVITY_MAX:
            # Teams refuses a message over about 28 KB (the whole activity, cards included)
            self.too_big.append(call)
            return call, web.json_response({"error": {"code": "MessageSizeTooBig", "message": "Message size too big"}},
                                           status=413)
        for i, (method, pattern, status, headers) in enumerate(self.failures):
            if method == request.method and re.fullmatch(pattern, unquote(request.path)):
                del self.failures[i]
                return call, web.json_response({"error": {"code": "Failed", "message": f"fake {status}"}},
                                               status=status, headers=headers)
        return call, None

    def _store(self, conversation: str, activity: dict[str, Any], reply_to: str | None = None, id_: str | None = None) -> str:
        activity_id = id_ or self.new_id()
        self.posts[activity_id] = Posted(activity_id, conversation, activity, reply_to)
        return activity_id

    async def _create(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        params = call.body or {}
        channel = ((params.get("channelData") or {}).get("channel") or {}).get("id")
        if channel:  # a new thread in a channel: its first message is the activity
            root = self.new_id()
            conversation = f"{channel};messageid={root}"
            self._store(conversation, params.get("activity") or {}, id_=root)
            return web.json_response({"id": conversation, "activityId": root, "serviceUrl": self.url}, status=201)
        members = params.get("members") or []
        if not members or members[0].get("id") not in self.members:
            return web.json_response({"error": {"code": "BadArgument", "message": "unknown member"}}, status=400)
        conversation = f"a:personal-{members[0]['id']}"
        result: dict[str, Any] = {"id": conversation, "serviceUrl": self.url}
        if params.get("activity"):
            result["activityId"] = self._store(conversation, params["activity"])
        return web.json_response(result, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        return web.json_response({"id": self._store(call.conversation, call.body or {})}, status=201)

    async def _reply(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        return web.json_response({"id": self._store(call.conversation, call.body or {}, reply_to=call.activity_id)},
                                 status=201)

    async def _update(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        posted = self.posts.get(call.activity_id)
        if posted is None:
            return web.json_response({"error": {"code": "NotFound", "message": "no such activity"}}, status=404)
        posted.versions.append(posted.activity)
        posted.activity = call.body or {}
        return web.json_response({"id": call.activity_id})

    async def _member(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        member = self.members.get(unquote(request.match_info["member"]))
        personal = call.conversation.startswith("a:personal-")
        if member is not None and self.rosters and personal and call.conversation != f"a:personal-{member['id']}":
            member = None
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation", "message": "not found"}}, status=404)
        return web.json_response(member)

    def _tempauth(self, blob: str) -> str:
        return hashlib.sha256(f"tempauth:{blob}".encode()).hexdigest()[:24]

    async def _file(self, request: web.Request, blob: str, allowed: bool) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        if not allowed:
            return web.json_response({"error": {"code": "Unauthorized", "message": "no valid token"}}, status=401)
        if blob not in self.blobs:
            return web.json_response({"error": {"code": "NotFound", "message": "no such file"}}, status=404)
        data, content_type = self.blobs[blob]
        return web.Response(body=data, content_type=content_type)

    def _bearer_ok(self, request: web.Request) -> bool:
        if self.bot_tokens is None:
            return True
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.bot_tokens

    async def _attachment(self, request: web.Request) -> web.Response:
        return await self._file(request, request.match_info["id"], self._bearer_ok(request))

    async def _download(self, request: web.Request) -> web.Response:
        blob = request.match_info["id"]
        return await self._file(request, blob, request.query.get("tempauth") == self._tempauth(blob))

    async def _hosted(self, request: web.Request) -> web.Response:
        if request.match_info["value"] != "$value":
            return web.json_response({"error": {"code": "BadRequest", "message": "metadata is not served"}}, status=400)
        return await self._file(request, request.match_info["id"], self._bearer_ok(request))

    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": ISSUER, "jwks_uri": self.url + "openid/keys",
                                  "id_token_signing_alg_values_supported": ["RS256"],
                                  "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    async def _keys(self, request: web.Request) -> web.Response:
        self.key_fetches += 1
        if self.keys_held is not None and not self.keys_held.is_set():
            self.keys_waiting += 1
            try:
                await asyncio.wait_for(self.keys_held.wait(), self.hold_limit)
            except TimeoutError:
                pass
            finally:
                self.keys_waiting -= 1
        if self.key_failures:
            return web.json_response({"error": "fake outage"}, status=self.key_failures.pop(0))
        keys = []
        for kid, key in self.published.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "endorsements": ["msteams", "webchat"]})
            keys.append(jwk)
        return web.json_response({"keys": keys})
