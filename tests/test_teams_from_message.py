"""Teams, end to end over HTTP: the message action "Open a ticket" (a message extension with a
`message` context: its form as a task module) and files on tickets, fetched from the fake Bot
Connector and its neighbours as Teams' services serve them."""
from __future__ import annotations

import asyncio

import pytest

from adapters.chat.attachments import FetchFailed, SharedFile
from adapters.teams.from_message import TeamsSource
from tests.conftest import LOG, SCREENSHOT, count_rows, stored, stored_notes
from tests.teams_harness import TEAM, USERS, LiveTeams, card_content, inputs, submitted, texts

GENERAL = "19:general-channel@thread.tacv2"
CHAT = "19:group-chat-abc@thread.v2"
ALICE, BOB = (f"teams:{USERS[k][1]}" for k in ("alice", "bob"))


@pytest.fixture
def live(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def task(response) -> dict:
    assert response.status == 200, response.body
    return response.json()["task"]


def test_a_technician_turns_a_channel_message_with_a_screenshot_into_a_ticket_in_two_clicks(live, engine):
    payload = live.message_payload("alice", "The VPN drops every ten minutes since this morning &lt;809&gt;",
                                   channel=GENERAL, images=(SCREENSHOT,))

    # click 1: "Open a ticket" in the message's … menu: the intake form, as a task module
    form = task(live.post(live.message_action("bob", payload, channel=GENERAL)))
    assert form["type"] == "continue" and form["value"]["title"] == "New help desk ticket"
    card = form["value"]["card"]["content"]
    fields = inputs(card)
    assert fields["description"]["value"] == "The VPN drops every ten minutes since this morning <809>"
    assert fields["requester"]["value"] == USERS["alice"][1], "a technician on someone else's message: for= its author"
    assert fields["requester"]["choices"] == [{"title": "Alice Park", "value": USERS["alice"][1]}]
    assert fields["via"]["value"] == "chat"
    assert payload["linkToMessage"] in texts(card), "the form links back to the message"

    # click 2: Open ticket
    done = task(live.post(live.message_action("bob", payload, channel=GENERAL, submit=submitted(card, severity="high"))))
    assert done == {"type": "message", "value": "✅ #1 is open: The VPN drops every ten minutes since this morning "
                                                   "<809>. You'll hear from the help desk here."}
    ticket = stored(engine, 1)
    assert (ticket.requester.id, ticket.requester.name, ticket.logged_by_name, ticket.severity.value) == (
        ALICE, "Alice Park", "Bob Lee", "high")
    assert [n.body for n in stored_notes(engine, 1)] == [f"Opened from a chat message: {payload['linkToMessage']}"]

    # the screenshot pasted in the message is on the ticket, byte for byte
    [screenshot] = live.eventually(lambda: live.attachments(1))
    assert (screenshot.file.name, screenshot.file.content_type, screenshot.file.size, screenshot.author_name) == (
        "image.png", "image/png", len(SCREENSHOT), "Alice Park")
    assert live.runtime.files.store.read(screenshot.file.sha256) == SCREENSHOT
    assert [c.path.rpartition("/hostedContents/")[0] for c in live.connector.fetches()] == [
        f"/v1.0/teams/{TEAM}/channels/{GENERAL}/messages/{payload['id']}"]
    live.settled()

    # the bot answers in the message's thread; the card counts the file
    [answer] = live.connector.in_thread(GENERAL, payload["id"])
    assert answer.activity["text"] == ("🎫 #1 is open for Alice Park: The VPN drops every ten minutes since this "
                                       "morning &lt;809&gt;")
    assert "Files: 1 · image.png" in live.eventually(lambda: "Files" in texts(card_content(live.card())) and
                                                     texts(card_content(live.card())))


def test_in_a_group_chat_an_employee_on_someone_elses_message_is_the_requester(live, engine):
    payload = live.message_payload("frank", "The printer on floor 3 jams on every page")
    form = task(live.post(live.message_action("alice", payload, chat=CHAT)))
    card = form["value"]["card"]["content"]
    assert "requester" not in inputs(card)
    done = task(live.post(live.message_action("alice", payload, chat=CHAT, submit=submitted(card))))
    assert done["value"].startswith("✅ #1 is open")
    assert (stored(engine, 1).requester.id, stored(engine, 1).logged_by_id) == (ALICE, None)
    live.settled()
    assert [p.activity["text"] for p in live.connector.sent(CHAT)] == [
        "🎫 #1 is open for Alice Park: The printer on floor 3 jams on every page"], "answered in the chat itself"


def test_a_dialog_submitted_twice_opens_one_ticket_and_a_short_description_comes_back_on_its_field(live, engine):
    payload = live.message_payload("alice", "VPN down")
    card = task(live.post(live.message_action("bob", payload)))["value"]["card"]["content"]
    again = task(live.post(live.message_action("bob", payload, submit=submitted(card))))
    assert again["type"] == "continue" and "at least 10 characters" in texts(again["value"]["card"]["content"])
    assert stored(engine, 1) is None
    fixed = submitted(card, description="VPN down for the whole of floor 2 since 9:00")
    first = task(live.post(live.message_action("bob", payload, submit=fixed)))
    repeat = task(live.post(live.message_action("bob", payload, submit=fixed)))
    assert first["value"].startswith("✅ #1 is open") and repeat["value"].startswith("You already opened this as #1")
    assert count_rows(engine, "tickets") == 1


def test_files_in_the_personal_chat_and_in_a_tickets_thread_are_attached(live, engine):
    live.post(live.personal("alice", "new The VPN drops every ten minutes since this morning"))
    live.settled()
    card = live.card()
    # a log sent in the personal chat: Teams' pre-authenticated download URL, no token needed
    live.post(live.with_files(live.personal("alice", "here is the client log"), [live.file_sent("vpn.log", LOG, "text/plain")]))
    # a screenshot pasted in an @mention reply in the card's thread: the Connector's attachments service
    live.post(live.with_files(live.channel("bob", "what I see on her laptop", root=card.id), [live.inline_image(SCREENSHOT)]))
    kept = live.eventually(lambda: len(live.attachments(1)) == 2 and live.attachments(1))
    assert [(a.file.name, a.file.content_type, a.author_name) for a in kept] == [
        ("vpn.log", "text/plain", "Alice Park"), ("image.png", "image/png", "Bob Lee")]
    assert [n.body for n in stored_notes(engine, 1)] == ["here is the client log", "what I see on her laptop"]
    assert [live.runtime.files.store.read(a.file.sha256) for a in kept] == [LOG, SCREENSHOT]
    told = [p.activity.get("text") for p in live.chat("alice")]
    assert "Attached vpn.log to #1." in told


def test_too_large_refused_type_gone_sharepoint_and_duplicate_files_are_noted_never_dropped(engine):
    live = LiveTeams(engine, {"attachments": {"max_mb": 0.01}}).start()
    try:
        live.post(live.personal("alice", "new The VPN drops every ten minutes since this morning"))
        live.settled()
        gone = live.inline_image(SCREENSHOT, blob="0-weu-d1-never-stored")
        files = [live.file_sent("capture.png", SCREENSHOT * 2), live.file_sent("fix-vpn.exe", b"MZ\x90\x00 a program"),
                 gone, live.file_sent("small.png", SCREENSHOT[:2000])]
        live.post(live.with_files(live.personal("alice", ""), files))
        recorded = live.eventually(lambda: len(live.attachments(1)) == 4 and live.attachments(1))
        assert [(a.file.name, a.file.kept, a.file.reason) for a in recorded] == [
            ("capture.png", False, "it is 20 KB, over the 10.2 KB limit"),
            ("fix-vpn.exe", False, "application/x-msdownload files are not accepted here"),
            ("image", False, "it could not be downloaded (Teams answered 404: the file is gone, or the bot cannot "
                             "see it)"),
            ("small.png", True, None)]
        told = live.eventually(lambda: [p.activity.get("text") for p in live.chat("alice")
                                        if "not kept" in (p.activity.get("text") or "")])
        assert told[0].startswith("capture.png was not kept: it is 20 KB, over the 10.2 KB limit. That is noted on #1.")
        live.post(live.with_files(live.personal("alice", "#1"), [live.file_sent("again.png", SCREENSHOT[:2000])]))
        live.eventually(lambda: any("small.png is already on #1" in (p.activity.get("text") or "")
                                    for p in live.chat("alice")))
        assert len(live.attachments(1)) == 4 and stored_notes(engine, 1) == [], "a bare #1 names the ticket, no note"

        # a file attached to a channel message lives in SharePoint: noted with its link and the reason
        reference = {"id": "5f1c", "contentType": "reference", "name": "network-diagram.vsdx",
                     "contentUrl": "https://corp.sharepoint.com/sites/it/Shared Documents/network-diagram.vsdx"}
        payload = live.message_payload("frank", "Outlook asks for my password every five minutes",
                                       attachments=(reference,))
        card = task(live.post(live.message_action("frank", payload)))["value"]["card"]["content"]
        task(live.post(live.message_action("frank", payload, submit=submitted(card))))
        [diagram] = live.eventually(lambda: live.attachments(2))
        assert (diagram.file.name, diagram.file.link, diagram.file.reason) == (
            "network-diagram.vsdx", reference["contentUrl"],
            "it could not be downloaded (it is kept in SharePoint, where the bot has no access; its link is on the ticket)")
    finally:
        live.stop()


def test_the_bot_sends_its_own_token_to_the_connector_and_only_there(live):
    """An authenticated bot's Connector serves attachments to its token only; the bot's token goes
    to the Connector's host and nowhere else."""
    connector = live.connector
    connector.bot_tokens = {"bot-token-1"}
    blob = connector.add_blob(SCREENSHOT)

    class Tokens:
        async def bot(self, service_url):
            return "bot-token-1" if service_url == connector.url else None

        async def graph(self, tenant):
            return "graph-token-1"

    def fetch(tokens, file: SharedFile) -> bytes:
        return asyncio.run(TeamsSource(None, None, tokens, service_url=connector.url).fetch(file, 1_000_000))

    image = SharedFile("", "image/*", None, connector.image_url(blob), auth="bot")
    assert fetch(Tokens(), image) == SCREENSHOT
    assert connector.fetches()[-1].authorization == "Bearer bot-token-1"

    class NoTokens(Tokens):
        async def bot(self, service_url):
            return None

    with pytest.raises(FetchFailed, match="Teams did not accept the bot's credentials"):
        fetch(NoTokens(), image)
    sent = connector.download_url(blob, "shot.png")
    assert fetch(NoTokens(), SharedFile("shot.png", url=sent, auth="download")) == SCREENSHOT, "pre-authenticated"
    with pytest.raises(FetchFailed, match="did not accept"):
        fetch(NoTokens(), SharedFile("shot.png", url=sent.partition("?")[0], auth="download"))
    elsewhere = SharedFile("", "image/*", None, "https://attacker.example/steal.png", auth="bot")
    with pytest.raises(FetchFailed, match="its address is not Teams'"):
        fetch(Tokens(), elsewhere)
    calls = len(connector.calls)
    with pytest.raises(FetchFailed, match="SharePoint"):
        fetch(Tokens(), SharedFile("x.docx", url="https://corp.sharepoint.com/x.docx", auth="sharepoint"))
    assert len(connector.calls) == calls, "nothing was requested"
