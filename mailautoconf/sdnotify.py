"""Tell systemd how the service is doing (sd_notify(3), without libsystemd).

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit
started, so units ordered after it (and ``systemctl start`` itself) wait
until the first render is serving. Outside systemd ``$NOTIFY_SOCKET`` is
unset and every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["notify"]

log = logging.getLogger("mailautoconf.systemd")


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``); return whether systemd was listening."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract socket namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        # systemd is waiting for this: without READY=1 the start times out
        # after TimeoutStartSec with nothing else said (e.g. AF_UNIX filtered).
        log.warning("cannot notify systemd at %s (%s): %s", os.environ["NOTIFY_SOCKET"], state.split("\n")[0], exc)
        return False
    return True
