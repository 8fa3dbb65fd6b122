"""The real server (aiohttp + botbuilder's CloudAdapter + the outbox dispatcher) next to a
fake Bot Connector, both on loopback; the test posts activities to /api/messages exactly as
Teams shapes them (channelId msteams, tenant and team in channelData, mention entities,
thread conversation ids `19:…@thread.tacv2;messageid=…`, serviceUrl pointing at the fake)."""
from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.teams.server import TEAMS
from tests.conftest import SETTINGS
from tests.fakes.azure_ad import FakeAzureAD
from tests.fakes.bot_connector import FakeBotConnector, Posted
from tests.live_server import LiveServer, Response

TENANT = "72f988bf-0000-4000-8000-000000000001"
TEAM = "19:team-it@thread.tacv2"
DESK = "19:desk-channel@thread.tacv2"
NET = "19:net-channel@thread.tacv2"
APP_ID = "3c5ab1d2-0000-4000-8000-00000000b07a"
BOT = {"id": f"28:{APP_ID}", "name": "Helpdesk"}

USERS = {  # key → (29: id, Azure AD object id, name, email)
    "alice": ("29:1alice", "aad-0000-alice", "Alice Park", "alice@corp.example"),
    "bob": ("29:1bob", "aad-0000-bob", "Bob Lee", "bob@corp.example"),
    "frank": ("29:1frank", "aad-0000-frank", "Frank Ode", "frank@corp.example"),
    "dave": ("29:1dave", "aad-0000-dave", "Dave Kim", "dave@corp.example"),
}


ALICE, BOB, DAVE = (f"teams:{USERS[k][1]}" for k in ("alice", "bob", "dave"))


@pytest.fixture
def live(engine):
    """The server with auth off (HELPDESK_TEAMS_NO_AUTH), as in the Emulator: the bot's own
    calls to the Connector then need no Azure AD token."""
    server = LiveTeams(engine).start()
    yield server
    server.stop()


