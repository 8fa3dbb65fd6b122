"""Config: defaults that work, overrides that merge, and bad files that name the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.settings import load as load_settings
from bot.config import ConfigError, mask_url
from bot.model import Severity

EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.example.toml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "helpdesk.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_no_file_gives_working_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder with neither helpdesk.toml nor the shipped example
    s = load_settings(None, env={})
    assert list(s.categories) == ["hardware", "software", "network", "account", "email", "printer", "security", "other"]
    assert all(c.escalation == ["service-desk"] for c in s.categories.values())
    targets = {sev.value: (s.policy(sev).first_response_minutes, s.policy(sev).resolution_minutes) for sev in Severity}
    assert targets == {"low": (1440, 7200), "medium": (240, 4320), "high": (60, 480), "critical": (15, 240)}
    assert all(s.policy(sev).guidance for sev in Severity)
    assert s.database_url == "sqlite:///helpdesk.db"


def test_the_shipped_example_is_valid_and_complete():
    s = load_settings(EXAMPLE, env={})
    assert [t.name for t in s.all_technicians()] == ["Bob Lee", "Carol Diaz", "Dave Kim"]
    assert s.chain("network") == ["service-desk", "network-eng"]
    assert s.groups["service-desk"].channels == {"slack": "C0SERVICEDESK", "teams": "19:servicedesk@thread.tacv2"}
    assert s.groups["service-desk"].mentions == {"slack": "<!subteam^S0SERVICEDESK>"}
    assert s.groups_of({"carol@corp.example"}) == ["service-desk", "desktop-support"]


def test_a_severity_override_keeps_the_other_defaults(tmp_path):
    s = load_settings(write(tmp_path, "[severities.high]\nfirst_response_minutes = 30\n"), env={})
    assert s.policy(Severity.HIGH).first_response_minutes == 30
    assert s.policy(Severity.HIGH).resolution_minutes == 480
    assert s.policy(Severity.CRITICAL).first_response_minutes == 15


def test_environment_fills_in_secrets_and_the_database(tmp_path):
    env = {"DATABASE_URL": "postgresql://helpdesk:s3cret@db.internal/helpdesk", "SLACK_BOT_TOKEN": "xoxb-123",
           "SLACK_SIGNING_SECRET": "abc", "MICROSOFT_APP_PASSWORD": "pw"}
    s = load_settings(None, env=env)
    assert s.slack.enabled and s.slack.bot_token.get_secret_value() == "xoxb-123"
    masked = json.dumps(s.masked())
    for secret in ("s3cret", "xoxb-123", '"abc"', '"pw"'):
        assert secret not in masked
    assert "postgresql://helpdesk:***@db.internal/helpdesk" in masked


def test_group_members_not_listed_become_technicians(tmp_path):
    s = load_settings(write(tmp_path, '[groups.service-desk]\nmembers = ["Zoe@Corp.Example", "slack:U0ZOE"]\n'), env={})
    techs = s.all_technicians()
    assert [t.ids for t in techs] == [["zoe@corp.example"], ["slack:U0ZOE"]]
    assert s.technician_for({"zoe@corp.example"}).name == "zoe"


@pytest.mark.parametrize("body, expected", [
    ('timezone = "Mars/Olympus"', "timezone: unknown time zone 'Mars/Olympus'"),
    ('default_severity = "urgent"', "default_severity: Input should be 'low', 'medium', 'high' or 'critical'"),
    ('default_category = "plumbing"', "default_category: 'plumbing' is not one of the categories"),
    ('[categories.network]\nescalation = ["service-desk"]', "default_category: 'other' is not one of the categories (network)"),
    ('default_category = "network"\n[categories.network]\nescalation = ["service-desk", "net-eng"]', "categories.network.escalation[2]: group 'net-eng' is not defined under [groups]"),
    ('default_category = "network"\n[categories.network]\nescalation = []', "categories.network.escalation: List should have at least 1 item"),
    ("[severities.high]\nfirst_response_minutes = -5", "severities.high.first_response_minutes: Input should be greater than 0"),
    ("[severities.urgent]\nguidance = 'x'\nfirst_response_minutes = 1\nresolution_minutes = 2", "severities.urgent"),
    ('[groups.desk]\nslack_chanel = "C1"', "groups.desk.slack_chanel: unknown key"),
    ('[[technicians]]\nname = "Bob"\nids = []', "technicians.0.ids: List should have at least 1 item"),
    ('[[technicians]]\nname = "Bob"\nids = ["x@y"]\n[[technicians]]\nname = "Rob"\nids = ["x@y"]', "id 'x@y' belongs to both 'Bob' and 'Rob'"),
    ("this is = not toml [", "not valid TOML"),
])
def test_bad_files_fail_with_the_key_and_the_reason(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_missing_file_named_explicitly_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(None, env={"HELPDESK_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize("url, masked", [
    ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("sqlite:///helpdesk.db", "sqlite:///helpdesk.db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
])
def test_database_passwords_are_masked(url, masked):
    assert mask_url(url) == masked
