"""With a directory configured: the requester's AD details pre-filled for confirmation (terminal and
Slack), and callers found by phone in AD. Talks to the real slapd of the directory tests."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.console.shell import run_shell
from adapters.runtime import build
from adapters.settings import AppSettings as Settings
from tests.conftest import SETTINGS, stored
from tests.ldap_server import SERVICE_PASSWORD, BlackHole
from tests.slack_harness import LiveSlack
from tests.test_directory import certs, slapd, tools  # noqa: F401  (the shared slapd fixtures)

HELPDESK = Path(sys.executable).parent / "helpdesk"


@pytest.fixture
def directory_settings(slapd):
    return json.loads(slapd.settings().model_dump_json())


def helpdesk_env(directory_settings: dict, tmp_path: Path) -> dict[str, str]:
    """The environment of a `helpdesk` process whose configuration holds only this [directory]."""
    config = tmp_path / "helpdesk.toml"
    lines = ["[directory]"] + [f"{k} = {json.dumps(v)}" for k, v in directory_settings.items()
                               if v is not None and not isinstance(v, dict)]
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "SLACK_", "DATABASE_URL"))}
    env.update({"HELPDESK_CONFIG": str(config), "HELPDESK_LDAP_PASSWORD": SERVICE_PASSWORD, "HOME": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "NO_COLOR": "1"})
    return env


def test_the_terminal_confirms_the_requesters_directory_details(slapd, directory_settings, tmp_path):
    env = helpdesk_env(directory_settings, tmp_path)
    run = lambda *a: subprocess.run([str(HELPDESK), *a], capture_output=True, text=True, env=env, cwd=tmp_path)
    opened = run("shell", "--as", "alice@corp.example", "-c", "new my screen flickers when docked")
    assert opened.returncode == 0, opened.stderr
    assert "We will reach you at +1 555 0142, Floor 3, Room 12" in opened.stdout
    shown = run("shell", "--as", "alice@corp.example", "-c", "show 1").stdout
    assert "Requester: Alice Park (alice@corp.example, +1 555 0142, Finance, Floor 3, Room 12; manager Bob Lee)" in shown
    assert "Location: Floor 3, Room 12" in shown
    check = run("directory", "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_callers_are_found_in_the_directory_by_phone(slapd, directory_settings, tmp_path, monkeypatch):
    from storage.database import make_engine, upgrade

    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    settings = Settings.model_validate({**SETTINGS, "directory": directory_settings, "knowledge": {"enabled": False}})
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade(engine)
    runtime = build(settings, engine=engine)
    try:
        desk = runtime.desk
        bob = desk.actor("bob@corp.example")
        found = desk.handle(bob, "whois +1 (555) 0142")
        assert [(p.name, p.department, p.office, p.source) for p in found.people][:1] == [
            ("Alice Park", "Finance", "Floor 3, Room 12", "directory")]
        reply = desk.handle(bob, "new for=+1 555 0142 the VPN drops every ten minutes")
        assert reply.ok, reply.text
        t = stored(engine, 1)
        assert (t.requester.id, t.requester.name, t.requester.department, t.requester.office) == (
            "alice@corp.example", "Alice Park", "Finance", "Floor 3, Room 12")
        assert t.logged_by_name == "Bob Lee" and t.via == "phone"
    finally:
        runtime.close()


@pytest.fixture
def runtime(engine, directory_settings, monkeypatch):
    """The help desk over the test database (SQLite and PostgreSQL) with the test directory."""
    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    settings = Settings.model_validate({**SETTINGS, "directory": directory_settings, "knowledge": {"enabled": False}})
    runtime = build(settings, engine=engine)
    yield runtime
    runtime.close()


def test_callers_are_found_in_the_directory_by_their_number_as_dialled_at_home(runtime, engine):
    desk = runtime.desk
    bob = desk.actor("bob@corp.example")
    # The directory holds +44 20 7946 0001; the caller reads it out with the UK's trunk 0.
    found = desk.handle(bob, "whois 020 7946 0001")
    assert [(p.name, p.source) for p in found.people] == [("Ada Lovelace", "directory")], found.text
    # Dave's mobile is held as 07700 900123; the caller gives it with the country code.
    assert [p.name for p in desk.handle(bob, "whois +44 7700 900 123").people] == ["Dave Kim"]
    assert not desk.handle(bob, "whois 020 79").people  # a fragment too short to be a number matches nobody
    reply = desk.handle(bob, "new for=020 7946 0001 the boardroom screen shows no signal")
    assert reply.ok, reply.text
    t = stored(engine, 1)
    assert (t.requester.id, t.requester.name, t.requester.phone) == ("ada@corp.example", "Ada Lovelace", "+44 20 7946 0001")


DISABLED_REFUSAL = ("Frank Ode (frank@corp.example) has a disabled account in the directory, so I did not open a "
                    "ticket for them; check with their manager whether they should still get help.")


def terminal(runtime, identity: str, line: str) -> tuple[int, str]:
    """One line typed in the terminal (`helpdesk shell -c`), as `identity`: exit code and output."""
    out = io.StringIO()
    code = run_shell(runtime.desk, runtime.outbox, identity, line, out=out, enrich=runtime.with_directory)
    return code, out.getvalue()


def test_a_disabled_account_is_marked_in_whois_and_gets_no_ticket_in_the_terminal(runtime, engine):
    code, shown = terminal(runtime, "bob@corp.example", "whois fra")
    assert code == 0 and "Frank Ode <frank@corp.example>" in shown
    assert shown.rstrip().endswith("[directory]  [account disabled]"), shown
    assert "disabled" not in terminal(runtime, "bob@corp.example", "whois alice")[1]
    for who in ("frank@corp.example", '"Frank Ode"', "frank"):
        code, shown = terminal(runtime, "bob@corp.example", f"new for={who} his keyboard misses keystrokes")
        assert (code, shown.strip()) == (1, f"✗ {DISABLED_REFUSAL}")
    assert stored(engine, 1) is None
    assert terminal(runtime, "bob@corp.example", "new for=alice@corp.example her dock is dead")[0] == 0


def test_a_disabled_account_gets_no_ticket_from_slack(engine, directory_settings, monkeypatch):
    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    live = LiveSlack(engine, {"directory": directory_settings}).start()
    try:
        found = live.slash("U0BOB", "whois fra").json()["text"]
        assert "*Frank Ode* ⚠️ _account disabled_" in found, found
        assert live.slash("U0BOB", "new for=<@U0FRANK> his keyboard misses keystrokes").json()["text"] == DISABLED_REFUSAL
        live.slash("U0BOB")
        view = live.eventually(lambda: live.slack.views())[-1]
        for caller in ({"requester": "U0FRANK"}, {"requester_text": "frank@corp.example"}):
            response = live.submit("U0BOB", view, {**caller, "description": "His keyboard misses keystrokes"})
            assert response.json()["response_action"] == "errors", response.body
            assert response.json()["errors"]["requester"] == DISABLED_REFUSAL
        assert stored(engine, 1) is None
        response = live.submit("U0BOB", view, {"requester": "U0ALICE", "description": "Her keyboard misses keystrokes"})
        assert response.status == 200 and response.body == b""
        assert stored(engine, 1).requester.name == "Alice Park"
    finally:
        live.stop()


def test_a_disabled_account_gets_no_ticket_from_teams(engine, directory_settings, monkeypatch):
    from tests.teams_harness import USERS, LiveTeams, texts
    from tests.test_teams_flow import invoke_card

    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    live = LiveTeams(engine, {"directory": directory_settings}).start()
    try:
        live.post(live.personal("frank", "mine"))  # the bot learns who he is
        for caller in ({"requester": USERS["frank"][1]}, {"requester_text": "frank@corp.example"}):
            refused = invoke_card(live.post(live.invoke("bob", "submit", {
                "form": "new", **caller, "description": "His keyboard misses keystrokes"})))
            assert DISABLED_REFUSAL in texts(refused)
        assert stored(engine, 1) is None
    finally:
        live.stop()


def test_the_terminal_takes_the_requesters_only_computer_as_the_device(runtime, engine):
    # Bob manages one computer (PC-0100): a ticket that names no device is about it, and says so.
    code, shown = terminal(runtime, "bob@corp.example", "new my monitor flickers when docked")
    assert code == 0, shown
    assert "We will reach you at no phone, Finance office; device PC-0100, the computer the directory lists as yours;" in shown
    assert stored(engine, 1).device == "PC-0100"
    # A device he names wins, and is not confirmed as the directory's.
    code, shown = terminal(runtime, "bob@corp.example", "new the loan laptop will not charge device=LT-LOAN-3")
    assert stored(engine, 2).device == "LT-LOAN-3" and "PC-0100" not in shown
    # Alice manages two: nothing is guessed, and she is told which are hers and how to say which.
    code, shown = terminal(runtime, "alice@corp.example", "new my dock does not charge the laptop")
    assert code == 0 and stored(engine, 3).device is None
    assert ("The directory lists these computers as yours: LT-0007, PC-0042; to say which one this is about, add a note: "
            "`note 3 it is <name>` (next time, add device=<name> to `new`).") in shown
    # A caller's computers are not the technician's: nothing is assumed for them.
    assert terminal(runtime, "bob@corp.example", "new for=alice@corp.example her dock is dead")[0] == 0
    assert stored(engine, 4).device is None


def test_a_typed_new_in_slack_takes_the_only_computer_as_the_form_does(engine, directory_settings, monkeypatch):
    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    live = LiveSlack(engine, {"directory": directory_settings}).start()
    try:
        answer = live.slash("U0BOB", "new my monitor flickers when docked").json()["text"]
        assert "device PC-0100, the computer the directory lists as yours" in answer, answer
        assert stored(engine, 1).device == "PC-0100"
        live.slash("U0BOB")
        view = live.eventually(lambda: live.slack.views())[-1]
        device = {b.get("block_id"): b for b in view["blocks"]}["device"]
        assert device["element"]["initial_value"] == "PC-0100"
        # The form offered it; a field left empty is taken as meant.
        response = live.submit("U0BOB", view, {"description": "The docking station clicks and resets", "device": None})
        assert response.status == 200 and response.body == b""
        assert stored(engine, 2).device is None
    finally:
        live.stop()


def test_the_slack_form_arrives_prefilled_from_the_directory(engine, directory_settings, monkeypatch):
    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    live = LiveSlack(engine, {"directory": directory_settings}).start()
    try:
        live.slash("U0ALICE")
        view = live.eventually(lambda: live.slack.views())[-1]
        blocks = {b.get("block_id"): b for b in view["blocks"]}
        assert blocks["location"]["element"]["initial_value"] == "Floor 3, Room 12"
        assert blocks["phone"]["element"]["initial_value"] == "+1 555 0142"
        assert blocks["device"]["hint"]["text"] == "Your computers: LT-0007, PC-0042"
        response = live.submit("U0ALICE", view, {"description": "My screen flickers when docked", "device": "PC-0042"})
        assert response.status == 200 and response.body == b""
        t = stored(engine, 1)
        assert (t.requester.department, t.requester.manager, t.location, t.device) == (
            "Finance", "Bob Lee", "Floor 3, Room 12", "PC-0042")
        live.settled()
        fields = [f["text"] for b in live.slack.messages("C0DESK")[0]["blocks"] for f in b.get("fields", [])]
        assert any(f.startswith("*Requester*\n<@U0ALICE>\n") and "Finance" in f for f in fields)
        assert "*Manager*\nBob Lee" in fields
    finally:
        live.stop()


def test_the_teams_form_arrives_prefilled_from_the_directory(engine, directory_settings, monkeypatch):
    from tests.teams_harness import LiveTeams, card_content, inputs, texts

    monkeypatch.setenv("HELPDESK_LDAP_PASSWORD", SERVICE_PASSWORD)
    live = LiveTeams(engine, {"directory": directory_settings}).start()
    try:
        live.post(live.personal("alice", "new"))
        form = card_content(live.eventually(lambda: live.chat("alice"))[-1])
        fields = inputs(form)
        assert fields["location"]["value"] == "Floor 3, Room 12" and fields["phone"]["value"] == "+1 555 0142"
        assert "Your computers: LT\\-0007, PC\\-0042" in texts(form) or "Your computers: LT-0007, PC-0042" in texts(form)
        done = live.post(live.invoke("alice", "submit", {"form": "new", "description": "My screen flickers when docked",
                                                          "device": "PC-0042", "location": "Floor 3, Room 12",
                                                          "phone": "+1 555 0142", "severity": "medium"}))
        assert done.status == 200 and done.json()["value"]["body"][0]["text"].startswith("✅ #1 is open")
        t = stored(engine, 1)
        assert (t.requester.department, t.requester.manager, t.location, t.device) == (
            "Finance", "Bob Lee", "Floor 3, Room 12", "PC-0042")
        live.settled()
        shown = texts(card_content(live.card()))
        assert "Finance" in shown and "Manager: Bob Lee" in shown
    finally:
        live.stop()


def test_a_hung_directory_does_not_hold_a_one_shot_command(slapd, tmp_path):
    """The answer is out once the lookup's time limit has passed; the process must end then too,
    not when the worker thread stuck in the TLS handshake gives up (the receive timeout)."""
    receive_timeout = 60
    with BlackHole() as hung:
        settings = json.loads(slapd.settings(servers=[hung.ldaps_url], receive_timeout_seconds=receive_timeout,
                                             lookup_timeout_seconds=0.5).model_dump_json())
        env = helpdesk_env(settings, tmp_path)
        process = subprocess.Popen([str(HELPDESK), "shell", "--as", "alice@corp.example", "-c",
                                    "new my screen flickers when docked"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            answer = process.stdout.readline()
            answered = time.monotonic()
            assert answer.startswith("✓ Opened #1 "), answer
            code = process.wait(timeout=receive_timeout + 30)
            lingered = time.monotonic() - answered
        finally:
            process.kill()
            process.wait()
        assert hung.connections >= 1  # the lookup did reach the hung server
    assert code == 0
    # Behaviour, not speed: before the fix the process lingered until the receive timeout (60 s).
    assert lingered < receive_timeout / 3, f"the process lingered {lingered:.1f} s after its answer"
