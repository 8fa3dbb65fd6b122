"""`LdapDirectory`: the core's Directory port over ldap3, for Active Directory.

- People are `person_filter` (AD: `(&(objectClass=user)(!(objectClass=computer)))`, since a
  computer is a user in AD); computers are `computer_filter`.
- Every value that came from a user goes through `escape_filter_chars`; no DN is built
  from input (the only DNs used are the configured bases and DNs the directory returned).
- Connections are read-only, follow no referrals, validate TLS certificates by default
  (ldaps:// or StartTLS), have connect and receive timeouts, and search in pages.
- Failover: the servers are tried in the configured order, each with its own timeouts;
  a server that just failed is tried last for `retry_failed_server_seconds`, so the next
  lookups do not wait on it again, but it is never dropped. (ldap3's ServerPool is not
  used: its FIRST strategy only probes that a TCP connect works, so a hung server that
  accepts connections and never answers is chosen every time; and with every server down
  it sleeps POOLING_LOOP_TIMEOUT, 10 s, before giving up, whatever the timeouts say.)
- Thread-safe: each call opens, binds and closes its own connection.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import urlsplit

from ldap3 import ANONYMOUS, BASE, DEREF_NEVER, NONE, SIMPLE, SUBTREE, SYNC, Connection, Server, Tls
from ldap3.core import exceptions as lx
from ldap3.core.results import RESULT_REFERRAL, RESULT_SIZE_LIMIT_EXCEEDED, RESULT_TIME_LIMIT_EXCEEDED
from ldap3.utils.conv import escape_filter_chars

from adapters.ldap.settings import PASSWORD_ENV, DirectorySettings
from bot.directory import (SUFFIX_DIGITS, SEARCH_LIMIT, Computer, DirectoryConfigError, DirectoryError, Person,
                           digits_only, looks_like_phone, same_phone)

from adapters.ldap.dn import dn_key, rdn_value, same_dn
from adapters.ldap.errors import Endpoint, explain

log = logging.getLogger("helpdesk.directory")

T = TypeVar("T")
PAGED_RESULTS = "1.2.840.113556.1.4.319"
ACCOUNTDISABLE = 0x2  # userAccountControl bit
MAX_COMPUTERS = 1000  # per person; a lab admin's hundreds are fine, a runaway managedBy is not
MAX_SEARCH = 50
KEY_MAX = 256

# Failures that say something about this server or the path to it: try the next one.
SERVER_FAILURES: tuple[type[BaseException], ...] = (
    lx.LDAPCommunicationError, lx.LDAPStartTLSError, lx.LDAPCertificateError, lx.LDAPSocketOpenError,
    lx.LDAPBusyResult, lx.LDAPUnavailableResult, lx.LDAPUnwillingToPerformResult, lx.LDAPServerPoolError,
    ssl.SSLError, OSError)


@dataclass(frozen=True)
class Step:
    name: str  # connect, starttls, bind, search
    ok: bool
    seconds: float
    detail: str


@dataclass(frozen=True)
class ServerReport:
    """What `helpdesk directory check` found out about one server."""

    url: str
    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        """Whether every step on this server worked."""
        return bool(self.steps) and all(s.ok for s in self.steps)


def _endpoints(settings: DirectorySettings) -> list[Endpoint]:
    found = []
    for url in settings.servers:
        parts = urlsplit(url)
        secure = parts.scheme.lower() == "ldaps"
        found.append(Endpoint(url=url, host=parts.hostname or "", port=parts.port or (636 if secure else 389),
                              ssl=secure, start_tls=not secure and settings.start_tls))
    return found


def _close(conn: Connection | None) -> None:
    if conn is None:
        return
    try:
        conn.unbind()
    except Exception:  # the socket may already be gone; nothing to tell anyone
        pass


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _clean(text: str | None) -> str | None:
    """User input fit to look up: trimmed, not empty, not huge, no control characters (LDAP
    string preparation maps NUL and friends to nothing, so `alice\\x00` would match `alice`)."""
    text = (text or "").strip()
    if not text or len(text) > KEY_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    return text


def _no_delay(conn: Connection) -> None:
    """Send each request at once: with Nagle's algorithm the small bind request after a TLS
    handshake waits for the server's delayed ACK, 40 ms on every lookup."""
    try:
        conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        pass


