"""Tell systemd how the service is doing (sd_notify(3), without libsystemd).

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit
started, so units ordered after it (and ``systemctl start`` itself) wait
until the first render is serving. Outside systemd ``$NOTIFY_SOCKET`` is
unset and every call does nothing.

With ``WatchdogSec=`` in the unit, :class:`Watchdog` sends ``WATCHDOG=1``
while the service answers its own /healthz, so a hung process is killed and
restarted by systemd instead of silently serving nothing.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time

from mailautoconf.endpoints import HEALTHZ

__all__ = ["Watchdog", "notify", "start_watchdog", "watchdog_interval"]

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


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings, or None when systemd expects none.

    As sd_watchdog_enabled(3): ``$WATCHDOG_USEC`` is the unit's WatchdogSec=;
    ``$WATCHDOG_PID``, when set, must be this process (a child that inherited
    the environment is not the one watched). A third of the timeout leaves
    two chances for a slow check before systemd gives up on the process.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 3


# /healthz answers 503 while no generation has ever been rendered (a broken
# first config): the process still works, it has just nothing to serve yet.
ANSWERING = (200, 503)


class Watchdog(threading.Thread):
    """Pings systemd's watchdog only while the service really answers.

    Every ``interval`` seconds it asks GET /healthz of the service's own
    listening socket, through the same accept loop, worker threads and app
    clients reach; only a 200 (or the 503 of "nothing rendered yet") within
    the interval is followed by ``WATCHDOG=1``. A process that is hung (a
    deadlocked worker pool, a stuck accept loop, SIGSTOP) stops pinging and
    systemd restarts it after WatchdogSec= (Restart=on-failure).
    """

    def __init__(self, host: str, port: int, interval: float) -> None:
        super().__init__(name="systemd-watchdog", daemon=True)
        # A wildcard listen address is reached over loopback.
        self.host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        self.port = port
        self.interval = interval
        self.stopping = threading.Event()
        self.failing = False

    def check(self) -> str | None:
        """None when /healthz answered in time, else why not."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=max(self.interval, 0.5))
        try:
            headers = {"Host": "localhost", "User-Agent": "mailautoconf-watchdog"}
            connection.request("GET", HEALTHZ.path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            return f"GET {HEALTHZ.path} on {self.host}:{self.port} failed: {exc!r}"
        finally:
            connection.close()
        if response.status not in ANSWERING:
            return f"GET {HEALTHZ.path} on {self.host}:{self.port} answered {response.status}"
        return None

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            problem = self.check()
            if problem is None:
                if self.failing:
                    log.warning("watchdog: the service answers again")
                    self.failing = False
                notify("WATCHDOG=1")
            elif not self.failing:
                # Once per failure streak: systemd kills the process if it lasts WatchdogSec.
                log.error("watchdog: %s; not telling systemd the service is alive", problem)
                self.failing = True
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=self.interval + 1)


def start_watchdog(host: str, port: int) -> Watchdog | None:
    """Start pinging systemd's watchdog if the unit has WatchdogSec=; None if it has not."""
    interval = watchdog_interval()
    if interval is None:
        return None
    watchdog = Watchdog(host, port, interval)
    watchdog.start()
    log.info("watchdog: checking %s every %.1fs for systemd", HEALTHZ.path, interval)
    return watchdog
