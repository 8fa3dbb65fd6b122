#!/usr/bin/env bash
# Make OpenLDAP's slapd (with ldap-utils and openssl) available for the directory tests.
#
# Installs the Debian/Ubuntu packages when they are missing and this runs as root with
# apt-get; otherwise says why not and exits 0, and the directory tests skip with that
# reason (CI sets HELPDESK_TEST_REQUIRE_SERVICES=1, which turns the skip into a failure).
# The tests start their own slapd on a free loopback port; the system service is not
# used, and this script keeps the package's own service from starting where it can.
set -u

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have slapd && have slapadd && have openssl; then
    exit 0
fi

missing=()
have slapd || missing+=(slapd)
have slapadd || missing+=(slapd)
have ldapsearch || missing+=(ldap-utils)
have openssl || missing+=(openssl)
# one of each
read -r -a missing <<< "$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_slapd: ${missing[*]} missing and there is no apt-get here; install OpenLDAP's slapd to run the directory tests (they will be skipped)." >&2
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_slapd: ${missing[*]} missing; run 'sudo apt-get install -y slapd ldap-utils openssl' to run the directory tests (they will be skipped)." >&2
    exit 0
fi

echo "ensure_slapd: installing ${missing[*]} for the directory tests" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package's own slapd service from starting: the tests run their own.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
fi
status=0
{ apt-get install -y -q --no-install-recommends --no-upgrade "${missing[@]}" \
    || { apt-get update -q && apt-get install -y -q --no-install-recommends --no-upgrade "${missing[@]}"; }; } >&2 || status=$?
[ "$made_policy" = 1 ] && rm -f "$policy"
if [ "$status" != 0 ]; then
    echo "ensure_slapd: apt-get failed (exit $status); the directory tests will be skipped." >&2
fi
exit 0
