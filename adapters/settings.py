"""The whole configuration: the core's settings plus each adapter's own section.

`AppSettings` is the core's `Settings` with a `[<platform>]` section for every registered
chat platform (adapters/platforms.py), the `[directory]` section of adapters/ldap, the
`[attachments]` section of the attachment store (storage/files.py) and the `[intake]` section of
the intake journal (adapters/chat/journal.py); the
core receives it as its Settings and never reads those sections. `load()` reads the file
and the environment (the core's variables and each platform's) into it.

Groups name their channel on each platform: `channels = { slack = "C0…", teams = "19:…" }`
and `mentions = { slack = "<!subteam^S0…>" }`; the older `slack_channel`, `teams_channel` and
`mention` keys are still read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from urllib.parse import urlsplit

from pydantic import Field, create_model, field_validator, model_validator

from adapters.chat.journal import IntakeSettings
from adapters.ldap.settings import DirectorySettings
from adapters.platforms import PLATFORMS
from bot.config import ENV_KEYS, Settings, load_settings
from storage.files import FileSettings


LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _AppBase(Settings):
    """What every composed settings object adds to the core's: platform sections and checks, and
    `public_url`, the server's own address as chat platforms and people's apps reach it (the
    charts a report posts on Teams are fetched from there); https, or http on loopback (tests,
    the Bot Framework Emulator)."""

    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme == "https" and parts.hostname:
            return url.strip().rstrip("/")
        if parts.scheme == "http" and parts.hostname in LOOPBACK:
            return url.strip().rstrip("/")
        raise ValueError(f"{url[:80]!r} is not the server's public https:// address (chat apps fetch images from it)")

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
    intake=(IntakeSettings, Field(default_factory=IntakeSettings)),  # where submitted forms wait to be written
    **{p.name: (p.settings, Field(default_factory=p.settings)) for p in PLATFORMS},
)

APP_ENV_KEYS: dict[str, tuple[str, ...]] = {
    **ENV_KEYS, "HELPDESK_PUBLIC_URL": ("public_url",),
    **{var: (p.name, key) for p in PLATFORMS for var, key in p.env.items()}}


OWN_FILE = Path("helpdesk.toml")
EXAMPLE_FILE = Path("helpdesk.example.toml")


@dataclass(frozen=True)
class ConfigSource:
    """Which configuration file every `helpdesk` command reads (the same one `make run` passes):
    `path` (None: no file, the built-in defaults) and `why` it was chosen: "HELPDESK_CONFIG",
    "helpdesk.toml", "example" (no file of your own yet: the shipped example, as `make run`
    uses) or "defaults"."""

    path: Path | None
    why: str

    def describe(self) -> str:
        """One line saying which file was loaded, for stderr, `config check` and the server's log."""
        if self.path is None:
            return "Configuration: no file (HELPDESK_CONFIG unset, no ./helpdesk.toml): the built-in defaults"
        where = self.path.resolve()
        if self.why == "example":
            return (f"Configuration: {where}, the shipped example (no ./helpdesk.toml yet: copy the example "
                    "to helpdesk.toml, or set HELPDESK_CONFIG, to use your own)")
        return f"Configuration: {where}" + (" (from HELPDESK_CONFIG)" if self.why == "HELPDESK_CONFIG" else "")


def config_source(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ConfigSource:
    """The file to read: $HELPDESK_CONFIG, else ./helpdesk.toml, else ./helpdesk.example.toml (the
    example a checkout ships, which `make run` starts with), else none (built-in defaults)."""
    env = os.environ if env is None else env
    cwd = cwd or Path(".")
    if env.get("HELPDESK_CONFIG"):
        return ConfigSource(Path(env["HELPDESK_CONFIG"]), "HELPDESK_CONFIG")
    for name, why in ((OWN_FILE, "helpdesk.toml"), (EXAMPLE_FILE, "example")):
        if (cwd / name).is_file():
            return ConfigSource(name if cwd == Path(".") else cwd / name, why)
    return ConfigSource(None, "defaults")


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The configuration file and the environment, validated into AppSettings. Without `path`
    the file is the one `config_source(env)` names: HELPDESK_CONFIG, else ./helpdesk.toml, else
    ./helpdesk.example.toml. Raises ConfigError naming the key and the reason."""
    if path is None:
        path = config_source(env).path
    return load_settings(path, env, model=AppSettings, env_keys=APP_ENV_KEYS)


def validate(data: Mapping[str, Any]) -> Settings:
    """AppSettings from plain data (tests, tools). Raises pydantic's ValidationError."""
    return AppSettings.model_validate(data)
