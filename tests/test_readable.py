"""Readable everywhere (issue 18, item 7): a ticket's history in sentences, lists with column
headers, counts in the right grammatical number, `helpdesk --version`, and one configuration
file for every `helpdesk` command, named where it matters."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from adapters.console.render import Style, TextRenderer
from adapters.settings import config_source
from bot.history import sentence, technician_names
from bot.messages import plural
from bot.model import AuditEvent
from tests.conftest import START, say

ROOT = Path(__file__).resolve().parent.parent
HELPDESK = Path(sys.executable).parent / "helpdesk"
EXAMPLE = ROOT / "helpdesk.example.toml"


def rendered(desk, reply) -> str:
    return TextRenderer(desk.settings.zone, Style(False), technician_names(desk.settings)).reply(reply)


def test_show_tells_the_history_in_sentences(desk, people, clock):
    say(desk, people.alice, "new the printer on floor 3 jams on every page severity=high")
    clock.advance(minutes=5)
    say(desk, people.carol, "claim 1")
    say(desk, people.carol, "escalate 1 network-eng the jam sensor reports a network fault")
    say(desk, people.dave, "assign 1 carol")
    say(desk, people.carol, "resolve 1 replaced the fuser unit; test page prints clean")
    say(desk, people.alice, "reopen 1 it jams again since this morning")
    out = rendered(desk, say(desk, people.bob, "show 1"))
    history = out.split("History\n", 1)[1].splitlines()
    assert [line.strip().split(" ", 2)[2] for line in history] == [
        "Alice Park opened it",
        "Carol Diaz claimed it",
        "Carol Diaz escalated it to network-eng (outside the printer chain)",
        "Dave Kim assigned it to Carol Diaz",
        "Carol Diaz resolved it: “replaced the fuser unit; test page prints clean”",
        "Alice Park reopened it",
    ]
    assert "assignee_id" not in out and "→ carol@corp.example" not in out


def test_a_field_change_reads_as_before_and_after():
    event = AuditEvent(1, "bob@corp.example", "Bob Lee", "set", START,
                       {"severity": ["medium", "high"], "assignee_id": [None, "carol@corp.example"],
                        "status": ["new", "in_progress"]})
    names = {"carol@corp.example": "Carol Diaz"}.get
    assert sentence(event, names) == "Bob Lee: severity medium → high, assignee nobody → Carol Diaz, status new → in progress"
    system = AuditEvent(1, "helpdesk", "Help desk", "auto_escalated", START, {"group": ["service-desk", "network-eng"],
                                                                                "escalation_level": [1, 2]})
    assert sentence(system) == "It was escalated automatically to network-eng (level 2)"


def test_lists_have_column_headers(desk, people):
    say(desk, people.alice, "new the printer on floor 3 jams on every page severity=high")
    say(desk, people.bob, "claim 1")
    queue = rendered(desk, say(desk, people.carol, "queue")).splitlines()
    assert queue[0] == "Open tickets (1)"
    assert queue[1].split() == ["ticket", "severity", "status", "assignee", "due", "problem"]
    assert queue[2].index("#1") == queue[1].index("ticket") and queue[2].index("Bob Lee") == queue[1].index("assignee")
    mine = rendered(desk, say(desk, people.alice, "mine")).splitlines()
    assert mine[1].split() == ["ticket", "severity", "status", "assignee", "age", "problem"]


def test_counts_are_said_in_the_right_number(desk, people):
    say(desk, people.alice, "new the printer on floor 3 jams on every page")
    assert say(desk, people.bob, "whois alice").text == "1 match:"
    assert (plural(1, "group"), plural(4, "group"), plural(1, "category", "categories")) == ("1 group", "4 groups",
                                                                                              "1 category")


@pytest.fixture
def checkout(tmp_path: Path) -> dict[str, str]:
    """A folder laid out as a checkout is (the shipped example, no helpdesk.toml of one's own) and
    an environment naming no configuration file, as `make run` users have."""
    shutil.copy(EXAMPLE, tmp_path / "helpdesk.example.toml")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "HELPDESK_", "DATABASE_URL"))}
    return {**clean, "HOME": str(tmp_path), "NO_COLOR": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'desk.db'}"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HELPDESK), *args], env=env, capture_output=True, text=True, timeout=60, cwd=env["HOME"])


def test_every_command_reads_the_file_make_run_uses(checkout):
    # the README's line works without HELPDESK_CONFIG: Bob is a technician in the example
    queue = run(checkout, "shell", "--as", "bob@corp.example", "-c", "queue")
    assert queue.returncode == 0, queue.stdout + queue.stderr
    assert queue.stdout.startswith("Open tickets") and queue.stderr == ""
    check = run(checkout, "config", "check")
    assert check.returncode == 0
    home = Path(checkout["HOME"]).resolve()
    assert f"Configuration: {home / 'helpdesk.example.toml'}, the shipped example" in check.stderr
    assert "OK: 8 categories, 4 groups, 3 technicians." in check.stderr
    (home / "helpdesk.toml").write_text('[[technicians]]\nname = "Zoe Ng"\nids = ["zoe@corp.example"]\n')
    own = run(checkout, "config", "check")
    assert f"Configuration: {home / 'helpdesk.toml'}\n" in own.stderr and "OK: 8 categories, 1 group, 1 technician." in own.stderr
    named = run({**checkout, "HELPDESK_CONFIG": str(EXAMPLE)}, "config", "check")
    assert f"Configuration: {EXAMPLE} (from HELPDESK_CONFIG)" in named.stderr


def test_the_rule_in_order(tmp_path):
    assert config_source({}, tmp_path).why == "defaults"
    (tmp_path / "helpdesk.example.toml").write_text("")
    assert config_source({}, tmp_path).why == "example"
    (tmp_path / "helpdesk.toml").write_text("")
    assert config_source({}, tmp_path).why == "helpdesk.toml"
    assert config_source({"HELPDESK_CONFIG": "/elsewhere.toml"}, tmp_path).path == Path("/elsewhere.toml")


def test_the_interactive_shell_names_the_file_it_loaded(checkout):
    child = pexpect.spawn(str(HELPDESK), ["shell", "--as", "bob@corp.example"],
                          env={**checkout, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"},
                          cwd=checkout["HOME"], encoding="utf-8", timeout=20, dimensions=(40, 200))
    child.expect("Configuration: .*helpdesk.example.toml, the shipped example")
    child.expect("signed in as Bob Lee")
    child.expect("Bob Lee>")
    child.send("\x04")  # Ctrl-D leaves
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_version(checkout):
    from importlib.metadata import version

    out = run(checkout, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"helpdesk {version('helpdesk-bot')}"
