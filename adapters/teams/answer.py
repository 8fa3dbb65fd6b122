"""How each outcome of the chat layer shows in Teams: a message in the conversation, or the
answer to a card's invoke (the refreshed card, a form, or a message only the presser sees)."""
from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from adapters.chat import messages as CM
from adapters.chat.charts import Chart
from adapters.chat.interactions import Interactions, opened_text
from adapters.chat.outcomes import (Acknowledged, Answer, CardRefreshed, Nothing, Opened, Outcome, Received, Refreshed,
                                    Refusal, Replaced, ShowForm)
from adapters.teams import cards as C
from bot.replies import Reply

log = logging.getLogger("helpdesk.teams")

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


async def say(turn: TurnContext, reply: Reply | str, chart: Chart | None = None) -> None:
    """A message in the conversation (`str`: one of our sentences, shown as written); a report's
    `chart` goes in it as an image attachment fetched from its URL on the help desk's server (an
    inline image would not fit in Teams' 28 KB message), or, with no public URL, a line says why not."""
    text = C.html_safe(reply) if isinstance(reply, str) else C.reply_text(reply)
    activity = Activity(type="message", text=text, text_format="markdown")
    if chart is not None and chart.url:
        activity.attachments = [C.image(chart.url, chart.name)]
    elif chart is not None:
        activity.text += C.TEAMS.line_break + C.html_safe(CM.CHART_NOT_SHOWN)
    await turn.send_activity(activity)


async def show(turn: TurnContext, outcome: Outcome) -> None:
    """Show an outcome in the conversation a message came from."""
    if isinstance(outcome, Answer):
        await say(turn, outcome.reply, await outcome.chart() if outcome.chart is not None else None)
    elif isinstance(outcome, Refusal):
        await say(turn, outcome.text)
    elif isinstance(outcome, ShowForm):
        await turn.send_activity(Activity(type="message", attachments=[C.attachment(C.form_card(
            outcome.form, outcome.context, dict(outcome.values), dict(outcome.errors)))]))
    elif isinstance(outcome, Acknowledged):
        if not outcome.echoed:  # the ticket's thread will not carry a line about it: confirm here
            await say(turn, outcome.text)
        if outcome.aside is not None:
            await say(turn, outcome.aside)
    elif isinstance(outcome, Opened):
        await say(turn, opened_text(outcome))
    elif isinstance(outcome, Received):
        await say(turn, CM.RECEIVED_AGAIN if outcome.again else CM.RECEIVED)


async def invoke_answer(turn: TurnContext, outcome: Outcome, chat: Interactions, listed: bool = False) -> dict[str, Any]:
    """The body answering a card's Action.Execute: a card to show in place of the pressed one, or
    a message only the presser sees (the card then stays as it was). `listed`: pressed on a
    combined post of new tickets, which stays (the outbox updates the ticket's line there)."""
    if isinstance(outcome, Refusal):
        return message(outcome.text)
    if isinstance(outcome, ShowForm):
        return card(C.form_card(outcome.form, outcome.context, dict(outcome.values), dict(outcome.errors)))
    if isinstance(outcome, Replaced):
        return card(C.notice_card(outcome.text))
    if isinstance(outcome, Refreshed):
        return card(C.message_card(outcome.view))
    if isinstance(outcome, Opened):
        return card(C.notice_card(opened_text(outcome)))
    if isinstance(outcome, Received):  # the database was slow: its number comes by message
        return card(C.notice_card(CM.RECEIVED_AGAIN if outcome.again else CM.RECEIVED))
    if isinstance(outcome, CardRefreshed) and listed:  # with similar past tickets, as on a card
        aside = f"{C.TEAMS.line_break}{C.reply_text(outcome.aside)}" if outcome.aside is not None else ""
        return message(CM.CLAIMED_FROM_LIST.format(ref=outcome.ticket.ref) + aside)
    if isinstance(outcome, CardRefreshed):
        if outcome.aside is not None:  # similar past tickets, for the technicians in the card's thread
            try:
                await say(turn, outcome.aside)
            except Exception as exc:  # a hint; what was pressed is done and is answered below
                log.warning("Teams: could not post similar tickets for %s: %s", outcome.ticket.ref, exc)
        if outcome.incident is not None:  # pressed on the incident's card: that card, as it is now
            return card(C.incident_card(outcome.incident))
        return card(C.card(chat.card(outcome.ticket)))
    if isinstance(outcome, Answer):
        return message(C.reply_text(outcome.reply))
    if isinstance(outcome, Nothing):
        return message("")
    return message(getattr(outcome, "text", ""))


def card(content: dict[str, Any]) -> dict[str, Any]:
    """An invoke's answer that replaces the pressed card with `content`."""
    return {"statusCode": 200, "type": C.CONTENT_TYPE, "value": content}


def message(text: str) -> dict[str, Any]:
    """Teams shows this to the person who pressed, and leaves the card as it was."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}
