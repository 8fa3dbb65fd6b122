"""What the rest of the help desk knows of a chat platform (see adapters/platforms.py)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel


@dataclass(frozen=True)
class Platform:
    """A chat platform as the rest of the help desk sees it.

    `settings`: the pydantic model of its `[<name>]` section, with an `enabled` property;
    `env`: environment variable → key in that section; `channel`: checks and normalises a
    group's channel id (raises ValueError with the reason); `mount`: "module:function" of
    `mount(app, runtime, state, poll_seconds)`, which adds its routes and its outbox sender;
    `manifest`: "module:function" of `manifest(settings, args)` for `helpdesk manifest <name>`;
    `legacy_group_keys`: older per-group keys, as (field, platform) they now fill."""

    name: str
    label: str
    settings: type[BaseModel]
    env: dict[str, str]
    mount: str
    channel: Callable[[str], str] = str.strip
    legacy_group_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    manifest: str = ""  # "module:function" of `manifest(settings, args) -> exit code`, if it has one

    def mounter(self) -> Callable[..., Any]:
        """The platform's mount function (imports its SDK)."""
        return _load(self.mount)

    def manifester(self) -> Callable[..., int]:
        """`helpdesk manifest <platform>`: what its admin uploads to install the bot."""
        return _load(self.manifest)


def _load(where: str) -> Any:
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)
