"""The Teams app package: what a Teams admin uploads to install the bot.

Teams wants one zip with manifest.json and the two icons at its root, the manifest
naming the Azure bot's Microsoft App ID and the developer's website, privacy and terms pages.
Given the server's address (`--url`), those pages are the ones the help desk serves itself
(adapters/pages.py): Teams already reaches that server over HTTPS, so the links work and name
the organisation's own site. Plain json and zipfile, so building it needs neither botbuilder
nor credentials.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapters import pages

TEMPLATE = Path(__file__).resolve().parents[2] / "manifest" / "teams"
ICONS = ("color.png", "outline.png")
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class PackageError(ValueError):
    """The package cannot be built; the message says why, for the person running the command."""


def manifest(app_id: str | None, url: str | None = None, template: Path = TEMPLATE) -> dict:
    """The template manifest with this bot's App ID and, when given, its server's address: its
    domain, and its own pages as the developer's website, privacy statement and terms of use.
    Raises PackageError, saying what to give instead, for a missing or malformed app id or URL."""
    if not app_id:
        raise PackageError("Teams needs --app-id, the Azure bot's Microsoft App ID")
    if not _GUID.fullmatch(app_id) or app_id == PLACEHOLDER:
        raise PackageError(f"--app-id must be the Azure bot's Microsoft App ID, a GUID, not {app_id[:60]!r}")
    missing = [str(template / name) for name in ("manifest.json", *ICONS) if not (template / name).exists()]
    if missing:
        raise PackageError(f"{', '.join(missing)} missing (install from a source checkout)")
    data = json.loads((template / "manifest.json").read_text(encoding="utf-8"))
    data["id"] = app_id
    data["bots"][0]["botId"] = app_id
    for extension in data.get("composeExtensions", []):  # the message action "Open a ticket"
        extension["botId"] = app_id
    if "webApplicationInfo" in data:  # the app whose Graph token reads images pasted into messages (RSC)
        data["webApplicationInfo"]["id"] = app_id
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise PackageError("--url must be an https:// address: Teams only talks to bots over https")
        if parts.query or parts.fragment:
            raise PackageError("--url must be the server's address, without a ?query or #fragment")
        data["validDomains"] = [parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"]
        base = url.rstrip("/")
        data["developer"].update(websiteUrl=base + pages.WEBSITE, privacyUrl=base + pages.PRIVACY,
                                 termsOfUseUrl=base + pages.TERMS)
    return data


def write(out: Path, app_id: str | None, url: str | None = None, template: Path = TEMPLATE) -> Path:
    """Write the zip to `out`; the files sit at its root, where Teams looks for them. Raises
    PackageError when the manifest cannot be made or the file cannot be written."""
    data = manifest(app_id, url, template)
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            for icon in ICONS:
                zf.write(template / icon, icon)
    except OSError as exc:
        raise PackageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def command(settings: Any, args: argparse.Namespace) -> int:
    """`helpdesk manifest teams`: write the zip a Teams admin uploads (the manifest naming this
    bot, its icons) and print its path (0), or say why not on stderr (2)."""
    try:
        print(write(Path(args.out), args.app_id or settings.teams.app_id, args.url))
        return 0
    except PackageError as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2