def _first(entry: Mapping[str, Any], attr: str) -> str | None:
    if not attr:
        return None
    values = entry.get("attributes", {}).get(attr)
    if values is None:
        return None
    if isinstance(values, (list, tuple)):
        if not values:
            return None
        values = values[0]
    if isinstance(values, bytes):
        values = values.decode("utf-8", errors="replace")
    text = str(values).strip()
    return text or None


class LdapDirectory:
    """Active Directory through ldap3; see the module docstring."""

    def __init__(self, settings: DirectorySettings, password: str | None = None) -> None:
        if settings.bind_dn and not password:
            raise DirectoryConfigError(f"directory.bind_dn is set but {PASSWORD_ENV} is empty: "
                                       "put the bind password in that environment variable")
        for key in ("base_dn", "user_base", "computer_base"):
            value = getattr(settings, key)
            if value is None:
                continue
            try:
                dn_key(value)
            except ValueError as exc:
                raise DirectoryConfigError(f"directory.{key}: {exc}") from None
        self.settings = settings
        self._password = password
        self._endpoints = _endpoints(settings)
        validate = ssl.CERT_REQUIRED if settings.verify_certificates else ssl.CERT_NONE
        self._tls = {e.url: Tls(validate=validate, ca_certs_file=settings.ca_file,
                                sni=None if _is_ip(e.host) else e.host) for e in self._endpoints}
        self._failed_at: dict[str, float] = {}
        self._lock = threading.Lock()
        a = settings.attributes
        self._a = a
        self._person_attrs = sorted({x for x in (
            "cn", a.display_name, a.mail, a.upn, a.sam, a.telephone, a.mobile, a.title, a.department, a.office,
            a.manager, a.account_control) if x})
        self._computer_attrs = sorted({x for x in (
            a.computer_name, a.dns_host_name, a.operating_system, a.os_version, a.location, a.managed_by) if x})

    @classmethod
    def from_settings(cls, settings: DirectorySettings, env: Mapping[str, str] | None = None) -> "LdapDirectory":
        """The directory for `[directory]`, the bind password from the environment. Raises
        DirectoryConfigError when a bind DN is set without its password."""
        return cls(settings, settings.password(os.environ if env is None else env))

    def __repr__(self) -> str:
        return f"LdapDirectory({', '.join(e.url for e in self._endpoints)}; base {self.settings.base_dn})"

    def warnings(self) -> list[str]:
        """Settings that work but weaken security, in plain words."""
        found = []
        if not self.settings.verify_certificates:
            found.append("verify_certificates = false: the servers' certificates are not checked, so anybody on "
                         "the network path can pose as the directory and collect the bind password")
        plain = [e.url for e in self._endpoints if not e.ssl and not e.start_tls]
        if plain:
            found.append(f"{', '.join(plain)}: no TLS (start_tls = false), so the bind password and every answer "
                         "cross the network in clear text")
        return found

    # ------------------------------------------------------------------ the Directory port

    def find_person(self, key: str) -> Person | None:
        """A person by email, userPrincipalName or account name (DOMAIN\name too); None if nobody.
        Raises DirectoryError when no server answers."""
        key = _clean(key)
        if key is None:
            return None
        return self._run(lambda conn: self._find_person(conn, key, {}))

    def computers_of(self, person: Person) -> list[Computer]:
        """The computers the person manages (managedBy), by name, at most MAX_COMPUTERS. Raises DirectoryError."""
        if not self._a.managed_by:
            return []

        def op(conn: Connection) -> list[Computer]:
            dn, identity = person.dn, _clean(person.identity)
            if not dn and identity:
                found = self._find_person(conn, identity, {}, resolve_manager=False)
                dn = found.dn if found else None
            if not dn:
                return []
            owner = dn_key(dn)
            flt = f"(&{self.settings.computer_filter}({self._a.managed_by}={escape_filter_chars(dn)}))"
            computers = []
            for entry in self._search(conn, self.settings.computers_base, flt, self._computer_attrs, MAX_COMPUTERS):
                managed_by = _first(entry, self._a.managed_by)
                try:  # the server matched the DN already; check it parsed, never as a string
                    if managed_by is None or dn_key(managed_by) != owner:
                        continue
                except ValueError:
                    continue
                computers.append(self._computer(entry))
            return sorted(computers, key=lambda c: c.name.casefold())

        return self._run(op)

    def find_computer(self, name: str) -> Computer | None:
        """A computer by name, host name or account name (NAME$); None if none. Raises DirectoryError."""
        name = _clean(name)
        if name is not None and name.endswith("$"):
            name = name[:-1]
        if not name:
            return None
        a, value = self._a, escape_filter_chars(name)
        clauses = [f"({a.computer_name}={value})"]
        if a.dns_host_name:
            clauses.append(f"({a.dns_host_name}={value})")
        if a.sam:
            clauses.append(f"({a.sam}={escape_filter_chars(name + '$')})")
        flt = f"(&{self.settings.computer_filter}(|{''.join(clauses)}))"

        def op(conn: Connection) -> Computer | None:
            entries = list(self._search(conn, self.settings.computers_base, flt, self._computer_attrs, 2))
            return self._computer(entries[0]) if len(entries) == 1 else None

        return self._run(op)

    def search_people(self, fragment: str, limit: int = SEARCH_LIMIT) -> list[Person]:
        """People by name prefix, address, account name or phone digits, sorted by name, at most `limit`.
        Raises DirectoryError when no server answers."""
        fragment = _clean(fragment)
        limit = max(0, min(limit, MAX_SEARCH))
        if fragment is None or not limit:
            return []
        a = self._a
        searches: list[tuple[str, Callable[[Mapping[str, Any]], bool]]] = []
        if looks_like_phone(fragment):
            digits = digits_only(fragment)
            tail = digits[-SUFFIX_DIGITS:]  # a superset on the server; compared digits-only here
            pattern = "*" + "*".join(escape_filter_chars(d) for d in tail) + "*"
            phones = [attr for attr in (a.telephone, a.mobile) if attr]
            if phones:
                flt = f"(&{self.settings.person_filter}(|{''.join(f'({p}={pattern})' for p in phones)}))"
                searches.append((flt, lambda e: any(same_phone(fragment, _first(e, p)) for p in phones)))
        if not looks_like_phone(fragment) or fragment.isdigit():  # an all-digit account name is still a name
            prefix = escape_filter_chars(fragment) + "*"
            attrs = [x for x in (a.display_name, a.given_name, a.surname, a.mail, a.sam, a.upn) if x]
            flt = f"(&{self.settings.person_filter}(|{''.join(f'({x}={prefix})' for x in attrs)}))"
            searches.append((flt, lambda e: True))

        def op(conn: Connection) -> list[Person]:
            chosen: dict[Any, Mapping[str, Any]] = {}
            for flt, keep in searches:
                if len(chosen) >= limit:
                    break
                for entry in self._search(conn, self.settings.people_base, flt, self._person_attrs):
                    if len(chosen) >= limit:
                        break
                    if keep(entry):
                        chosen.setdefault(self._identity_of(entry), entry)
            memo: dict[Any, str | None] = {}
            people = [self._person(conn, entry, memo) for entry in chosen.values()]
            return sorted(people, key=lambda p: (p.display_name.casefold(), p.mail or ""))

        return self._run(op)

    # ------------------------------------------------------------------ check

    def check(self) -> list[ServerReport]:
        """Connect, (StartTLS,) bind and search once on every server, timing each step."""
        return [self._check(endpoint) for endpoint in self._endpoints]

    def _check(self, endpoint: Endpoint) -> ServerReport:
        steps: list[Step] = []
        conn = self._connection(endpoint)

        def step(name: str, action: Callable[[], str]) -> bool:
            started = time.perf_counter()
            try:
                detail = action()
            except Exception as exc:
                steps.append(Step(name, False, time.perf_counter() - started, explain(exc, endpoint, self.settings, name)))
                return False
            steps.append(Step(name, True, time.perf_counter() - started, detail))
            return True

        def connect() -> str:
            conn.open(read_server_info=False)
            _no_delay(conn)
            return self._tls_detail(conn) if endpoint.ssl else "connected (no TLS yet)" if endpoint.start_tls \
                else "connected, no TLS: the password crosses the network in clear text"

        def start_tls() -> str:
            conn.start_tls(read_server_info=False)
            return self._tls_detail(conn)

        def bind() -> str:
            conn.bind(read_server_info=False)
            return f"bound as {self.settings.bind_dn}" if self.settings.bind_dn else "bound anonymously"

        def search() -> str:
            base = self.settings.people_base
            found = next(iter(self._search(conn, base, self.settings.person_filter, self._person_attrs, 1)), None)
            if found is None:
                who = self.settings.bind_dn or "the anonymous bind"
                raise DirectoryError(f"found nobody under {base} with {self.settings.person_filter}: "
                                     f"check user_base, or whether {who} may read people there")
            name = _first(found, self._a.display_name) or _first(found, "cn") or found.get("dn")
            return f"found people under {base} (e.g. {name})"

        try:
            ok = step("connect", connect)
            if ok and endpoint.start_tls:
                ok = step("starttls", start_tls)
            ok = ok and step("bind", bind)
            ok and step("search", search)
        finally:
            _close(conn)
        return ServerReport(endpoint.url, tuple(steps))

    def _tls_detail(self, conn: Connection) -> str:
        sock = conn.socket
        version = getattr(sock, "version", lambda: None)() or "TLS"
        if not self.settings.verify_certificates:
            return f"{version}; certificate NOT checked (verify_certificates = false)"
        cert = sock.getpeercert() or {}
        subject = dict(x[0] for x in cert.get("subject", ()) if x)
        issuer = dict(x[0] for x in cert.get("issuer", ()) if x)
        return (f"{version}; certificate for {subject.get('commonName', '?')} from {issuer.get('commonName', '?')}, "
                f"valid until {cert.get('notAfter', '?')}")

    # ------------------------------------------------------------------ connections and failover

    def _connection(self, endpoint: Endpoint) -> Connection:
        server = Server(endpoint.host, port=endpoint.port, use_ssl=endpoint.ssl, tls=self._tls[endpoint.url], get_info=NONE,
                        connect_timeout=self.settings.connect_timeout_seconds)
        return Connection(server, user=self.settings.bind_dn, password=self._password,
                          authentication=SIMPLE if self.settings.bind_dn else ANONYMOUS, client_strategy=SYNC,
                          read_only=True, auto_referrals=False, raise_exceptions=True,
                          check_names=False,  # DNs come from the directory as it spells them; the server parses them
                          receive_timeout=self.settings.receive_timeout_seconds, return_empty_attributes=False)

    def _open(self, endpoint: Endpoint) -> Connection:
        conn = self._connection(endpoint)
        try:
            conn.open(read_server_info=False)
            _no_delay(conn)
            if endpoint.start_tls:
                conn.start_tls(read_server_info=False)
            conn.bind(read_server_info=False)
        except BaseException:
            _close(conn)
            raise
        return conn

    def _ordered(self) -> list[Endpoint]:
        now = time.monotonic()
        window = self.settings.retry_failed_server_seconds
        with self._lock:
            recent = {url for url, at in self._failed_at.items() if now - at < window}
        return [e for e in self._endpoints if e.url not in recent] + [e for e in self._endpoints if e.url in recent]

    def _mark(self, endpoint: Endpoint, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failed_at.pop(endpoint.url, None)
            else:
                self._failed_at[endpoint.url] = time.monotonic()

    def _run(self, operation: Callable[[Connection], T]) -> T:
        """Run `operation` on the first server that connects, binds and answers."""
        problems: list[str] = []
        for endpoint in self._ordered():
            try:
                conn = self._open(endpoint)
            except (lx.LDAPException, *SERVER_FAILURES) as exc:
                self._mark(endpoint, False)
                problems.append(f"{endpoint.url}: {explain(exc, endpoint, self.settings, 'open')}")
                log.debug("directory: %s failed: %s", endpoint.url, exc)
                continue
            try:
                result = operation(conn)
            except SERVER_FAILURES as exc:  # dropped mid-search, busy: the next server may do better
                self._mark(endpoint, False)
                problems.append(f"{endpoint.url}: {explain(exc, endpoint, self.settings, 'search')}")
                continue
            except lx.LDAPException as exc:  # the same on every server: a base DN or rights problem
                raise DirectoryError(f"{endpoint.url}: {explain(exc, endpoint, self.settings, 'search')}") from exc
            finally:
                _close(conn)
            self._mark(endpoint, True)
            return result
        raise DirectoryError("no directory server could be used: " + "; ".join(problems))

    def _search(self, conn: Connection, base: str, flt: str, attributes: list[str],
                limit: int | None = None) -> Iterable[Mapping[str, Any]]:
        """Entries (no referrals) from a paged subtree search, stopping after `limit`."""
        size = self.settings.page_size if limit is None else max(1, min(self.settings.page_size, limit))
        cookie: bytes | None = None
        count = 0
        while True:
            conn.search(base, flt, SUBTREE, dereference_aliases=DEREF_NEVER, attributes=attributes,
                        time_limit=self.settings.receive_timeout_seconds, paged_size=size, paged_cookie=cookie)
            result = conn.result or {}
            if result.get("result") == RESULT_REFERRAL:  # ldap3 does not raise for it; it is not followed
                raise lx.LDAPReferralResult(result=RESULT_REFERRAL, description="referral", dn=result.get("dn"),
                                            message=" ".join(result.get("referrals") or ()), response_type="searchResDone")
            if result.get("result") in (RESULT_SIZE_LIMIT_EXCEEDED, RESULT_TIME_LIMIT_EXCEEDED):
                log.debug("directory: %s under %s stopped early: %s", flt, base, result.get("description"))
            for item in conn.response or ():
                if item.get("type") != "searchResEntry":
                    continue  # a continuation reference: referrals are not chased
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            control = (conn.result.get("controls") or {}).get(PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return

    # ------------------------------------------------------------------ entries to values

    def _find_person(self, conn: Connection, key: str, memo: dict[Any, str | None],
                     resolve_manager: bool = True) -> Person | None:
        a = self._a
        if "@" in key:
            clauses = [(a.mail, key), (a.upn, key)]
        else:
            clauses = [(a.sam, key.rsplit("\\", 1)[-1])]  # DOMAIN\name: the account name is after the backslash
        clauses = [(attr, value) for attr, value in clauses if attr and value]
        if not clauses:
            return None
        flt = f"(&{self.settings.person_filter}(|{''.join(f'({attr}={escape_filter_chars(v)})' for attr, v in clauses)}))"
        entries = list(self._search(conn, self.settings.people_base, flt, self._person_attrs, 2))
        if len(entries) != 1:
            if entries:
                log.debug("directory: %d people match %r; not guessing", len(entries), key)
            return None
        return self._person(conn, entries[0], memo if resolve_manager else None)

    def _identity_of(self, entry: Mapping[str, Any]) -> Any:
        try:
            return dn_key(entry["dn"])
        except (KeyError, ValueError):
            return entry.get("dn")

    def _person(self, conn: Connection, entry: Mapping[str, Any], memo: dict[Any, str | None] | None) -> Person:
        a = self._a
        control = _first(entry, a.account_control)
        try:
            disabled = bool(int(control) & ACCOUNTDISABLE) if control else False
        except ValueError:
            disabled = False
        manager_dn = _first(entry, a.manager)
        manager = self._manager_name(conn, manager_dn, memo) if manager_dn and memo is not None else None
        return Person(
            display_name=_first(entry, a.display_name) or _first(entry, "cn") or rdn_value(entry.get("dn")) or "?",
            mail=_first(entry, a.mail), upn=_first(entry, a.upn), sam=_first(entry, a.sam),
            telephone=_first(entry, a.telephone), mobile=_first(entry, a.mobile), title=_first(entry, a.title),
            department=_first(entry, a.department), office=_first(entry, a.office), manager_name=manager,
            disabled=disabled, dn=entry.get("dn"))

    def _manager_name(self, conn: Connection, manager_dn: str, memo: dict[Any, str | None]) -> str | None:
        """The manager's display name, read from the entry the directory's own DN points at.
        When that entry cannot be read (gone, elsewhere, no rights), the name in the DN."""
        try:
            key: Any = dn_key(manager_dn)
        except ValueError:
            return None
        if key in memo:
            return memo[key]
        name = None
        try:
            conn.search(manager_dn, "(objectClass=*)", BASE, dereference_aliases=DEREF_NEVER,
                        attributes=[x for x in (self._a.display_name, "cn") if x],
                        time_limit=self.settings.receive_timeout_seconds)
            entry = next((r for r in conn.response or () if r.get("type") == "searchResEntry"), None)
            if entry is not None and same_dn(entry.get("dn"), manager_dn):
                name = _first(entry, self._a.display_name) or _first(entry, "cn")
        except lx.LDAPCommunicationError:
            raise
        except lx.LDAPException as exc:  # noSuchObject, a referral, no rights: fall back to the DN
            log.debug("directory: manager %r not readable: %s", manager_dn, exc)
        memo[key] = name = name or rdn_value(manager_dn)
        return name

    def _computer(self, entry: Mapping[str, Any]) -> Computer:
        a = self._a
        return Computer(name=_first(entry, a.computer_name) or rdn_value(entry.get("dn")) or "?",
                        os=_first(entry, a.operating_system), os_version=_first(entry, a.os_version),
                        location=_first(entry, a.location), dns_name=_first(entry, a.dns_host_name),
                        dn=entry.get("dn"))
