"""`[directory]`: how to reach Active Directory (or another LDAP server), and which attribute
holds what. Validated at start-up, so a bad URL, DN or filter stops the bot with the key and
the reason; the bind password never comes from the file."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PASSWORD_ENV = "HELPDESK_LDAP_PASSWORD"
PEOPLE_FILTER = "(&(objectClass=user)(!(objectClass=computer)))"
COMPUTER_FILTER = "(objectClass=computer)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


class DirectoryAttributes(_Strict):
    """Which LDAP attribute holds each field. Active Directory's names by default; an empty
    string means the directory has no such attribute and it is left out."""

    display_name: str = "displayName"
    given_name: str = "givenName"
    surname: str = "sn"
    mail: str = "mail"
    upn: str = "userPrincipalName"
    sam: str = "sAMAccountName"
    telephone: str = "telephoneNumber"
    mobile: str = "mobile"
    title: str = "title"
    department: str = "department"
    office: str = "physicalDeliveryOfficeName"
    manager: str = "manager"
    account_control: str = "userAccountControl"
    computer_name: str = "cn"
    dns_host_name: str = "dNSHostName"
    operating_system: str = "operatingSystem"
    os_version: str = "operatingSystemVersion"
    location: str = "location"
    managed_by: str = "managedBy"

    @model_validator(mode="after")
    def _names(self) -> "DirectoryAttributes":
        for key, value in self.model_dump().items():
            if value and not ATTRIBUTE_NAME.match(value):
                raise ValueError(f"attributes.{key}: {value!r} is not an LDAP attribute name (letters, digits, hyphens)")
        if not self.display_name or not self.computer_name:
            raise ValueError("attributes: display_name and computer_name cannot be left out")
        return self


def _balanced_filter(text: str) -> str:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            break
    if not (text.startswith("(") and text.endswith(")")) or depth != 0:
        raise ValueError(f"{text!r} is not an LDAP filter in parentheses, e.g. {PEOPLE_FILTER}")
    return text


def _dn_shaped(text: str) -> str:
    text = text.strip()
    if "=" not in text:
        raise ValueError(f"{text!r} is not a DN (e.g. DC=corp,DC=example)")
    return text


class DirectorySettings(_Strict):
    """`[directory]`: Active Directory (or another LDAP server) for requester details.

    The bind password is never in the file: it comes from HELPDESK_LDAP_PASSWORD."""

    servers: list[str] = Field(min_length=1)  # ldaps:// or ldap:// URLs, tried in this order
    base_dn: str = Field(min_length=1)
    user_base: str | None = None  # where people are searched (default: base_dn)
    computer_base: str | None = None  # where computers are searched (default: base_dn)
    bind_dn: str | None = None  # a DN, user@domain or DOMAIN\user; none: anonymous
    start_tls: bool = True  # for ldap:// URLs: upgrade with StartTLS before binding
    allow_plaintext: bool = False  # ldap:// with start_tls = false sends the password in clear text
    verify_certificates: bool = True
    ca_file: str | None = None  # PEM file of the CA(s) that sign the servers' certificates (default: the system's)
    connect_timeout_seconds: float = Field(default=3, gt=0, le=60)
    receive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    lookup_timeout_seconds: float = Field(default=1.5, gt=0, le=60)  # then the form is offered without pre-fill
    retry_failed_server_seconds: float = Field(default=30, ge=0)  # a server that failed is tried last this long
    page_size: int = Field(default=500, ge=1, le=10000)
    cache_ttl_seconds: float = Field(default=300, ge=0)  # 0: ask the directory every time
    person_filter: str = PEOPLE_FILTER
    computer_filter: str = COMPUTER_FILTER
    attributes: DirectoryAttributes = Field(default_factory=DirectoryAttributes)

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_file(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in ("password", "bind_password"):
                if key in data:
                    raise ValueError(f"{key}: the bind password is read from the environment variable "
                                     f"{PASSWORD_ENV} only, never from the configuration file")
        return data

    @field_validator("servers")
    @classmethod
    def _urls(cls, servers: list[str]) -> list[str]:
        seen: list[str] = []
        for i, url in enumerate(servers, start=1):
            url = url.strip()
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
                raise ValueError(f"servers[{i}]: {url!r} is not an ldaps://host[:port] or ldap://host[:port] URL")
            try:
                parts.port
            except ValueError:
                raise ValueError(f"servers[{i}]: {url!r} has a port that is not a number") from None
            if parts.path not in ("", "/") or parts.query or parts.username:
                raise ValueError(f"servers[{i}]: {url!r}: give only scheme, host and port; the base DN is base_dn")
            if url not in seen:
                seen.append(url)
        return seen

    @field_validator("base_dn", "user_base", "computer_base")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        return None if value is None else _dn_shaped(value)

    @field_validator("person_filter", "computer_filter")
    @classmethod
    def _filters(cls, value: str) -> str:
        return _balanced_filter(value.strip())

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{value!r} does not exist or is not a file (a PEM file with your CA's certificate)")
        return value

    @field_validator("bind_dn")
    @classmethod
    def _bind(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @model_validator(mode="after")
    def _transport(self) -> "DirectorySettings":
        plain = [u for u in self.servers if urlsplit(u).scheme.lower() == "ldap"]
        if plain and not self.start_tls and not self.allow_plaintext:
            raise ValueError(f"{plain[0]} with start_tls = false would send the bind password in clear text: "
                             "use ldaps://, keep start_tls = true, or set allow_plaintext = true")
        return self

    # Derived views.

    @property
    def people_base(self) -> str:
        """Where people are searched."""
        return self.user_base or self.base_dn

    @property
    def computers_base(self) -> str:
        """Where computers are searched."""
        return self.computer_base or self.base_dn

    def password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The bind password, from the environment only."""
        env = os.environ if env is None else env
        return env.get(PASSWORD_ENV) or None
