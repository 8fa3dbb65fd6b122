"""The Teams app package: what a Teams admin uploads to install the bot.

Teams wants one zip with manifest.json and the two icons at its root, the manifest
naming the Azure bot's Microsoft App ID. Plain json and zipfile, so building it needs
neither botbuilder nor credentials.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

TEMPLATE = Path(__file__).resolve().parents[2] / "manifest" / "teams"
ICONS = ("color.png", "outline.png")
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class PackageError(ValueError):
    """The package cannot be built; the message says why, for the person running the command."""


def manifest(app_id: str | None, url: str | None = None, template: Path = TEMPLATE) -> dict:
    """The template manifest with this bot's App ID and, when given, its server's domain."""
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
        data["validDomains"] = [parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"]
    return data


def write(out: Path, app_id: str | None, url: str | None = None, template: Path = TEMPLATE) -> Path:
    """Write the zip to `out`; the files sit at its root, where Teams looks for them."""
    data = manifest(app_id, url, template)
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            for icon in ICONS:
                zf.write(template / icon, icon)
    except OSError as exc:
        raise PackageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out
