#!/usr/bin/env bash
# Set up and run every test: the README's test command, and what CI runs.
# Installs what the tests need on a fresh Debian machine with Python 3.11:
# a virtualenv with requirements-test.txt, and Debian's wrk for the bench smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
    else
        echo "wrk is missing (sudo apt-get install wrk); the bench smoke test will be skipped" >&2
    fi
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
