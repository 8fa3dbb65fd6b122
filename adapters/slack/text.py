"""Text as Slack sends it, decoded once on the way in.

Slack escapes `&`, `<` and `>` as entities and wraps what it recognises as `<target|label>`:
people `<@U123>`, channels `<#C123|general>`, broadcasts `<!here>`, user groups
`<!subteam^S123|@team>`, links `<https://…|label>`, emails `<mailto:a@b|a@b>`, phone numbers
`<tel:…|…>`. `decode` turns a message back into what the person typed, keeping only people's
mentions, which the grammar reads, as `<@slack:U123>`.
"""
from __future__ import annotations

import re

_WRAPPED = re.compile(r"<([^<>]*)>")


def _unwrap(match: re.Match[str]) -> str:
    target, bar, label = match.group(1).partition("|")
    if target.startswith("@") and re.fullmatch(r"@[UW][A-Z0-9]+", target):
        return f"<@slack:{target[1:]}>"
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        name = target[1:].split("^")[0]
        if name in ("here", "channel", "everyone"):
            return "@" + name
        return label or f"@{name}"
    if not bar:
        return target.removeprefix("mailto:").removeprefix("tel:")
    bare = re.sub(r"^(?:https?://|mailto:|tel:)", "", target).rstrip("/")
    if label in (target, bare) or label.rstrip("/") == bare or re.sub(r"\D", "", label) == re.sub(r"\D", "", bare) != "":
        return label  # Slack recognised what was typed (a link, an address, a number): show it as typed
    return f"{label} ({target.removeprefix('mailto:')})"  # a link with its own label: keep where it leads


def decode(text: str | None) -> str:
    """What a person typed, from Slack's formatted text (event text, a slash command's text)."""
    if not text:
        return ""
    text = _WRAPPED.sub(_unwrap, text) if "<" in text else text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack escapes just these
