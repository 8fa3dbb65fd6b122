"""The directory: Active Directory lookups through ldap3 against a real OpenLDAP slapd.

slapd runs on free 127.0.0.1 ports in a temp dir with a schema carrying AD's attribute
names and OIDs (tests/ldap/ad.schema) and the directory from tests/ldap_server.py. Without
slapd the server tests skip with the reason; HELPDESK_TEST_REQUIRE_SERVICES=1 (CI) makes
that a failure. Nothing of the code under test is mocked: failures are real (a stopped
server, a port that accepts and never answers, a CA that did not sign the certificate).
"""
from __future__ import annotations

import argparse
import io
import logging
import threading
import time
import tomllib

import pytest
from ldap3 import SUBTREE, Connection, Server
from pydantic import ValidationError

from adapters.ldap import build_lookup
from adapters.ldap.cli import NOT_CONFIGURED, run_directory
from adapters.ldap.directory import LdapDirectory
from adapters.ldap.dn import dn_key, rdn_value, same_dn
from adapters.ldap.lookup import Lookup
from adapters.ldap.settings import DirectorySettings
from bot.directory import Computer, Directory, DirectoryConfigError, DirectoryError, Person, same_phone
from tests.conftest import missing_service
from tests.ldap_server import (BASE, BLIND_DN, BLIND_PASSWORD, COMPUTERS, LAB_COMPUTERS, LOOKALIKE_PHONES, PEOPLE,
                               SERVICE_DN, SERVICE_PASSWORD, SIZE_LIMIT, BlackHole, Certs, Slapd, SlowProxy,
                               closed_port_url, find_slapd, referral_ldif, why_no_slapd)

ENV = {"HELPDESK_LDAP_PASSWORD": SERVICE_PASSWORD}

ALICE = Person(display_name="Alice Park", mail="alice@corp.example", upn="apark@corp.example", sam="alice",
               telephone="+1 555 0142", mobile="+1 (555) 0199", title="Accountant", department="Finance",
               office="Floor 3, Room 12", manager_name="Bob Lee", disabled=False,
               dn=f"cn=Alice Park,{PEOPLE}")
ALICE_COMPUTERS = [
    Computer("LT-0007", "Windows 10 Pro", "10.0 (19045)", "Floor 3", "lt-0007.corp.example", f"cn=LT-0007,{COMPUTERS}"),
    Computer("PC-0042", "Windows 11 Enterprise", "10.0 (22631)", "Floor 3, Desk 12", "pc-0042.corp.example",
             f"cn=PC-0042,{COMPUTERS}"),
]

INJECTIONS = [
    "*", "**", "*)(sAMAccountName=*", "*)(|(objectClass=*)", "alice)(|(sAMAccountName=*", "*)(&", "al*", "*lice",
    "*@corp.example", "alice@corp.example)(mail=*", ")(", "(", ")", "\\2a", "\\", "alice\x00", "\x00*",
    "*))(|(cn=*", "admin*)((|userPassword=*)", f"cn=Alice Park,{PEOPLE}", "*)(userAccountControl:1.2.840.113556.1.4.803:=2",
]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tools():
    found = find_slapd()
    if found is None:
        missing_service(why_no_slapd())
    return found


@pytest.fixture(scope="session")
def certs(tools, tmp_path_factory) -> Certs:
    return Certs.make(tmp_path_factory.mktemp("ldap-certs"), tools.openssl)


@pytest.fixture(scope="module")
def slapd(tools, certs, tmp_path_factory):
    """One server the read-only tests share."""
    server = Slapd(tmp_path_factory.mktemp("slapd"), certs, tools).start()
    yield server
    server.stop()


@pytest.fixture
def own_slapd(tools, certs, tmp_path):
    """A server of the test's own, to stop and restart."""
    server = Slapd(tmp_path / "slapd", certs, tools).start()
    yield server
    server.stop()


@pytest.fixture
def directory(slapd) -> LdapDirectory:
    return LdapDirectory(slapd.settings(), SERVICE_PASSWORD)


@pytest.fixture
def black_hole():
    with BlackHole() as hole:
        yield hole


def warnings_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("helpdesk.directory") and r.levelno >= logging.WARNING]


