"""The chat platforms the help desk speaks, registered once.

Each platform is a folder under adapters/ whose package names a `Platform`: its settings
section, the environment variables that fill it, how to check a group's channel id there,
and where the function that mounts it on the server lives (imported only when the platform
is set up, so an unused SDK is never loaded). A third platform adds its folder and one line
(its folder's name) to PLATFORMS.
"""
from __future__ import annotations

import importlib

from adapters.chat.platform import Platform

PLATFORMS: tuple[Platform, ...] = tuple(importlib.import_module(f"adapters.{name}").PLATFORM for name in (
    "slack",
    "teams",
))


def platform(name: str) -> Platform:
    """The registered platform called `name`. Raises KeyError for an unknown one."""
    return {p.name: p for p in PLATFORMS}[name]
