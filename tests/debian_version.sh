#!/usr/bin/env bash
# Usage: bash tests/debian_version.sh PACKAGE MINIMUM
#
# Stops the test command when PACKAGE is installed at a version older than
# MINIMUM (compared as Debian versions, by dpkg): one line on stderr naming
# both, exit status 1. A package that is not installed passes (exit 0): the
# tests that need it are skipped, and say so. tests/run.sh calls it once the
# packages are installed; tests/test_run_script.py calls it with a fake
# dpkg-query on PATH.
set -euo pipefail
package=$1
minimum=$2

# "installed 1:153.8.0esr-1~deb12u1"; other states ("config-files" after a
# removal) or an unknown package (exit 1) mean not installed.
status=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$package" 2>/dev/null) || exit 0
state=${status%% *}
version=${status#* }
if [ "$state" != installed ] || dpkg --compare-versions "$version" ge "$minimum"; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    # tests/run.sh has just updated the lists and installed the candidate: it is no newer.
    hint="apt-get finds none newer: check its package sources"
else
    hint="run tests/run.sh as root to upgrade it"
fi
echo "tests/run.sh: $package $version is installed, the tests need $minimum or later ($hint)" >&2
exit 1
