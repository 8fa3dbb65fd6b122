"""`helpdesk manifest slack --url https://…`: the app manifest to create the Slack app from,
with its request URLs pointing at this server and the configured slash command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent.parent / "manifest" / "slack" / "manifest.yaml"


def manifest(settings: Any, args: argparse.Namespace) -> int:
    """Print the manifest (0), or say why not on stderr (2): no https:// --url, no template."""
    url: str | None = args.url
    if url is None:
        print("helpdesk: Slack needs --url, your server's public https:// address", file=sys.stderr)
        return 2
    if not TEMPLATE.exists():
        print(f"helpdesk: {TEMPLATE} is missing (install from a source checkout)", file=sys.stderr)
        return 2
    base = url.rstrip("/")
    if not base.startswith("https://"):
        print("helpdesk: Slack only sends requests to https:// addresses", file=sys.stderr)
        return 2
    text = TEMPLATE.read_text(encoding="utf-8").replace("https://helpdesk.example.com", base)
    print(text.replace("command: /ticket", f"command: {settings.slack.command}"), end="")
    return 0