def cli(settings: DirectorySettings | None, *argv: str, env=ENV) -> tuple[int, str]:
    """Run `helpdesk directory …` in-process; return the exit code and what was printed."""
    parser = argparse.ArgumentParser(prog="helpdesk")
    from adapters.ldap.cli import add_parser

    add_parser(parser.add_subparsers(dest="cmd"))
    out = io.StringIO()
    code = run_directory(settings, parser.parse_args(["directory", *argv]), env, out)
    return code, out.getvalue()


# ---------------------------------------------------------------------------- settings (no server)


def test_settings_take_ad_defaults_and_the_password_only_from_the_environment():
    s = DirectorySettings(servers=["ldaps://dc1.corp.example", "ldaps://dc2.corp.example:3269"], base_dn="DC=corp,DC=example",
                          bind_dn="helpdesk-svc@corp.example")
    assert s.attributes.sam == "sAMAccountName" and s.attributes.office == "physicalDeliveryOfficeName"
    assert s.person_filter == "(&(objectClass=user)(!(objectClass=computer)))"
    assert s.verify_certificates and s.start_tls and s.people_base == "DC=corp,DC=example"
    assert 0 < s.connect_timeout_seconds <= 5 and 0 < s.receive_timeout_seconds <= 5
    assert s.password({"HELPDESK_LDAP_PASSWORD": "pw"}) == "pw" and s.password({}) is None
    assert "pw" not in s.model_dump_json()

    with pytest.raises(ValidationError, match="HELPDESK_LDAP_PASSWORD only, never from the configuration file"):
        DirectorySettings.model_validate({"servers": ["ldaps://dc1"], "base_dn": "DC=corp,DC=example", "password": "x"})


@pytest.mark.parametrize("data, message", [
    ({"servers": ["dc1.corp.example"]}, "is not an ldaps://host"),
    ({"servers": ["ldaps://dc1:63x6"]}, "port that is not a number"),
    ({"servers": ["ldaps://dc1/DC=corp,DC=example"]}, "the base DN is base_dn"),
    ({"servers": []}, "at least 1 item"),
    ({"servers": ["ldap://dc1"], "start_tls": False}, "clear text"),
    ({"base_dn": "corp.example"}, "is not a DN"),
    ({"person_filter": "objectClass=user"}, "is not an LDAP filter"),
    ({"attributes": {"mail": "mail)(x=*"}}, "is not an LDAP attribute name"),
    ({"attributes": {"telephon": "phone"}}, "Extra inputs are not permitted"),
    ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
])
def test_bad_settings_fail_with_the_key_and_the_reason(data, message):
    full = {"servers": ["ldaps://dc1.corp.example"], "base_dn": "DC=corp,DC=example", **data}
    with pytest.raises(ValidationError, match=message):
        DirectorySettings.model_validate(full)


def test_plain_ldap_is_allowed_only_when_asked_for_and_then_warned_about():
    s = DirectorySettings(servers=["ldap://dc1"], base_dn="DC=corp,DC=example", start_tls=False, allow_plaintext=True)
    assert any("clear text" in w for w in LdapDirectory(s).warnings())
    s = DirectorySettings(servers=["ldaps://dc1"], base_dn="DC=corp,DC=example", verify_certificates=False)
    assert any("pose as the directory" in w for w in LdapDirectory(s).warnings())


def test_the_documented_example_section_is_valid(tmp_path):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    example = f"""
[directory]
servers = ["ldaps://dc1.corp.example", "ldaps://dc2.corp.example"]
base_dn = "DC=corp,DC=example"
user_base = "OU=Staff,DC=corp,DC=example"
computer_base = "OU=Workstations,DC=corp,DC=example"
bind_dn = "CN=helpdesk-svc,OU=Service Accounts,DC=corp,DC=example"
ca_file = "{ca}"
connect_timeout_seconds = 3
receive_timeout_seconds = 5
lookup_timeout_seconds = 1.5
page_size = 500
cache_ttl_seconds = 300

[directory.attributes]
office = "physicalDeliveryOfficeName"
"""
    s = DirectorySettings.model_validate(tomllib.loads(example)["directory"])
    assert s.people_base == "OU=Staff,DC=corp,DC=example" and s.ca_file == str(ca)


def test_a_bind_dn_without_the_password_in_the_environment_is_refused_at_start():
    s = DirectorySettings(servers=["ldaps://dc1"], base_dn="DC=corp,DC=example", bind_dn="svc@corp.example")
    with pytest.raises(DirectoryConfigError, match="HELPDESK_LDAP_PASSWORD is empty"):
        build_lookup(s, env={})
    assert build_lookup(s, env={"HELPDESK_LDAP_PASSWORD": "pw"}).enabled


