"""The `helpdesk` command as a person uses it: real processes, a real terminal, a file database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPDESK = Path(sys.executable).parent / "helpdesk"
EXAMPLE = ROOT / "helpdesk.example.toml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    assert HELPDESK.exists(), "install the package first (make test does): the console script is missing"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "HELPDESK_", "DATABASE_URL"))}
    return {**clean, "HOME": str(tmp_path), "HELPDESK_CONFIG": str(EXAMPLE), "NO_COLOR": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'desk.db'}"}


def helpdesk(env, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(HELPDESK), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=env["HOME"])


def test_one_command_runs_and_exits_zero(env):
    run = helpdesk(env, "shell", "--as", "alice@corp.example", "-c", "new printer on floor 3 jams")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "✓ Opened #1 (medium, printer) for service-desk: printer on floor 3 jams. First response target: 4 h."
    assert "\x1b[" not in run.stdout, "no colour codes when the output is not a terminal"


def test_a_refusal_exits_non_zero_with_one_sentence(env):
    run = helpdesk(env, "shell", "--as", "alice@corp.example", "-c", "claim 1")
    assert run.returncode == 1
    assert run.stdout.strip().startswith("✗ Only technicians can claim tickets")
    assert run.stderr == ""


def test_tickets_survive_between_processes(env):
    assert helpdesk(env, "shell", "--as", "alice@corp.example", "-c", "new VPN drops every 10 minutes severity=high").returncode == 0
    assert helpdesk(env, "shell", "--as", "bob@corp.example", "-c", "claim 1").returncode == 0
    assert helpdesk(env, "shell", "--as", "bob@corp.example", "-c", "note 1 collecting logs").returncode == 0
    shown = helpdesk(env, "shell", "--as", "alice@corp.example", "-c", "show #1")
    assert shown.returncode == 0
    assert "Status: in progress · Severity: high · Category: network · Group: service-desk (level 1)" in shown.stdout
    assert "Assignee: Bob Lee" in shown.stdout
    assert "Bob Lee: collecting logs" in shown.stdout
    queue = helpdesk(env, "shell", "--as", "carol@corp.example", "-c", "queue")
    assert "#1" in queue.stdout and "high" in queue.stdout and "VPN drops every 10 minutes" in queue.stdout


def test_a_piped_session_switches_users_and_delivers_their_messages(env):
    script = "\n".join([
        "new the scanner on floor 2 is offline",
        ":as bob@corp.example",
        "claim 1",
        "wait 1 is it the Canon or the Ricoh?",
        ":as alice@corp.example",
        "note 1 the Ricoh by the window",
        "mine",
    ]) + "\n"
    run = helpdesk(env, "shell", "--as", "alice@corp.example", stdin=script)
    assert run.returncode == 0, run.stdout
    out = run.stdout
    assert "signed in as Bob Lee <bob@corp.example> (technician)" in out
    assert "✉ Bob Lee is working on your ticket #1: the scanner on floor 2 is offline" in out
    assert "✉ Bob Lee has a question about your ticket #1: is it the Canon or the Ricoh?" in out
    assert out.count("✉") == 2, "each message is shown once"
    assert "Your tickets (1)" in out and "in progress" in out


def test_a_piped_session_exits_one_when_any_line_was_refused(env):
    run = helpdesk(env, "shell", "--as", "alice@corp.example", stdin="new printer on floor 3 jams\nclose 1\nmine\n")
    assert run.returncode == 1
    assert "✗ Only technicians can close tickets" in run.stdout


def test_config_check_prints_the_effective_config_with_secrets_masked(env):
    run = helpdesk({**env, "SLACK_BOT_TOKEN": "xoxb-very-secret", "SLACK_SIGNING_SECRET": "shh-secret"}, "config", "check")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["slack"]["bot_token"] == "**********"
    assert "xoxb-very-secret" not in run.stdout and "shh-secret" not in run.stdout
    assert data["categories"]["network"]["escalation"] == ["service-desk", "network-eng"]
    assert "OK: 8 categories, 4 groups, 3 technicians." in run.stderr


def test_a_bad_config_stops_start_up_naming_the_key(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[categories.network]\nescalation = ["nobody-group"]\ndefault_category = "network"\n')
    run = helpdesk({**env, "HELPDESK_CONFIG": str(bad)}, "shell", "--as", "alice@corp.example", "-c", "help")
    assert run.returncode == 2
    assert "categories.network" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.postgres
def test_postgres_needs_an_explicit_upgrade_then_works(env, pg_schema):
    url, _, schema = pg_schema
    pg_env = {**env, "DATABASE_URL": f"{url}?options=-csearch_path%3D{schema}"}
    refused = helpdesk(pg_env, "shell", "--as", "alice@corp.example", "-c", "mine")
    assert refused.returncode == 2
    assert "run `helpdesk db upgrade` once" in refused.stderr
    upgraded = helpdesk(pg_env, "db", "upgrade")
    from storage.database import head_revision
    head = head_revision()
    assert upgraded.returncode == 0 and f"schema revision {head}; newest is {head}" in upgraded.stdout
    assert helpdesk(pg_env, "shell", "--as", "alice@corp.example", "-c", "new printer on floor 3 jams").returncode == 0
    assert helpdesk(pg_env, "shell", "--as", "bob@corp.example", "-c", "claim 1").stdout.startswith("✓ You claimed #1")


def test_the_interactive_shell_prompts_colours_and_hands_back_a_refused_line(env):
    child = pexpect.spawn(str(HELPDESK), ["shell", "--as", "alice@corp.example"], env={**env, "TERM": "xterm", "NO_COLOR": "", "PROMPT_TOOLKIT_NO_CPR": "1"},
                          cwd=env["HOME"], encoding="utf-8", timeout=20, dimensions=(40, 200))
    child.expect("signed in as alice")
    child.expect("alice>")
    child.send("new printer on floor 3 jams severity=urgent\r")
    child.expect("Severity `urgent` is not one of")
    assert "\x1b[31m" in child.before + child.after, "refusals are red on a terminal"
    child.expect("↑ brings the line back to edit it")
    child.expect("alice>")
    child.send("mine\r")  # the next command typed at once is not glued onto the refused line
    child.expect("You have no open tickets")
    child.expect("alice>")
    child.send("\x1b[A\x1b[A")  # ↑ ↑: the refused line comes back for editing
    child.expect("new printer on floor 3 jams severity=urgent", timeout=5)
    child.send("\x7f" * len("urgent") + "high\r")
    child.expect(r"Opened #1 \(high, printer\) for service-desk: printer on floor 3 jams\.")
    child.expect("alice>")
    child.send("\x04")  # Ctrl-D leaves
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = Path(env["HOME"]) / ".local" / "state" / "helpdesk" / "history"
    assert "new printer on floor 3 jams severity=high" in history.read_text()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_checks_and_stops_cleanly(env):
    import signal
    import time
    import urllib.request

    port = free_port()
    server = subprocess.Popen([str(HELPDESK), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=env["HOME"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert health["knowledge"] in ("loading", "ready"), "it answers before the knowledge base is ready"
        while health["knowledge"] != "ready":  # the index built and searched in processes of their own
            assert time.monotonic() < deadline + 60, health
            time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                health = json.loads(response.read())
        assert health == {"status": "ok", "database": "ok", "outbox_pending": 0, "platforms": [],
                          "knowledge": "ready", "knowledge_in": "its own process",
                          "surge_look": "its own process"}, "both helper processes run on an SQLite file"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(20)
    assert server.returncode == 0
    assert f"Configuration: {EXAMPLE} (from HELPDESK_CONFIG)" in server.stderr.read(), "the log names the file"


def test_outbox_commands_list_and_requeue_dead_letters(env):
    from sqlalchemy import create_engine, update

    from storage.schema import outbox

    slack_env = {**env, "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"}
    assert helpdesk(slack_env, "shell", "--as", "alice@corp.example", "-c", "new the printer on floor 3 jams").returncode == 0
    listed = helpdesk(slack_env, "outbox", "list")
    assert "pending   slack   new_ticket      group:service-desk" in listed.stdout
    engine = create_engine(env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(update(outbox).values(status="failed", last_error="Slack said channel_not_found"))
    engine.dispose()
    failed = helpdesk(slack_env, "outbox", "list", "--failed")
    assert "failed    slack   new_ticket" in failed.stdout and "last error: Slack said channel_not_found" in failed.stdout
    assert helpdesk(slack_env, "outbox", "retry").stdout.strip() == "1 message queued again"
    assert helpdesk(slack_env, "outbox", "list", "--failed").stdout.strip() == "no dead letters"
    assert helpdesk(slack_env, "outbox", "retry", "999").returncode == 1
