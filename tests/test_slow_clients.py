"""Slow and idle connections against the real service (issue 11, first part).

Mail clients send their small request at once and give up after a few
seconds; a few hundred connections that send half a request and wait must
neither lock everyone else out (waitress's default connection_limit was 100)
nor hold their place for two minutes (its default channel_timeout), and a
request trickled in one byte a second must be cut off, because every byte
resets waitress's own idle timer.
"""

from __future__ import annotations

import resource
import select
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from mailautoconf.serve import channel
from mailautoconf.serve import service

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 300
CUT_OFF_SECONDS = 10  # what the settings promise (docs/commands.md, "Limits"): no connection waits longer for a request
MARGIN = 4.0  # seconds: cleanup runs every cleanup_interval, the event loop wakes every second
GET = b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.org\r\n\r\n"
POST_HEAD = (
    b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.org\r\n"
    b"Content-Type: text/xml\r\nContent-Length: 1000\r\n\r\n"
)


@pytest.fixture(autouse=True)
def enough_files() -> Iterator[None]:
    """The test itself holds SLOW_CONNECTIONS sockets; lift its own soft limit if it is low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CONNECTIONS + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"open-files hard limit {hard} is below the {wanted} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    if first:
        sock.sendall(first)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset), without blocking."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def test_settings_fit_mail_clients() -> None:
    settings = service.WAITRESS_SETTINGS
    assert settings["connection_limit"] >= 1000
    assert settings["channel_timeout"] <= CUT_OFF_SECONDS
    assert channel.REQUEST_SECONDS <= CUT_OFF_SECONDS
    assert settings["cleanup_interval"] <= settings["channel_timeout"]
    assert settings["asyncore_use_poll"] is True  # select() cannot watch descriptors past 1023
    assert settings["max_request_body_size"] == 1024 * 1024


def test_half_requests_do_not_lock_others_out(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    halves = [b"GET /mail/config-v1.1", b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconf", b""]
    slow = [connect(service.port, halves[n % len(halves)]) for n in range(SLOW_CONNECTIONS)]
    try:
        time.sleep(0.5)  # let the service accept them all
        with requests.Session() as http:
            http.trust_env = False
            started = time.monotonic()
            answer = http.get(
                f"{service.base}/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.org"}, timeout=2
            )
            elapsed = time.monotonic() - started
        assert answer.status_code == 200
        assert b"example.org" in answer.content
        assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
        assert not any(closed_by_server(sock) for sock in slow), "a half request was dropped before its time"
    finally:
        for sock in slow:
            sock.close()


def test_idle_and_trickling_connections_are_cut_off(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    limit = CUT_OFF_SECONDS
    idle = {
        "silent": connect(service.port, b""),
        "half request line": connect(service.port, b"GET /mail/con"),
        "half headers": connect(service.port, GET[:40]),
    }
    trickle = {
        "headers one byte a second": (connect(service.port, b""), GET),
        "body one byte a second": (connect(service.port, POST_HEAD), b"<" * 1000),
    }
    started = time.monotonic()
    closed_after: dict[str, float] = {}
    sent = 0
    while time.monotonic() - started < limit + MARGIN and len(closed_after) < len(idle) + len(trickle):
        for name, sock in idle.items():
            if name not in closed_after and closed_by_server(sock):
                closed_after[name] = time.monotonic() - started
        for name, (sock, data) in trickle.items():
            if name in closed_after:
                continue
            try:
                sock.send(data[sent : sent + 1])
            except OSError:
                closed_after[name] = time.monotonic() - started
                continue
            if closed_by_server(sock):
                closed_after[name] = time.monotonic() - started
        sent += 1
        # Meanwhile everyone else is served.
        with socket.create_connection(("127.0.0.1", service.port), timeout=2) as normal:
            normal.sendall(GET)
            assert normal.recv(12) == b"HTTP/1.1 200"
        time.sleep(1)
    for sock in [*idle.values(), *(sock for sock, _ in trickle.values())]:
        sock.close()
    assert set(closed_after) == set(idle) | set(trickle), f"still open after {limit + MARGIN} s: {closed_after}"
    assert all(after <= limit + MARGIN for after in closed_after.values()), closed_after