def test_without_a_directory_the_lookup_is_off_and_says_so_quietly(caplog):
    lookup = build_lookup(None)
    assert not lookup.enabled
    assert lookup.profile("alice@corp.example").state == "off"
    assert lookup.find_person("alice") is None and lookup.search_people("ali") == []
    assert warnings_logged(caplog) == []
    code, text = cli(None, "whois", "alice")
    assert code == 2 and text.strip() == NOT_CONFIGURED


@pytest.mark.parametrize("query, stored, same", [
    ("+1 (555) 0142", "+1 555 0142", True),
    ("+1-555-0142", "+1 (555) 0142", True),
    ("555 0142", "+1 555 0142", True),  # without the country code: six digits or more still match
    ("550142", "+1 555 0142", True),
    ("50142", "+1 555 0142", False),  # too short to be sure
    ("0142", "+1 555 0142", False),
    ("+1 555 0142", "+1 555 0142 901", False),
    ("+1 555 0142", None, False),
    # Written as dialled inside the country, with its trunk prefix (from libphonenumber's data):
    ("020 7946 0001", "+44 20 7946 0001", True),  # UK: 0
    ("+44 20 7946 0001", "020 7946 0001", True),  # either side may carry the country code
    ("0044 20 7946 0001", "020 7946 0001", True),  # 00 for +
    ("+44 (0)20 7946 0001", "+44 20 7946 0001", True),  # the trunk 0 written in brackets
    ("030 901820", "+49 30 901820", True),  # Germany: 0
    ("01 23 45 67 89", "+33 1 23 45 67 89", True),  # France: 0
    ("020 123 4567", "+31 20 123 4567", True),  # Netherlands: 0
    ("(02) 9876 5432", "+61 2 9876 5432", True),  # Australia: 0
    ("03-1234-5678", "+81 3-1234-5678", True),  # Japan: 0
    ("098765 43210", "+91 98765 43210", True),  # India: 0
    ("8 495 123 45 67", "+7 495 123 45 67", True),  # Russia: 8
    ("1 212 555 0142", "+1 212 555 0142", True),  # NANP: the trunk prefix is the country code
    ("06 1234 5678", "+39 06 1234 5678", True),  # Italy: the 0 belongs to the number
    ("020 7946 0001", "+39 20 7946 0001", False),  # …and Italy has no trunk prefix to drop
    ("0 212 555 0142", "+1 212 555 0142", False),  # not NANP's trunk prefix
    ("020 7946 0001", "+44 20 7946 0002", False),
    ("0 20", "+44 20", False),  # too short to be sure, trunk prefix or not
])
def test_phone_numbers_compare_by_their_digits(query, stored, same):
    assert same_phone(query, stored) is same


def test_dns_compare_parsed_never_as_strings():
    assert same_dn("CN=Lee\\, Bob,OU=People,DC=corp,DC=example", "cn=lee\\2c bob, ou=people,dc=Corp,dc=Example")
    assert same_dn("cn=J\\C3\\BCrgen  Ode,dc=x", "CN=jürgen ode,DC=X")
    assert same_dn("cn=a+sn=b,dc=x", "sn=B+cn=A,dc=x")
    assert same_dn("commonName=Ada,dc=x", "cn=ada,dc=x")
    assert not same_dn("cn=Ada,ou=People,dc=x", "cn=Ada,dc=x")
    assert not same_dn("cn=Ada,dc=x", "cn=Ada\\,dc=x")
    assert not same_dn("not a dn", "not a dn")
    assert dn_key("CN=Ada, DC=x") == dn_key("cn=ada,dc=x")
    assert rdn_value("CN=Lee\\, Bob,OU=People") == "Lee, Bob"


# ---------------------------------------------------------------------------- lookups


@pytest.mark.parametrize("key", ["alice", "ALICE", "Alice", "CORP\\alice", "alice@corp.example", "Alice@CORP.Example",
                                 "apark@corp.example", "APARK@Corp.Example", "  alice@corp.example  "])
def test_a_person_is_found_by_mail_upn_or_account_name_in_any_case(directory, key):
    assert directory.find_person(key) == ALICE


def test_the_directory_satisfies_the_core_port(directory):
    assert isinstance(directory, Directory)
    assert isinstance(Lookup(directory), Directory)


