"""Text as Teams sends it, decoded once on the way in.

A message's text is HTML-ish: mentions are `<at>Name</at>` tags described by `mention`
entities, other markup comes as tags and entities, spaces as no-break spaces. `decode` gives
what the person typed, with the bot's own mention removed and each person's mention written
`<@teams:…>` (what the grammar reads), and the accounts mentioned."""
from __future__ import annotations

import html
import re

from botbuilder.schema import Activity, ChannelAccount

AT_TAG = re.compile(r"<at>(.*?)</at>", re.S)
TAG = re.compile(r"<[^>]+>")
HELD = re.compile(r"\x00(\d+)\x00")


def identity_of(account: ChannelAccount) -> str:
    """`teams:<Azure AD object id>`: stable across teams, chats and bots (the 29:… id is per bot)."""
    return f"teams:{account.aad_object_id or account.id}"


def decode(activity: Activity) -> tuple[str, list[tuple[str, ChannelAccount]]]:
    """(the text as typed, [(placeholder, account)] for each person mentioned). Each placeholder
    stands in the text where the mention was; the caller replaces it with `<@identity>` once it
    knows who the account is (the same person mentioned twice — the new client sends one
    mention per word of a name — is one placeholder)."""
    text = activity.text or ""
    mentioned: list[tuple[str, ChannelAccount]] = []
    held: dict[str, str] = {}
    bot = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        if entity.type != "mention":
            continue
        props = entity.additional_properties or {}
        who = props.get("mentioned") or {}
        tag = props.get("text") or ""
        if not tag or tag not in text:
            continue
        if who.get("id") == bot:
            text = text.replace(tag, " ")
            continue
        token = held.get(str(who.get("id")))
        if token is None:
            token = held[str(who.get("id"))] = f"\x00{len(mentioned)}\x00"
            mentioned.append((token, ChannelAccount(id=who.get("id"), name=who.get("name"))))
        text = text.replace(tag, token)
    text = AT_TAG.sub(lambda m: m.group(1), text)  # mentions without an entity: just the name
    text = html.unescape(TAG.sub(" ", text)).replace("\xa0", " ")
    text = re.sub(r"(\x00\d+\x00)(?:\s*\1)+", r"\1", text)
    return text.strip(), mentioned


def with_people(text: str, identities: list[str]) -> str:
    """Placeholders from `decode` replaced by `<@identity>`, in the order `decode` listed them."""
    return HELD.sub(lambda m: f"<@{identities[int(m.group(1))]}>", text)
