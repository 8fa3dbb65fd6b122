"""Slack, end to end over HTTP: tickets from any message (the "Open a ticket" shortcut, the
:ticket: reaction) and files on tickets, fetched from the fake Slack's url_private with the bot
token, as the real Slack serves them."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import LOG, SCREENSHOT, count_rows, stored, stored_notes
from tests.slack_harness import DESK_CHANNEL, TOKEN, LiveSlack

GENERAL = "C0GENERAL"


@pytest.fixture
def live(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


def kept_bytes(live: LiveSlack, sha256: str) -> bytes:
    return live.runtime.files.store.read(sha256)


def card_of(live: LiveSlack, index: int = 0) -> dict:
    return live.eventually(lambda: live.slack.messages(DESK_CHANNEL)[index:index + 1])[0]


def blocks_of(message: dict, kind: str) -> list[dict]:
    return [b for b in message.get("blocks") or [] if b["type"] == kind]


def file_fetches(live: LiveSlack) -> list:
    return live.slack.calls_to("files-pri")


def test_a_technician_turns_a_channel_message_with_a_screenshot_into_a_ticket_in_two_clicks(live, engine):
    slack = live.slack
    shot = live.upload("U0ALICE", "vpn-error.png", SCREENSHOT)
    ts, _ = live.share("U0ALICE", "The VPN drops every ten minutes since this morning &lt;see screenshot&gt;",
                       GENERAL, [shot])
    slack.add_message(GENERAL, "U0CAROL", "Same here on floor 2, since 9:00", thread_ts=ts)

    # click 1: "Open a ticket" on Alice's message opens the intake modal, pre-filled
    assert live.shortcut("U0BOB", GENERAL, ts).status == 200
    view = live.eventually(lambda: slack.views())[-1]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["description"]["initial_value"] == "The VPN drops every ten minutes since this morning <see screenshot>"
    assert inputs["requester"]["initial_user"] == "U0ALICE", "a technician on someone else's message: for= its author"
    assert inputs["via"]["initial_option"]["value"] == "chat"
    link = f"https://t0test.slack.com/archives/{GENERAL}/p{ts.replace('.', '')}"
    assert link in view["blocks"][0]["elements"][0]["text"], "the modal links back to the message"

    # click 2: Open ticket
    response = live.submit("U0BOB", view, {"severity": "high"})
    assert response.status == 200 and not response.body, response.body
    ticket = live.eventually(lambda: stored(engine, 1))
    assert (ticket.requester.id, ticket.requester.name, ticket.logged_by_name, ticket.severity.value) == (
        "slack:U0ALICE", "Alice Park", "Bob Lee", "high")
    assert [(n.author_name, n.body) for n in stored_notes(engine, 1)] == [
        ("Bob Lee", f"Opened from a chat message: {link}"), ("Carol Diaz", "Same here on floor 2, since 9:00")]

    # the screenshot is on the ticket, fetched from url_private with the bot token, kept byte for byte
    [screenshot] = live.eventually(lambda: live.attachments(1))
    assert (screenshot.file.name, screenshot.file.content_type, screenshot.file.size, screenshot.author_name) == (
        "vpn-error.png", "image/png", len(SCREENSHOT), "Alice Park")
    assert screenshot.file.link == shot["permalink"]
    assert kept_bytes(live, screenshot.file.sha256) == SCREENSHOT
    assert [c.headers["Authorization"] for c in file_fetches(live)] == [f"Bearer {TOKEN}"]
    live.settled()

    # the bot answers in the message's thread; the card counts the file and shows the screenshot
    assert slack.replies(GENERAL, ts)[-1]["text"] == (
        "🎫 #1 is open for Alice Park: The VPN drops every ten minutes since this morning <see screenshot>"
        .replace("<", "&lt;").replace(">", "&gt;"))
    card = live.eventually(lambda: blocks_of(card_of(live), "image") and card_of(live))
    assert blocks_of(card, "image") == [{"type": "image", "slack_file": {"url": shot["permalink"]},
                                         "alt_text": "vpn-error.png",
                                         "title": {"type": "plain_text", "text": "First image shared on the ticket"}}]
    assert "*Files*\n1 · vpn-error.png" in json.dumps(card["blocks"], ensure_ascii=False).replace("\\n", "\n")
    requester_dm = [m["text"] for m in slack.messages(slack.dm_channel("U0ALICE"))]
    assert requester_dm[0].startswith("Bob Lee opened ticket #1 for you (chat)")
    assert requester_dm[1] == "Bob Lee added files to your ticket #1: vpn-error.png.", "the requester hears of the file"


def test_an_employee_using_the_shortcut_on_someone_elses_message_is_the_requester(live, engine):
    ts, _ = live.say("U0FRANK", "The printer on floor 3 jams on every page", GENERAL)
    live.shortcut("U0ALICE", GENERAL, ts)
    view = live.eventually(lambda: live.slack.views())[-1]
    assert "requester" not in {b.get("block_id") for b in view["blocks"]}
    live.submit("U0ALICE", view, {})
    ticket = live.eventually(lambda: stored(engine, 1))
    assert (ticket.requester.id, ticket.logged_by_id) == ("slack:U0ALICE", None)


def test_the_ticket_emoji_twice_and_by_two_people_opens_one_ticket_for_the_author(live, engine):
    slack = live.slack
    shot = live.upload("U0FRANK", "outlook.png", SCREENSHOT)
    ts, _ = live.share("U0FRANK", "Outlook asks for my password every five minutes", GENERAL, [shot])
    slack.add_message(GENERAL, "U0FRANK", "It started after the update", thread_ts=ts)
    assert live.react("U0ALICE", GENERAL, ts).status == 200  # an employee, not the author
    ticket = live.eventually(lambda: stored(engine, 1))
    assert (ticket.requester.id, ticket.logged_by_name, ticket.description) == (
        "slack:U0FRANK", "Alice Park", "Outlook asks for my password every five minutes")
    live.react("U0ALICE", GENERAL, ts)  # removed and added again
    live.react("U0BOB", GENERAL, ts)  # a second person
    live.react("U0FRANK", GENERAL, ts, event_id="Ev-retried")
    live.react("U0FRANK", GENERAL, ts, event_id="Ev-retried")  # Slack's retry of that event
    live.settled()
    assert count_rows(engine, "tickets") == 1
    assert [(a.file.name, a.author_name) for a in live.attachments(1)] == [("outlook.png", "Frank Ode")]
    assert [n.body for n in stored_notes(engine, 1)][1:] == ["It started after the update"]
    answers = [m["text"] for m in slack.replies(GENERAL, ts) if m.get("bot_id")]
    assert answers == ["🎫 #1 is open for Frank Ode: Outlook asks for my password every five minutes"]
    assert len(file_fetches(live)) == 1, "a repeated reaction does not fetch the files again"


def test_the_ticket_emoji_on_an_apps_message_opens_nothing_and_says_why(live, engine):
    live.slash("U0ALICE", "new The VPN drops every ten minutes since this morning")
    live.settled()
    live.react("U0BOB", DESK_CHANNEL, card_of(live)["ts"])  # the bot's own card
    told = live.eventually(lambda: [e["text"] for e in live.slack.ephemerals if e["user"] == "U0BOB"])
    assert told == ["That message has no person as its author (an app or a workflow wrote it), so it cannot "
                    "become a ticket."]
    assert count_rows(engine, "tickets") == 1


def test_other_emoji_and_channels_outside_the_configured_ones_open_nothing(engine):
    live = LiveSlack(engine, {"slack": {"reaction": ":sos:", "reaction_channels": ["C0HELP"]}}).start()
    try:
        ts, _ = live.say("U0FRANK", "The projector in room 4 shows no picture", GENERAL)
        live.react("U0BOB", GENERAL, ts, name="sos")  # the configured emoji, outside the configured channels
        help_ts, _ = live.say("U0FRANK", "The projector in room 5 shows no picture", "C0HELP")
        live.react("U0BOB", "C0HELP", help_ts, name="ticket")  # the default emoji, no longer configured
        live.react("U0BOB", "C0HELP", help_ts, name="sos")
        ticket = live.eventually(lambda: stored(engine, 1))
        assert ticket.description == "The projector in room 5 shows no picture"
        live.settled()
        assert count_rows(engine, "tickets") == 1
    finally:
        live.stop()


def test_files_in_a_tickets_thread_keep_their_text_as_a_note_and_are_attached(live, engine):
    live.slash("U0ALICE", "new The VPN drops every ten minutes since this morning")
    live.settled()
    card = card_of(live)
    log = live.upload("U0BOB", "vpn.log", LOG, "text/plain")
    ts, _ = live.share("U0BOB", "here is the client log", DESK_CHANNEL, [log], thread_ts=card["ts"])
    live.eventually(lambda: set(live.slack.reactions(DESK_CHANNEL, ts)) == {"white_check_mark", "paperclip"})
    assert [n.body for n in stored_notes(engine, 1)] == ["here is the client log"]
    [kept] = live.attachments(1)
    assert (kept.file.name, kept.file.content_type, kept.author_name) == ("vpn.log", "text/plain", "Bob Lee")
    assert kept_bytes(live, kept.file.sha256) == LOG

    # the requester sends a screenshot in their direct chat: it joins their only open ticket
    dm = live.slack.dm_channel("U0ALICE")
    shot = live.upload("U0ALICE", "screen.png", SCREENSHOT)
    ts2, _ = live.share("U0ALICE", "", dm, [shot], channel_type="im")
    live.eventually(lambda: live.slack.reactions(dm, ts2) == ["paperclip"])
    assert [a.file.name for a in live.attachments(1)] == ["vpn.log", "screen.png"]
    live.settled()
    shown = live.slash("U0ALICE", "show 1")
    assert "📎 screen.png (image/png, 10 KB), shared by Alice Park" in shown.json()["text"]


def test_too_large_refused_type_gone_and_duplicate_files_are_noted_never_dropped(engine):
    live = LiveSlack(engine, {"attachments": {"max_mb": 0.01}}).start()
    try:
        slack = live.slack
        live.slash("U0ALICE", "new The VPN drops every ten minutes since this morning")
        live.settled()
        card = card_of(live)
        big = live.upload("U0BOB", "capture.png", SCREENSHOT * 2)
        program = live.upload("U0BOB", "fix-vpn.exe", b"MZ\x90\x00" + b"\x00" * 100, "application/x-msdownload")
        gone = live.upload("U0BOB", "deleted.png", SCREENSHOT)
        slack.forget_file(gone["id"])
        small = live.upload("U0BOB", "small.png", SCREENSHOT[:2000])
        ts, _ = live.share("U0BOB", "", DESK_CHANNEL, [big, program, gone, small], thread_ts=card["ts"])
        live.eventually(lambda: live.slack.reactions(DESK_CHANNEL, ts) == ["paperclip"])
        recorded = [(a.file.name, a.file.kept, a.file.reason) for a in live.attachments(1)]
        assert recorded == [
            ("capture.png", False, "it is 20 KB, over the 10.2 KB limit"),
            ("fix-vpn.exe", False, "application/x-msdownload files are not accepted here"),
            ("deleted.png", False, "it could not be downloaded (Slack answered 404: the file is gone, or the bot "
                                   "cannot see it)"),
            ("small.png", True, None)]
        told = live.eventually(lambda: [e["text"] for e in slack.ephemerals if e["user"] == "U0BOB"])
        assert told[-1].startswith("capture.png was not kept: it is 20 KB, over the 10.2 KB limit. That is noted on #1.")
        fetched = {c.args["file"] for c in live.slack.calls_to("files-pri")}
        assert fetched == {gone["id"], small["id"]}, "what is too large or refused as declared is never downloaded"

        again = live.upload("U0CAROL", "same-small.png", SCREENSHOT[:2000])
        ts2, _ = live.share("U0CAROL", "", DESK_CHANNEL, [again], thread_ts=card["ts"])
        told = live.eventually(lambda: [e["text"] for e in slack.ephemerals if e["user"] == "U0CAROL"])
        assert told == ["small.png is already on #1; nothing was added."]
        assert len(live.attachments(1)) == 4
        kept = [p for p in live.runtime.files.store.root.rglob("*") if p.is_file()]
        assert [p.name for p in kept] == [hashlib.sha256(SCREENSHOT[:2000]).hexdigest()], "stored once"
    finally:
        live.stop()


def test_a_card_whose_image_slack_refuses_is_still_updated_without_it(live, engine):
    shot = live.upload("U0FRANK", "printer.png", SCREENSHOT)
    ts, _ = live.share("U0FRANK", "The printer on floor 3 jams on every page", GENERAL, [shot])
    live.react("U0FRANK", GENERAL, ts)
    live.settled()
    assert blocks_of(card_of(live), "image"), "the screenshot shows on the card"
    live.slack.forget_file(shot["id"])  # deleted in Slack: an image block naming it is now invalid_blocks
    live.button("U0BOB", "claim", 1, message_ts=card_of(live)["ts"])
    live.eventually(lambda: stored(engine, 1).assignee_id == "slack:U0BOB")
    live.settled()
    card = card_of(live)
    assert not blocks_of(card, "image") and "<@U0BOB>" in json.dumps(card["blocks"])
    assert [a.file.name for a in live.attachments(1)] == ["printer.png"], "the kept copy stays on the ticket"