def test_mail_stored_in_mixed_case_matches_any_case(directory):
    dave = directory.find_person("dave.kim@corp.example")
    assert (dave.display_name, dave.mail, dave.sam, dave.mobile) == ("Dave Kim", "Dave.Kim@Corp.Example", "DKim",
                                                                    "07700 900123")
    assert directory.find_person("dkim") == dave


def test_the_manager_is_named_from_the_entry_the_manager_dn_points_at(directory):
    # Alice's manager DN is "cn=Lee\, Bob,…": the name is Bob's displayName, not the CN.
    assert directory.find_person("alice").manager_name == "Bob Lee"
    # Bob's manager DN is written "CN=ada lovelace, OU=people,DC=Corp,DC=Example".
    assert directory.find_person("bob@corp.example").manager_name == "Ada Lovelace"
    assert directory.find_person("ada@corp.example").manager_name is None
    # Gil's manager left: the entry is gone, the name in the DN is what there is.
    assert directory.find_person("gil").manager_name == "Zed Gone"


def test_disabled_accounts_are_flagged_from_user_account_control_bit_2(directory):
    assert directory.find_person("frank").disabled is True  # 514
    assert directory.find_person("alice").disabled is False  # 512
    assert directory.find_person("blee").disabled is False  # 66048: password never expires, enabled


def test_computers_are_not_people(directory):
    # A computer is a user in AD; its account name is NAME$.
    assert directory.find_person("PC-0042$") is None
    assert directory.find_person("LAB-001$") is None


def test_unknown_people_are_none(directory):
    assert directory.find_person("nobody") is None
    assert directory.find_person("nobody@corp.example") is None
    assert directory.find_person("") is None and directory.find_person("x" * 300) is None


def test_the_computers_a_person_manages(directory):
    alice = directory.find_person("alice")
    # PC-0042's managedBy is "CN=ALICE PARK,OU=People, DC=corp,DC=example": compared parsed, it is Alice.
    assert directory.computers_of(alice) == ALICE_COMPUTERS
    without_dn = Person(display_name="Alice Park", mail="alice@corp.example")
    assert directory.computers_of(without_dn) == ALICE_COMPUTERS
    assert [c.name for c in directory.computers_of(directory.find_person("blee"))] == ["PC-0100"]
    assert directory.computers_of(directory.find_person("frank")) == []


@pytest.mark.parametrize("name", ["PC-0042", "pc-0042", "PC-0042$", "pc-0042.corp.example", " PC-0042 "])
def test_a_computer_by_name_host_name_or_account_name(directory, name):
    assert directory.find_computer(name) == ALICE_COMPUTERS[1]


def test_a_computer_nobody_manages_and_one_that_does_not_exist(directory):
    kiosk = directory.find_computer("KIOSK-01")
    assert (kiosk.name, kiosk.os, kiosk.os_version, kiosk.location) == ("KIOSK-01", "Windows 10 IoT", None, "Lobby")
    assert directory.find_computer("PC-9999") is None
    assert directory.find_computer("alice") is None  # a person is not a computer


def test_a_search_past_the_servers_size_limit_pages(slapd, directory):
    # The server really stops an unpaged search at its size limit…
    conn = Connection(Server("127.0.0.1", port=slapd.port), SERVICE_DN, SERVICE_PASSWORD, auto_bind=True,
                      raise_exceptions=True)
    conn.search(BASE, f"(managedBy=cn=Carol Diaz,{PEOPLE})", SUBTREE, attributes=["cn"])
    assert (conn.result["description"], len(conn.response)) == ("sizeLimitExceeded", SIZE_LIMIT)
    conn.unbind()
    # …and the adapter, asking in pages of 10, gets every one of Carol's lab machines.
    lab = directory.computers_of(directory.find_person("carol"))
    assert len(lab) == LAB_COMPUTERS > SIZE_LIMIT
    assert [c.name for c in lab] == [f"LAB-{n:03d}" for n in range(LAB_COMPUTERS)]
    assert {(c.os, c.os_version, c.location) for c in lab} == {("Ubuntu", "24.04", "Lab B")}


# ---------------------------------------------------------------------------- searching people


