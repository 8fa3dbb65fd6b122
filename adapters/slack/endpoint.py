"""`POST /slack/events`: check the media type, verify, check the shape, then hand the request to Bolt.

Slack sends slash commands and interactivity payloads as application/x-www-form-urlencoded
and Events API callbacks as application/json; anything else is a 415 before the body is read.
Verification happens here, before any parsing, so a forged or stale request is a
401 that stored nothing, and a malformed one is a 400 rather than a listener error. The body is
parsed here, once, by its real shape, and Bolt is handed the fields.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger("helpdesk.slack")

MAX_BODY = 1024 * 1024
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


def _problem(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)


def parsed(body: str, content_type: str) -> dict[str, Any] | None:
    """The request as Bolt reads it (a slash command's fields, an interactivity payload, an event),
    parsed once here; None unless it is the shape Slack sends: JSON events with a `type`, or a form
    with a slash command, a `payload` of JSON with a `type`, or an `ssl_check`.

    Bolt would parse the body again from its text, guessing its shape: a form that merely contains
    the word "payload" (a slash command's text) became an empty request and was never answered."""
    try:
        if content_type == JSON:
            data = json.loads(body)
            return data if isinstance(data, dict) and isinstance(data.get("type"), str) else None
        form = parse_qs(body, strict_parsing=True, keep_blank_values=True)
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            return payload if isinstance(payload, dict) and isinstance(payload.get("type"), str) else None
        fields = {key: values[0] for key, values in form.items()}
        return fields if "ssl_check" in fields or (fields.get("command") and fields.get("user_id")) else None
    except (ValueError, TypeError):
        return None


def bolt_request(body: str, fields: dict[str, Any], request: web.Request) -> AsyncBoltRequest:
    """Bolt's request for a verified `body` already `parsed` into `fields` (Bolt keeps the text for
    its own signature check, and reads the fields as they are)."""
    bolt = AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))
    bolt.raw_body, bolt.body = body, fields
    bolt.context = build_async_context(AsyncBoltContext({}), fields)
    return bolt


class SlackEndpoint:
    def __init__(self, app: AsyncApp, signing_secret: str) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)

    async def handle(self, request: web.Request) -> web.Response:
        """`POST /slack/events`: 415 neither form nor JSON, 413 too large, 400 not UTF-8 or malformed,
        401 unsigned, forged or stale — all before anything runs or is stored; else Bolt's answer."""
        if request.content_type not in (FORM, JSON):  # the type alone: a charset parameter is fine
            return _problem(415, "send application/x-www-form-urlencoded or application/json")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return _problem(413, "body too large")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            body = raw.decode("utf-8")  # Slack signs UTF-8 text; anything else cannot be verified
        except UnicodeDecodeError:
            return _problem(400, "body is not UTF-8")
        try:
            valid = self.verifier.is_valid(body, timestamp, signature)
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid:
            log.warning("rejected a Slack request with a missing, wrong or stale signature from %s", request.remote)
            return _problem(401, "invalid signature")
        fields = parsed(body, request.content_type)
        if fields is None:
            return _problem(400, "malformed Slack payload")
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request(body, fields, request)))
