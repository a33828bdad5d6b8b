"""dnslookup: no such name, no record of the type, and DNS did not answer, against real DNS servers.

The zone is served by a real dnsmasq (dnsmasq-base) on a free port of
127.0.0.1, answering only from its command line, as in test_dns.py. A
SERVFAIL, which dnsmasq gives only when an upstream fails, comes from a
few lines of Python answering real DNS messages on 127.0.0.1. Nothing is
sent past loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.resolver
import pytest
from support.isolation import bind_file
from support.isolation import requires_isolation
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf import config
from mailautoconf.deploy import checkdns
from mailautoconf.deploy import resolve
from mailautoconf.dnslookup import QUERY_TIMEOUT
from mailautoconf.dnslookup import Result
from mailautoconf.dnslookup import Unanswered
from mailautoconf.dnslookup import lookup
from mailautoconf.dnslookup import make_resolver

DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
needs_dnsmasq = pytest.mark.skipif(DNSMASQ is None, reason="needs dnsmasq (Debian dnsmasq-base)")

# Authoritative for example.net and example.org (NXDOMAIN or NODATA for what it lacks); a name
# under any other domain gets REFUSED: it has no upstream.
ZONE = [
    "--local=/example.net/",
    "--local=/example.org/",
    "--local=/autoconfig/",  # "autoconfig." itself: what a search domain must not turn into autoconfig.example.net
    "--host-record=autoconfig.example.net,192.0.2.1,2001:db8::1",
    "--host-record=mail.example.net,192.0.2.9",
    "--host-record=mail.example.net,192.0.2.3",  # two addresses: lookup sorts them
    "--cname=autodiscover.example.org,autoconfig.example.net",
    "--txt-record=_submission._tcp.example.org,not an SRV record",
    "--srv-host=_imaps._tcp.example.org,mail.example.net,993,0,1",
]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def zone(tmp_path: Path) -> Iterator[int]:
    """dnsmasq serving :data:`ZONE` on 127.0.0.1; yields its port once it answers."""
    assert DNSMASQ is not None
    for _ in range(5):  # the free port may be taken again (dnsmasq binds TCP too): another one
        port = free_udp_port()
        log = tmp_path / f"dnsmasq-{port}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                 "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}", "--pid-file=",
                 "--log-facility=-", "--local=/invalid/", *ZONE],
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if _answering(process, port):
            break
        process.terminate()
        process.wait(timeout=10)
    else:
        raise AssertionError(f"dnsmasq did not answer: {log.read_text()}")
    yield port
    process.terminate()
    process.wait(timeout=10)


def _answering(process: subprocess.Popen[bytes], port: int) -> bool:
    resolver = make_resolver(f"127.0.0.1:{port}")
    resolver.lifetime = resolver.timeout = 0.2
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        try:
            return lookup(resolver, "ready.invalid", "A") == Result(exists=False)
        except Unanswered:
            time.sleep(0.05)
    return False


@pytest.fixture
def servfail() -> Iterator[int]:
    """A DNS server on 127.0.0.1 that answers every query with SERVFAIL (RFC 1035 section 4.1.1, RCODE 2)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, client = server.recvfrom(4096)
            except TimeoutError:
                continue
            response = dns.message.make_response(dns.message.from_wire(wire))
            response.set_rcode(dns.rcode.SERVFAIL)
            server.sendto(response.to_wire(), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


def at(port: int) -> dns.resolver.Resolver:
    return make_resolver(f"127.0.0.1:{port}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


# -- the three answers ------------------------------------------------------------------------------


@needs_dnsmasq
def test_records_are_sorted_zone_file_text(zone: int) -> None:
    resolver = at(zone)
    assert lookup(resolver, "mail.example.net", "A") == Result(True, ("192.0.2.3", "192.0.2.9"))
    assert lookup(resolver, "autoconfig.example.net.", "AAAA") == Result(True, ("2001:db8::1",))
    assert lookup(resolver, "_imaps._tcp.example.org", "SRV") == Result(True, ("0 1 993 mail.example.net.",))


@needs_dnsmasq
def test_a_cname_is_followed_for_addresses_and_shown_for_cname(zone: int) -> None:
    resolver = at(zone)
    assert lookup(resolver, "autodiscover.example.org", "A") == Result(True, ("192.0.2.1",))
    assert lookup(resolver, "autodiscover.example.org", "CNAME") == Result(True, ("autoconfig.example.net.",))


@needs_dnsmasq
def test_no_record_of_the_type_is_not_no_such_name(zone: int) -> None:
    resolver = at(zone)
    assert lookup(resolver, "_submission._tcp.example.org", "SRV") == Result(exists=True)  # NODATA: a TXT is there
    assert lookup(resolver, "mail.example.net", "CNAME") == Result(exists=True)
    assert lookup(resolver, "nothere.example.net", "A") == Result(exists=False)  # NXDOMAIN


@needs_dnsmasq
def test_names_are_absolute_whatever_the_search_domains(zone: int) -> None:
    resolver = at(zone)
    resolver.search = [dns.name.from_text("example.net")]
    resolver.use_search_by_default = True
    assert lookup(resolver, "autoconfig", "A") == Result(exists=False)  # "autoconfig.", not autoconfig.example.net.


@needs_dnsmasq
def test_refused_is_unanswered_not_no_record(zone: int) -> None:
    with pytest.raises(Unanswered) as caught:
        lookup(at(zone), "autoconfig.example.com", "A")  # not dnsmasq's zone: REFUSED
    assert (caught.value.name, caught.value.rdtype, caught.value.reason) == ("autoconfig.example.com.", "A", "REFUSED")
    assert not caught.value.timed_out
    assert str(caught.value) == "autoconfig.example.com. A: REFUSED"


def test_servfail_is_unanswered(servfail: int) -> None:
    with pytest.raises(Unanswered) as caught:
        lookup(at(servfail), "autoconfig.example.net", "CNAME")
    assert caught.value.reason == "SERVFAIL" and not caught.value.timed_out


def test_silence_is_unanswered_and_timed_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never read: every query times out
        silent.bind(("127.0.0.1", 0))
        resolver = at(silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(Unanswered) as caught:
            lookup(resolver, "autoconfig.example.net", "A")
    assert caught.value.timed_out
    assert caught.value.reason == f"no answer within {QUERY_TIMEOUT:g} s"
    assert time.monotonic() - started < QUERY_TIMEOUT + 1.5  # one bounded try, no retries


def test_a_name_dns_cannot_carry_is_not_asked() -> None:
    # Over 255 octets (RFC 1035 section 2.3.4); the resolver's port 9 (discard) is never asked.
    name = ".".join(["a" * 63] * 4) + ".example"
    with pytest.raises(Unanswered) as caught:
        lookup(make_resolver("127.0.0.1:9"), name, "A")
    assert caught.value.reason.startswith("not asked: ") and not caught.value.timed_out


# -- the resolver -----------------------------------------------------------------------------------


def test_a_named_resolver_is_bounded_and_uncached() -> None:
    resolver = make_resolver("[::1]:5353")
    assert (resolver.nameservers, resolver.port) == (["::1"], 5353)
    assert (resolver.timeout, resolver.lifetime, resolver.cache) == (QUERY_TIMEOUT, QUERY_TIMEOUT, None)
    assert checkdns.make_resolver is make_resolver  # the name check-dns always had


@requires_isolation
def test_the_system_resolver_is_tried_twice_at_most() -> None:
    servers = "nameserver 127.0.0.1\nnameserver ::1\nnameserver 127.0.0.2\n"
    with bind_file("/etc/resolv.conf", servers):
        resolver = make_resolver(None)
    assert resolver.nameservers == ["127.0.0.1", "::1", "127.0.0.2"]
    assert resolver.lifetime == 2 * QUERY_TIMEOUT and resolver.cache is None
    with bind_file("/etc/resolv.conf", "# no servers\n"), pytest.raises(ValueError, match="--resolver IP"):
        make_resolver(None)


# -- what the commands make of it -------------------------------------------------------------------

EXAMPLE = config.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"), "autoconfig.toml").config


def outcomes(port: int) -> dict[str, str]:
    """check-dns's report lines for example.org, by record."""
    loaded = EXAMPLE
    return {f"{o.rrset.name} {o.rrset.type}": o.line() for o in checkdns.check(loaded, at(port), "example.org")}


@needs_dnsmasq
def test_check_dns_tells_no_such_name_from_no_record(zone: int) -> None:
    lines = outcomes(zone)
    assert lines["_submission._tcp.example.org. SRV"].endswith("; found nothing (the name has no SRV record)")
    assert lines["_pop3._tcp.example.org. SRV"].endswith("; found nothing (no such name)")
    assert lines["autoconfig.example.net. A/AAAA"] == "ok      autoconfig.example.net. A/AAAA 192.0.2.1, 2001:db8::1"
    assert lines["_imaps._tcp.example.org. SRV"].startswith("ok ")


def test_check_dns_reports_servfail_as_error(servfail: int) -> None:
    lines = list(outcomes(servfail).values())
    assert lines[0] == (
        "error   autoconfig.example.net. A/AAAA: expected an address of this service; found nothing: SERVFAIL"
    )
    assert all(line.startswith("error ") and line.endswith("found nothing: SERVFAIL") for line in lines)


@needs_dnsmasq
def test_points_here_takes_no_such_name_and_nodata_for_no_record(zone: int) -> None:
    check = resolve.points_here_check(EXAMPLE, at(zone))
    assert check("autodiscover.example.org") is None  # CNAME to the service
    assert check("autoconfig.example.net") is None  # the service itself
    assert check("nothere.example.org") == "no DNS record yet"  # NXDOMAIN
    assert check("_submission._tcp.example.org") == "no DNS record yet"  # a TXT only: NODATA for CNAME, A, AAAA
    with pytest.raises(Unanswered):
        check("autoconfig.example.com")  # REFUSED: not "no DNS record yet"


def test_certs_only_resolving_fails_on_servfail(servfail: int) -> None:
    # Before dnslookup a SERVFAIL was "no DNS record yet": every name left out, and exit 0.
    result = run("certs", "--only-resolving", "--resolver", f"127.0.0.1:{servfail}")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "cannot decide which names resolve here: DNS did not answer (autoconfig.example.net. CNAME: SERVFAIL)\n"
    )


@needs_dnsmasq
def test_certs_only_resolving_fails_on_refused_after_what_it_could_decide(zone: int) -> None:
    result = run("certs", "--only-resolving", "--resolver", f"127.0.0.1:{zone}")
    assert result.returncode == 1
    assert result.stdout == ""
    # Names in certificate order (example.net, example.com, ...); example.com is not the zone's: REFUSED.
    assert result.stderr.splitlines() == [
        "left out autodiscover.example.net: no DNS record yet",
        "cannot decide which names resolve here: DNS did not answer (autoconfig.example.com. CNAME: REFUSED)",
    ]
