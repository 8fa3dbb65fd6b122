"""A real OpenLDAP `slapd` for the directory tests, on a free loopback port in a temp dir.

    certs = Certs.make(tmp / "certs")           # a test CA, a server certificate, an unrelated CA
    server = Slapd(tmp / "slapd", certs)        # slapadd's the test directory, then starts slapd
    server.start(); server.stop(); server.restart()
    server.ldap_url, server.ldaps_url, server.settings(**overrides)

The directory (`directory_ldif`) speaks Active Directory's attribute names and OIDs
(`tests/ldap/ad.schema`): a handful of people with a manager chain and a disabled
account, computers they manage, and enough lab machines and look-alike phone numbers
that a search exceeds the server's size limit unless it pages. The service account
the bot binds as is an ordinary entry, so the size limit applies to it (it would not
apply to the rootdn).

`BlackHole` accepts TCP connections and never answers, like a hung domain controller.

Needs the Debian packages slapd and openssl (`scripts/ensure_slapd.sh`); HELPDESK_TEST_SLAPD
may name a slapd elsewhere. `find_slapd()` returns None where slapd is not installed, and
the tests skip saying so (a failure under HELPDESK_TEST_REQUIRE_SERVICES=1).
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "ldap" / "ad.schema"
BASE = "dc=corp,dc=example"
PEOPLE = f"ou=People,{BASE}"
COMPUTERS = f"ou=Computers,{BASE}"
SERVICE_DN = f"cn=helpdesk-svc,ou=Service,{BASE}"
SERVICE_PASSWORD = "s3rvice-Pa55"
BLIND_DN = f"cn=blind,ou=Service,{BASE}"  # binds fine, may read nothing
BLIND_PASSWORD = "blind-Pa55"
SIZE_LIMIT = 25  # per search, like AD's MaxPageSize; paged searches may go past it
LAB_COMPUTERS = 60  # managed by Carol: more than SIZE_LIMIT
LOOKALIKE_PHONES = 40  # people whose numbers contain Alice's digits in order, listed before her

SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/libexec", "/usr/libexec", "/opt/homebrew/opt/openldap/libexec",
        "/usr/local/opt/openldap/libexec")
SCHEMA_DIRS = ("/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema",
               "/opt/homebrew/etc/openldap/schema")
MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/local/libexec/openldap")


@dataclass(frozen=True)
class Tools:
    slapd: str
    slapadd: str
    openssl: str
    core_schema: Path
    module_dir: Path | None  # where back_mdb.so is, when mdb is a loadable module


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


def find_slapd() -> Tools | None:
    """The OpenLDAP server tools, or None (with `why_no_slapd()` saying what is missing)."""
    return _find()[0]


def why_no_slapd() -> str:
    return _find()[1]


def _find() -> tuple[Tools | None, str]:
    chosen = os.environ.get("HELPDESK_TEST_SLAPD")  # a slapd somewhere else (its slapadd beside it)
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            return None, f"HELPDESK_TEST_SLAPD={chosen} is not an executable slapd, so the directory tests did not run"
        slapadd = os.path.join(os.path.dirname(chosen), "slapadd")
        slapd, slapadd, openssl = chosen, slapadd if os.access(slapadd, os.X_OK) else _which("slapadd"), _which("openssl")
    else:
        slapd, slapadd, openssl = _which("slapd"), _which("slapadd"), _which("openssl")
    if not slapd or not slapadd:
        return None, ("OpenLDAP slapd is not installed, so the directory tests against a real server did not run "
                      "(install the slapd package: scripts/ensure_slapd.sh)")
    if not openssl:
        return None, "openssl is not installed, so the directory tests could not make their TLS certificates"
    core = next((Path(d) / "core.schema" for d in SCHEMA_DIRS if (Path(d) / "core.schema").is_file()), None)
    if core is None:
        return None, f"slapd is installed but OpenLDAP's core.schema is in none of {', '.join(SCHEMA_DIRS)}"
    modules = next((Path(d) for d in MODULE_DIRS if any(Path(d).glob("back_mdb*.so*"))), None)
    return Tools(slapd, slapadd, openssl, core, modules), ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certs:
    ca: Path  # signs the server certificate
    server_cert: Path  # for 127.0.0.1 and localhost
    server_key: Path
    other_ca: Path  # an unrelated CA: trusting only this must refuse the server

    @classmethod
    def make(cls, where: Path, openssl: str = "openssl") -> "Certs":
        where.mkdir(parents=True, exist_ok=True)

        def run(*args: str) -> None:
            subprocess.run([openssl, *args], cwd=where, check=True, capture_output=True)

        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        ca_ext = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=Helpdesk Test CA", *ca_ext)
        run("req", "-x509", *ec, "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "3",
            "-subj", "/CN=Some Other CA", *ca_ext)
        run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        (where / "server.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                          "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "3", "-extfile", "server.ext")
        return cls(where / "ca.pem", where / "server.pem", where / "server.key", where / "other-ca.pem")


# ---------------------------------------------------------------------------- the directory


def _entry(dn: str, **attrs: str | list[str]) -> str:
    lines = [f"dn: {dn}"]
    for name, value in attrs.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{name}: {v}")
    return "\n".join(lines) + "\n"


def _person(cn: str, sam: str, **attrs: str | list[str]) -> str:
    attrs.setdefault("userAccountControl", "512")
    return _entry(f"cn={cn},{PEOPLE}", objectClass=["top", "user"], cn=cn.replace("\\", ""), sAMAccountName=sam, **attrs)


def _computer(cn: str, ou: str = COMPUTERS, **attrs: str | list[str]) -> str:
    return _entry(f"cn={cn},{ou}", objectClass=["top", "user", "computer"], cn=cn, sAMAccountName=f"{cn}$",
                  userAccountControl="4096", dNSHostName=f"{cn.lower()}.corp.example", **attrs)


ALICE = f"cn=Alice Park,{PEOPLE}"
BOB = f"cn=Lee\\, Bob,{PEOPLE}"  # AD's "Last, First" naming: the comma is escaped in the DN
ADA = f"cn=Ada Lovelace,{PEOPLE}"
CAROL = f"cn=Carol Diaz,{PEOPLE}"


def referral_ldif(url: str) -> str:
    """An entry that refers searches to another server (`url`), as AD does for other domains."""
    return _entry(f"ou=Elsewhere,{BASE}", objectClass=["referral", "extensibleObject"], ou="Elsewhere",
                  ref=f"{url}/ou=Elsewhere,{BASE}")


def directory_ldif() -> str:
    """The test directory; people listed in LDIF order, which is the order slapd returns them."""
    entries = [
        _entry(BASE, objectClass=["top", "dcObject", "organization"], dc="corp", o="Corp"),
        _entry(PEOPLE, objectClass=["top", "organizationalUnit"], ou="People"),
        _entry(COMPUTERS, objectClass=["top", "organizationalUnit"], ou="Computers"),
        _entry(f"ou=Lab,{COMPUTERS}", objectClass=["top", "organizationalUnit"], ou="Lab"),
        _entry(f"ou=Service,{BASE}", objectClass=["top", "organizationalUnit"], ou="Service"),
        _entry(SERVICE_DN, objectClass=["top", "user"], cn="helpdesk-svc", sAMAccountName="helpdesk-svc",
               userPassword=SERVICE_PASSWORD),
        _entry(BLIND_DN, objectClass=["top", "user"], cn="blind", sAMAccountName="blind", userPassword=BLIND_PASSWORD),
    ]
    # Look-alikes first: their numbers hold Alice's digits in order, so a phone search's
    # candidates run past the size limit before Alice is reached.
    for n in range(LOOKALIKE_PHONES):
        entries.append(_person(f"Test Person {n:02d}", f"tp{n:02d}", displayName=f"Test Person {n:02d}",
                               mail=f"tp{n:02d}@corp.example", telephoneNumber=f"+1 555 0142 {900 + n}",
                               department="QA"))
    entries += [
        _person("Ada Lovelace", "alovelace", displayName="Ada Lovelace", givenName="Ada", sn="Lovelace",
                mail="ada@corp.example", userPrincipalName="ada@corp.example", title="Chief Executive",
                department="Board", physicalDeliveryOfficeName="HQ 1", telephoneNumber="+44 20 7946 0001"),
        # Manager written with other case and spacing than Ada's own DN: compared parsed.
        _person("Lee\\, Bob", "blee", displayName="Bob Lee", givenName="Bob", sn="Lee", mail="bob@corp.example",
                userPrincipalName="bob.lee@corp.example", title="Finance Director", department="Finance",
                manager="CN=ada lovelace, OU=people,DC=Corp,DC=Example", userAccountControl="66048"),
        _person("Alice Park", "alice", displayName="Alice Park", givenName="Alice", sn="Park",
                mail="alice@corp.example", userPrincipalName="apark@corp.example",
                telephoneNumber="+1 555 0142", mobile="+1 (555) 0199", title="Accountant", department="Finance",
                physicalDeliveryOfficeName="Floor 3, Room 12", manager=BOB),
        _person("Carol Diaz", "carol", displayName="Carol Diaz", givenName="Carol", sn="Diaz",
                mail="carol@corp.example", userPrincipalName="carol@corp.example", title="Lab Technician",
                department="IT", physicalDeliveryOfficeName="Lab B", manager=BOB),
        _person("Dave Kim", "DKim", displayName="Dave Kim", givenName="Dave", sn="Kim",
                mail="Dave.Kim@Corp.Example", userPrincipalName="dkim@corp.example", mobile="07700 900123",
                department="IT"),
        _person("Frank Ode", "frank", displayName="Frank Ode", givenName="Frank", sn="Ode",
                mail="frank@corp.example", userPrincipalName="frank@corp.example", department="Sales",
                userAccountControl="514"),  # 512 + 2: disabled
        _person("Gil Orphan", "gil", displayName="Gil Orphan", mail="gil@corp.example",
                manager=f"cn=Zed Gone,{PEOPLE}"),  # the manager left: the entry is gone, the DN stayed
        _computer("PC-0042", operatingSystem="Windows 11 Enterprise", operatingSystemVersion="10.0 (22631)",
                  location="Floor 3, Desk 12", managedBy="CN=ALICE PARK,OU=People, DC=corp,DC=example"),
        _computer("LT-0007", operatingSystem="Windows 10 Pro", operatingSystemVersion="10.0 (19045)",
                  location="Floor 3", managedBy=ALICE),
        _computer("PC-0100", operatingSystem="Windows 11 Pro", operatingSystemVersion="10.0 (22631)",
                  location="Finance office", managedBy=BOB),
        _computer("KIOSK-01", operatingSystem="Windows 10 IoT", location="Lobby"),
    ]
    for n in range(LAB_COMPUTERS):
        entries.append(_computer(f"LAB-{n:03d}", ou=f"ou=Lab,{COMPUTERS}", operatingSystem="Ubuntu",
                                 operatingSystemVersion="24.04", location="Lab B", managedBy=CAROL))
    return "\n".join(entries)


# ---------------------------------------------------------------------------- slapd


CONFIG = """\
include {core_schema}
include {ad_schema}
pidfile {work}/slapd.pid
argsfile {work}/slapd.args
{modules}
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
sizelimit size.soft={size_limit} size.hard={size_limit} size.prtotal=unlimited

