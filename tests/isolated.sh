#!/usr/bin/env bash
# Run a command inside the network and mount namespace tests/run.sh made with
# `unshare --net --mount`: only a loopback interface exists, so nothing a test
# starts (Thunderbird's DNS lookups and background services included) can
# reach another machine, and bind mounts over /etc/hosts or /etc/resolv.conf
# stay private to the run.
set -euo pipefail
ip link set lo up
export MAILAUTOCONF_ISOLATED=1
exec "$@"
