"""What people type arrives intact, whichever way it comes in (issue 14): one test per kind of
fault, each example with the right value as its assertion, from every adapter it can enter by."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.text import clean
from tests.conftest import outbox_rows, say, stored, stored_notes
from tests.slack_harness import DESK_CHANNEL, LiveSlack
from tests.teams_harness import DESK, LiveTeams, card_content
from tests.test_console import EXAMPLE, HELPDESK

VPN_NOTE = "Checked the AT&T VPN client: its log shows <0x800CCC0E>"
AS_SLACK_SENDS_IT = "Checked the AT&amp;T VPN client: its log shows &lt;0x800CCC0E&gt;"
NBSP = "\u00a0"


@pytest.fixture
def slack(engine):
    server = LiveSlack(engine).start()
    yield server
    server.stop()


@pytest.fixture
def teams(engine):
    server = LiveTeams(engine).start()
    yield server
    server.stop()


def slack_card(live: LiveSlack, description: str = "The VPN drops every ten minutes since this morning") -> dict:
    live.slash("U0ALICE", f"new {description}")
    live.settled()
    return live.slack.messages(DESK_CHANNEL)[-1]


class TestSlackFormattingIsDecodedOnTheWayIn:
    def test_a_thread_reply_is_stored_and_shown_as_typed(self, slack, engine, desk, people):
        card = slack_card(slack)
        ts, _ = slack.say("U0BOB", AS_SLACK_SENDS_IT, DESK_CHANNEL, thread_ts=card["ts"])
        slack.eventually(lambda: slack.slack.reactions(DESK_CHANNEL, ts))
        assert stored_notes(engine, 1)[0].body == VPN_NOTE
        shown = say(desk, people.bob, "show 1")
        assert shown.notes[0].body == VPN_NOTE
        slack.settled()
        dm = slack.slack.messages(slack.slack.dm_channel("U0ALICE"))[-1]["text"]
        assert dm.endswith("AT&amp;T VPN client: its log shows &lt;0x800CCC0E&gt;"), "escaped once on the way out"

    def test_links_addresses_numbers_and_channels_read_as_typed(self, slack, engine):
        slack.slash("U0ALICE", "new the share <https://intranet.corp/vpn|intranet.corp/vpn> is down; see "
                               "<https://status.corp/x|the status page>, mail <mailto:net@corp.example|net@corp.example>"
                               " or call <tel:+15550142|+1 555 0142>, as said in <#C0NET|network>")
        assert stored(engine, 1).description == (
            "the share intranet.corp/vpn is down; see the status page (https://status.corp/x), mail net@corp.example "
            "or call +1 555 0142, as said in #network")

    def test_the_slash_commands_prefill_is_decoded(self, slack):
        slack.slash("U0ALICE", "the AT&amp;T VPN client says &lt;0x800CCC0E&gt;")
        view = slack.eventually(lambda: slack.slack.views())[-1]
        field = next(b for b in view["blocks"] if b.get("block_id") == "description")
        assert field["element"]["initial_value"] == "the AT&T VPN client says <0x800CCC0E>"

    def test_a_persons_mention_still_names_them(self, slack, engine):
        slack.slash("U0BOB", "new for=<@U0ALICE|alice> the VPN drops every ten minutes via=phone")
        assert stored(engine, 1).requester.id == "slack:U0ALICE"


class TestMessagesPeopleWroteAreNeverDropped:
    def test_a_thread_reply_also_sent_to_the_channel_is_a_note(self, slack, engine):
        card = slack_card(slack)
        event = slack.posted("U0BOB", "Rebooted the VPN concentrator", DESK_CHANNEL, thread_ts=card["ts"])
        event["subtype"] = "thread_broadcast"
        slack.event(event)
        slack.eventually(lambda: slack.slack.reactions(DESK_CHANNEL, event["ts"]) == ["white_check_mark"])
        assert [n.body for n in stored_notes(engine, 1)] == ["Rebooted the VPN concentrator"]

    @pytest.mark.parametrize("shape", [
        {"subtype": "message_changed", "message": {"text": "edited"}},
        {"subtype": "channel_join"},
        {"subtype": "bot_message", "bot_id": "B0OTHER"},
        {"bot_id": "B0BOT"},
    ])
    def test_edits_joins_and_bots_are_not_notes(self, slack, engine, shape):
        card = slack_card(slack)
        event = slack.posted("U0BOB", "not a note", DESK_CHANNEL, thread_ts=card["ts"])
        event.update(shape)
        assert slack.event(event).status == 200
        slack.settled()
        assert stored_notes(engine, 1) == []


class TestTypographicSpacesAndQuotes:
    def test_a_no_break_space_in_a_command(self, desk, people, slack, teams):
        assert say(desk, people.alice, "new the VPN drops every ten minutes").ok
        assert say(desk, people.alice, f"show{NBSP}1").ok
        slack_reply = slack.slash("U0ALICE", f"show{NBSP}1").json()
        assert "I don't know" not in slack_reply["text"] and "*#1*" in slack_reply["text"]
        teams.post(teams.personal("alice", f"show{NBSP}1"))
        assert "**#1**" in teams.chat("alice")[-1].activity["text"]

    def test_curly_quotes_delimit_an_option_and_stay_in_the_description(self, desk, people, engine, slack):
        reply = say(desk, people.alice, "new the “Save” button crashes Excel location=“Building 2 room 5”")
        t = stored(engine, reply.ticket.id)
        assert (t.location, t.description) == ("Building 2 room 5", "the “Save” button crashes Excel")
        slack.slash("U0ALICE", "new the printer jams on every page location=«Bâtiment 2»")
        assert stored(engine, 2).location == "Bâtiment 2"

    def test_names_compare_whatever_the_apostrophe(self, desk, people):
        aoife = desk.actor("aoife@corp.example", "Aoife O'Brien")
        say(desk, aoife, "new the VPN drops every ten minutes")
        found = say(desk, people.bob, "whois O’Brien")
        assert [p.name for p in found.people] == ["Aoife O'Brien"]
        assert say(desk, people.bob, "new for=O’Brien via=phone her headset crackles on every call").ok


class TestCleaningKeepsWhatIsPartOfWriting:
    @pytest.mark.parametrize("text", [
        "My 👩\u200d💻 laptop sticker peeled off the docking station",
        "پرینتر کار نمی\u200cکند و کاغذ گیر می\u200cکند",  # Persian: the ZWNJ is part of the words
        "हिन्दी\u200d टाइप नहीं होता, कीबोर्ड बदलना है",
        "Mixed \u200fright-to-left\u200e marks stay",
    ])
    def test_joiners_and_direction_marks_stay(self, desk, people, engine, text):
        reply = say(desk, people.alice, f"new {text}")
        assert stored(engine, reply.ticket.id).description == text

    def test_what_is_not_text_goes(self):
        assert clean("\ufeffpay\u200bment \u202eevil\u202c file\u2066x\u2069") == "payment evil filex"
        assert clean("line one\u2028line two") == "line one\nline two"


class TestSizesInThePlatformsOwnUnit:
    def test_show_in_teams_fits_28_kb_and_points_to_the_rest(self, teams, engine, desk, people):
        reply = say(desk, people.alice, "new 网络连接不稳定，每十分钟断开一次，需要重新登录")
        for n in range(45):
            say(desk, people.bob, f"note {reply.ticket.id} {n:02d} " + "服务器日志显示连接被重置" * 33)
        teams.post(teams.personal("bob", "show 1"))
        answer = teams.chat("bob")[-1].activity
        assert teams.connector.calls[-1].method == "POST" and teams.connector.too_big == [], "nothing was refused for size"
        assert len(json.dumps(answer, ensure_ascii=False).encode()) < 28 * 1024
        text = answer["text"]
        assert "44 服务器日志" in text, "the latest note is shown"
        assert "00 服务器日志" not in text and "earlier notes: `show 1 all`" in text
        teams.post(teams.personal("bob", "show 1 all"))
        assert "00 服务器日志" in teams.chat("bob")[-1].activity["text"]

    def test_a_long_description_fits_slacks_fields_and_teams_card(self, slack, teams, engine):
        description = "蓝屏错误 0x0000007E 出现在启动时。" * 165  # 3,795 characters
        card = slack_card(slack, description)  # Slack (the fake, as Slack) refuses any field over its limit
        assert card["blocks"][0]["text"]["text"].startswith("#1 · 蓝屏错误")
        assert stored(engine, 1).description == description
        teams.post(teams.personal("alice", f"new {description}"))
        posted = teams.card(DESK)  # the Connector (the fake, as Teams) answers 413 past 28 KB
        assert card_content(posted)["body"][1]["text"].startswith("蓝屏错误")
        teams.settled()
        assert {r["status"] for r in outbox_rows(engine) if r["platform"] == "teams"} == {"delivered"}

    def test_a_slash_command_longer_than_one_input_is_kept_whole(self, slack, engine):
        text = ("The VPN client log says: " + "connection reset by peer, retrying in 5 s; " * 80).strip()  # ~3,500
        slack.slash("U0ALICE", text)
        view = slack.eventually(lambda: slack.slack.views())[-1]
        inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
        assert inputs[:2] == ["description", "description__more"]
        assert slack.submit("U0ALICE", view, {}).status == 200
        assert stored(engine, 1).description == text


class TestWhatTheGrammarDoesNotUnderstandIsRefused:
    def test_a_misspelt_option(self, desk, people, engine, slack, teams):
        line = "new Wi-Fi in the canteen is very slow at lunch sevirity=high"
        reply = say(desk, people.alice, line)
        assert reply.text.startswith("`sevirity=` is not something `new` takes; did you mean `severity=`?")
        assert reply.draft == line
        assert "did you mean `severity=`" in slack.slash("U0ALICE", line).json()["text"]
        teams.post(teams.personal("alice", line))
        assert "did you mean `severity=`" in teams.chat("alice")[-1].activity["text"]
        assert stored(engine, 1) is None

    def test_a_phone_number_is_taken_whole(self, desk, people, engine):
        reply = say(desk, people.alice, "new the desk phone rings but nobody is there phone=+44 20 7946 0958 ext 12")
        t = stored(engine, reply.ticket.id)
        assert (t.requester.phone, t.description) == ("+44 20 7946 0958 ext 12", "the desk phone rings but nobody is there")

    def test_a_phone_number_too_short_is_refused(self, desk, people, engine):
        reply = say(desk, people.alice, "new the desk phone rings but nobody is there phone=4711")
        assert not reply.ok and reply.field_errors["phone"].startswith("`4711` is not a phone number: it needs 6 to 15 digits")
        assert stored(engine, 1) is None

    def test_a_misspelt_group(self, desk, people, engine):
        say(desk, people.alice, "new a suspicious USB stick was plugged into the docking station")
        reply = say(desk, people.bob, "escalate 1 securty-ops a suspicious USB device was found in the dock")
        assert reply.text.startswith("There is no group `securty-ops`; did you mean `security-ops`? Nothing was done")
        assert stored(engine, 1).group == "service-desk" and stored(engine, 1).escalation_level == 1

    def test_an_unclosed_quote(self, desk, people, engine):
        reply = say(desk, people.alice, 'new the printer jams location="Floor 3')
        assert reply.text.startswith("The quote after `location=` is not closed")
        assert stored(engine, 1) is None

    def test_text_that_merely_contains_an_equals_sign_is_kept(self, desk, people, engine):
        reply = say(desk, people.alice, "new saving fails with HRESULT=0x80070005 in Excel")
        assert stored(engine, reply.ticket.id).description == "saving fails with HRESULT=0x80070005 in Excel"


def test_piped_output_that_is_cut_short_ends_quietly(tmp_path: Path):
    env = {"HELPDESK_CONFIG": str(EXAMPLE), "DATABASE_URL": f"sqlite:///{tmp_path / 'hd.db'}", "HOME": str(tmp_path),
           "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    lines = "".join(f"new ticket number {n} is about the printer on floor 3\n" for n in range(60))
    subprocess.run([str(HELPDESK), "shell", "--as", "alice@corp.example"], input=lines, env=env, text=True, check=True,
                   capture_output=True)
    piped = subprocess.run(f"'{HELPDESK}' shell --as bob@corp.example -c queue | head -1", shell=True, env=env,
                           capture_output=True, text=True)
    assert piped.stdout.startswith("Open tickets")
    assert "Traceback" not in piped.stderr and "BrokenPipeError" not in piped.stderr