@pytest.mark.parametrize("fragment", ["+1 (555) 0142", "+1 555 0142", "+15550142", "1-555-0142", "555 0142"])
def test_people_by_phone_number_compared_digits_only(directory, fragment):
    # Forty people listed before Alice have numbers holding her digits in order (+1 555 0142 9xx),
    # more than the server's size limit: the search pages past them and compares digits.
    assert LOOKALIKE_PHONES > SIZE_LIMIT
    assert directory.search_people(fragment) == [ALICE]


def test_people_by_mobile_number(directory):
    assert [p.display_name for p in directory.search_people("07700 900 123")] == ["Dave Kim"]
    assert [p.display_name for p in directory.search_people("+1 555 0199")] == ["Alice Park"]


@pytest.mark.parametrize("fragment, names", [
    ("ali", ["Alice Park"]),  # display-name prefix
    ("Alice P", ["Alice Park"]),
    ("lee", ["Bob Lee"]),  # surname
    ("dave.kim@", ["Dave Kim"]),  # mail
    ("apark@corp", ["Alice Park"]),  # userPrincipalName
    ("DKIM", ["Dave Kim"]),  # sAMAccountName
    ("fra", ["Frank Ode"]),
    ("PC-0042", []),  # computers are not people
    ("zzz", []),
])
def test_people_by_name_mail_or_account_name(directory, fragment, names):
    assert [p.display_name for p in directory.search_people(fragment)] == names


def test_a_search_returns_at_most_the_limit(directory):
    found = directory.search_people("Test Person")
    assert len(found) == 10
    assert [p.display_name for p in found] == sorted(p.display_name for p in found)
    assert len(directory.search_people("test person", limit=3)) == 3
    assert directory.search_people("frank")[0].disabled is True


# ---------------------------------------------------------------------------- injection


@pytest.mark.parametrize("text", INJECTIONS)
def test_filter_injection_matches_nothing(directory, text):
    assert directory.find_person(text) is None
    assert directory.find_computer(text) is None
    assert directory.search_people(text) == []
    assert directory.computers_of(Person(display_name="x", mail=text)) == []


def test_an_escaped_value_still_finds_what_it_spells(directory):
    # Escaping is not refusing: a value with no specials finds its entry, and the
    # injection above failed because it was compared literally.
    assert directory.find_person("alice@corp.example") == ALICE


def test_referrals_are_not_chased(tools, certs, tmp_path, black_hole):
    # The directory refers ou=Elsewhere to another server, which would hang if anybody went there.
    server = Slapd(tmp_path / "slapd", certs, tools, extra_ldif=referral_ldif(black_hole.url)).start()
    try:
        whole = LdapDirectory(server.settings(user_base=None, computer_base=None), SERVICE_PASSWORD)
        assert whole.find_person("alice") == ALICE
        assert len(whole.search_people("test person")) == 10
        assert whole.computers_of(ALICE) == ALICE_COMPUTERS
        elsewhere = LdapDirectory(server.settings(user_base=f"ou=Elsewhere,{BASE}"), SERVICE_PASSWORD)
        with pytest.raises(DirectoryError, match="answered with a referral \\(not followed\\)"):
            elsewhere.find_person("alice")
        assert black_hole.connections == 0
    finally:
        server.stop()


# ---------------------------------------------------------------------------- TLS


def test_ldaps_and_starttls_with_the_right_ca(slapd):
    for settings in (slapd.settings(servers=[slapd.ldaps_url]), slapd.settings(servers=[slapd.ldap_url])):
        assert LdapDirectory(settings, SERVICE_PASSWORD).find_person("alice") == ALICE


@pytest.mark.parametrize("which", ["ldaps", "starttls"])
def test_a_certificate_from_another_ca_is_refused(slapd, certs, which):
    url = slapd.ldaps_url if which == "ldaps" else slapd.ldap_url
    directory = LdapDirectory(slapd.settings(servers=[url], ca_file=str(certs.other_ca)), SERVICE_PASSWORD)
    with pytest.raises(DirectoryError, match="TLS refused: the certificate of 127.0.0.1:[0-9]+ is not trusted"):
        directory.find_person("alice")


def test_without_verification_a_wrong_ca_is_accepted_and_warned_about(slapd, certs):
    settings = slapd.settings(servers=[slapd.ldaps_url], ca_file=str(certs.other_ca), verify_certificates=False)
    directory = LdapDirectory(settings, SERVICE_PASSWORD)
    assert directory.find_person("alice") == ALICE
    code, text = cli(settings, "check")
    assert code == 0 and "certificate NOT checked" in text and "Warning: verify_certificates = false" in text