database mdb
suffix "{base}"
rootdn "cn=admin,{base}"
rootpw not-used-by-the-bot
directory {work}/db
maxsize 67108864
index objectClass eq

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{blind}" none
    by users read
    by * none
"""


class Slapd:
    """One slapd with the test directory: ldap:// and ldaps:// on free 127.0.0.1 ports."""

    def __init__(self, work: Path, certs: Certs, tools: Tools | None = None, size_limit: int = SIZE_LIMIT,
                 extra_ldif: str = "") -> None:
        tools = tools or find_slapd()
        if tools is None:
            raise RuntimeError(why_no_slapd())
        self.tools, self.work, self.certs = tools, work, certs
        self.port, self.tls_port = free_port(), free_port()
        self.process: subprocess.Popen | None = None
        work.mkdir(parents=True, exist_ok=True)
        (work / "db").mkdir(exist_ok=True)
        modules = f"modulepath {tools.module_dir}\nmoduleload back_mdb" if tools.module_dir else ""
        self.config = work / "slapd.conf"
        self.config.write_text(CONFIG.format(core_schema=tools.core_schema, ad_schema=SCHEMA, work=work, modules=modules,
                                             ca=certs.ca, cert=certs.server_cert, key=certs.server_key, base=BASE,
                                             blind=BLIND_DN, size_limit=size_limit))
        ldif = work / "directory.ldif"
        ldif.write_text(directory_ldif() + ("\n" + extra_ldif if extra_ldif else ""))
        subprocess.run([tools.slapadd, "-q", "-f", str(self.config), "-l", str(ldif)], check=True,
                       capture_output=True, text=True)

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def settings(self, **overrides):
        """DirectorySettings for this server: StartTLS with the test CA, the service account."""
        from adapters.ldap.settings import DirectorySettings

        data = {"servers": [self.ldap_url], "base_dn": BASE, "user_base": PEOPLE, "computer_base": COMPUTERS,
                "bind_dn": SERVICE_DN, "ca_file": str(self.certs.ca), "connect_timeout_seconds": 2,
                "receive_timeout_seconds": 3, "lookup_timeout_seconds": 5, "page_size": 10, "cache_ttl_seconds": 0}
        data.update(overrides)
        return DirectorySettings.model_validate(data)

    def start(self) -> "Slapd":
        if self.process and self.process.poll() is None:
            return self
        log = open(self.work / "slapd.log", "ab")
        urls = f"{self.ldap_url}/ {self.ldaps_url}/"
        # -d 0: stay in the foreground (so this process owns it) and log nothing routine.
        self.process = subprocess.Popen([self.tools.slapd, "-d", "0", "-h", urls, "-f", str(self.config)],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _RUNNING.add(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {self.log_text()[-2000:]}")
            if all(_accepts(p) for p in (self.port, self.tls_port)):
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"slapd did not start listening within 10 s: {self.log_text()[-2000:]}")

    def stop(self) -> None:
        _RUNNING.discard(self)
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> "Slapd":
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        path = self.work / "slapd.log"
        return path.read_text(errors="replace") if path.exists() else ""


_RUNNING: set[Slapd] = set()


@atexit.register
def _stop_all() -> None:
    """No slapd outlives the test run, even one whose fixture never got to tear down."""
    for server in list(_RUNNING):
        server.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------- a hung server


class BlackHole:
    """Accepts TCP connections on 127.0.0.1 and never says a word: a hung domain controller."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)  # read nothing, answer nothing, keep it open

    def close(self) -> None:
        self._closed.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self._held:
            conn.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "BlackHole":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port_url() -> str:
    """An ldap:// URL where nothing listens: connections are refused at once."""
    return f"ldap://127.0.0.1:{free_port()}"


class SlowProxy:
    """Relays TCP to `port` on 127.0.0.1, but only after `delay` seconds: a slow directory."""

    def __init__(self, port: int, delay: float) -> None:
        self.upstream, self.delay = port, delay
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="slow-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        if self._closed.wait(self.delay):
            return
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            client.close()
            return
        self._sockets.append(server)
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
