"""A local fake of Slack's Web API, spoken over real HTTP on 127.0.0.1.

The bot's real ``slack_sdk`` AsyncWebClient (and slack_bolt's AsyncApp on top of it) points its
``base_url`` at ``FakeSlack.url``. Tests then exercise the same wire protocol, argument encodings
(JSON bodies, form bodies, GET query strings) and response shapes as production, and can assert on
what the bot actually sent through ``FakeSlack.calls``.

Shapes and error codes follow Slack's method reference (docs.slack.dev/reference/methods/...).
Failures are answered as Slack answers them: HTTP 200 with ``{"ok": false, "error": ...}``, except
rate limits (HTTP 429 with ``Retry-After``) and outages (5xx with an HTML body).

Pace (docs.slack.dev/apis/web-api/rate-limits, "Posting messages"): chat.postMessage keeps to
about one message a second per channel (a DM is a channel), a short burst allowed
(``channel_burst``); past it Slack answers 429 with ``Retry-After``. A call made again before
the Retry-After it was given ran out is kept in ``impatient`` (Slack would refuse it too).

Tiers (the same page, "Overview"): every other method has a per-minute budget per app and
workspace, with bursts. The fake keeps the budgets of the methods a surge calls once a person or
a ticket — users.info and views.open (Tier 4, 100+ a minute), conversations.open and chat.update
(Tier 3, 50+) — and of conversations.history and conversations.replies (Tier 3 for an app a
workspace makes for itself, as helpdesk-bot is installed; since 2025 an app distributed outside
the Marketplace gets one a minute), each as a bucket holding a minute's worth that refills at that
rate; past it, 429 with ``Retry-After``.

Files (docs.slack.dev/reference/objects/file-object): ``add_file`` keeps bytes the fake serves at
the file's ``url_private`` only to a request carrying the bot token (``Authorization: Bearer``);
without it Slack sends the browser to its sign-in page (a redirect, then HTML), and an unknown
file is a 404. Messages may carry files (subtype ``file_share``); image blocks must name a file
Slack has (``slack_file``) or a URL, not both.

Socket Mode (docs.slack.dev/apis/events-api/using-socket-mode): given an app-level token,
``apps.connections.open`` hands out a single-use ``ws://`` URL on this server; the WebSocket there
greets with ``hello``, and ``socket_send`` pushes an envelope and waits for the app's ack.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes import block_kit

BOT_ID = "B0BOT"
APP_ID = "A0APP"
BOT_NAME = "helpdesk"
MAX_MESSAGE_BLOCKS = 50  # Slack answers invalid_blocks past this
MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24
ACK_SECONDS = 3.0  # how long Slack waits for a Socket Mode ack (as for an HTTP answer)
ENVELOPE_TYPES = ("events_api", "slash_commands", "interactive")
_APP_TOKEN_METHODS = {"apps.connections.open"}  # the only methods that take an app-level token

# Arguments Slack takes as JSON-encoded strings in form bodies, and the error a bad one earns.
_JSON_ARGS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
}
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_TS = re.compile(r"\d+\.\d+")
_VIEW_DEFAULTS: dict[str, Any] = {
    "close": None,
    "submit": None,
    "private_metadata": "",
    "callback_id": "",
    "external_id": "",
    "clear_on_close": False,
    "notify_on_close": False,
}

Json = dict[str, Any]


@dataclass
class Call:
    """One request the fake received: API method (or "response_url"), decoded args, headers."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    error: str