# ---------------------------------------------------------------------------- failure and failover


def test_a_server_that_accepts_and_never_answers_times_out(slapd, black_hole):
    directory = LdapDirectory(slapd.settings(servers=[black_hole.url], receive_timeout_seconds=1), SERVICE_PASSWORD)
    with pytest.raises(DirectoryError, match=f"127.0.0.1:{black_hole.port}, but it did not answer within 1 s"):
        directory.find_person("alice")
    ldaps = LdapDirectory(slapd.settings(servers=[black_hole.ldaps_url], receive_timeout_seconds=1), SERVICE_PASSWORD)
    with pytest.raises(DirectoryError, match="no TLS handshake within 1 s"):
        ldaps.find_person("alice")


def test_failover_to_the_next_server_when_one_refuses_connections(slapd):
    directory = LdapDirectory(slapd.settings(servers=[closed_port_url(), slapd.ldap_url]), SERVICE_PASSWORD)
    assert directory.find_person("alice") == ALICE


def test_failover_past_a_hung_server_which_is_then_tried_last(slapd, black_hole):
    settings = slapd.settings(servers=[black_hole.url, slapd.ldap_url], receive_timeout_seconds=1)
    directory = LdapDirectory(settings, SERVICE_PASSWORD)
    assert directory.find_person("alice") == ALICE
    assert black_hole.connections == 1
    # The hung server failed a moment ago: the next lookups go to the good one first.
    assert directory.find_person("carol").display_name == "Carol Diaz"
    assert directory.computers_of(ALICE) == ALICE_COMPUTERS
    assert black_hole.connections == 1


def test_a_refused_bind_is_explained(slapd):
    directory = LdapDirectory(slapd.settings(), "wrong password")
    with pytest.raises(DirectoryError, match="refused the bind as cn=helpdesk-svc.*wrong bind_dn or password"):
        directory.find_person("alice")


def test_the_same_directory_object_survives_a_server_restart(own_slapd):
    directory = LdapDirectory(own_slapd.settings(), SERVICE_PASSWORD)
    assert directory.find_person("alice") == ALICE
    own_slapd.stop()
    with pytest.raises(DirectoryError, match="connection refused"):
        directory.find_person("alice")
    own_slapd.start()
    assert directory.find_person("alice") == ALICE  # the failed server is still tried: nothing else is left


