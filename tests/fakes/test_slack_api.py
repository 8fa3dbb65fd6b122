"""The Slack fake, driven by the real slack_sdk client over loopback HTTP.

Bot tests trust the fake to answer as Slack does; these tests pin the behaviour they rely on.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-test-token"
Scenario = Callable[[FakeSlack, AsyncWebClient], Awaitable[None]]


def run(scenario: Scenario) -> None:
    """Run one scenario against a fresh fake, so every test starts from an empty workspace."""

    async def main() -> None:
        async with FakeSlack(token=TOKEN) as slack:
            await scenario(slack, AsyncWebClient(token=TOKEN, base_url=slack.url))

    asyncio.run(main())


async def slack_error(call: Awaitable[object]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


def test_auth_test_names_the_bot_and_the_token_travels_as_a_bearer_header() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        response = await client.auth_test()
        assert response["user_id"] == "UBOT"
        assert response["bot_id"] == "B0BOT"
        assert response["team_id"] == "T0TEST"
        assert response["is_enterprise_install"] is False
        (call,) = slack.calls_to("auth.test")
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"

    run(scenario)


def test_wrong_or_missing_token_is_refused_like_slack() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.url)
        assert (await slack_error(wrong.auth_test())).response["error"] == "invalid_auth"
        anonymous = AsyncWebClient(base_url=slack.url)
        assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"
        assert len(slack.calls_to("auth.test")) == 2  # refused calls are still recorded

    run(scenario)


def test_users_info_returns_the_profile_and_unknown_users_are_user_not_found() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        slack.add_user("U0ALICE", "alice", "Alice Smith", email="alice@corp.example", title="Accountant")
        slack.add_user("U0BOB", "bob", "Bob Lee")
        user = (await client.users_info(user="U0ALICE"))["user"]
        assert (user["id"], user["real_name"], user["deleted"]) == ("U0ALICE", "Alice Smith", False)
        assert user["tz"] == "Europe/London"
        assert user["profile"]["email"] == "alice@corp.example"
        assert user["profile"]["title"] == "Accountant"
        assert "email" not in (await client.users_info(user="U0BOB"))["user"]["profile"]
        error = await slack_error(client.users_info(user="U0NOBODY"))
        assert error.response.status_code == 200
        assert error.response["error"] == "user_not_found"

    run(scenario)


def test_thread_history_and_replies_with_metadata_only_when_asked() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        metadata = {"event_type": "ticket_opened", "event_payload": {"ticket": 42}}
        parent = await client.chat_postMessage(channel="C0DESK", text="Ticket #42 opened", metadata=metadata)
        reply = await client.chat_postMessage(channel="C0DESK", text="On it", thread_ts=parent["ts"])
        later = await client.chat_postMessage(channel="C0DESK", text="Ticket #43 opened")
        assert parent["ts"] < reply["ts"] < later["ts"]
        assert parent["message"]["metadata"] == metadata
        assert reply["message"]["thread_ts"] == parent["ts"]

        history = await client.conversations_history(channel="C0DESK")
        assert [m["text"] for m in history["messages"]] == ["Ticket #43 opened", "Ticket #42 opened"]
        assert history["has_more"] is False
        assert "metadata" not in history["messages"][1]
        assert history["messages"][1]["reply_count"] == 1
        with_metadata = await client.conversations_history(channel="C0DESK", include_all_metadata=True)
        assert with_metadata["messages"][1]["metadata"] == metadata

        thread = await client.conversations_replies(channel="C0DESK", ts=parent["ts"], include_all_metadata=True)
        assert [m["text"] for m in thread["messages"]] == ["Ticket #42 opened", "On it"]
        assert thread["messages"][0]["metadata"] == metadata
        assert [m["text"] for m in slack.replies("C0DESK", parent["ts"])] == ["On it"]
        assert [m["text"] for m in slack.messages("C0DESK")] == ["Ticket #42 opened", "Ticket #43 opened"]

    run(scenario)


def test_replies_to_a_users_message_thread_under_it_even_when_unseeded() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        asked = slack.add_message("C0DESK", "U0ALICE", "My VPN is down")
        await client.chat_postMessage(channel="C0DESK", text="Ticket #7 opened", thread_ts=asked)
        thread = await client.conversations_replies(channel="C0DESK", ts=asked)
        who_said = [(m["user"], m["text"]) for m in thread["messages"]]
        assert who_said == [("U0ALICE", "My VPN is down"), ("UBOT", "Ticket #7 opened")]
        assert thread["messages"][1]["parent_user_id"] == "U0ALICE"

        # An event's ts the test never seeded: Slack still threads the reply, out of channel history.
        await client.chat_postMessage(channel="C0DESK", text="Ticket #8 opened", thread_ts="1600000000.000100")
        assert [m["text"] for m in slack.replies("C0DESK", "1600000000.000100")] == ["Ticket #8 opened"]
        assert [m["text"] for m in slack.messages("C0DESK")] == ["My VPN is down"]
        error = await slack_error(client.chat_postMessage(channel="C0DESK", text="x", thread_ts="0"))
        assert error.response["error"] == "invalid_thread_ts"

    run(scenario)


def test_history_pages_with_a_cursor() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        for n in range(3):
            await client.chat_postMessage(channel="C0DESK", text=f"m{n}")
        first = await client.conversations_history(channel="C0DESK", limit=2)
        assert [m["text"] for m in first["messages"]] == ["m2", "m1"]
        assert first["has_more"] is True
        cursor = first["response_metadata"]["next_cursor"]
        second = await client.conversations_history(channel="C0DESK", limit=2, cursor=cursor)
        assert [m["text"] for m in second["messages"]] == ["m0"]
        assert second["has_more"] is False

    run(scenario)


def test_post_message_refuses_bad_channels_and_empty_messages() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        error = await slack_error(client.chat_postMessage(channel="#general", text="hi"))
        assert error.response["error"] == "channel_not_found"
        error = await slack_error(client.api_call("chat.postMessage", json={"channel": "C0DESK"}))
        assert error.response["error"] == "no_text"
        assert slack.messages("C0DESK") == []

    run(scenario)


def test_form_bodies_decode_json_arguments_and_unknown_methods_are_refused() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
        form = {"channel": "C0DESK", "text": "hi", "blocks": json.dumps(blocks)}
        await client.api_call("chat.postMessage", data=form)
        assert slack.messages("C0DESK")[0]["blocks"] == blocks
        assert slack.calls_to("chat.postMessage")[0].args["blocks"] == blocks
        error = await slack_error(client.api_call("files.upload", data={"channels": "C0DESK"}))
        assert (error.response.status_code, error.response["error"]) == (200, "unknown_method")
        assert slack.calls_to("files.upload")[0].args == {"channels": "C0DESK"}

    run(scenario)


def test_direct_messages_have_one_stable_channel_per_user() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        first = await client.conversations_open(users="U0ALICE")
        again = await client.conversations_open(users=["U0ALICE"])
        assert first["channel"]["id"] == again["channel"]["id"] == slack.dm_channel("U0ALICE")
        assert first["channel"]["id"].startswith("D")
        posted = await client.chat_postMessage(channel="U0ALICE", text="Your ticket is closed")
        assert posted["channel"] == slack.dm_channel("U0ALICE")
        assert [m["text"] for m in slack.messages(slack.dm_channel("U0ALICE"))] == ["Your ticket is closed"]

    run(scenario)


def test_update_changes_the_stored_message_and_unknown_ts_is_message_not_found() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        posted = await client.chat_postMessage(channel="C0DESK", text="Status: open")
        updated = await client.chat_update(channel="C0DESK", ts=posted["ts"], text="Status: closed")
        assert (updated["channel"], updated["ts"], updated["text"]) == ("C0DESK", posted["ts"], "Status: closed")
        (stored,) = slack.messages("C0DESK")
        assert stored["text"] == "Status: closed"
        assert "edited" in stored
        error = await slack_error(client.chat_update(channel="C0DESK", ts="1.000001", text="x"))
        assert error.response["error"] == "message_not_found"

    run(scenario)


def test_reactions_are_stored_and_a_repeat_is_already_reacted() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        posted = await client.chat_postMessage(channel="C0DESK", text="Printer jams")
        await client.reactions_add(channel="C0DESK", timestamp=posted["ts"], name="eyes")
        assert slack.reactions("C0DESK", posted["ts"]) == ["eyes"]
        error = await slack_error(client.reactions_add(channel="C0DESK", timestamp=posted["ts"], name="eyes"))
        assert error.response["error"] == "already_reacted"

    run(scenario)


def test_ephemerals_and_response_url_posts_are_recorded() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        sent = await client.chat_postEphemeral(channel="C0DESK", user="U0ALICE", text="Only you can see this")
        assert slack.ephemerals[0]["user"] == "U0ALICE"
        assert slack.ephemerals[0]["message_ts"] == sent["message_ts"]
        webhook = AsyncWebhookClient(slack.response_url("action-1"))
        response = await webhook.send(text="Done", replace_original=True)
        assert (response.status_code, response.body) == (200, "ok")
        (call,) = slack.calls_to("response_url")
        assert call.args["key"] == "action-1"
        assert call.args["text"] == "Done"
        assert call.args["replace_original"] is True

    run(scenario)


MODAL = {
    "type": "modal",
    "callback_id": "new_ticket",
    "title": {"type": "plain_text", "text": "New ticket"},
    "blocks": [],
}


def test_views_open_returns_an_id_and_a_trigger_id_works_once() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        opened = (await client.views_open(trigger_id="trigger-1", view=MODAL))["view"]
        assert opened["id"].startswith("V")
        assert opened["callback_id"] == "new_ticket"
        assert opened["hash"]
        assert slack.views()[0]["trigger_id"] == "trigger-1"
        error = await slack_error(client.views_open(trigger_id="trigger-1", view=MODAL))
        assert error.response["error"] == "expired_trigger_id"
        error = await slack_error(client.views_open(view=MODAL))
        assert error.response["error"] == "invalid_arguments"
        too_long = {**MODAL, "title": {"type": "plain_text", "text": "A title far longer than Slack allows"}}
        error = await slack_error(client.views_open(trigger_id="trigger-2", view=too_long))
        assert error.response["error"] == "invalid_arguments"

        renamed = {**MODAL, "title": {"type": "plain_text", "text": "Ticket saved"}}
        updated = (await client.views_update(view_id=opened["id"], view=renamed))["view"]
        assert (updated["id"], updated["title"]["text"]) == (opened["id"], "Ticket saved")
        assert slack.views()[0]["title"]["text"] == "Ticket saved"
        error = await slack_error(client.views_update(view_id="V404", view=renamed))
        assert error.response["error"] == "not_found"

    run(scenario)


def test_fail_next_answers_429_with_retry_after_then_recovers() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        slack.fail_next("chat.postMessage", retry_after=7)
        error = await slack_error(client.chat_postMessage(channel="C0DESK", text="hi"))
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "7"
        assert error.response["error"] == "ratelimited"
        assert slack.messages("C0DESK") == []
        await client.chat_postMessage(channel="C0DESK", text="hi")
        assert [m["text"] for m in slack.messages("C0DESK")] == ["hi"]
        assert len(slack.calls_to("chat.postMessage")) == 2

    run(scenario)


def test_tiered_methods_answer_429_past_a_minutes_budget_and_refill_at_that_rate() -> None:
    """users.info is Tier 4 (100+ a minute) and conversations.open Tier 3 (50+): a surge of
    different people past that is refused with Retry-After, per method, while posting by user
    id (the DM) is not a conversations.open at all."""
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        for n in range(50):
            await client.conversations_open(users=f"U{n:04d}")
        error = await slack_error(client.conversations_open(users="U9999"))
        assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
        assert 1 <= int(error.response.headers["Retry-After"]) <= 2, "one call's worth of a minute ÷ 50, rounded up"
        slack.add_user("U0ALICE", "alice", "Alice Smith")
        assert (await client.users_info(user="U0ALICE"))["user"]["id"] == "U0ALICE", "each method has its own budget"
        posted = await client.chat_postMessage(channel="U9999", text="Your ticket #1 is open")
        assert posted["channel"] == slack.dm_channel("U9999")
        slack._budget["conversations.open"] = (0.0, time.monotonic() - 1.3)  # 1.3 s later: one call's worth back
        assert (await client.conversations_open(users="U9999"))["channel"]["id"] == slack.dm_channel("U9999")
        assert slack.over_tier == 1

    run(scenario)


def test_tiers_can_be_turned_off_for_a_test_that_is_about_something_else() -> None:
    async def main() -> None:
        async with FakeSlack(token=TOKEN, tiers={}) as slack:
            client = AsyncWebClient(token=TOKEN, base_url=slack.url)
            for n in range(120):
                slack.add_user(f"U{n:04d}", f"user{n}", f"User {n}")
                assert (await client.users_info(user=f"U{n:04d}"))["user"]["real_name"] == f"User {n}"
            assert slack.over_tier == 0

    asyncio.run(main())


def test_fail_next_answers_a_server_error_with_that_status() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        slack.fail_next("users.info", status=503)
        error = await slack_error(client.users_info(user="UBOT"))
        assert error.response.status_code == 503
        assert (await client.users_info(user="UBOT"))["user"]["is_bot"] is True

    run(scenario)


def test_delay_next_answers_late_then_on_time() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        slack.delay_next("users.info", 0.4)
        started = time.monotonic()
        assert (await client.users_info(user="UBOT"))["user"]["id"] == "UBOT"
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        await client.users_info(user="UBOT")
        assert time.monotonic() - started < 0.3, "only the next call is slow"

        # a client that gives up first sees a timeout; the call was still recorded, the fake still serves
        slack.delay_next("chat.postMessage", 0.5)
        impatient = AsyncWebClient(token=TOKEN, base_url=slack.url, timeout=0.1)
        with pytest.raises(asyncio.TimeoutError):
            await impatient.chat_postMessage(channel="C0DESK", text="slow")
        assert len(slack.calls_to("chat.postMessage")) == 1
        await client.chat_postMessage(channel="C0DESK", text="fast")
        assert "fast" in [m["text"] for m in slack.messages("C0DESK")]

        slack.delay_next("response_url", 0.3)
        started = time.monotonic()
        assert (await AsyncWebhookClient(slack.response_url("k")).send(text="late")).status_code == 200
        assert time.monotonic() - started >= 0.3

    run(scenario)


# ---------------------------------------------------------------------- Socket Mode

APP_TOKEN = "xapp-1-A0APP-1-test"


@dataclass
class Seen:
    """What the real SocketModeClient received: every message (hello included) and every envelope."""

    messages: list[dict] = field(default_factory=list)
    requests: list[SocketModeRequest] = field(default_factory=list)


def run_socket(scenario: Callable[[FakeSlack, Seen], Awaitable[None]],
               acker: Callable[[SocketModeRequest], dict | str | None] | None = None) -> None:
    """A fake with an app-level token, and slack_sdk's aiohttp SocketModeClient connected to it.

    ``acker(request)`` gives the ack payload for each envelope: None for a bare ack, "skip" for none.
    """

    async def main() -> None:
        async with FakeSlack(token=TOKEN, app_token=APP_TOKEN) as slack:
            seen = Seen()
            client = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=slack.url))

            async def on_message(_client, message: dict, _raw) -> None:
                seen.messages.append(message)

            async def on_request(sm_client, request: SocketModeRequest) -> None:
                seen.requests.append(request)
                payload = acker(request) if acker else None
                if payload != "skip":
                    await sm_client.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload))

            client.message_listeners.append(on_message)
            client.socket_mode_request_listeners.append(on_request)
            try:
                await client.connect()
                await slack.socket_connected()
                await scenario(slack, seen)
            finally:
                await client.close()

    asyncio.run(main())


def test_apps_connections_open_needs_the_app_level_token() -> None:
    async def main() -> None:
        async with FakeSlack(token=TOKEN, app_token=APP_TOKEN) as slack:
            bot = AsyncWebClient(token=TOKEN, base_url=slack.url)
            error = await slack_error(bot.apps_connections_open(app_token=TOKEN))
            assert (error.response.status_code, error.response["error"]) == (200, "not_allowed_token_type")
            error = await slack_error(bot.apps_connections_open(app_token="xapp-1-wrong"))
            assert error.response["error"] == "invalid_auth"
            app_level = AsyncWebClient(token=APP_TOKEN, base_url=slack.url)
            error = await slack_error(app_level.chat_postMessage(channel="C0DESK", text="hi"))
            assert error.response["error"] == "not_allowed_token_type"
            assert slack.messages("C0DESK") == []

            opened = await bot.apps_connections_open(app_token=APP_TOKEN)
            ws_root = slack.url.replace("http://", "ws://").removesuffix("/api/")
            assert opened["url"].startswith(f"{ws_root}/link/?ticket=") and opened["url"].endswith("&app_id=A0APP")
            assert slack.calls_to("apps.connections.open")[-1].headers["Authorization"] == f"Bearer {APP_TOKEN}"

        async with FakeSlack(token=TOKEN) as without_socket_mode:
            bot = AsyncWebClient(token=TOKEN, base_url=without_socket_mode.url)
            error = await slack_error(bot.apps_connections_open(app_token=APP_TOKEN))
            assert error.response["error"] == "invalid_auth"

    asyncio.run(main())


def test_a_socket_url_works_once() -> None:
    async def main() -> None:
        async with FakeSlack(token=TOKEN, app_token=APP_TOKEN) as slack:
            url = (await AsyncWebClient(base_url=slack.url).apps_connections_open(app_token=APP_TOKEN))["url"]
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url) as ws:
                    hello = await ws.receive_json(timeout=5)
                    assert hello["type"] == "hello"
                    assert hello["num_connections"] == 1
                    assert hello["connection_info"] == {"app_id": "A0APP"}
                    assert hello["debug_info"]["approximate_connection_time"] > 0
                    assert slack.socket_connections == 1
                    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                        await session.ws_connect(url)
                    assert refused.value.status == 401
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await session.ws_connect(url.replace("ticket=", "ticket=forged"))

    asyncio.run(main())


def test_the_sdk_client_connects_and_gets_hello() -> None:
    async def scenario(slack: FakeSlack, seen: Seen) -> None:
        await asyncio.sleep(0.1)
        hello = next(m for m in seen.messages if m.get("type") == "hello")
        assert hello["connection_info"]["app_id"] == "A0APP"
        assert len(slack.calls_to("apps.connections.open")) == 1
        assert (slack.hellos, slack.socket_connections) == (1, 1)

    run_socket(scenario)


def test_a_slash_command_envelope_returns_the_ack_payload() -> None:
    command = {"command": "/ticket", "text": "mine", "user_id": "U0ALICE", "trigger_id": "1.2.3",
               "response_url": "http://127.0.0.1/actions/T0TEST/cmd1"}

    def acker(request):
        return {"response_type": "ephemeral", "text": f"you said {request.payload['text']}"}

    async def scenario(slack: FakeSlack, seen: Seen) -> None:
        answer = await slack.socket_send("slash_commands", command)
        assert answer == {"response_type": "ephemeral", "text": "you said mine"}
        (request,) = seen.requests
        assert (request.type, request.payload, request.accepts_response_payload) == ("slash_commands", command, True)
        (envelope,) = slack.envelopes
        assert set(envelope) == {"envelope_id", "payload", "type", "accepts_response_payload"}
        assert request.envelope_id == envelope["envelope_id"]
        assert slack.acks == [{"envelope_id": envelope["envelope_id"], "payload": answer}]

    run_socket(scenario, acker)


def test_an_event_envelope_carries_retries_and_a_bare_ack_is_none() -> None:
    body = {"type": "event_callback", "event_id": "Ev1", "team_id": "T0TEST",
            "event": {"type": "message", "channel": "C0DESK", "user": "U0BOB", "text": "hi", "ts": "1.000100"}}

    async def scenario(slack: FakeSlack, seen: Seen) -> None:
        assert await slack.socket_send("events_api", body) is None
        assert await slack.socket_send("events_api", body, retry_attempt=1, retry_reason="timeout") is None
        first, retry = seen.requests
        assert first.payload == retry.payload == body
        assert (first.retry_attempt, first.retry_reason, first.accepts_response_payload) == (0, "", False)
        assert (retry.retry_attempt, retry.retry_reason) == (1, "timeout")
        assert first.envelope_id != retry.envelope_id, "a redelivery is a new envelope of the same event"
        assert [a["envelope_id"] for a in slack.acks] == [e["envelope_id"] for e in slack.envelopes]
        with pytest.raises(ValueError):
            await slack.socket_send("event_callback", body)

    run_socket(scenario)


def test_an_unacknowledged_envelope_times_out() -> None:
    async def scenario(slack: FakeSlack, seen: Seen) -> None:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="no ack for interactive envelope"):
            await slack.socket_send("interactive", {"type": "block_actions"}, timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        assert slack.acks == []

    run_socket(scenario, acker=lambda request: "skip")


def test_a_disconnect_makes_the_client_reconnect_with_a_new_url() -> None:
    async def scenario(slack: FakeSlack, seen: Seen) -> None:
        assert await slack.socket_disconnect("refresh_requested") == 1
        deadline = time.monotonic() + 10
        while slack.hellos < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert slack.hellos == 2
        assert len(slack.calls_to("apps.connections.open")) == 2
        assert await slack.socket_send("interactive", {"type": "block_actions"}) == {"ok": "after"}
        assert slack.socket_connections == 1, "the old connection was closed"

    run_socket(scenario, acker=lambda request: {"ok": "after"})


def test_send_waits_for_a_connection_and_stop_closes_sockets() -> None:
    async def main() -> None:
        slack = FakeSlack(token=TOKEN, app_token=APP_TOKEN)
        await slack.start()
        with pytest.raises(TimeoutError, match="no Socket Mode connection"):
            await slack.socket_send("events_api", {"type": "event_callback"}, timeout=0.2)
        url = (await AsyncWebClient(base_url=slack.url).apps_connections_open(app_token=APP_TOKEN))["url"]
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url)
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            await slack.stop()
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            await ws.close()

    asyncio.run(main())


def test_url_private_serves_a_file_only_to_the_bot_token_and_404s_an_unknown_one() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        file = slack.add_file("U1", "shot.png", b"\x89PNG bytes")
        async with aiohttp.ClientSession() as http:
            async with http.get(file["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as ok:
                assert (ok.status, ok.content_type, await ok.read()) == (200, "image/png", b"\x89PNG bytes")
            async with http.get(file["url_private"], allow_redirects=False) as anonymous:
                assert anonymous.status == 302 and "/signin" in anonymous.headers["Location"]
            async with http.get(file["url_private"]) as followed:  # what a careless client saves: a web page
                assert followed.status == 200 and followed.content_type == "text/html"
            slack.forget_file(file["id"])
            async with http.get(file["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as gone:
                assert gone.status == 404
        assert (await slack_error(client.files_info(file=file["id"]))).response["error"] == "file_not_found"

    run(scenario)


def test_permalinks_and_image_blocks_follow_slack() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        file = slack.add_file("U1", "shot.png", b"\x89PNG bytes")
        ts = slack.add_message("C1", "U1", "look", files=[file])
        reply = slack.add_message("C1", "U2", "same", thread_ts=ts)
        link = (await client.chat_getPermalink(channel="C1", message_ts=ts))["permalink"]
        assert link == f"https://t0test.slack.com/archives/C1/p{ts.replace('.', '')}"
        threaded = (await client.chat_getPermalink(channel="C1", message_ts=reply))["permalink"]
        assert threaded.endswith(f"?thread_ts={ts}&cid=C1")
        assert (await client.conversations_replies(channel="C1", ts=ts))["messages"][0]["subtype"] == "file_share"
        image = {"type": "image", "slack_file": {"url": file["permalink"]}, "alt_text": "shot"}
        await client.chat_postMessage(channel="C2", text="card", blocks=[image])
        for bad in ({**image, "slack_file": {"url": "https://t0test.slack.com/files/U1/F404/x.png"}},
                    {**image, "image_url": "https://example.com/x.png"}, {k: v for k, v in image.items() if k != "alt_text"}):
            error = await slack_error(client.chat_postMessage(channel="C2", text="card", blocks=[bad]))
            assert error.response["error"] == "invalid_blocks"


def test_external_upload_shares_a_file_in_a_channel_or_keeps_it_private() -> None:
    async def scenario(slack: FakeSlack, client: AsyncWebClient) -> None:
        png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
        done = await client.files_upload_v2(content=png, filename="week.png", title="week", alt_txt="a chart",
                                            channel="DU0BOB", initial_comment="the chart")
        file_id = done["file"]["id"]
        assert [c.method for c in slack.calls] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
        assert slack.calls_to("files.getUploadURLExternal")[0].args["length"] == str(len(png))
        assert slack.file_data(file_id) == png
        (shared,) = slack.messages("DU0BOB")
        assert shared["text"] == "the chart" and shared["files"][0]["id"] == file_id
        assert shared["files"][0]["alt_txt"] == "a chart" and shared["files"][0]["title"] == "week"
        private = await client.files_upload_v2(content=png, filename="private.png")
        assert slack.files[private["file"]["id"]]["channels"] == [], "no channel: the file stays private"
        again = await slack_error(client.files_completeUploadExternal(files=[{"id": file_id}]))
        assert again.response["error"] == "file_not_found", "completing is done once"
        missing = await slack_error(client.api_call("files.getUploadURLExternal", params={"filename": "x.png"}))
        assert missing.response["error"] == "invalid_arguments"
        long_alt = await slack_error(client.files_getUploadURLExternal(filename="x.png", length=3, alt_txt="a" * 1001))
        assert long_alt.response["error"] == "alt_txt_too_large"
        started = await client.files_getUploadURLExternal(filename="never.png", length=3)
        unsent = await slack_error(client.files_completeUploadExternal(files=[{"id": started["file_id"]}]))
        assert unsent.response["error"] == "file_not_found", "nothing arrived at the upload URL"
        bad_channel = await slack_error(client.files_upload_v2(content=png, filename="x.png", channel="nowhere"))
        assert bad_channel.response["error"] == "channel_not_found"

    run(scenario)
