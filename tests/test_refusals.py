"""Every refusal and every malformed command gets one clear sentence, and changes nothing."""
from __future__ import annotations

import pytest

from bot.model import Status
from tests.conftest import count_rows, outbox_rows, say, stored, stored_notes

TECHNICIAN_COMMANDS = {
    "claim 1": "Only technicians can claim tickets",
    "assign 1 bob": "Only technicians can assign tickets",
    "internal 1 a secret": "Only technicians can write internal notes",
    "wait 1 which floor?": "Only technicians can put tickets on hold",
    "escalate 1 please hurry": "Only technicians can escalate tickets",
    "resolve 1 I fixed it myself somehow": "Only technicians can resolve tickets",
    "close 1": "Only technicians can close tickets",
    "queue": "Only technicians can see the queue",
}


@pytest.fixture
def one_ticket(desk, people):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")


@pytest.mark.parametrize("line", TECHNICIAN_COMMANDS)
def test_employees_are_refused_technician_commands_and_nothing_changes(desk, people, engine, one_ticket, line):
    before = stored(engine, 1)
    events = count_rows(engine, "audit_events")
    reply = say(desk, people.alice, line)
    assert not reply.ok
    assert reply.text.startswith(TECHNICIAN_COMMANDS[line])
    assert "type `mine`" in reply.text, "the refusal says what to do instead"
    assert stored(engine, 1) == before
    assert count_rows(engine, "audit_events") == events


@pytest.mark.parametrize("line", ["show 1", "note 1 me too, same printer", "reopen 1 still broken"])
def test_other_employees_cannot_see_or_touch_a_ticket_and_are_not_told_it_exists(desk, people, engine, one_ticket, line):
    reply = say(desk, people.frank, line)
    assert not reply.ok
    assert reply.text == "There is no ticket #1 that you can see; type `mine` to list yours."
    assert say(desk, people.frank, line.replace(" 1", " 999", 1)).text == reply.text.replace("#1", "#999")
    assert stored_notes(engine, 1) == []


@pytest.mark.parametrize("line, expected", [
    ("show 999", "There is no ticket #999 that you can see; type `mine` to list yours."),
    ("claim #424242", "There is no ticket #424242 that you can see; type `mine` to list yours."),
    ("show 0", "There is no ticket #0 that you can see; type `mine` to list yours."),
    ("show 999999999", "There is no ticket #999999999 that you can see; type `mine` to list yours."),
    ("show 99999999999999999999", "`99999999999999999999` is not a ticket number; type it like `12` or `#12`, for example `show 12`."),
    ("show -1", "`-1` is not a ticket number; type it like `12` or `#12`, for example `show 12`."),
    ("show abc", "`abc` is not a ticket number; type it like `12` or `#12`, for example `show 12`."),
    ("claim", "Which ticket? Type `claim <id>`, for example `claim 12`."),
    ("show #", "`#` is not a ticket number; type it like `12` or `#12`, for example `show 12`."),
    ("resolve 1", "The resolution is missing: type `resolve <id> <resolution>`."),
    ("note 1", "The note is missing: type `note <id> <text>`."),
    ("escalate 1", "The reason is missing: type `escalate <id> [group] <reason>`."),
    ("claim 1 now please", "`claim` takes no text after the ticket number; type `claim <id>`."),
    ("resolve 1 done", "Describe the resolution in at least 10 characters (what fixed it), so the next technician can reuse it: `resolve 1 <resolution>`."),
    ("assign 1 zed", "I don't know a technician `zed`; technicians are: Bob Lee (bob@corp.example), Carol Diaz (carol@corp.example), Dave Kim (dave@corp.example), eve (eve@vendor.example)."),
    ("assign 1 nobody@corp.example", "I don't know a technician `nobody@corp.example`; technicians are: Bob Lee (bob@corp.example), Carol Diaz (carol@corp.example), Dave Kim (dave@corp.example), eve (eve@vendor.example)."),
    ("escalate 1 nosuchgroup", "#1 is already at the top of its escalation chain (service-desk, level 1); name a group: `escalate 1 <group> <reason>` (groups: service-desk, network-eng, network-vendor, security-ops)."),
    ("escalate 1 network-eng", "Say why #1 needs escalating: `escalate 1 [group] <reason>`."),
    ("queue purple", "`purple` is not a severity, category or group; try one of: low, medium, high, critical, hardware, network, printer, other, service-desk, network-eng, network-vendor, security-ops."),
    ("reopen 1 it is broken again", "#1 is new, not resolved, so there is nothing to reopen; add a note with `note 1 <text>` instead."),
    ("close 1", "#1 is new; resolve it first with `resolve 1 <resolution>`."),
    ("frobnicate 1", "I don't know the command `frobnicate`. Type `help` to see the commands."),
    ("claimm 1", "I don't know the command `claimm`. Type `help` to see the commands, or did you mean `claim`?"),
    ("my printer is broken again", "I don't know the command `my`. To open a ticket, type `new my printer is broken again`; `help` lists the commands."),
    ("mine please show them", "`mine` takes nothing after it; type `mine`, or `new mine please show them` to open a ticket."),
    ("help frobnicate", "There is no command `frobnicate`; type `help` to see them all."),
    ("", "Type a command, for example `new the printer on floor 3 jams`, or `help` to see them all."),
    ("   \t  ", "Type a command, for example `new the printer on floor 3 jams`, or `help` to see them all."),
    ("\x00\x07\x1b", "Type a command, for example `new the printer on floor 3 jams`, or `help` to see them all."),
])
def test_malformed_commands_get_one_sentence_and_change_nothing(desk, people, engine, one_ticket, line, expected):
    before = stored(engine, 1)
    rows = count_rows(engine, "audit_events"), count_rows(engine, "notes"), count_rows(engine, "outbox")
    reply = say(desk, people.bob, line)
    assert not reply.ok
    assert reply.text == expected
    assert "Traceback" not in reply.text
    assert stored(engine, 1) == before
    assert (count_rows(engine, "audit_events"), count_rows(engine, "notes"), count_rows(engine, "outbox")) == rows