def test_concurrent_lookups_from_many_threads(directory):
    keys = ["alice", "apark@corp.example", "blee", "carol@corp.example", "frank", "dkim"] * 5
    results: dict[int, Person | None] = {}

    def look(i: int, key: str) -> None:
        results[i] = directory.find_person(key)

    threads = [threading.Thread(target=look, args=(i, k)) for i, k in enumerate(keys)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = {"alice": "Alice Park", "apark@corp.example": "Alice Park", "blee": "Bob Lee",
                "carol@corp.example": "Carol Diaz", "frank": "Frank Ode", "dkim": "Dave Kim"}
    assert [results[i].display_name for i in range(len(keys))] == [expected[k] for k in keys]


# ---------------------------------------------------------------------------- the guard the core calls


def test_the_profile_pre_fills_person_computers_and_location(slapd):
    lookup = build_lookup(slapd.settings(), env=ENV)
    profile = lookup.profile("alice@corp.example")
    assert (profile.state, profile.person, list(profile.computers)) == ("found", ALICE, ALICE_COMPUTERS)
    assert profile.location == "Floor 3, Room 12" and profile.person.phone == "+1 555 0142"
    assert lookup.profile("nobody@corp.example").state == "unknown"
    assert lookup.find_computer("pc-0042") == ALICE_COMPUTERS[1]
    assert lookup.search_people("+1 (555) 0142") == [ALICE]
    lookup.close()


def test_a_hung_directory_costs_the_time_limit_and_one_warning(slapd, black_hole, caplog):
    caplog.set_level(logging.DEBUG)
    settings = slapd.settings(servers=[black_hole.url], receive_timeout_seconds=30, lookup_timeout_seconds=0.5)
    lookup = build_lookup(settings, env=ENV)
    started = time.monotonic()
    profile = lookup.profile("alice@corp.example")
    waited = time.monotonic() - started
    assert profile == type(profile)("unavailable")
    # Behaviour, not speed: the form is offered long before the adapter's own 30 s timeout.
    assert waited < 10
    assert warnings_logged(caplog) == [
        "directory: no answer about person 'alice@corp.example' within 0.5 s; carrying on without it "
        "(the next lookup asks again)"]
    lookup.close()


def test_directory_down_then_back_one_warning_and_the_next_lookup_tries_again(own_slapd, caplog):
    lookup = build_lookup(own_slapd.settings(cache_ttl_seconds=0), env=ENV)
    assert lookup.profile("alice").person == ALICE
    own_slapd.stop()
    profile = lookup.profile("alice")
    assert (profile.state, profile.person, profile.computers) == ("unavailable", None, ())
    [warning] = warnings_logged(caplog)
    assert "could not look up person 'alice'" in warning and "connection refused" in warning
    assert "the next lookup asks again" in warning
    own_slapd.start()
    assert lookup.profile("alice").person == ALICE
    assert len(warnings_logged(caplog)) == 1
    lookup.close()


def test_a_refused_bind_offers_the_form_without_pre_fill(slapd, caplog):
    lookup = build_lookup(slapd.settings(), env={"HELPDESK_LDAP_PASSWORD": "wrong"})
    assert lookup.profile("alice").state == "unavailable"
    assert lookup.search_people("ali") == [] and lookup.find_computer("PC-0042") is None
    assert lookup.computers_of(ALICE) == []
    logged = warnings_logged(caplog)
    assert len(logged) == 4 and all("refused the bind" in w for w in logged)
    lookup.close()


def test_a_slow_answer_is_not_lost_it_fills_the_cache_for_the_next_lookup(own_slapd, caplog):
    proxy = SlowProxy(own_slapd.port, delay=0.5)
    try:
        directory = LdapDirectory(own_slapd.settings(servers=[proxy.url]), SERVICE_PASSWORD)
        lookup = Lookup(directory, time_limit=0.2, cache_ttl=300)
        assert lookup.profile("alice").state == "unavailable"
        assert len(warnings_logged(caplog)) == 1
        deadline = time.monotonic() + 20
        while len(lookup.cache) < 2 and time.monotonic() < deadline:  # the person and their computers
            time.sleep(0.05)
        own_slapd.stop()
        profile = lookup.profile("alice")
        assert (profile.state, profile.person, list(profile.computers)) == ("found", ALICE, ALICE_COMPUTERS)
        assert len(warnings_logged(caplog)) == 1
        lookup.close()
    finally:
        proxy.close()


class ComputersRefused:
    """A directory whose computer search fails: the person found still counts."""

    def __init__(self, real: LdapDirectory) -> None:
        self.real = real

    def find_person(self, key):
        return self.real.find_person(key)

    def computers_of(self, person):
        raise DirectoryError("the computer search was refused")

    def find_computer(self, name):
        return self.real.find_computer(name)

    def search_people(self, fragment, limit=10):
        return self.real.search_people(fragment, limit)


def test_a_person_found_is_kept_when_their_computers_cannot_be_listed(directory, caplog):
    lookup = Lookup(ComputersRefused(directory), cache_ttl=0)
    profile = lookup.profile("alice")
    assert (profile.state, profile.person, profile.computers) == ("found", ALICE, ())
    assert profile.location == "Floor 3, Room 12"
    [warning] = warnings_logged(caplog)
    assert "the computer search was refused" in warning
    lookup.close()


def test_answers_are_cached_for_the_ttl(own_slapd):
    now = [1000.0]
    directory = LdapDirectory(own_slapd.settings(), SERVICE_PASSWORD)
    lookup = Lookup(directory, time_limit=5, cache_ttl=300, negative_ttl=60, clock=lambda: now[0])
    assert lookup.profile("alice").person == ALICE
    assert lookup.profile("nobody").state == "unknown"
    own_slapd.stop()
    assert lookup.profile("alice").person == ALICE  # from the cache, the server is down
    assert lookup.profile("nobody").state == "unknown"
    now[0] += 61  # "nobody" is remembered a shorter while than a found person
    assert lookup.profile("nobody").state == "unavailable"
    assert lookup.profile("alice").person == ALICE
    now[0] += 240
    assert lookup.profile("alice").state == "unavailable"
    own_slapd.start()
    assert lookup.profile("alice").person == ALICE
    lookup.close()


# ---------------------------------------------------------------------------- the commands


def test_whois_prints_what_the_bot_knows(slapd):
    code, text = cli(slapd.settings(), "whois", "Alice@Corp.Example")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "Alice Park — Accountant, Finance"
    assert "  mail:        alice@corp.example" in lines
    assert "  UPN:         apark@corp.example" in lines
    assert "  account:     alice  (enabled)" in lines
    assert "  telephone:   +1 555 0142" in lines and "  mobile:      +1 (555) 0199" in lines
    assert "  office:      Floor 3, Room 12" in lines and "  manager:     Bob Lee" in lines
    assert "  computers:   LT-0007  Windows 10 Pro 10.0 (19045), Floor 3" in lines
    assert "               PC-0042  Windows 11 Enterprise 10.0 (22631), Floor 3, Desk 12" in lines
    assert lines[-1].startswith("(answered in ")


def test_whois_a_disabled_unknown_and_unreachable_person(slapd):
    code, text = cli(slapd.settings(), "whois", "frank")
    assert code == 0 and "DISABLED (userAccountControl bit 2 is set: the account cannot log on)" in text
    code, text = cli(slapd.settings(), "whois", "nobody@corp.example")
    assert code == 1 and text.startswith("nobody in the directory is known as 'nobody@corp.example'")
    code, text = cli(slapd.settings(servers=[closed_port_url()]), "whois", "alice")
    assert code == 1 and text.startswith("the directory did not answer: no directory server could be used: ")
    assert "(connection refused)" in text and "asks requesters for their contact details" in text
    code, text = cli(slapd.settings(), "whois", "alice", env={})
    assert code == 2 and "HELPDESK_LDAP_PASSWORD is empty" in text


def test_whois_json(slapd):
    import json

    code, text = cli(slapd.settings(), "whois", "alice", "--json")
    data = json.loads(text)
    assert code == 0 and data["person"]["manager_name"] == "Bob Lee"
    assert [c["name"] for c in data["computers"]] == ["LT-0007", "PC-0042"]


def test_search_prints_one_line_per_person(slapd):
    code, text = cli(slapd.settings(), "search", "+1 (555) 0142")
    assert code == 0 and text.splitlines()[0] == "Alice Park  alice@corp.example  +1 555 0142  Finance"
    assert text.splitlines()[-1].startswith("(1 person in ")


def test_check_prints_each_step_with_its_timing(slapd):
    code, text = cli(slapd.settings(servers=[slapd.ldap_url, slapd.ldaps_url]), "check")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("Checking 2 server(s) in failover order, binding as cn=helpdesk-svc")
    steps = [line.split()[:2] for line in lines if line.startswith("  ")]
    assert steps == [["ok", "connect"], ["ok", "starttls"], ["ok", "bind"], ["ok", "search"],
                     ["ok", "connect"], ["ok", "bind"], ["ok", "search"]]
    assert all(" ms  " in line for line in lines if line.startswith("  "))
    assert "certificate for localhost from Helpdesk Test CA" in text
    assert lines[-1] == "OK: every server answered; lookups will pre-fill the ticket form."


def test_check_explains_tls_bind_permission_and_timeout_problems(slapd, certs, black_hole):
    code, text = cli(slapd.settings(servers=[slapd.ldaps_url, slapd.ldap_url], ca_file=str(certs.other_ca)), "check")
    assert code == 1
    assert text.count("FAIL") == 2 and "FAIL  connect" in text and "FAIL  starttls" in text
    assert f"not trusted (self-signed certificate in certificate chain); it was checked against ca_file {certs.other_ca}" in text
    assert "every server failed a step" in text

    code, text = cli(slapd.settings(), "check", env={"HELPDESK_LDAP_PASSWORD": "wrong"})
    assert code == 1 and "FAIL  bind" in text and "wrong bind_dn or password (the password comes from HELPDESK_LDAP_PASSWORD)" in text

    code, text = cli(slapd.settings(bind_dn=BLIND_DN), "check", env={"HELPDESK_LDAP_PASSWORD": BLIND_PASSWORD})
    assert code == 1 and "ok    bind" in text and "FAIL  search" in text
    assert f"or {BLIND_DN} may not see it" in text

    code, text = cli(slapd.settings(servers=[black_hole.url, slapd.ldap_url], receive_timeout_seconds=1), "check")
    assert code == 1 and "FAIL  starttls" in text and "did not answer within 1 s" in text
    assert f"Lookups will work through {slapd.ldap_url}, but 1 of 2 servers failed" in text
