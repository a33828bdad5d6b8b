#!/usr/bin/env bash
# Set up and run every test: the README's test command, and what CI runs.
# Installs what the tests need on a fresh Debian machine with Python 3.11:
# a virtualenv with requirements-test.txt and the Debian packages below.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

# Debian packages: wrk for the bench smoke test; iproute2 for the test
# namespace; the real clients (thunderbird, evolution) and what their tests
# run beside them (nginx with TLS, dnsmasq as DNS server, certutil, D-Bus,
# a C compiler for the Evolution probe), named-checkzone (bind9-utils) and
# systemd-analyze (systemd) for the deployment generators' tests; headless Chromium
# (chromium, chromium-driver) and zbarimg (zbar-tools) for the settings page's;
# radicale, the CalDAV/CardDAV server Thunderbird's calendar and address book detection finds;
# the mail servers clients log in to and probe checks: Dovecot (IMAP, POP3, submission) and Postfix.
packages=(wrk iproute2 thunderbird libnss3-tools nginx-light dnsmasq-base radicale
          evolution-dev libebook1.2-dev evolution-data-server dbus gcc libc6-dev pkg-config
          bind9-utils systemd chromium chromium-driver zbar-tools
          dovecot-imapd dovecot-pop3d dovecot-submissiond postfix)
# The oldest Thunderbird the real-client tests are proven with (docs/testing.md, "Which
# clients are proven"); older ones fail them with "Programming bug. Assertion
# failed". A Debian version: the package's epoch (1:) included.
thunderbird_minimum=1:153.8.0esr
if [ "$(id -u)" = 0 ]; then
    # Every package, not only missing ones, at the candidate version of fresh
    # lists: a machine set up from an image's stale lists holds old versions.
    # With everything current this takes seconds.
    echo "updating the Debian packages the tests use" >&2
    apt-get update -qq || echo "apt-get update failed: installing from the package lists on disk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
    missing=()
    for package in "${packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing Debian packages (tests that need them are skipped): ${missing[*]}" >&2
    fi
fi
# One line naming the version found and the one needed, rather than 155 failing tests.
bash tests/debian_version.sh thunderbird "$thunderbird_minimum"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict mailautoconf

# Every test runs in a network namespace with only loopback (tests/isolated.sh):
# nothing a test starts can reach another machine.
if [ "$(id -u)" = 0 ] && unshare --net --mount true 2>/dev/null; then
    # tests/test_package.py installs the checkout with pip from these wheels:
    # no index is reachable in the namespace.
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --only-binary :all: \
        -r requirements.txt setuptools --dest tests/artifacts/wheels
    exec unshare --net --mount --propagation private -- bash tests/isolated.sh .venv/bin/python -m pytest "$@"
fi
echo "cannot create a network namespace (needs root); real-client tests are skipped" >&2
exec .venv/bin/python -m pytest "$@"
