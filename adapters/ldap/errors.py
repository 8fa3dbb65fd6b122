"""ldap3's exceptions in plain words an operator can act on."""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from ldap3.core import exceptions as lx

from adapters.ldap.settings import PASSWORD_ENV, DirectorySettings
from bot.directory import DirectoryError

# Active Directory puts the reason for a refused bind in the message: "… data 52e, v4563".
AD_BIND_REASONS = {
    "525": "the bind account does not exist",
    "52e": "wrong bind_dn or password",
    "530": "the bind account may not log on at this time of day",
    "531": "the bind account may not log on from this computer",
    "532": "the bind account's password has expired",
    "533": "the bind account is disabled",
    "568": "the bind account belongs to too many groups",
    "701": "the bind account has expired",
    "773": "the bind account must change its password before it can bind",
    "775": "the bind account is locked out",
}


@dataclass(frozen=True)
class Endpoint:
    """One configured server URL, split for ldap3."""

    url: str
    host: str
    port: int
    ssl: bool  # ldaps://
    start_tls: bool  # ldap:// upgraded with StartTLS

    @property
    def where(self) -> str:
        """"host:port", for messages."""
        return f"{self.host}:{self.port}"


def _ca_source(settings: DirectorySettings) -> str:
    return f"ca_file {settings.ca_file}" if settings.ca_file else "the system's trusted CAs (set ca_file to your CA's PEM file)"


def _tls_reason(text: str) -> str:
    found = re.search(r"certificate verify failed: ([^(]+)", text)
    return found.group(1).strip() if found else text


def is_tls_problem(exc: BaseException) -> bool:
    """Whether a failure is about TLS (StartTLS refused, a certificate not trusted or not matching)."""
    text = str(exc)
    return isinstance(exc, (lx.LDAPStartTLSError, lx.LDAPCertificateError)) or "ssl" in text.lower() or "certificate" in text.lower()


def explain(exc: BaseException, endpoint: Endpoint, settings: DirectorySettings, step: str = "") -> str:
    """One sentence: what went wrong with `endpoint`, and what to do about it."""
    if isinstance(exc, DirectoryError):  # already in plain words
        return str(exc)
    text = str(exc)
    who = settings.bind_dn or "the anonymous bind"
    where = endpoint.where

    # TLS
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"TLS refused: the certificate of {where} is not trusted ({_tls_reason(text)}); it was checked "
                f"against {_ca_source(settings)}")
    if isinstance(exc, lx.LDAPCertificateError) or "doesn't match" in text:
        return (f"TLS refused: the certificate of {where} does not name {endpoint.host}; connect using a name the "
                "certificate lists")
    if "handshake operation timed out" in text:
        return (f"connected to {where}, but no TLS handshake within {settings.receive_timeout_seconds} s: the server "
                "is hung, or this is not an LDAPS port")
    if isinstance(exc, lx.LDAPStartTLSError) or (step == "starttls" and isinstance(exc, lx.LDAPOperationResult)):
        return f"the StartTLS upgrade on {where} failed ({text}): the server may not offer TLS on this port"
    if "WRONG_VERSION_NUMBER" in text or "UNEXPECTED_EOF" in text or "wrong version number" in text:
        return (f"the TLS handshake with {where} failed: is it an LDAPS port? (636 is LDAPS; 389 is plain LDAP, "
                "which takes ldap:// with start_tls = true)")

    # Results the server sent
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        code = re.search(r"data ([0-9a-f]{3})", text)
        reason = AD_BIND_REASONS.get(code.group(1), "") if code else ""
        return (f"the server refused the bind as {who}: {reason or 'wrong bind_dn or password'} "
                f"(the password comes from {PASSWORD_ENV})")
    if isinstance(exc, (lx.LDAPStrongerAuthRequiredResult, lx.LDAPConfidentialityRequiredResult)):
        return (f"{where} requires an encrypted connection for this bind: use ldaps:// or ldap:// with "
                "start_tls = true")
    if isinstance(exc, lx.LDAPInappropriateAuthenticationResult) or (
            isinstance(exc, lx.LDAPUnwillingToPerformResult) and step in ("bind", "open") and not settings.bind_dn):
        return f"{where} refuses anonymous binds: set bind_dn (and {PASSWORD_ENV})"
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return (f"the search base does not exist on {where}, or {who} may not see it: check base_dn, user_base "
                "and computer_base, and the account's read rights")
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return f"permission refused: {who} may not read what the bot searches on {where}"
    if isinstance(exc, lx.LDAPReferralResult):
        return (f"{where} answered with a referral (not followed): the search base is not in this server's "
                "naming contexts; point base_dn at this domain or the server at the domain of base_dn")
    if isinstance(exc, (lx.LDAPBusyResult, lx.LDAPUnavailableResult)):
        return f"{where} is busy or unavailable right now ({text})"
    if isinstance(exc, lx.LDAPOperationResult):
        return f"{where} answered {exc.description or exc.result}: {exc.message or text}"

    # The network
    if "Connection refused" in text:
        return f"nothing is listening at {where} (connection refused)"
    if isinstance(exc, lx.LDAPSocketReceiveError) and "timed out" in text:
        return f"connected to {where}, but it did not answer within {settings.receive_timeout_seconds} s"
    if isinstance(exc, lx.LDAPSocketOpenError) and "timed out" in text:
        return (f"no connection to {where} within {settings.connect_timeout_seconds:g} s: the host is down or a "
                "firewall drops the packets")
    if "invalid server address" in text or isinstance(exc, socket.gaierror):
        return f"{endpoint.host} does not resolve to an address (check the name and DNS)"
    if isinstance(exc, lx.LDAPSessionTerminatedByServerError):
        return (f"{where} closed the connection: is it an LDAP port? (an LDAPS port needs ldaps://), or the server "
                "dropped the session")
    if isinstance(exc, (lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError, lx.LDAPSocketSendError)):
        return f"the connection to {where} failed: {text.strip('()[],' + chr(39))}"
    return f"{type(exc).__name__}: {text}"
