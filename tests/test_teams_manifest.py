"""The Teams app package: a manifest Teams accepts, icons it accepts, and the command that zips them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from bot.commands import REGISTRY
from tests.teams_harness import live  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
TEAMS = ROOT / "manifest" / "teams"
SCHEMAS = sorted((TEAMS / "schema").glob("MicrosoftTeams.v*.schema.json"))
APP_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def schema_errors(manifest: dict) -> list[str]:
    # The schema's "$schema" says draft-04, but it uses `const` (draft-06 on), which a
    # draft-04 validator would silently ignore: Draft 7 checks every keyword it uses.
    schema = json.loads(SCHEMAS[0].read_text(encoding="utf-8"))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(manifest)]


def stored_manifest() -> dict:
    return json.loads((TEAMS / "manifest.json").read_text(encoding="utf-8"))


def helpdesk(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "SLACK_", "MICROSOFT_"))}
    return subprocess.run([str(Path(sys.executable).parent / "helpdesk"), *args], capture_output=True, text=True,
                          env=env)


def test_the_stored_manifest_is_valid_against_the_stored_schema():
    assert schema_errors(stored_manifest()) == []


def test_the_one_stored_schema_is_the_version_the_manifest_declares():
    assert len(SCHEMAS) == 1
    version = re.fullmatch(r"MicrosoftTeams\.v(\d+\.\d+)\.schema\.json", SCHEMAS[0].name).group(1)
    manifest = stored_manifest()
    schema = json.loads(SCHEMAS[0].read_text(encoding="utf-8"))
    assert manifest["manifestVersion"] == version == schema["properties"]["manifestVersion"]["const"]
    assert manifest["$schema"] == f"https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"
    assert tuple(map(int, version.split("."))) >= (1, 17)
    assert (TEAMS / "schema" / "LICENSE").read_text(encoding="utf-8").strip()


def test_the_icons_are_the_sizes_teams_wants_and_the_outline_is_white_on_transparent():
    with Image.open(TEAMS / "color.png") as colour:
        assert colour.format == "PNG" and colour.size == (192, 192)
    with Image.open(TEAMS / "outline.png") as outline:
        assert outline.format == "PNG" and outline.size == (32, 32) and outline.mode == "RGBA"
        pixels = [outline.getpixel((x, y)) for y in range(32) for x in range(32)]
    visible = [p for p in pixels if p[3] > 0]
    assert visible and {p[:3] for p in visible} == {(255, 255, 255)}
    assert len(visible) < len(pixels)
    assert all(outline.getpixel(corner)[3] == 0 for corner in ((0, 0), (31, 0), (0, 31), (31, 31)))


def test_the_command_zips_a_valid_manifest_naming_the_bot_with_both_icons_at_the_root(tmp_path):
    out = tmp_path / "helpdesk-teams.zip"
    done = helpdesk("manifest", "teams", "--app-id", APP_ID, "--out", str(out), "--url", "https://hd.corp.example/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("color.png") == (TEAMS / "color.png").read_bytes()
        assert zf.read("outline.png") == (TEAMS / "outline.png").read_bytes()
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["hd.corp.example"]
    assert manifest["developer"]["name"] == stored_manifest()["developer"]["name"]
    assert schema_errors(manifest) == []


@pytest.mark.parametrize("url, base", [("https://hd.corp.test", "https://hd.corp.test"),
                                       ("https://corp.test:8443/helpdesk/", "https://corp.test:8443/helpdesk")])
def test_the_package_links_the_servers_own_site_privacy_and_terms(tmp_path, url, base):
    """They named helpdesk.example.com whatever --url said."""
    out = tmp_path / "helpdesk-teams.zip"
    done = helpdesk("manifest", "teams", "--app-id", APP_ID, "--out", str(out), "--url", url)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["developer"] == {"name": stored_manifest()["developer"]["name"], "websiteUrl": f"{base}/",
                                     "privacyUrl": f"{base}/privacy", "termsOfUseUrl": f"{base}/terms"}
    assert "example.com" not in json.dumps(manifest)
    assert schema_errors(manifest) == []


def test_a_url_with_a_query_is_refused(tmp_path):
    done = helpdesk("manifest", "teams", "--app-id", APP_ID, "--out", str(tmp_path / "x.zip"),
                    "--url", "https://hd.corp.test/?x=1")
    assert done.returncode == 2 and "--url" in done.stderr and not (tmp_path / "x.zip").exists()


def test_the_server_serves_the_pages_the_package_links(live):
    for path, heading in [("/", "Helpdesk"), ("/privacy", "Privacy statement"), ("/terms", "Terms of use")]:
        page = live.get(path)
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert f"<h1>{heading}</h1>" in page.body.decode()
    assert "your organisation's own database" in live.get("/privacy").body.decode()


@pytest.mark.parametrize("app_id", ["helpdesk-bot", "3f2504e0-4f89-11d3-9a0c", "00000000-0000-0000-0000-000000000000"])
def test_an_app_id_that_is_not_a_real_guid_is_refused_and_nothing_is_written(tmp_path, app_id):
    out = tmp_path / "helpdesk-teams.zip"
    done = helpdesk("manifest", "teams", "--app-id", app_id, "--out", str(out))
    assert done.returncode == 2
    assert "--app-id" in done.stderr and "GUID" in done.stderr
    assert not out.exists()


def test_teams_without_an_app_id_and_slack_without_a_url_are_refused(tmp_path):
    teams = helpdesk("manifest", "teams", "--out", str(tmp_path / "x.zip"))
    assert teams.returncode == 2 and "--app-id" in teams.stderr
    slack = helpdesk("manifest", "slack")
    assert slack.returncode == 2 and "--url" in slack.stderr


def test_the_command_lists_cover_every_scope_with_commands_the_bot_knows():
    bot = stored_manifest()["bots"][0]
    lists = bot["commandLists"]
    assert {scope for listing in lists for scope in listing["scopes"]} == set(bot["scopes"])
    for listing in lists:
        assert 0 < len(listing["commands"]) <= 10
        titles = [command["title"] for command in listing["commands"]]
        assert len(titles) == len(set(titles))
        for command in listing["commands"]:
            assert len(command["title"]) <= 32 and 0 < len(command["description"]) <= 128
            spec = REGISTRY.get(command["title"])
            assert spec is not None and spec.name == command["title"], command["title"]
    personal = next(listing for listing in lists if "personal" in listing["scopes"])
    assert [c["title"] for c in personal["commands"]][:3] == ["new", "mine", "show"]
    team = {c["title"] for listing in lists if "team" in listing["scopes"] for c in listing["commands"]}
    assert team >= {"queue", "claim", "note", "escalate", "resolve", "sla", "similar", "report", "whois", "help"}


def test_the_message_action_and_the_permissions_for_files_are_in_the_package(tmp_path):
    """"Open a ticket" in a message's … menu is a message extension's action command with a
    `message` context whose form the bot sends (fetchTask); files sent to the bot need
    supportsFiles; images pasted into messages are read with resource-specific consent."""
    from adapters.teams.from_message import COMMAND
    from adapters.teams.package import manifest

    data = manifest(APP_ID)
    [extension] = data["composeExtensions"]
    assert extension["botId"] == APP_ID == data["webApplicationInfo"]["id"]
    assert extension["commands"] == [{"id": COMMAND, "type": "action", "title": "Open a ticket",
                                      "description": "Turn this message (and its screenshots) into a help desk ticket",
                                      "context": ["message"], "fetchTask": True}]
    assert data["bots"][0]["supportsFiles"] is True
    assert {(p["name"], p["type"]) for p in data["authorization"]["permissions"]["resourceSpecific"]} == {
        ("ChannelMessage.Read.Group", "Application"), ("ChatMessage.Read.Chat", "Application")}
    assert schema_errors(data) == []