def test_claiming_a_ticket_someone_has_says_who(desk, people, one_ticket):
    say(desk, people.carol, "claim 1")
    reply = say(desk, people.bob, "claim 1")
    assert reply.text == "#1 is already claimed by Carol Diaz; ask them, or `assign 1 <technician>` to hand it over."
    assert say(desk, people.carol, "claim 1").text == "#1 is already yours."


def test_finished_tickets_refuse_work_and_say_what_to_do(desk, people, one_ticket):
    say(desk, people.bob, "resolve 1 cleared the paper path and replaced the roller")
    assert say(desk, people.bob, "claim 1").text == "#1 is resolved, so it cannot be claimed; type `reopen 1 <why>` if the problem is back."
    assert say(desk, people.bob, "resolve 1 again and again and again").text.startswith("#1 is resolved, so it cannot be resolved")
    say(desk, people.bob, "close 1")
    assert say(desk, people.bob, "close 1").text == "#1 is already closed."
    assert say(desk, people.alice, "reopen 1 jams again").text == (
        "#1 is closed, so it cannot be reopened; open a new ticket with `new <description>` and mention #1 in it.")
    assert say(desk, people.bob, "escalate 1 still broken").text.startswith("#1 is closed, so it cannot be escalated")


def test_requester_may_show_note_and_reopen_their_own_ticket(desk, people, engine, one_ticket):
    assert say(desk, people.alice, "show 1").ok
    assert say(desk, people.alice, "note 1 it is the one by the kitchen").ok
    say(desk, people.bob, "resolve 1 cleared the paper path and replaced the roller")
    assert say(desk, people.alice, "reopen 1 jams again after lunch").ok
    assert stored(engine, 1).status is Status.IN_PROGRESS


def test_help_shows_each_person_only_what_they_may_run(desk, people):
    employee = {h.usage.split()[0] for h in say(desk, people.alice, "help").help}
    technician = {h.usage.split()[0] for h in say(desk, people.bob, "help").help}
    assert employee == {"new", "show", "mine", "note", "reopen", "confirm", "urgent", "solved", "unlink", "help", "attach",
                        "set", "rate"}
    assert technician == employee | {"claim", "assign", "internal", "wait", "escalate", "resolve", "close", "queue", "sla", "similar", "report", "whois",
                                     "link", "merge", "incident", "incidents", "broadcast", "dismiss", "unassign"}
    one = say(desk, people.alice, "help escalate")
    assert one.help[0].usage == "escalate <id> [group] <reason>"
    assert "Who may run it: technicians." in one.detail


