"""A real DNS server and BIND's zone checker for the tests of generated records (dns, check-dns).

dnsmasq answers only from its command line on a free high port of
127.0.0.1, nothing forwarded; named-checkzone judges zone text without
looking anything up. Shared by test_dns, test_dav and test_pacc.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.resolver
import pytest

from mailautoconf.deploy import checkdns
from support.paths import ROOT

NAMED_CHECKZONE = shutil.which("named-checkzone")
DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
needs_checkzone = pytest.mark.skipif(NAMED_CHECKZONE is None, reason="needs named-checkzone (Debian bind9-utils)")
needs_dnsmasq = pytest.mark.skipif(DNSMASQ is None, reason="needs dnsmasq (Debian dnsmasq-base)")
# The service host itself: its address is the admin's business, not the generated records'.
SERVICE_HOST = "--host-record=autoconfig.example.net,127.0.0.1"


def record_lines(text: str) -> list[str]:
    """The records of zone-file text, without comments and blank lines."""
    return [line for line in text.splitlines() if line and not line.startswith(";")]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def checkzone(tmp_path: Path, origin: str, text: str) -> subprocess.CompletedProcess[str]:
    """Put the domain's records under a minimal SOA/NS header and let BIND judge the zone."""
    zone = tmp_path / f"{origin}.zone"
    zone.write_text(
        f"$TTL 3600\n$ORIGIN {origin}.\n"
        f"@ IN SOA ns1.{origin}. hostmaster.{origin}. 1 7200 3600 1209600 3600\n"
        f"@ IN NS ns1.{origin}.\nns1 IN A 192.0.2.53\n\n{text}",
        encoding="utf-8",
    )
    # -k fail: host-name checks are errors; -S fail: an SRV pointing at a CNAME in the zone
    # is an error (RFC 2782); -i local: integrity checks without looking up names of other
    # zones (mode "full" would ask the system's resolver: traffic off this machine).
    command = [str(NAMED_CHECKZONE), "-k", "fail", "-i", "local", "-S", "fail", origin, str(zone)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dnsmasq_options(zone_text: str) -> list[str]:
    """Translate zone-file lines of `dns` into dnsmasq options serving the same records."""
    options: list[str] = []
    addresses: dict[str, list[str]] = {}
    for line in record_lines(zone_text):
        name, _ttl, _class, rdtype, data = line.split(" ", 4)
        name = name.rstrip(".")
        if rdtype == "CNAME":
            options.append(f"--cname={name},{data.rstrip('.')}")
        elif rdtype in ("A", "AAAA"):
            addresses.setdefault(name, []).append(data)
        elif rdtype == "SRV":
            priority, weight, port, target = data.split()
            options.append(f"--srv-host={name},{target.rstrip('.') or '.'},{port},{priority},{weight}")
        elif rdtype == "TXT":
            # One or more quoted strings; dnsmasq takes them comma-separated.
            quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', data)
            texts = [text.replace('\\"', '"').replace("\\\\", "\\") for text in quoted]
            assert texts and all("," not in text for text in texts), line
            options.append(f"--txt-record={name},{','.join(texts)}")
        elif rdtype == "MX":
            preference, exchange = data.split()
            options.append(f"--mx-host={name},{exchange.rstrip('.')},{preference}")
        else:
            raise AssertionError(f"unexpected record {line}")
    options += [f"--host-record={name},{','.join(values)}" for name, values in addresses.items()]
    return options


class Dnsmasq:
    """A dnsmasq answering only from its command line, on 127.0.0.1:port, nothing forwarded."""

    def __init__(self, workdir: Path, options: list[str], local_domains: list[str], port: int | None = None) -> None:
        # dnsmasq also listens on TCP at the port, which the suite's many client
        # connections may hold: on "Address already in use", another port (or,
        # with ``port`` given, the same one a moment later: a restart with a new
        # zone, where the service under test knows the port from its config).
        self._fixed_port = port
        for attempt in range(5):
            self._start(workdir, options, local_domains)
            try:
                self._wait_until_answering()
                return
            except AssertionError:
                self.stop()
                if attempt == 4 or "Address already in use" not in self.log():
                    raise
                if port is not None:
                    time.sleep(0.5)
            except BaseException:
                self.stop()
                raise

    def _start(self, workdir: Path, options: list[str], local_domains: list[str]) -> None:
        self.port = self._fixed_port or free_udp_port()
        self.log_path = workdir / f"dnsmasq-{self.port}.log"
        command = [
            str(DNSMASQ), "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}", "--pid-file=",
            "--log-facility=-", f"--user={pwd.getpwuid(os.geteuid()).pw_name}",
            f"--group={grp.getgrgid(os.getegid()).gr_name}",
            # Names under these domains that are not configured get NXDOMAIN, not REFUSED.
            *(f"--local=/{domain}/" for domain in local_domains),
            *options,
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_until_answering(self) -> None:
        resolver = checkdns.make_resolver(f"127.0.0.1:{self.port}")
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"dnsmasq exited with {self.process.returncode}:\n{self.log()}")
            try:
                resolver.resolve("ready.invalid.", "A", raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return  # answering, from its own data: the "invalid" domain is --local
            except dns.exception.DNSException:
                if time.monotonic() > deadline:
                    raise AssertionError(f"dnsmasq did not answer:\n{self.log()}") from None
                time.sleep(0.05)
            else:
                return

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def check_dns(config_path: Path, server: Dnsmasq, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("check-dns", "--config", str(config_path), "--resolver", f"127.0.0.1:{server.port}", *extra)
