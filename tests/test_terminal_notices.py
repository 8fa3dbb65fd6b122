"""Technicians at the terminal hear what concerns their groups (pages, escalations, urgent
requests, SLA warnings), as requesters hear their messages (✉); one who reads the group's chat
channel does not get it twice, unless they asked for terminal copies."""
from __future__ import annotations

import io
from datetime import timedelta

from adapters.console.shell import Shell
from adapters.settings import AppSettings as Settings
from bot.desk import Desk
from bot.routing import Router
from storage.outbox import Outbox
from storage.repository import SqlStore
from tests.conftest import SETTINGS, People, outbox_rows, say


def settings_with(**overrides) -> Settings:
    return Settings.model_validate({**SETTINGS, **overrides})


def terminal(desk: Desk, engine, identity: str) -> str:
    """What `identity` sees at the terminal before their next prompt."""
    out = io.StringIO()
    Shell(desk, Outbox(SqlStore(engine)), identity, out).deliver_inbox()
    return out.getvalue()


class TestWhoGetsTerminalCopies:
    def test_members_no_channel_of_the_group_reaches(self):
        router = Router(settings_with())
        assert router.terminal_members("service-desk") == ["carol@corp.example"], "Bob reads the Slack channel"
        assert router.terminal_members("network-eng") == ["dave@corp.example"], "Dave is known only by email"
        assert router.terminal_members("network-vendor") == ["eve@vendor.example"], "a group with no channel at all"
        assert router.terminal_members("nobody") == []

    def test_a_group_without_a_channel_where_its_member_chats(self):
        groups = {**SETTINGS["groups"], "network-vendor": {"members": ["bob@corp.example", "slack:U0BOB"]}}
        assert Router(settings_with(groups=groups)).terminal_members("network-vendor") == ["bob@corp.example"], \
            "once, by his first identity"

    def test_a_technician_may_ask_for_copies_as_well(self):
        technicians = [{**SETTINGS["technicians"][0], "terminal": True}, *SETTINGS["technicians"][1:]]
        router = Router(settings_with(technicians=technicians))
        assert router.terminal_members("service-desk") == ["bob@corp.example", "carol@corp.example"]

    def test_with_no_chat_platform_everybody_is_at_the_terminal(self):
        data = {k: v for k, v in SETTINGS.items() if k != "slack"}
        assert Router(Settings.model_validate(data)).terminal_members("service-desk") == [
            "bob@corp.example", "carol@corp.example"]


def test_pages_escalations_urgency_and_warnings_reach_technicians_at_the_terminal(engine, clock):
    desk = Desk(settings_with(escalation={"warning_minutes": 5}), SqlStore(engine), clock=clock)
    p = People(desk)
    say(desk, p.alice, "new the whole floor lost the wifi severity=critical")
    assert terminal(desk, engine, "carol@corp.example") == (
        "✉ Critical ticket for service-desk: #1 from Alice Park: the whole floor lost the wifi\n")
    assert terminal(desk, engine, "carol@corp.example") == "", "each message once"
    assert terminal(desk, engine, "bob@corp.example") == "", "Bob has it in the Slack channel, not twice"

    clock.advance(minutes=10)
    desk.sweep()
    assert terminal(desk, engine, "carol@corp.example") == (
        "✉ #1 (critical) the whole floor lost the wifi: ⚠️ Unclaimed: escalates to network-eng in 5 min unless "
        "someone claims it.\n")
    clock.advance(minutes=5)
    desk.sweep()
    seen = terminal(desk, engine, "dave@corp.example")
    assert seen.startswith("✉ Escalated to network-eng (level 2): #1 (critical) from Alice Park, waiting 15 min: "
                           "the whole floor lost the wifi\nReason: nobody at service-desk claimed it within 15 min")

    say(desk, p.alice, "urgent 1 the whole sales team is idle")
    assert terminal(desk, engine, "dave@corp.example").startswith(
        "✉ Alice Park asks for urgency on #1 (critical), waiting 15 min: the whole floor lost the wifi\n"
        "Why: the whole sales team is idle")
    assert terminal(desk, engine, "carol@corp.example") == "", "the urgency concerns the group working on it now"


def test_nobody_is_told_of_what_they_did_themselves(engine, clock):
    desk = Desk(settings_with(), SqlStore(engine), clock=clock)
    p = People(desk)
    say(desk, p.alice, "new the vpn drops every ten minutes")
    say(desk, p.dave, "urgent 1 the CEO is travelling tomorrow")
    say(desk, p.dave, "escalate 1 network-eng needs the network team")
    assert [r["audience"] for r in outbox_rows(engine) if r["platform"] == "console" and r["kind"] == "escalation"] == [
        "user:carol@corp.example"], "Carol hears of Dave's urgency; Dave hears of neither of his own"
    clock.advance(minutes=1)
    assert terminal(desk, engine, "dave@corp.example") == ""
