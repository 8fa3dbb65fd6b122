"""How each outcome of the chat layer shows in Slack, where a person acted: an ephemeral message,
a modal, a reaction on their message, a message edited in place."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat import messages as CM
from adapters.chat.charts import Chart
from adapters.chat.interactions import opened_text
from adapters.chat.outcomes import (Acknowledged, Answer, CardRefreshed, Nothing, Opened, Outcome, Refreshed, Refusal,
                                    Replaced, ShowForm)
from adapters.chat.views import Action, MessageView
from adapters.slack import blocks as B

log = logging.getLogger("helpdesk.slack")

REACTION = {"note": "white_check_mark", "internal": "lock", "done": "white_check_mark", "attached": "paperclip"}
MESSAGE_KEY = "message"  # in a modal's metadata: [channel, ts] of the message whose button opened it


@dataclass
class Place:
    """Where the person acted: the channel (and thread), the message they wrote or pressed on,
    the trigger that may open a modal, and `say`, set when the answer goes back in the response
    to their request (a slash command's ack or response_url) instead of as a message."""

    user: str
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    trigger_id: str | None = None
    direct: bool = False  # their direct message with the bot: answers are plain messages there
    say: Callable[..., Awaitable[Any]] | None = None
    # the request's response_url (Bolt's `respond`): where a form Slack would not open is offered
    # instead, costing no Web API budget (a surge spends views.open's and chat.postEphemeral's)
    respond: Callable[..., Awaitable[Any]] | None = None


class SlackAnswers:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def show(self, outcome: Outcome, at: Place) -> None:
        """Show `outcome` to the person at `at`."""
        if isinstance(outcome, Nothing):
            return
        if isinstance(outcome, Refusal):
            await self.text(at, B.escape(outcome.text))
        elif isinstance(outcome, Answer):
            elsewhere = outcome.chart is not None and not self.direct(at)
            await self.text(at, B.reply_text(outcome.reply) + ("\n" + B.escape(CM.CHART_IN_DM) if elsewhere else ""))
            chart = await outcome.chart() if outcome.chart is not None else None  # after the table: it takes a second
            if chart is not None:
                await self.chart(chart, at)
        elif isinstance(outcome, ShowForm):
            await self.form(outcome, at)
        elif isinstance(outcome, Acknowledged):
            await self.client.reactions_add(channel=at.channel, timestamp=at.message_ts, name=REACTION[outcome.mark])
            if outcome.aside is not None:
                await self.text(at, B.reply_text(outcome.aside))
        elif isinstance(outcome, CardRefreshed):
            if outcome.aside is not None:  # the card itself is edited by the outbox, for everyone
                await self.text(at, B.reply_text(outcome.aside))
        elif isinstance(outcome, Replaced):
            if at.channel and at.message_ts:
                await self.client.chat_update(channel=at.channel, ts=at.message_ts, text=B.escape(outcome.text),
                                              blocks=B.notice(outcome.text))
        elif isinstance(outcome, Refreshed):
            if at.channel and at.message_ts:
                text, blocks = B.message(outcome.view)
                await self.client.chat_update(channel=at.channel, ts=at.message_ts, text=text, blocks=blocks or [])
        elif isinstance(outcome, Opened):
            await self.text(at, B.escape(opened_text(outcome)))

    async def text(self, at: Place, mrkdwn: str, blocks: list | None = None) -> None:
        """Answer only the person (`mrkdwn` already escaped): in the response to their request,
        as a message in their direct chat, else as an ephemeral message where they are."""
        extra = {"blocks": blocks} if blocks else {}
        if at.say is not None:
            await at.say(response_type="ephemeral", text=mrkdwn, **extra)
        elif at.direct and at.channel:
            await self.client.chat_postMessage(channel=at.channel, text=mrkdwn, **extra)
        elif at.channel:
            kwargs = {"thread_ts": at.thread_ts} if at.thread_ts else {}
            await self.client.chat_postEphemeral(channel=at.channel, user=at.user, text=mrkdwn, **kwargs, **extra)

    async def tell(self, user: str, text: str) -> None:
        """A plain-text message to `user` in their direct chat with the bot (the app's DM, which a
        user id as the channel reaches), straight from the platform: not through the outbox."""
        await self.client.chat_postMessage(channel=user, text=B.escape(text))

    @staticmethod
    def direct(at: Place) -> bool:
        """Whether the person acted in their direct chat with the bot (a message there, or a slash
        command typed in it)."""
        return at.direct or str(at.channel or "").startswith("D")

    async def chart(self, chart: Chart, at: Place) -> None:
        """A report's chart as an image file (Slack's external upload: files.getUploadURLExternal,
        the upload, files.completeUploadExternal), shared in the person's direct chat with the bot:
        next to the table when that is where they asked; otherwise there too, because an ephemeral
        answer cannot carry a file and sharing it in the channel would show it to everyone in it.
        A failure is logged: the table already went out with the same figures."""
        try:
            channel = at.channel if self.direct(at) else (await self.client.conversations_open(users=at.user))["channel"]["id"]
            await self.client.files_upload_v2(content=chart.png, filename=chart.name, title=chart.name.removesuffix(".png"),
                                              alt_txt=chart.alt[:1000], channel=channel)
        except SlackApiError as exc:
            log.warning("Slack: the report's chart could not be uploaded for %s: %s", at.user, exc.response.get("error"))

    async def form(self, outcome: ShowForm, at: Place) -> None:
        """A modal when Slack gave a trigger for one; otherwise, or when Slack would not open it (in
        a surge views.open runs out of its per-minute budget and answers 429; a trigger is good for
        3 s), a message with a button that opens it and the way to open a ticket without it."""
        lead = ""
        if at.trigger_id:
            context = outcome.context
            if at.channel and at.message_ts:  # the message pressed on, to show it anew once the form is sent
                context = replace(context, extra={**context.extra, MESSAGE_KEY: [at.channel, at.message_ts]})
            try:
                await self.client.views_open(trigger_id=at.trigger_id, view=B.modal(outcome.form, context, outcome.values))
                return
            except SlackApiError as exc:
                log.warning("Slack: the form for %s could not be opened (%s %s); offered as a message instead",
                            at.user, exc.response.status_code, exc.response.get("error"))
                lead = CM.FORM_NOT_OPENED.format(platform="Slack") + " "
        text, blocks = B.message(MessageView(lead + CM.FORM_OFFER, actions=(Action("intake", CM.BUTTON_OPEN_FORM, {}),)))
        if at.say is None and at.respond is not None:
            await at.respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
        else:
            await self.text(at, text, blocks)