class LiveTeams(LiveServer):
    platform = "teams"

    def __init__(self, engine, overrides: dict | None = None, *, auth: bool = False, poll_seconds: float = 0.05) -> None:
        super().__init__(engine, overrides, poll_seconds=poll_seconds)
        self.auth = auth
        # The Connector is remote: its own loop, so a call or key fetch it holds (to show who waits
        # for it) holds only the server's request, and a stalled server cannot stall the Connector.
        self.connector_loop = asyncio.new_event_loop()
        threading.Thread(target=self.connector_loop.run_forever, daemon=True).start()

    def _on_connector(self, coro):
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.connector_loop))

    async def _start_fakes(self) -> dict:
        self.connector = FakeBotConnector(TENANT)
        await self._on_connector(self.connector.start())
        for teams_id, aad, name, email in USERS.values():
            self.connector.add_member(teams_id, aad, name, email)
        data = json.loads(json.dumps(SETTINGS))
        data.pop("slack")
        data["groups"]["service-desk"].update(channels={"teams": DESK})
        data["groups"]["network-eng"].update(channels={"teams": NET})
        data["teams"] = {"service_url": self.connector.url, "tenant_id": TENANT}
        data["public_url"] = f"http://127.0.0.1:{self.port}"  # where Teams fetches the report charts from
        if self.auth:
            data["teams"].update(app_id=APP_ID, app_password="test-password", openid_metadata_url=self.connector.openid_url)
            data["technicians"][0]["ids"] = ["bob@corp.example", f"teams:{USERS['bob'][1]}"]
        else:
            data["teams"]["no_auth"] = True
        return data

    def _built(self) -> None:
        self.adapter = self.app[TEAMS]
        if self.auth:  # MSAL cannot reach Azure AD offline: the bot's own token comes from the fake
            self.azure_ad = FakeAzureAD(APP_ID)
            self.adapter.credentials.inner = self.azure_ad

    @property
    def keys(self):
        """The server's SigningKeys (auth on): its clock can be moved, its fetches counted at the fake."""
        return self.adapter.tokens.keys

    async def _stop_fakes(self) -> None:
        await self._on_connector(self.connector.stop())
        self.connector_loop.call_soon_threadsafe(self.connector_loop.stop)

    # activities, as Teams sends them

    def _base(self, user: str, kind: str = "message") -> dict[str, Any]:
        teams_id, aad, name, _ = USERS[user]
        return {
            "type": kind, "id": self.connector.new_id(), "channelId": "msteams", "serviceUrl": self.connector.url,
            "timestamp": datetime.now(timezone.utc).isoformat(), "localTimestamp": datetime.now().isoformat(),
            "from": {"id": teams_id, "name": name, "aadObjectId": aad}, "recipient": dict(BOT), "locale": "en-US",
            "entities": [{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/London"}],
        }

    def personal(self, user: str, text: str, activity_id: str | None = None) -> dict[str, Any]:
        """A message in the user's 1:1 chat with the bot."""
        activity = self._base(user)
        if activity_id:
            activity["id"] = activity_id
        activity.update(text=text, textFormat="plain",
                        conversation={"conversationType": "personal", "tenantId": TENANT, "id": f"a:personal-{USERS[user][0]}"},
                        channelData={"tenant": {"id": TENANT}})
        return activity

    def channel(self, user: str, text: str, channel: str = DESK, root: str | None = None,
                mentions: tuple[str, ...] = ()) -> dict[str, Any]:
        """A channel message @mentioning the bot (and `mentions`): a new post, or a reply in `root`'s thread.
        Each person is written `@name` in `text`, replaced by Teams' `<at>…</at>` tags."""
        activity = self._base(user)
        entities = [{"type": "mention", "mentioned": dict(BOT), "text": f"<at>{BOT['name']}</at>"}]
        for who in mentions:
            teams_id, _, name, _ = USERS[who]
            text = text.replace(f"@{who}", f"<at>{name}</at>")
            entities.append({"type": "mention", "mentioned": {"id": teams_id, "name": name}, "text": f"<at>{name}</at>"})
        activity["entities"] += entities
        activity.update(
            text=f"<at>{BOT['name']}</at> {text}", textFormat="plain",
            conversation={"conversationType": "channel", "isGroup": True, "tenantId": TENANT,
                          "id": f"{channel};messageid={root or activity['id']}"},
            channelData={"teamsChannelId": channel, "teamsTeamId": TEAM, "channel": {"id": channel},
                         "team": {"id": TEAM}, "tenant": {"id": TENANT}})
        if root:
            activity["replyToId"] = root
        return activity

    def invoke(self, user: str, verb: str, data: dict[str, Any], card: Posted | None = None,
               activity_id: str | None = None) -> dict[str, Any]:
        """An Action.Execute press on `card` (a card the bot posted): invoke adaptiveCard/action."""
        activity = self._base(user, "invoke")
        if activity_id:
            activity["id"] = activity_id
        conversation = card.conversation if card else f"a:personal-{USERS[user][0]}"
        personal = conversation.startswith("a:")
        activity.update(
            name="adaptiveCard/action", value={"action": {"type": "Action.Execute", "verb": verb, "data": data},
                                               "trigger": "manual"},
            conversation=({"conversationType": "personal", "tenantId": TENANT, "id": conversation} if personal else
                          {"conversationType": "channel", "isGroup": True, "tenantId": TENANT, "id": conversation}),
            channelData=({"tenant": {"id": TENANT}} if personal else
                         {"channel": {"id": conversation.partition(";")[0]}, "team": {"id": TEAM}, "tenant": {"id": TENANT}}))
        if card:
            activity["replyToId"] = card.id
        return activity

    # files and the message action, as Teams sends them

    def with_files(self, activity: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
        """A message activity carrying attachments (from `file_sent` or `inline_image`)."""
        return {**activity, "attachments": list(files)}

    def file_sent(self, name: str, data: bytes, content_type: str = "image/png") -> dict[str, Any]:
        """A file sent in a personal chat: Teams uploads it to the sender's OneDrive and hands the bot
        a pre-authenticated download URL (bots with supportsFiles)."""
        blob = self.connector.add_blob(data, content_type)
        return {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": name,
                "contentUrl": f"https://corp-my.sharepoint.com/personal/alice/Documents/Microsoft Teams Chat Files/{name}",
                "content": {"downloadUrl": self.connector.download_url(blob, name), "uniqueId": blob,
                            "fileType": name.rpartition(".")[2]}}

    def inline_image(self, data: bytes, blob: str | None = None) -> dict[str, Any]:
        """An image pasted into a message to the bot: on the Connector's attachments service."""
        blob = blob or self.connector.add_blob(data)
        return {"contentType": "image/*", "contentUrl": self.connector.image_url(blob)}

    def message_payload(self, user: str, html: str, channel: str = DESK, reply_to: str | None = None,
                        images: tuple[bytes, ...] = (), attachments: tuple[dict, ...] = ()) -> dict[str, Any]:
        """A message as a message action's `value.messagePayload` describes it: its HTML body (pasted
        images as <img> on Graph's hosted contents; no attachment details for them), its author."""
        _, aad, name, _ = USERS[user]
        message_id = self.connector.new_id()
        body = f"<p>{html}</p>" + "".join(
            f'<p><img alt="image" src="{self.connector.hosted_url(self.connector.add_blob(data), TEAM, channel, message_id)}"'
            f' width="250" height="140" itemscope="png" style="vertical-align:bottom"></p>' for data in images)
        return {"id": message_id, "replyToId": reply_to, "messageType": "message",
                "createdDateTime": datetime.now(timezone.utc).isoformat(), "lastModifiedDateTime": None, "deleted": False,
                "subject": None, "summary": None, "importance": "normal", "locale": "en-us",
                "linkToMessage": f"https://teams.microsoft.com/l/message/{channel}/{message_id}?tenantId={TENANT}",
                "from": {"device": None, "conversation": None, "application": None,
                         "user": {"userIdentityType": "aadUser", "id": aad, "displayName": name}},
                "body": {"contentType": "html", "content": body}, "attachments": list(attachments), "mentions": [],
                "reactions": []}

    def message_action(self, user: str, payload: dict[str, Any], *, submit: dict[str, Any] | None = None,
                       channel: str = DESK, chat: str | None = None) -> dict[str, Any]:
        """The message action "Open a ticket" used on `payload`'s message: composeExtension/fetchTask,
        or, with `submit` (the dialog's Action.Submit data merged with its inputs), submitAction."""
        activity = self._base(user, "invoke")
        value: dict[str, Any] = {"commandId": "openTicket", "commandContext": "message",
                                 "requestId": self.connector.new_id(), "messagePayload": payload,
                                 "context": {"theme": "default"}}
        if submit is not None:
            value["data"] = submit
        root = payload.get("replyToId") or payload["id"]
        activity.update(
            name="composeExtension/submitAction" if submit is not None else "composeExtension/fetchTask", value=value,
            conversation=({"conversationType": "groupChat", "isGroup": True, "tenantId": TENANT, "id": chat} if chat else
                          {"conversationType": "channel", "isGroup": True, "tenantId": TENANT,
                           "id": f"{channel};messageid={root}"}),
            channelData=({"tenant": {"id": TENANT}, "source": {"name": "message"}} if chat else
                         {"channel": {"id": channel}, "team": {"id": TEAM}, "tenant": {"id": TENANT},
                          "source": {"name": "message"}}))
        return activity

    # HTTP

    def post(self, activity: dict[str, Any] | bytes, *, token: str | None = None,
             content_type: str = "application/json", authorization: str | None = None) -> Response:
        """POST an activity; `token` goes in as `Bearer <token>`, `authorization` as it is."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        headers = {"Content-Type": content_type, "User-Agent": "Microsoft-SkypeBotApi (Microsoft-BotFramework 3.0)"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if authorization is not None:
            headers["Authorization"] = authorization
        return self.request("POST", "/api/messages", body, headers)

    def token(self, **kw: Any) -> str:
        return self.connector.token(APP_ID, self.connector.url, **kw)

    # reading back what the bot posted

    def cards_in(self, channel: str = DESK) -> list[Posted]:
        """Ticket cards (thread roots with an Adaptive Card) posted in a channel, oldest first."""
        return [p for p in self.connector.sent() if p.conversation == f"{channel};messageid={p.id}" and p.activity.get("attachments")]

    def card(self, channel: str = DESK, index: int = 0, timeout: float = 10.0) -> Posted:
        return self.eventually(lambda: self.cards_in(channel)[index:index + 1], timeout)[0]

    def chat(self, user: str) -> list[Posted]:
        """What the bot posted in the user's personal chat, oldest first."""
        return self.connector.sent(f"a:personal-{USERS[user][0]}")


def card_content(posted: Posted | dict[str, Any]) -> dict[str, Any]:
    activity = posted.activity if isinstance(posted, Posted) else posted
    return activity["attachments"][0]["content"]


def _nodes(node: Any):
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def texts(card: dict[str, Any]) -> str:
    """Every text a card shows (TextBlocks, facts), joined: what a user reads."""
    found: list[str] = []
    for node in _nodes(card):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        elif node.get("type") == "FactSet":
            found.extend(f"{f['title']}: {f['value']}" for f in node["facts"])
    return "\n".join(found)


def verbs(card: dict[str, Any]) -> list[str]:
    """The Action.Execute verbs of a card's buttons, in order."""
    return [n["verb"] for n in _nodes(card) if n.get("type") == "Action.Execute"]


def submitted(card: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What Teams sends when a dialog's Action.Submit is pressed: its data and every input's value."""
    [action] = [n for n in _nodes(card) if n.get("type") == "Action.Submit"]
    values = {i: node.get("value") for i, node in inputs(card).items() if node.get("value") is not None}
    return {**action["data"], **values, **changes}


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A form card's inputs by id."""
    return {n["id"]: n for n in _nodes(card) if str(n.get("type", "")).startswith("Input.")}
