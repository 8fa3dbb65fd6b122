"""Active Directory (or any LDAP server) as the core's Directory, through ldap3.

`LdapDirectory` (adapters/ldap/directory.py) implements `bot.directory.Directory`;
`build_lookup(settings)` wires it into the time-limited, cached `Lookup` (adapters/ldap/lookup.py)
the core calls; `adapters/ldap/cli.py` holds `helpdesk directory whois|search|check`.
Every ldap3 import stays inside this package, and none happens until a directory is
actually configured and used, so `helpdesk` starts as fast without one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from adapters.ldap.lookup import Lookup
from adapters.ldap.settings import DirectorySettings

if TYPE_CHECKING:
    from adapters.ldap.directory import LdapDirectory

__all__ = ["DirectorySettings", "LdapDirectory", "Lookup", "build_lookup"]


def build_lookup(settings: DirectorySettings | None, env: Mapping[str, str] | None = None, **kw: Any) -> Lookup:
    """The Lookup the core uses: a disabled one when no directory is configured.

    Raises DirectoryConfigError when the directory is configured but cannot work
    (a bind_dn without HELPDESK_LDAP_PASSWORD, a base DN that does not parse)."""
    if settings is None:
        return Lookup(None)
    from adapters.ldap.directory import LdapDirectory

    return Lookup.from_settings(LdapDirectory.from_settings(settings, env), settings, **kw)


def __getattr__(name: str) -> Any:
    if name == "LdapDirectory":
        from adapters.ldap.directory import LdapDirectory

        return LdapDirectory
    raise AttributeError(name)
