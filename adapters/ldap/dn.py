r"""Distinguished names compared as names, not strings.

`CN=Lee\, Bob,OU=People,DC=corp,DC=example` and `cn=lee\2c bob, ou=people,dc=Corp,dc=Example`
are the same entry: attribute types and values compare case-insensitively (as AD does),
escapes are undone, spaces around separators and runs of spaces inside values do not count,
and the order of the parts of a multi-valued RDN does not matter.
"""
from __future__ import annotations

from string import hexdigits

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

DNKey = tuple[frozenset[tuple[str, str]], ...]

_ALIASES = {
    "commonname": "cn", "2.5.4.3": "cn",
    "organizationalunitname": "ou", "2.5.4.11": "ou",
    "organizationname": "o", "2.5.4.10": "o",
    "domaincomponent": "dc", "0.9.2342.19200300.100.1.25": "dc",
    "countryname": "c", "2.5.4.6": "c",
    "localityname": "l", "2.5.4.7": "l",
    "userid": "uid", "0.9.2342.19200300.100.1.1": "uid",
}


def unescape(value: str) -> str:
    """RFC 4514 escapes undone: `\\,` → `,` and `\\C3\\BC` → `ü`."""
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            pair = value[i + 1:i + 3]
            if len(pair) == 2 and all(c in hexdigits for c in pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def _normal_value(value: str) -> str:
    if value.startswith("#"):  # BER-encoded value: compare the hex
        return value.lower()
    return " ".join(unescape(value).split()).casefold()


def dn_key(dn: str) -> DNKey:
    """The comparable form of a DN; raises ValueError if it is not a DN."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError as exc:
        raise ValueError(f"{dn!r} is not a distinguished name: {exc}") from None
    rdns: list[frozenset[tuple[str, str]]] = []
    current: set[tuple[str, str]] = set()
    for attr, value, separator in parts:
        kind = attr.strip().lower()
        current.add((_ALIASES.get(kind, kind), _normal_value(value)))
        if separator != "+":
            rdns.append(frozenset(current))
            current = set()
    if current:
        rdns.append(frozenset(current))
    return tuple(rdns)


def same_dn(a: str | None, b: str | None) -> bool:
    """Whether two DNs name the same entry; a value that is not a DN names nothing."""
    if not a or not b:
        return False
    try:
        return dn_key(a) == dn_key(b)
    except ValueError:
        return False


def is_within(dn: str, base: str) -> bool:
    """Whether `dn` is `base` or below it."""
    try:
        entry, root = dn_key(dn), dn_key(base)
    except ValueError:
        return False
    return len(entry) >= len(root) and entry[len(entry) - len(root):] == root


def rdn_value(dn: str | None) -> str | None:
    """The value of a DN's first RDN, unescaped: `Lee, Bob` for `CN=Lee\\, Bob,OU=People,…`."""
    if not dn:
        return None
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return None
    return unescape(parts[0][1]) if parts else None