class _Refusal(Exception):
    """Raised by a handler to answer ``{"ok": false, "error": ...}`` with HTTP 200, as Slack does."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: Json = {"ok": False, "error": error, **extra}


def _refusal(error: str, message: str) -> _Refusal:
    """A refusal with the human-readable detail Slack puts in ``response_metadata.messages``."""
    return _Refusal(error, response_metadata={"messages": [message]})


# Per-minute budgets of the tiered methods the fake keeps (docs.slack.dev/apis/web-api/rate-limits)
TIERS = {"users.info": 100, "views.open": 100, "conversations.open": 50, "chat.update": 50,
         "conversations.history": 50, "conversations.replies": 50}


class FakeSlack:
    """aiohttp web server on 127.0.0.1 (random port) that answers like https://slack.com/api/."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        bot_user_id: str = "UBOT",
        team_id: str = "T0TEST",
        app_token: str | None = None,
        channel_rate: float = 1.0,
        channel_burst: int = 5,
        tiers: dict[str, int] | None = None,
    ) -> None:
        self.token = token
        self.tiers = dict(TIERS if tiers is None else tiers)  # method → calls a minute ({}: no tier limits)
        self._budget: dict[str, tuple[float, float]] = {}  # method → (calls left, when counted: monotonic)
        self.over_tier = 0  # calls refused for their method's tier
        self.channel_rate = channel_rate  # chat.postMessage into one channel: per second, on average (0: no limit)
        self.channel_burst = channel_burst  # … and at once
        self._channel_due: dict[str, float] = {}  # channel → its next free moment (monotonic), GCRA
        self._told: dict[tuple[str, str | None], float] = {}  # (method, channel) → told to wait until (monotonic)
        self.impatient: list[Call] = []  # calls made before the Retry-After they were given ran out
        self.paced = 0  # chat.postMessage calls refused for the channel's pace
        self._storms: dict[str, tuple[float, int]] = {}  # method → (refused until, Retry-After), see refuse_for
        self.stormed = 0  # calls refused by a storm
        self.app_token = app_token  # app-level token (xapp-...) for Socket Mode; None: no Socket Mode
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.calls: list[Call] = []
        self.ephemerals: list[dict] = []
        self.envelopes: list[dict] = []  # every Socket Mode envelope pushed, as sent
        self.acks: list[dict] = []  # every frame the app sent back over a socket, as received
        self.hellos = 0  # WebSocket connections greeted so far
        self._sockets: list[web.WebSocketResponse] = []  # open connections, oldest first
        self._tickets: set[str] = set()  # unused apps.connections.open tickets
        self._waiting_acks: dict[str, asyncio.Future] = {}
        self._delays: dict[str, list[float]] = {}
        self._users: dict[str, Json] = {}
        self._channels: dict[str, list[Json]] = {}  # every message of a channel, oldest first
        self._views: dict[str, Json] = {}  # view id -> {"view": <as Slack returns it>, "trigger_id": ...}
        self._files: dict[str, Json] = {}  # file id -> the file object, as Slack describes it
        self._file_bytes: dict[str, bytes] = {}
        self._used_triggers: set[str] = set()
        self._open_conversations: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._clock = time.time_ns() // 1000  # microseconds; Slack's ts is wall-clock time, strictly increasing
        self._ids = itertools.count(1)
        self._root: str | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[[Json], Json]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.getPermalink": self._chat_get_permalink,
            "files.info": self._files_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "apps.connections.open": self._apps_connections_open,
            **self._file_upload_handlers(),
        }
        # The bot's own user exists in a real workspace, so users.info on it works.
        self.add_user(bot_user_id, BOT_NAME, "Help Desk", is_bot=True)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port; the bot must never reach the real Slack."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/actions/{team}/{key:.+}", self._response_url_post)
        app.router.add_get("/link/", self._socket)
        app.router.add_get("/files-pri/{key}/{name}", self._file_download)
        app.router.add_get("/files-pri/{key}/download/{name}", self._file_download)
        app.router.add_get("/signin", self._signin)
        app.router.add_post("/upload/v1/{key}", self._upload)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._root = f"http://{host}:{port}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        for waiting in self._waiting_acks.values():
            waiting.cancel()
        self._waiting_acks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._root = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The slack_sdk ``base_url``, e.g. ``http://127.0.0.1:PORT/api/``."""
        return f"{self._started_root()}/api/"

    def response_url(self, key: str) -> str:
        """A URL on this server that takes POSTs like an interaction's ``response_url``."""
        return f"{self._started_root()}/actions/{self.team_id}/{quote(key, safe='')}"

    def _started_root(self) -> str:
        if self._root is None:
            raise RuntimeError("FakeSlack is not running: await start() or use 'async with FakeSlack()'")
        return self._root

    # ------------------------------------------------------------------ test set-up and inspection

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str,
        email: str | None = None,
        phone: str | None = None,
        title: str | None = None,
        is_bot: bool = False,
        tz: str = "Europe/London",
        deleted: bool = False,
    ) -> None:
        """Make a workspace member known to users.info (email is omitted when None, as Slack does)."""
        profile: Json = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": name,
            "display_name_normalized": name,
            "phone": phone or "",
            "title": title or "",
            "team": self.team_id,
        }
        if email is not None:
            profile["email"] = email
        self._users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_offset": _tz_offset(tz),
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": profile,
        }

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = 429,
        retry_after: int | None = 1,
        error: str = "ratelimited",
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail, to test the bot's retry and error paths.

        429 answers ``{"ok": false, "error": error}`` with a ``Retry-After`` header (unless None);
        5xx answers a short HTML page, as Slack's edge does; any other status (200 included, to
        inject a Slack-level error such as ``channel_not_found``) answers that same JSON body.
        ``method`` may also be ``"response_url"``.
        """
        self._failures.setdefault(method, []).extend(_Failure(status, retry_after, error) for _ in range(times))

    def refuse_for(self, method: str, seconds: float, retry_after: int = 1) -> None:
        """Answer every call of ``method`` with 429 and ``Retry-After: retry_after`` for the next
        ``seconds``: a rate-limit storm, however many calls come in it."""
        self._storms[method] = (time.monotonic() + seconds, retry_after)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds``: a slow Slack.

        The call is recorded when it arrives; the answer (a failure queued with fail_next
        included) comes after the delay. ``method`` may also be ``"response_url"``.
        """
        self._delays.setdefault(method, []).extend(seconds for _ in range(times))

    def add_file(self, user: str, name: str, data: bytes, mimetype: str = "image/png", filetype: str = "png") -> Json:
        """A file a person uploaded (its bytes served at its url_private); returns the file object
        as Slack puts it in a message's ``files``."""
        file_id = f"F{next(self._ids):08d}"
        key = f"{self.team_id}-{file_id}"
        root = self._started_root()
        self._file_bytes[file_id] = data
        self._files[file_id] = {
            "id": file_id, "created": int(time.time()), "timestamp": int(time.time()), "name": name, "title": name,
            "mimetype": mimetype, "filetype": filetype, "pretty_type": filetype.upper(), "user": user,
            "user_team": self.team_id, "editable": False, "size": len(data), "mode": "hosted", "is_external": False,
            "external_type": "", "is_public": True, "public_url_shared": False, "display_as_bot": False,
            "username": "", "url_private": f"{root}/files-pri/{key}/{quote(name)}",
            "url_private_download": f"{root}/files-pri/{key}/download/{quote(name)}",
            "permalink": f"https://{self.team_id.lower()}.slack.com/files/{user}/{file_id}/{quote(name)}",
            "permalink_public": f"https://slack-files.com/{key}-0ce8936320", "has_rich_preview": False,
        }
        return copy.deepcopy(self._files[file_id])

    def forget_file(self, file_id: str) -> None:
        """The file deleted in Slack: its url_private answers 404 from now on."""
        self._files.pop(file_id, None)
        self._file_bytes.pop(file_id, None)

    def add_message(
        self, channel: str, user: str, text: str, ts: str | None = None, thread_ts: str | None = None,
        files: list[Json] | None = None,
    ) -> str:
        """Seed a message a person wrote (what an event refers to), so the bot can thread, react
        and read history against it as it would on Slack; ``files`` (from add_file) make it a
        ``file_share``. Returns its ts."""
        ts = ts or self._next_ts()
        message: Json = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team_id}
        if files:
            message.update(files=copy.deepcopy(files), upload=True, subtype="file_share", display_as_bot=False)
        if thread_ts:
            self._attach_to_thread(channel, message, thread_ts, broadcast=False)
        self._store(channel, message)
        return message["ts"]

    def react(self, channel: str, ts: str, user: str, name: str) -> None:
        """A person adds an emoji to a stored message (what a reaction_added event reports)."""
        message = self._find(channel, ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        reaction = next((r for r in message.setdefault("reactions", []) if r["name"] == name), None)
        if reaction is None:
            message["reactions"].append({"name": name, "users": [user], "count": 1})
        elif user not in reaction["users"]:
            reaction["users"].append(user)
            reaction["count"] += 1

    def message(self, channel: str, ts: str) -> dict | None:
        """One stored message, replies included, as stored."""
        found = self._find(channel, ts)
        return copy.deepcopy(found) if found else None

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id conversations.open gives for ``user_id``."""
        return f"D{user_id}"

    def messages(self, channel: str) -> list[dict]:
        """Top-level messages of ``channel`` (broadcast replies included), oldest first, as stored."""
        return [copy.deepcopy(m) for m in list(self._channels.get(channel, [])) if _is_top_level(m)]

    def replies(self, channel: str, thread_ts: str) -> list[dict]:
        """Replies in a thread, oldest first, without the parent."""
        return [copy.deepcopy(m) for m in self._thread(channel, thread_ts)]

    def reactions(self, channel: str, ts: str) -> list[str]:
        message = self._find(channel, ts)
        return [r["name"] for r in message.get("reactions", [])] if message else []

    def views(self) -> list[dict]:
        """Opened views in opening order, as last updated, each with its ``id`` and ``trigger_id``."""
        # a copy first (one C call, which no other thread interleaves): the fake's server thread may
        # open a view while this one copies each
        return [{**copy.deepcopy(r["view"]), "trigger_id": r["trigger_id"]} for r in list(self._views.values())]

    # ------------------------------------------------------------------ HTTP

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args, bad_json_arg = await _read_args(request)
        self.calls.append(Call(method, args, dict(request.headers)))
        await self._pop_delay(method)

        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return web.json_response({"ok": False, "error": "not_authed"})
        if authorization == f"Bearer {self.token}":
            app_level = False
        elif self.app_token and authorization == f"Bearer {self.app_token}":
            app_level = True
        else:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if app_level != (method in _APP_TOKEN_METHODS):  # a bot token cannot open sockets, nor an app token post
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        where = self._where(method, args)
        now = time.monotonic()
        if now < self._told.get((method, where), 0.0) - 0.05:
            self.impatient.append(self.calls[-1])
        storm = self._storms.get(method)
        if storm is not None and now < storm[0]:
            self._told[(method, where)] = now + storm[1]
            self.stormed += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(storm[1])})
        queued = self._failures.get(method)
        if queued and queued[0].status == 429 and queued[0].retry_after is not None:
            self._told[(method, where)] = now + queued[0].retry_after
        failure = self._pop_failure(method)
        if failure is not None:
            return failure
        refused = self._over_pace(method, where, now) or self._over_tier(method, now)
        if refused is not None:
            return refused
        handler = self._handlers.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
        try:
            if bad_json_arg:
                raise _Refusal(bad_json_arg)
            body = {"ok": True, **handler(args)}
        except _Refusal as refusal:
            body = refusal.body
        return web.json_response(body)

    def _where(self, method: str, args: Json) -> str | None:
        """The channel a chat.postMessage goes into (a user id: their DM); None for other methods."""
        if method != "chat.postMessage":
            return None
        try:
            return self._channel_arg(args.get("channel"), user_means_dm=True)
        except _Refusal:
            return None

    def _over_pace(self, method: str, where: str | None, now: float) -> web.Response | None:
        """A 429 with Retry-After for a post past the channel's pace (one a second, a short burst)."""
        if where is None or not self.channel_rate:
            return None
        due = max(self._channel_due.get(where, 0.0), now)
        early = due - now - (self.channel_burst - 1) / self.channel_rate
        if early > 0:
            retry_after = max(1, int(early + 0.999))
            self._told[(method, where)] = now + retry_after
            self.paced += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        self._channel_due[where] = due + 1 / self.channel_rate
        return None

    def _over_tier(self, method: str, now: float) -> web.Response | None:
        """A 429 with Retry-After for a call past its method's per-minute budget (TIERS)."""
        per_minute = self.tiers.get(method)
        if not per_minute:
            return None
        left, counted = self._budget.get(method, (float(per_minute), now))
        left = min(float(per_minute), left + (now - counted) * per_minute / 60)
        if left < 1:
            self._budget[method] = (left, now)
            retry_after = max(1, int((1 - left) * 60 / per_minute + 0.999))
            self._told[(method, None)] = now + retry_after
            self.over_tier += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        self._budget[method] = (left - 1, now)
        return None

    async def _response_url_post(self, request: web.Request) -> web.StreamResponse:
        """Slack's response_url answers plain ``ok``, or a 4xx with a short error word."""
        key = request.match_info["key"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        recorded = {**(body if isinstance(body, dict) else {}), "key": key}
        self.calls.append(Call("response_url", recorded, dict(request.headers)))
        await self._pop_delay("response_url")
        failure = self._pop_failure("response_url")
        if failure is not None:
            return failure
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload", content_type="text/html")
        if not (body.get("text") or body.get("blocks") or body.get("attachments") or body.get("delete_original")):
            return web.Response(status=400, text="no_text", content_type="text/html")
        return web.Response(text="ok", content_type="text/html")

    async def _file_download(self, request: web.Request) -> web.StreamResponse:
        """A file's url_private: its bytes for the bot token; otherwise the sign-in page, as a
        browser gets it; a 404 page for a file Slack does not have."""
        file_id = request.match_info["key"].rpartition("-")[2]
        self.calls.append(Call("files-pri", {"file": file_id, "path": request.path}, dict(request.headers)))
        await self._pop_delay("files-pri")
        failure = self._pop_failure("files-pri")
        if failure is not None:
            return failure
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            raise web.HTTPFound(f"{self._started_root()}/signin?redir={quote(request.path)}")
        if file_id not in self._file_bytes:
            return web.Response(status=404, text="<html><body><h1>File not found</h1></body></html>",
                                content_type="text/html")
        file = self._files[file_id]
        return web.Response(body=self._file_bytes[file_id], content_type=file["mimetype"],
                            headers={"Content-Disposition": f'attachment; filename="{file["name"]}"'})

    async def _signin(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><body>Sign in to Slack</body></html>", content_type="text/html")

    async def _pop_delay(self, method: str) -> None:
        queue = self._delays.get(method)
        if queue:
            await asyncio.sleep(queue.pop(0))

    def _pop_failure(self, method: str) -> web.Response | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue.pop(0)
        if failure.status >= 500:
            try:
                reason = HTTPStatus(failure.status).phrase
            except ValueError:
                reason = "Server Error"
            page = f"<html><body><h1>{failure.status} {reason}</h1></body></html>"
            return web.Response(status=failure.status, text=page, content_type="text/html")
        headers = {}
        if failure.status == 429 and failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)

    # ------------------------------------------------------------------ external file uploads

    def _file_upload_handlers(self) -> dict[str, Callable[[Json], Json]]:
        """Slack's external upload (docs.slack.dev/reference/methods/files.getUploadURLExternal and
        files.completeUploadExternal): ask for an upload URL and a file id for a name and a length;
        POST the bytes there (raw or multipart; 200 when they arrived, anything else a failure);
        complete with the file ids, optionally sharing them in a channel (without one the file
        stays private, visible to no one but the bot). Completing twice, or before the bytes
        arrived, is answered file_not_found (Slack documents only that it can be called once)."""
        self.uploads: dict[str, Json] = {}  # file id → {"filename", "length", "alt_txt", "data", "key", "done"}
        self.files: dict[str, Json] = {}  # file id → the file object, once completed
        return {"files.getUploadURLExternal": self._files_get_upload_url,
                "files.completeUploadExternal": self._files_complete_upload}

    def file_data(self, file_id: str) -> bytes | None:
        """The bytes uploaded for a file id (what a person would download)."""
        upload = self.uploads.get(file_id)
        return upload["data"] if upload else None

    def _files_get_upload_url(self, args: Json) -> Json:
        filename, length = args.get("filename"), args.get("length")
        if not filename or length in (None, ""):
            missing = "filename" if not filename else "length"
            raise _refusal("invalid_arguments", f"[ERROR] missing required field: {missing}")
        try:
            size = int(length)
        except (TypeError, ValueError):
            raise _refusal("invalid_arguments", "[ERROR] length must be an integer") from None
        if size <= 0:
            raise _refusal("invalid_arguments", "[ERROR] length must be greater than 0")
        if len(str(args.get("alt_txt") or "")) > 1000:
            raise _Refusal("alt_txt_too_large")
        file_id = f"F{next(self._ids):010d}"
        key = uuid.uuid4().hex
        self.uploads[file_id] = {"filename": str(filename), "length": size, "alt_txt": args.get("alt_txt"),
                                 "data": None, "key": key, "done": False}
        return {"upload_url": f"{self._started_root()}/upload/v1/{key}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The upload URL: no token needed (the URL is the credential); the body is the file."""
        key = request.match_info["key"]
        upload = next((u for u in self.uploads.values() if u["key"] == key and not u["done"]), None)
        self.calls.append(Call("upload", {"key": key}, dict(request.headers)))
        if upload is None:
            return web.Response(status=404, text="upload not found")
        if request.content_type.startswith("multipart/"):
            data = b""
            async for part in await request.multipart():
                if part.filename or part.name in ("file", "filename"):
                    data = await part.read()
                    break
        else:
            data = await request.read()
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    def _files_complete_upload(self, args: Json) -> Json:
        listed = args.get("files")
        if isinstance(listed, str):
            try:
                listed = json.loads(listed)
            except ValueError:
                raise _refusal("invalid_arguments", "[ERROR] files must be a JSON array") from None
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) and f.get("id") for f in listed):
            raise _refusal("invalid_arguments", "[ERROR] missing required field: files")
        channel = args.get("channel_id")
        if channel:
            channel = self._channel_arg(channel)
        for entry in listed:
            upload = self.uploads.get(entry["id"])
            if upload is None or upload["done"] or upload["data"] is None:
                raise _Refusal("file_not_found")
        completed = []
        for entry in listed:
            upload = self.uploads[entry["id"]]
            upload["done"] = True
            name = upload["filename"]
            self.files[entry["id"]] = {
                "id": entry["id"], "name": name, "title": entry.get("title") or name, "size": len(upload["data"]),
                "mimetype": "image/png" if name.endswith(".png") else "application/octet-stream",
                "alt_txt": upload["alt_txt"], "user": self.bot_user_id, "channels": [channel] if channel else [],
                "is_public": bool(channel and channel.startswith("C")),
            }
            completed.append({"id": entry["id"], "title": entry.get("title") or name})
        if channel:
            message: Json = {"type": "message", "user": self.bot_user_id, "text": args.get("initial_comment") or "",
                             "ts": self._next_ts(), "upload": True, "display_as_bot": False,
                             "files": [copy.deepcopy(self.files[f["id"]]) for f in listed]}
            if args.get("thread_ts"):
                self._attach_to_thread(channel, message, args["thread_ts"], broadcast=False)
            self._store(channel, message)
        return {"files": completed}

    # ------------------------------------------------------------------ Socket Mode

    @property
    def socket_connections(self) -> int:
        """WebSocket connections open right now."""
        return sum(1 for ws in self._sockets if not ws.closed)

    async def socket_connected(self, timeout: float = 5.0) -> int:
        """Wait until an app holds a Socket Mode connection; returns how many are open."""
        await self._open_socket(timeout)
        return self.socket_connections

    async def socket_send(
        self,
        envelope_type: str,
        payload: dict,
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = ACK_SECONDS,
    ) -> dict | None:
        """Push an envelope to the app, as Slack does in Socket Mode, and wait for its ack.

        ``envelope_type`` is ``events_api`` (payload: an event_callback body), ``slash_commands``
        (payload: the command's fields) or ``interactive`` (payload: block_actions,
        view_submission, ...). Returns the ack's ``payload`` (what Slack shows: an ephemeral
        reply, ``response_action: errors``...), or None for a bare ack. Raises TimeoutError
        when no ack with the envelope's id arrives within ``timeout`` (Slack waits 3 s).
        When several connections are open Slack may use any; this uses the newest.
        """
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {envelope_type!r}; Slack sends {', '.join(ENVELOPE_TYPES)}")
        ws = await self._open_socket(timeout)
        envelope: Json = {
            "envelope_id": str(uuid.uuid4()),
            "payload": copy.deepcopy(payload),
            "type": envelope_type,
            "accepts_response_payload": envelope_type != "events_api",
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting_acks[envelope["envelope_id"]] = waiting
        self.envelopes.append(copy.deepcopy(envelope))
        try:
            await ws.send_json(envelope)
            ack = await asyncio.wait_for(waiting, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no ack for {envelope_type} envelope {envelope['envelope_id']} within {timeout} s"
            ) from None
        finally:
            self._waiting_acks.pop(envelope["envelope_id"], None)
        body = ack.get("payload")
        return copy.deepcopy(body) if body is not None else None

    async def socket_disconnect(self, reason: str = "refresh_requested") -> int:
        """Tell every connected app to reconnect (``warning``, ``refresh_requested``,
        ``link_disabled``...), as Slack does a few times a day; returns how many were told."""
        told = 0
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})
                told += 1
        return told

    async def _open_socket(self, timeout: float) -> web.WebSocketResponse:
        deadline = time.monotonic() + timeout
        while True:
            live = [ws for ws in self._sockets if not ws.closed]
            if live:
                return live[-1]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no Socket Mode connection within {timeout} s")
            await asyncio.sleep(0.01)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket an apps.connections.open URL names: its ticket works once."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid_ticket", content_type="text/plain")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.hellos += 1
        await ws.send_json({
            "type": "hello",
            "num_connections": self.socket_connections,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        })
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    continue  # Slack ignores what it cannot read; the envelope then goes unacked
                if not isinstance(frame, dict):
                    continue
                self.acks.append(frame)
                waiting = self._waiting_acks.get(frame.get("envelope_id"))
                if waiting is not None and not waiting.done():
                    waiting.set_result(frame)
        finally:
            self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ methods

    def _auth_test(self, args: Json) -> Json:
        return {
            "url": f"https://{self.team_id.lower()}.slack.com/",
            "team": "Test Workspace",
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: Json) -> Json:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_root = self._started_root().replace("http://", "ws://", 1)
        return {"url": f"{ws_root}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _users_info(self, args: Json) -> Json:
        user = self._users.get(args.get("user") or "")
        if user is None:
            raise _Refusal("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _conversations_open(self, args: Json) -> Json:
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            channel = args.get("channel")
            if not channel:
                raise _Refusal("users_list_not_supplied")
            if not (isinstance(channel, str) and _CHANNEL_ID.fullmatch(channel) and channel[0] in "DG"):
                raise _Refusal("channel_not_found")
            return {"channel": {"id": channel}}
        if len(users) > 8:
            raise _Refusal("too_many_users")
        for user_id in users:
            if not (isinstance(user_id, str) and _USER_ID.fullmatch(user_id)):
                raise _Refusal("user_not_found")
            if self._users.get(user_id, {}).get("deleted"):
                raise _Refusal("user_disabled")
        if len(users) == 1:
            channel_id = self.dm_channel(users[0])
        else:
            channel_id = "G" + hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:10].upper()
        already_open = channel_id in self._open_conversations
        self._open_conversations.add(channel_id)
        channel: Json = {"id": channel_id}
        if _flag(args.get("return_im")):
            channel.update(created=1_700_000_000, is_im=len(users) == 1, is_org_shared=False, user=users[0],
                           last_read="0000000000.000000", latest=None, unread_count=0,
                           unread_count_display=0, is_open=True, priority=0)
        body: Json = {"channel": channel}
        if already_open:
            body.update(no_op=True, already_open=True)
        return body

    def _chat_post_message(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"), user_means_dm=True)
        _check_content(args)
        self._check_images(args.get("blocks"))
        ts = self._next_ts()
        message: Json = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "text": args.get("text") or "",
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key):
                message[key] = copy.deepcopy(args[key])
        thread_ts = args.get("thread_ts")
        if thread_ts:
            if not _TS.fullmatch(str(thread_ts)):
                raise _refusal("invalid_thread_ts", f"[ERROR] {thread_ts} is not a valid thread_ts")
            self._attach_to_thread(channel, message, str(thread_ts), _flag(args.get("reply_broadcast")))
        self._store(channel, message)
        return {"channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        if message is None:
            raise _Refusal("message_not_found")
        _check_content(args)
        self._check_images(args.get("blocks"))
        if "text" in args:
            message["text"] = args["text"] or ""
        for key in ("blocks", "attachments", "metadata"):  # absent keeps the old value; empty removes it
            if key in args:
                if args[key]:
                    message[key] = copy.deepcopy(args[key])
                else:
                    message.pop(key, None)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"))
        if not args.get("user"):
            raise _refusal("invalid_arguments", "[ERROR] missing required field: user")
        _check_content(args)
        ts = self._next_ts()
        self.ephemerals.append({
            "channel": channel,
            "user": args["user"],
            "text": args.get("text"),
            "blocks": copy.deepcopy(args.get("blocks")),
            "thread_ts": args.get("thread_ts"),
            "message_ts": ts,
        })
        return {"message_ts": ts}

    def _reactions_add(self, args: Json) -> Json:
        name = args.get("name")
        if not name:
            raise _Refusal("invalid_name")
        if not args.get("channel") or not args.get("timestamp"):
            raise _Refusal("no_item_specified")
        message = self._find(self._channel_arg(args["channel"]), args["timestamp"])
        if message is None:
            raise _Refusal("message_not_found")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        elif self.bot_user_id in reaction["users"]:
            raise _Refusal("already_reacted")
        else:
            reaction["users"].append(self.bot_user_id)
            reaction["count"] += 1
        return {}

    def _views_open(self, args: Json) -> Json:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger_id:
            raise _refusal("invalid_arguments", "[ERROR] missing required field: trigger_id")
        view = _check_view(args.get("view"))
        if trigger_id in self._used_triggers:
            raise _Refusal("expired_trigger_id")
        external_id = view.get("external_id")
        if external_id and self._view_by_external_id(external_id) is not None:
            raise _Refusal("duplicate_external_id")
        self._used_triggers.add(trigger_id)
        view_id = f"V{next(self._ids):08d}"
        stored = {
            **_VIEW_DEFAULTS,
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": self._new_hash(),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = {"view": stored, "trigger_id": trigger_id}
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, args: Json) -> Json:
        view = _check_view(args.get("view"))
        if args.get("view_id"):
            record = self._views.get(args["view_id"])
        elif args.get("external_id"):
            record = self._view_by_external_id(args["external_id"])
        else:
            raise _refusal("invalid_arguments", "[ERROR] view_id or external_id is required")
        if record is None:
            raise _Refusal("not_found")
        old = record["view"]
        if args.get("hash") and args["hash"] != old["hash"]:
            raise _Refusal("hash_conflict")
        kept = {k: old[k] for k in ("id", "team_id", "state", "root_view_id", "previous_view_id",
                                    "app_id", "app_installed_team_id", "bot_id")}
        record["view"] = {**_VIEW_DEFAULTS, **copy.deepcopy(view), **kept, "hash": self._new_hash()}
        return {"view": copy.deepcopy(record["view"])}

    def _conversations_history(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"))
        newest_first = [m for m in reversed(self._channels.get(channel, [])) if _is_top_level(m)]
        return {**_page(newest_first, args, newest_first=True, default_limit=100), "pin_count": 0}

    def _conversations_replies(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        if message is None:
            raise _Refusal("thread_not_found")
        parent = self._find(channel, message["thread_ts"]) if _is_reply(message) else message
        if parent is None:  # a reply to a message Slack never had
            raise _Refusal("thread_not_found")
        return _page([parent, *self._thread(channel, parent["ts"])], args, newest_first=False, default_limit=1000)

    def _chat_get_permalink(self, args: Json) -> Json:
        channel = self._channel_arg(args.get("channel"))
        message = self._find(channel, args.get("message_ts"))
        if message is None:
            raise _Refusal("message_not_found")
        link = f"https://{self.team_id.lower()}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        if _is_reply(message):
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _files_info(self, args: Json) -> Json:
        file = self._files.get(args.get("file") or "")
        if file is None:
            raise _Refusal("file_not_found")
        return {"file": copy.deepcopy(file), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _check_images(self, blocks: Any) -> None:
        """Image blocks: alt_text, and exactly one of image_url and slack_file; a slack_file names
        (by id, or by url_private or permalink, not both) an image file Slack has."""
        for n, block in enumerate(blocks if isinstance(blocks, list) else []):
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            where = f"[json-pointer:/blocks/{n}]"
            if not block.get("alt_text"):
                raise _refusal("invalid_blocks", f"[ERROR] missing required field: alt_text {where}")
            source = block.get("slack_file")
            if bool(block.get("image_url")) == bool(source):
                raise _refusal("invalid_blocks", f"[ERROR] must provide exactly one of image_url or slack_file {where}")
            if source:
                if bool(source.get("id")) == bool(source.get("url")):
                    raise _refusal("invalid_blocks", f"[ERROR] must provide exactly one of id or url {where}")
                file = self._files.get(source.get("id") or "") or next(
                    (f for f in self._files.values() if source.get("url") in (f["url_private"], f["permalink"])), None)
                if file is None or file["mimetype"] not in ("image/png", "image/jpeg", "image/gif"):
                    raise _refusal("invalid_blocks", f"[ERROR] invalid slack file {where}")

    # ------------------------------------------------------------------ helpers

    def _channel_arg(self, channel: Any, user_means_dm: bool = False) -> str:
        """A conversation id, or channel_not_found; chat.postMessage also takes a user id (its DM)."""
        if isinstance(channel, str) and _CHANNEL_ID.fullmatch(channel):
            return channel
        if user_means_dm and isinstance(channel, str) and _USER_ID.fullmatch(channel):
            return self.dm_channel(channel)
        raise _Refusal("channel_not_found")

    def _find(self, channel: str, ts: Any) -> Json | None:
        return next((m for m in list(self._channels.get(channel, [])) if m["ts"] == ts), None)

    def _thread(self, channel: str, thread_ts: str) -> list[Json]:
        return [m for m in list(self._channels.get(channel, [])) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def _attach_to_thread(self, channel: str, reply: Json, thread_ts: str, broadcast: bool) -> None:
        """Make ``reply`` part of the thread ``thread_ts`` names (a reply's ts leads to its parent).

        Slack accepts a well-formed thread_ts it has no message for: the reply is stored in that
        thread but shows in no channel history (python-slack-sdk issue 840). That is also what
        happens here when the parent is a user message the test never seeded with add_message.
        """
        parent = self._find(channel, thread_ts)
        if parent is not None and _is_reply(parent):
            thread_ts = parent["thread_ts"]
            parent = self._find(channel, thread_ts)
        reply["thread_ts"] = thread_ts
        if parent is not None:
            reply["parent_user_id"] = parent["user"]
            _note_reply(parent, reply)
        if broadcast:
            reply["subtype"] = "thread_broadcast"

    def _store(self, channel: str, message: Json) -> None:
        """Keep a channel's messages in ts order, and every later ts newer than all stored ones. The
        sorted list replaces the old one in one step: a list sorted in place looks empty to another
        thread (a test reading the channel) for as long as the sort runs."""
        self._channels[channel] = sorted([*self._channels.get(channel, []), message], key=lambda m: Decimal(m["ts"]))
        seconds, _, micros = message["ts"].partition(".")
        self._clock = max(self._clock, int(seconds) * 1_000_000 + int(micros.ljust(6, "0")[:6]))

    def _view_by_external_id(self, external_id: str) -> Json | None:
        return next((r for r in self._views.values() if r["view"].get("external_id") == external_id), None)

    def _next_ts(self) -> str:
        self._clock = max(self._clock + 100, time.time_ns() // 1000)
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    def _new_hash(self) -> str:
        return f"{self._clock // 1_000_000}.{next(self._ids):08x}"


# ---------------------------------------------------------------------- module helpers


async def _read_args(request: web.Request) -> tuple[Json, str | None]:
    """Merge query string and body the way Slack does; decode JSON-string arguments.

    Returns the arguments and the error code for an undecodable JSON argument, if any.
    """
    args: Json = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return args, "invalid_json"
            if not isinstance(body, dict):
                return args, "invalid_json"
            args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    error = None
    for name, code in _JSON_ARGS.items():
        if isinstance(args.get(name), str) and args[name]:
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                error = error or code
    return args, error


def _check_content(args: Json) -> None:
    """A message needs text, blocks or attachments; blocks must be a list of at most 50."""
    if not (args.get("text") or args.get("blocks") or args.get("attachments")):
        raise _Refusal("no_text")
    blocks = args.get("blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise _Refusal("invalid_blocks_format")
    if blocks and len(blocks) > MAX_MESSAGE_BLOCKS:
        limit = f"[ERROR] no more than {MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]"
        raise _refusal("invalid_blocks", limit)
    if len(str(args.get("text") or "")) > block_kit.TEXT_MAX:
        raise _Refusal("msg_too_long")
    if blocks:
        found = block_kit.problems(blocks)
        if found:
            raise _Refusal("invalid_blocks", response_metadata={"messages": found})
    metadata = args.get("metadata")
    if metadata and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise _Refusal("invalid_metadata_format")


def _check_view(view: Any) -> Json:
    """The checks Slack applies to a modal that bots most often get wrong."""
    if not isinstance(view, dict):
        raise _refusal("invalid_arguments", "[ERROR] missing required field: view")
    problems = []
    if view.get("type") != "modal":
        problems.append("[ERROR] must be 'modal' [json-pointer:/view/type]")
    title = view.get("title")
    if not isinstance(title, dict) or not title.get("text"):
        problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
    elif len(title["text"]) > MAX_VIEW_TITLE:
        problems.append(f"[ERROR] must be less than {MAX_VIEW_TITLE + 1} characters [json-pointer:/view/title/text]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.append("[ERROR] missing required field: blocks [json-pointer:/view/blocks]")
    elif len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
    else:
        problems += block_kit.view_problems(view)
    if problems:
        raise _Refusal("invalid_arguments", response_metadata={"messages": problems})
    return view


def _page(messages: list[Json], args: Json, *, newest_first: bool, default_limit: int) -> Json:
    """Apply oldest/latest/inclusive, cursor and limit as conversations.history/replies do."""
    oldest = _ts_arg(args.get("oldest"), "invalid_ts_oldest")
    latest = _ts_arg(args.get("latest"), "invalid_ts_latest")
    inclusive = _flag(args.get("inclusive"))

    def in_range(ts: Decimal) -> bool:
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            return False
        return latest is None or ts < latest or (ts == latest and inclusive)

    selected = [m for m in messages if in_range(Decimal(m["ts"]))]
    if args.get("cursor"):
        start = _decode_cursor(args["cursor"])
        # The cursor names the first message of the next page, in the page order.
        if newest_first:
            selected = [m for m in selected if Decimal(m["ts"]) <= start]
        else:
            selected = [m for m in selected if Decimal(m["ts"]) >= start]
    limit = _limit(args.get("limit"), default_limit)
    page, rest = selected[:limit], selected[limit:]
    with_metadata = _flag(args.get("include_all_metadata"))
    body: Json = {"messages": [_as_read(m, with_metadata) for m in page], "has_more": bool(rest)}
    if rest:
        body["response_metadata"] = {"next_cursor": base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode()}
    return body


def _as_read(message: Json, with_metadata: bool) -> Json:
    """Messages come back without metadata unless include_all_metadata is set, as on Slack."""
    read = copy.deepcopy(message)
    if not with_metadata:
        read.pop("metadata", None)
    return read


def _note_reply(parent: Json, reply: Json) -> None:
    parent["thread_ts"] = parent["ts"]
    parent["reply_count"] = parent.get("reply_count", 0) + 1
    reply_users = parent.setdefault("reply_users", [])
    if reply["user"] not in reply_users:
        reply_users.append(reply["user"])
    parent["reply_users_count"] = len(reply_users)
    parent["latest_reply"] = reply["ts"]
    parent.setdefault("is_locked", False)
    parent.setdefault("subscribed", False)


def _is_reply(message: Json) -> bool:
    return message.get("thread_ts", message["ts"]) != message["ts"]


def _is_top_level(message: Json) -> bool:
    """Shown in channel history: not a reply, or a reply also sent to the channel."""
    return not _is_reply(message) or message.get("subtype") == "thread_broadcast"


def _flag(value: Any) -> bool:
    """Slack booleans arrive as true/false in JSON and as "1"/"true" in forms and query strings."""
    return value is True or (isinstance(value, (str, int)) and str(value).lower() in ("1", "true"))


def _ts_arg(value: Any, error: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _Refusal(error) from None


def _limit(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise _Refusal("invalid_limit") from None
    return min(limit, 1000) if limit > 0 else default


def _decode_cursor(cursor: str) -> Decimal:
    try:
        prefix, ts = base64.b64decode(cursor, validate=True).decode().split(":", 1)
        if prefix != "next_ts":
            raise ValueError(prefix)
        return Decimal(ts)
    except (ValueError, InvalidOperation, UnicodeDecodeError):
        raise _Refusal("invalid_cursor") from None


def _tz_offset(tz: str) -> int:
    try:
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset is not None else 0