class TestDescriptions:
    def test_too_short_and_bad_options_are_reported_together_and_the_draft_returned(self, desk, people, engine):
        line = "new broken severity=urgent category=plumbing"
        reply = say(desk, people.alice, line)
        assert not reply.ok
        assert reply.text.startswith("Nothing was opened yet: The description needs at least 10 characters")
        assert "Severity `urgent` is not one of low, medium, high, critical." in reply.text
        assert "Category `plumbing` is not one of hardware, network, printer, other." in reply.text
        assert reply.text.endswith(f"Fix it and send again: `{line}`")
        assert reply.draft == line
        assert count_rows(engine, "tickets") == 0

    def test_a_hundred_kilobytes_is_refused_with_the_length(self, desk, people, engine):
        reply = say(desk, people.alice, "new " + "x" * 102_400)
        assert not reply.ok
        assert "The description is 102,400 characters long; the limit is 4,000" in reply.text
        assert len(reply.text) < 700, "the refusal does not echo 100 kB back"
        assert count_rows(engine, "tickets") == 0

    def test_exactly_the_limits_are_accepted(self, desk, people, engine):
        assert say(desk, people.alice, "new " + "a" * 10).ok
        assert say(desk, people.alice, "new " + "b" * 4000).ok
        assert stored(engine, 2).description == "b" * 4000
        assert not say(desk, people.alice, "new " + "c" * 4001).ok
        assert not say(desk, people.alice, "new " + "d" * 9).ok

    def test_control_characters_are_removed_and_lines_kept(self, desk, people, engine):
        reply = say(desk, people.alice, "new \x1b[31mscreen\x1b[0m goes black\x00\x07 after\r\nwaking\u200b from sleep\t(twice today)")
        assert reply.ok, reply.text
        assert stored(engine, 1).description == "[31mscreen[0m goes black after\nwaking from sleep\t(twice today)"

    def test_only_control_characters_is_no_description(self, desk, people, engine):
        reply = say(desk, people.alice, "new \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e")
        assert not reply.ok
        assert reply.text == "The description is missing: type `new <description> [severity=… category=… device=… location=… phone=…]`."
        assert count_rows(engine, "tickets") == 0

    @pytest.mark.parametrize("payload", [
        "Robert'); DROP TABLE tickets;--",
        "' OR '1'='1' -- printer",
        "\"; DELETE FROM notes WHERE 1=1; --",
        "%_\\ wildcard LIKE '%' test",
        "<script>alert('x')</script> <!channel> @here",
    ])
    def test_injection_strings_are_stored_verbatim_and_harm_nothing(self, desk, people, engine, payload):
        reply = say(desk, people.alice, f"new {payload} severity=low")
        assert reply.ok, reply.text
        assert stored(engine, 1).description == payload
        say(desk, people.bob, f"note 1 {payload}")
        assert stored_notes(engine, 1)[0].body == payload
        assert count_rows(engine, "tickets") == 1
        assert say(desk, people.alice, "show 1").ticket.description == payload

    def test_unicode_survives(self, desk, people, engine):
        text = "Écran noir après mise à jour — 画面が真っ黒 🖥️ since 9:00"
        assert say(desk, people.alice, f"new {text}").ok
        assert stored(engine, 1).description == text

    def test_options_take_quoted_values_and_leave_the_description_alone(self, desk, people, engine):
        say(desk, people.alice, "new the dock on my desk=3 is dead device='Dell WD19' location=\"Floor 3, desk 12\" severity=HIGH")
        t = stored(engine, 1)
        assert (t.description, t.device, t.location, t.severity.value) == ("the dock on my desk=3 is dead", "Dell WD19", "Floor 3, desk 12", "high")

    def test_an_overlong_device_is_refused(self, desk, people, engine):
        reply = say(desk, people.alice, f"new the dock on my desk is dead device={'x' * 300}")
        assert not reply.ok and "The device is 300 characters long; the limit is 200." in reply.text


def test_an_oversized_note_is_refused_and_the_ticket_untouched(desk, people, engine, one_ticket):
    reply = say(desk, people.alice, "note 1 " + "y" * 5000)
    assert not reply.ok
    assert reply.text == "The note is 5,000 characters long; the limit is 4,000. Nothing was saved: shorten it and send it again."
    assert stored_notes(engine, 1) == []


def test_a_failure_inside_a_command_is_one_sentence_and_rolls_back(desk, people, engine, one_ticket, monkeypatch):
    """A broken store must not leave half a change behind or show a stack trace."""
    from storage.repository import SqlTransaction

    def broken(self, event):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SqlTransaction, "add_event", broken)
    reply = say(desk, people.bob, "claim 1")
    assert not reply.ok
    assert reply.text.startswith("Something went wrong on our side and nothing was saved (reference ")
    assert "disk on fire" not in reply.text
    assert stored(engine, 1).assignee_id is None
    assert [r["kind"] for r in outbox_rows(engine)] == ["new_ticket"]
