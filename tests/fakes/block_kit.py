"""Block Kit's documented limits, as Slack enforces them: a message or modal past one is refused
(`invalid_blocks` / `invalid_arguments` with a pointer to the field), the text of a message past
40,000 characters is `msg_too_long`. Used by the fake Web API (tests/fakes/slack_api.py)."""
from __future__ import annotations

from typing import Any

TEXT_MAX = 40_000
# (block or element type, field) → maximum characters of that field's text
LIMITS = {
    ("header", "text"): 150,
    ("section", "text"): 3000,
    ("section", "field"): 2000,
    ("context", "element"): 3000,
    ("button", "text"): 75,
    ("button", "value"): 2000,
    ("button", "action_id"): 255,
    ("input", "label"): 2000,
    ("input", "hint"): 2000,
    ("plain_text_input", "initial_value"): 3000,
    ("plain_text_input", "placeholder"): 150,
    ("option", "text"): 75,
    ("option", "description"): 75,
    ("option", "value"): 150,
    ("modal", "title"): 24,
    ("modal", "submit"): 24,
    ("modal", "close"): 24,
    ("modal", "private_metadata"): 3000,
}
MAX_FIELDS = 10
MAX_ELEMENTS = 25


def _text(node: Any) -> str:
    return node.get("text", "") if isinstance(node, dict) else str(node or "")


def problems(blocks: list[Any], pointer: str = "/blocks") -> list[str]:
    """Every field over its limit, as Slack words it: `[ERROR] must be less than N characters [json-pointer:…]`."""
    found: list[str] = []

    def over(kind: str, field: str, value: str, where: str) -> None:
        limit = LIMITS[(kind, field)]
        if len(value) > limit:
            found.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}]")

    def element(el: dict, where: str) -> None:
        kind = el.get("type")
        if kind == "button":
            over("button", "text", _text(el.get("text")), f"{where}/text/text")
            over("button", "value", str(el.get("value", "")), f"{where}/value")
            over("button", "action_id", str(el.get("action_id", "")), f"{where}/action_id")
        elif kind == "plain_text_input":
            initial = str(el.get("initial_value", ""))
            over("plain_text_input", "initial_value", initial, f"{where}/initial_value")
            if el.get("max_length") and len(initial) > int(el["max_length"]):
                found.append(f"[ERROR] initial_value is longer than max_length [json-pointer:{where}/initial_value]")
            if int(el.get("max_length") or 0) > 3000:
                found.append(f"[ERROR] must be less than 3001 [json-pointer:{where}/max_length]")
            over("plain_text_input", "placeholder", _text(el.get("placeholder")), f"{where}/placeholder/text")
        for n, option in enumerate(el.get("options") or []):
            over("option", "text", _text(option.get("text")), f"{where}/options/{n}/text/text")
            over("option", "value", str(option.get("value", "")), f"{where}/options/{n}/value")
            if option.get("description"):
                over("option", "description", _text(option["description"]), f"{where}/options/{n}/description/text")

    for i, block in enumerate(blocks or []):
        where = f"{pointer}/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            over("header", "text", _text(block.get("text")), f"{where}/text/text")
        elif kind == "section":
            if block.get("text"):
                over("section", "text", _text(block["text"]), f"{where}/text/text")
            fields = block.get("fields") or []
            if len(fields) > MAX_FIELDS:
                found.append(f"[ERROR] no more than {MAX_FIELDS} items allowed [json-pointer:{where}/fields]")
            for n, f in enumerate(fields):
                over("section", "field", _text(f), f"{where}/fields/{n}/text")
            if block.get("accessory"):
                element(block["accessory"], f"{where}/accessory")
        elif kind == "context":
            for n, el in enumerate(block.get("elements") or []):
                over("context", "element", _text(el), f"{where}/elements/{n}/text")
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > MAX_ELEMENTS:
                found.append(f"[ERROR] no more than {MAX_ELEMENTS} items allowed [json-pointer:{where}/elements]")
            seen: set[str] = set()
            for n, el in enumerate(elements):
                element(el, f"{where}/elements/{n}")
                action_id = el.get("action_id") if isinstance(el, dict) else None
                if action_id is not None and action_id in seen:  # "unique among the block's action ids"
                    found.append(f"[ERROR] action_id must be unique in the block [json-pointer:{where}/elements/{n}/action_id]")
                seen.add(action_id)
        elif kind == "input":
            over("input", "label", _text(block.get("label")), f"{where}/label/text")
            if block.get("hint"):
                over("input", "hint", _text(block["hint"]), f"{where}/hint/text")
            element(block.get("element") or {}, f"{where}/element")
    return found


def view_problems(view: dict) -> list[str]:
    """A modal's own fields and its blocks."""
    found = problems(view.get("blocks") or [], "/view/blocks")
    for field in ("title", "submit", "close"):
        if view.get(field):
            limit = LIMITS[("modal", field)]
            if len(_text(view[field])) > limit:
                found.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{field}/text]")
    if len(str(view.get("private_metadata", ""))) > LIMITS[("modal", "private_metadata")]:
        found.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
    return found
