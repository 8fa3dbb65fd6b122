"""The whole configuration: the core's settings plus each adapter's own section.

`AppSettings` is the core's `Settings` with a `[<platform>]` section for every registered
chat platform (adapters/platforms.py), the `[directory]` section of adapters/ldap and the
`[attachments]` section of the attachment store (storage/files.py); the
core receives it as its Settings and never reads those sections. `load()` reads the file
and the environment (the core's variables and each platform's) into it.

Groups name their channel on each platform: `channels = { slack = "C0…", teams = "19:…" }`
and `mentions = { slack = "<!subteam^S0…>" }`; the older `slack_channel`, `teams_channel` and
`mention` keys are still read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, create_model, model_validator

from adapters.ldap.settings import DirectorySettings
from adapters.platforms import PLATFORMS
from bot.config import ENV_KEYS, Settings, load_settings
from storage.files import FileSettings


class _AppBase(Settings):
    """What every composed settings object adds to the core's: platform sections and checks."""

    @model_validator(mode="before")
    @classmethod
    def _group_channels(cls, data: Any) -> Any:
        """`slack_channel = "C0…"` in a group becomes `channels.slack`, and so on for each platform;
        each channel id is checked, and kept in its platform's canonical form."""
        if not isinstance(data, Mapping) or not isinstance(data.get("groups"), Mapping):
            return data
        known = {p.name: p for p in PLATFORMS}
        data = dict(data)
        groups = {}
        for name, group in data["groups"].items():
            if isinstance(group, Mapping):
                group = dict(group)
                for platform in PLATFORMS:
                    for old, (kind, where) in platform.legacy_group_keys.items():
                        if old in group:
                            value = group.pop(old)
                            if value is not None:
                                group[kind] = {**dict(group.get(kind) or {}), where: value}
                for kind in ("channels", "mentions"):
                    for where in group.get(kind) or {}:
                        if where not in known:
                            raise ValueError(f"groups.{name}.{kind}: {where!r} is not a chat platform "
                                             f"(one of {', '.join(known)})")
                channels = dict(group.get("channels") or {})
                for where, channel in channels.items():
                    if isinstance(channel, str):
                        try:
                            channels[where] = known[where].channel(channel)
                        except ValueError as exc:
                            raise ValueError(f"groups.{name}.channels.{where}: {exc}") from None
                if channels:
                    group["channels"] = channels
            groups[name] = group
        data["groups"] = groups
        return data

    def chat_platforms(self) -> list[str]:
        """The registered chat platforms whose section says they are set up."""
        return [p.name for p in PLATFORMS if getattr(self, p.name).enabled]

    def platform(self, name: str) -> Any:
        """A platform's own settings section."""
        return getattr(self, name)


AppSettings: type[Settings] = create_model(  # type: ignore[call-overload]
    "AppSettings", __base__=_AppBase,
    directory=(DirectorySettings | None, None),  # Active Directory / LDAP; None: requesters give their details
    attachments=(FileSettings, Field(default_factory=FileSettings)),  # where shared files are kept, and which
    **{p.name: (p.settings, Field(default_factory=p.settings)) for p in PLATFORMS},
)

APP_ENV_KEYS: dict[str, tuple[str, ...]] = {
    **ENV_KEYS, **{var: (p.name, key) for p in PLATFORMS for var, key in p.env.items()}}


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The configuration file (HELPDESK_CONFIG, else ./helpdesk.toml if present) and the
    environment, validated into AppSettings. Raises ConfigError naming the key and the reason."""
    return load_settings(path, env, model=AppSettings, env_keys=APP_ENV_KEYS)


def validate(data: Mapping[str, Any]) -> Settings:
    """AppSettings from plain data (tests, tools). Raises pydantic's ValidationError."""
    return AppSettings.model_validate(data)
