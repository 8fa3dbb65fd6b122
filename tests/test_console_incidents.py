"""Major incidents from the terminal: the real `helpdesk shell`, piped, as several people in turn.
The shell takes due SLA steps before each line, so it also finds the surge."""
from __future__ import annotations

from tests.incident_texts import UNRELATED, VPN_OUTAGE
from tests.test_console import env, helpdesk  # noqa: F401 (env: the fixture)


def test_a_surge_declared_answered_and_resolved_from_the_terminal(env):
    lines = []
    for n, text in enumerate([VPN_OUTAGE[0], UNRELATED[0], VPN_OUTAGE[1], VPN_OUTAGE[4], VPN_OUTAGE[5],
                              VPN_OUTAGE[6], VPN_OUTAGE[13]]):
        lines += [f":as user{n}@corp.example", f"new {text}"]
    lines += [
        ":as bob@corp.example", "incidents",
        "incident 1 VPN disconnects every few minutes",
        ":as user7@corp.example", f"new {VPN_OUTAGE[19]}",
        ":as user8@corp.example", f"new {VPN_OUTAGE[7]}", "unlink 9",
        ":as bob@corp.example", "incidents",
        "broadcast 1 The VPN gateway is being restarted; reconnect in 10 minutes",
        "resolve 1 Restarted the VPN gateway and raised its session limit",
        ":as user2@corp.example", "reopen 3 still drops every few minutes for me",
        ":as bob@corp.example", "show 3", "show 4",
    ]
    run = helpdesk(env, "shell", "--as", "bob@corp.example", stdin="\n".join(lines) + "\n")
    out = run.stdout
    assert run.returncode == 0, out
    assert "Proposed by the help desk, waiting for a decision (1):" in out
    assert "`incident " in out and "declares it, `dismiss " in out
    assert "✓ Declared major incident #1: VPN disconnects every few minutes. Linked " in out
    assert ("✓ Opened #8: this is a known problem, tracked as #1 (VPN disconnects every few minutes); you will hear "
            "when it is fixed. If yours is something else, type `unlink 8`.") in out
    assert "✓ OK: #9 is handled on its own, not as part of #1. service-desk will pick it up" in out
    assert "#1 VPN disconnects every few minutes — medium, 7 affected (7 tickets), declared" in out
    assert "✓ Told the 7 people affected by #1: The VPN gateway is being restarted; reconnect in 10 minutes" in out
    assert "✓ Resolved #1. The requester has been told and can reopen it if the problem is back. 6 linked ticket(s)" in out
    # user2 (ticket #3) hears each thing once when they next sign in, and reopens only theirs
    after_switch = out.split("signed in as user2")[2]
    assert after_switch.count("✉ Update on #1 (VPN disconnects every few minutes), the problem you reported as #3") == 1
    assert after_switch.count("✉ Your ticket #3 is resolved: it was part of #1") == 1
    assert "✓ Reopened #3; it is back in progress." in after_switch
    shown = out.split("signed in as Bob Lee")[-1]
    three, four = shown.split("#4  ")
    assert "Status: in progress" in three and "Linked to #1" not in three
    assert "Status: resolved" in four and "Linked to #1: the same problem, resolved with it." in four
    assert "Resolution: Resolved with #1: Restarted the VPN gateway and raised its session limit" in four
