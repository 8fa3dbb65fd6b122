"""The real server (aiohttp + Bolt + outbox dispatcher) and the fake Slack Web API,
both on loopback in a background event loop; the test talks to the server over
HTTP exactly as Slack does, signing every request with the signing secret.

With ``socket_mode=True`` the server gets an app-level token and connects to the fake
over Socket Mode instead; the ``socket_*`` helpers then push the same payloads as
envelopes and return the app's ack payload."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from tests.conftest import SETTINGS
from tests.fakes.slack_api import ACK_SECONDS, FakeSlack
from tests.live_server import LiveServer, Response

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0APP-1-test"
TEAM = "T0TEST"
DESK_CHANNEL = "C0DESK"
NET_CHANNEL = "C0NET"

USERS = {
    "U0ALICE": ("alice", "Alice Park", "alice@corp.example", "+1 555 0142"),
    "U0FRANK": ("frank", "Frank Ode", "frank@corp.example", None),
    "U0BOB": ("bob", "Bob Lee", "bob@corp.example", None),
    "U0CAROL": ("carol", "Carol Diaz", "carol@corp.example", None),
    "U0DAVE": ("dave", "Dave Kim", "dave@corp.example", None),
    "U0EVE": ("eve", "<!here> Eve <@U0NINA>", "eve@corp.example", None),  # a name that tries to mention and broadcast
}


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class LiveSlack(LiveServer):
    platform = "slack"

    def __init__(self, engine, overrides: dict | None = None, *, socket_mode: bool = False,
                 poll_seconds: float = 0.05) -> None:
        super().__init__(engine, overrides, poll_seconds=poll_seconds)
        self.socket_mode = socket_mode

    async def _start_fakes(self) -> dict:
        self.slack = FakeSlack(token=TOKEN, team_id=TEAM, app_token=APP_TOKEN)
        await self.slack.start()
        for uid, (name, real, email, phone) in USERS.items():
            self.slack.add_user(uid, name, real, email=email, phone=phone)
        data = json.loads(json.dumps(SETTINGS))
        data["slack"] = {"bot_token": TOKEN, "signing_secret": SECRET, "api_url": self.slack.url}
        if self.socket_mode:
            data["slack"]["app_token"] = APP_TOKEN
        data["technicians"][0]["ids"] = ["bob@corp.example", "slack:U0BOB"]
        return data

    async def _started(self) -> None:
        if self.socket_mode:
            await self.slack.socket_connected(timeout=10)

    async def _stop_fakes(self) -> None:
        await self.slack.stop()

    # raw HTTP, as Slack sends it

    def post(self, body: bytes, content_type: str, *, timestamp: int | None = None, signature: str | None = None,
             headers: dict[str, str] | None = None, path: str = "/slack/events") -> Response:
        ts = int(time.time()) if timestamp is None else timestamp
        head = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
                "X-Slack-Signature": signature if signature is not None else sign(body, ts),
                "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)", **(headers or {})}
        return self.request("POST", path, body, head)

    def form(self, fields: dict[str, str], **kw) -> Response:
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **kw)

    def interactive(self, payload: dict, **kw) -> Response:
        return self.form({"payload": json.dumps(payload)}, **kw)

    # Slack's payloads

    def slash(self, user: str, text: str = "", channel: str = "C0GENERAL", **kw) -> Response:
        return self.form(self.slash_fields(user, text, channel), **kw)

    def slash_fields(self, user: str, text: str = "", channel: str = "C0GENERAL") -> dict[str, str]:
        """A slash command's fields; its response_url key is ``cmd<n>``."""
        n = next(self.ids)
        return {
            "token": "legacy", "team_id": TEAM, "team_domain": "corp", "channel_id": channel, "channel_name": "general",
            "user_id": user, "user_name": username(user), "command": "/ticket", "text": text, "api_app_id": "A0APP",
            "is_enterprise_install": "false", "response_url": self.slack.response_url(f"cmd{n}"),
            "trigger_id": f"{n}.trigger.{user}"}

    def button(self, user: str, action: str, ticket_id: int | str, channel: str = DESK_CHANNEL,
               message_ts: str = "1.1", **kw) -> Response:
        return self.interactive(self.button_payload(user, action, ticket_id, channel, message_ts), **kw)

    def button_payload(self, user: str, action: str, ticket_id: int | str, channel: str = DESK_CHANNEL,
                       message_ts: str = "1.1") -> dict:
        """A press of the button `action` on the message at `message_ts`: with the value and block
        the bot gave that button when the message is found, else shaped as an old card's button."""
        n = next(self.ids)
        value, block_id = str(ticket_id), f"ticket_actions:{ticket_id}"
        posted = self.slack._find(channel, message_ts)
        for block in (posted or {}).get("blocks") or []:
            for element in block.get("elements", []) + ([block["accessory"]] if block.get("accessory") else []):
                if element.get("action_id") == f"ticket:{action}":
                    value, block_id = element["value"], block.get("block_id", block_id)
        return {
            "type": "block_actions", "user": {"id": user, "username": username(user), "team_id": TEAM},
            "api_app_id": "A0APP", "token": "legacy", "trigger_id": f"{n}.trigger.{user}",
            "team": {"id": TEAM, "domain": "corp"}, "enterprise": None, "is_enterprise_install": False,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "service-desk"},
            "message": {"type": "message", "ts": message_ts, "text": "card", "user": "UBOT"},
            "response_url": self.slack.response_url(f"act{n}"),
            "actions": [{"action_id": f"ticket:{action}", "block_id": block_id, "type": "button",
                         "value": value, "action_ts": f"{time.time():.6f}",
                         "text": {"type": "plain_text", "text": action}}]}

    def submit(self, user: str, view: dict, values: dict[str, str | None], *, written: bool = True, **kw) -> Response:
        """Submit an opened modal with these values, shaped as Slack's view_submission; with
        `written`, return once the ticket it opens is written too (just after the ack)."""
        response = self.interactive(self.submission_payload(user, view, values), **kw)
        if written:
            self.written()
        return response

    def submission_payload(self, user: str, view: dict, values: dict[str, str | None]) -> dict:
        state: dict[str, dict] = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            element, name = block["element"], block["block_id"]
            value = values.get(name)
            if element["type"] == "static_select":
                chosen = next((o for o in element["options"] if o["value"] == value), None)
                if value is None and "initial_option" in element and name not in values:
                    chosen = element["initial_option"]
                state[name] = {"value": {"type": "static_select", "selected_option": chosen}}
            elif element["type"] == "users_select":
                if name not in values:  # left as the modal opened it
                    value = element.get("initial_user")
                state[name] = {"value": {"type": "users_select", "selected_user": value}}
            elif element["type"] == "checkboxes":
                state[name] = {"value": {"type": "checkboxes", "selected_options": element["options"] if value else []}}
            else:
                if name not in values:
                    value = element.get("initial_value")
                state[name] = {"value": {"type": "plain_text_input", "value": value}}
        payload_view = {**view, "state": {"values": state}, "hash": f"{time.time()}.abc"}
        return {
            "type": "view_submission", "team": {"id": TEAM, "domain": "corp"},
            "user": {"id": user, "username": username(user), "team_id": TEAM}, "api_app_id": "A0APP",
            "token": "legacy", "trigger_id": f"{next(self.ids)}.trigger", "view": payload_view,
            "response_urls": [], "is_enterprise_install": False}

    def event(self, event: dict, event_id: str | None = None, **kw) -> Response:
        return self.post(json.dumps(self.event_body(event, event_id)).encode(), "application/json", **kw)

    def event_body(self, event: dict, event_id: str | None = None) -> dict:
        """The event_callback body Slack wraps an event in."""
        return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0APP", "event": event, "type": "event_callback",
                "event_id": event_id or f"Ev{next(self.ids):08d}", "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}]}

    def say(self, user: str, text: str, channel: str, thread_ts: str | None = None, channel_type: str = "channel",
            event_id: str | None = None, **kw) -> tuple[str, Response]:
        """A person posts a message; Slack stores it, then sends the bot the event."""
        event = self.posted(user, text, channel, thread_ts, channel_type)
        return event["ts"], self.event(event, event_id=event_id, **kw)

    def posted(self, user: str, text: str, channel: str, thread_ts: str | None = None,
               channel_type: str = "channel", files: list[dict] | None = None) -> dict:
        """Store a message a person wrote in the fake Slack; returns the message event for it."""
        ts = self.slack.add_message(channel, user, text, thread_ts=thread_ts, files=files)
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
                 "channel_type": channel_type, "client_msg_id": f"msg-{ts}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event.update(subtype="file_share", files=files, upload=True, display_as_bot=False)
        return event

    def upload(self, user: str, name: str, data: bytes, mimetype: str = "image/png") -> dict:
        """A file the person uploads to Slack (its bytes served at its url_private, to the bot token)."""
        return self.slack.add_file(user, name, data, mimetype, name.rpartition(".")[2] or "binary")

    def share(self, user: str, text: str, channel: str, files: list[dict], thread_ts: str | None = None,
              channel_type: str = "channel", event_id: str | None = None, **kw) -> tuple[str, Response]:
        """A person posts a message with files (from `upload`): Slack stores it, then sends the
        message event with subtype file_share."""
        event = self.posted(user, text, channel, thread_ts, channel_type, files)
        return event["ts"], self.event(event, event_id=event_id, **kw)

    def shortcut(self, user: str, channel: str, ts: str, **kw) -> Response:
        return self.interactive(self.shortcut_payload(user, channel, ts), **kw)

    def shortcut_payload(self, user: str, channel: str, ts: str) -> dict:
        """The message shortcut "Open a ticket" pressed on a stored message (type message_action)."""
        n = next(self.ids)
        return {"type": "message_action", "token": "legacy", "action_ts": f"{time.time():.6f}",
                "team": {"id": TEAM, "domain": "corp"}, "user": {"id": user, "name": USERS[user][0], "team_id": TEAM},
                "channel": {"id": channel, "name": "general"}, "is_enterprise_install": False, "enterprise": None,
                "callback_id": "open_ticket", "trigger_id": f"{n}.trigger.{user}",
                "response_url": self.slack.response_url(f"sc{n}"), "message_ts": ts,
                "message": self.slack.message(channel, ts)}

    def react(self, user: str, channel: str, ts: str, name: str = "ticket", event_id: str | None = None,
              **kw) -> Response:
        """A person adds an emoji to a stored message: Slack records it, then sends reaction_added."""
        self.slack.react(channel, ts, user, name)
        message = self.slack.message(channel, ts)
        event = {"type": "reaction_added", "user": user, "reaction": name, "item_user": message.get("user"),
                 "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": f"{time.time():.6f}"}
        return self.event(event, event_id=event_id, **kw)

    # the same payloads over Socket Mode (LiveSlack(..., socket_mode=True)); each returns the ack payload

    def socket(self, envelope_type: str, payload: dict, *, retry_attempt: int = 0, retry_reason: str = "",
               timeout: float = ACK_SECONDS) -> dict | None:
        """Push an envelope to the server and wait for its ack (TimeoutError past ``timeout``)."""
        return self.call(self.slack.socket_send(envelope_type, payload, retry_attempt=retry_attempt,
                                                retry_reason=retry_reason, timeout=timeout), timeout + 10)

    def socket_slash(self, user: str, text: str = "", channel: str = "C0GENERAL", **kw) -> dict | None:
        return self.socket("slash_commands", self.slash_fields(user, text, channel), **kw)

    def socket_button(self, user: str, action: str, ticket_id: int | str, channel: str = DESK_CHANNEL,
                      message_ts: str = "1.1", **kw) -> dict | None:
        return self.socket("interactive", self.button_payload(user, action, ticket_id, channel, message_ts), **kw)

    def socket_submit(self, user: str, view: dict, values: dict[str, str | None], *, written: bool = True,
                      **kw) -> dict | None:
        ack = self.socket("interactive", self.submission_payload(user, view, values), **kw)
        if written:  # and the ticket it opens written too (just after the ack)
            self.written()
        return ack

    def socket_event(self, event: dict, event_id: str | None = None, **kw) -> dict | None:
        return self.socket("events_api", self.event_body(event, event_id), **kw)

    def socket_say(self, user: str, text: str, channel: str, thread_ts: str | None = None,
                   channel_type: str = "channel", event_id: str | None = None, **kw) -> tuple[dict, dict | None]:
        """A person posts a message; Slack stores it, then sends the event over the socket.
        Returns the message event (to redeliver it) and the ack payload."""
        event = self.posted(user, text, channel, thread_ts, channel_type)
        return event, self.socket_event(event, event_id=event_id, **kw)


def username(user: str) -> str:
    """A member's user name: the harness's people by name, others (added in a test) by their id."""
    return USERS[user][0] if user in USERS else user.lower()


def shown_texts(message: dict, kinds: tuple[str, ...] = ("mrkdwn",)) -> str:
    """The texts of a message's blocks of these kinds, joined by lines: what a person reads (mrkdwn
    alone: the texts Slack parses for mentions and links)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") in kinds:
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(message.get("blocks"))
    return "\n".join(found)
