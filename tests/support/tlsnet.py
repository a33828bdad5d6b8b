"""The network a real mail client sees in a test: TLS web server, DNS, host names.

Real clients (Thunderbird, Evolution) fetch ``https://autoconfig.<d>/...``,
follow redirects, check certificates and ask DNS for SRV and MX records on
their own. To run them against the service without touching any other
machine, the loopback-only namespace of tests/isolated.sh gets:

- certificates from :class:`support.pki.CA` (a throw-away CA) whose root a client
  profile is told to trust, and from a second one it is not;
- :class:`Nginx`: a minimal nginx site terminating TLS on 127.0.0.1/::1 port
  443 and 80 for every test name, proxying to the service like a real
  deployment (``Host``, ``X-Forwarded-For``), with http Autodiscover
  redirected to https. Test-only *faults* switch single host names to
  "not served", "wrong Content-Type" or "untrusted certificate" without a
  reload;
- :class:`Dnsmasq`: a DNS server on 127.0.0.1:53 answering A, SRV and MX
  records for the test names (and NXDOMAIN for everything else);
- :func:`loopback_names`: /etc/hosts and /etc/resolv.conf for the run,
  bind-mounted privately (tests/support/isolation.py).

Nothing here knows about Thunderbird or about mailautoconf's config, so the
Evolution tests and a later generated nginx site can reuse it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from support.isolation import bind_file
from support.pki import CA

__all__ = [
    "DNS_TYPES",
    "AccessLine",
    "Dnsmasq",
    "MxRecord",
    "Nginx",
    "Site",
    "SrvRecord",
    "dns_answer_count",
    "ipv6_loopback",
    "log_tail",
    "loopback_names",
    "require_programs",
    "stop_process",
    "wait_for_ports",
]

# Bounds for everything that waits: a start that takes longer is broken.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop a child we started: ``sig``, a bounded wait, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def ipv6_loopback() -> bool:
    """True if ::1 can be bound here; clients try it first for loopback names."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def wait_for_ports(
    process: subprocess.Popen[bytes], ports: Sequence[int], what: str, log: Path, address: str = "127.0.0.1"
) -> None:
    """Until every port accepts a connection on ``address``; the log's tail in the error if not."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            with socket.create_connection((address, waiting[0]), timeout=0.5):
                waiting.pop(0)
                continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} did not listen on {address}:{waiting[0]} within {START_TIMEOUT}s:\n{log_tail(log)}"
            )
        time.sleep(0.05)


def log_tail(path: Path, size: int = 4000) -> str:
    """The end of a program's log, for the message of a start that failed."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return f"({path} not written)"


# -- certificates ------------------------------------------------------------


# -- nginx ---------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """Names nginx serves for one upstream service.

    ``autodiscover_redirect`` is where ``http://<name>/autodiscover/...``
    points: a hoster's own host name, as Microsoft's "HTTP redirect method"
    intends (a hoster has no certificate for every ``autodiscover.<d>``).
    """

    names: tuple[str, ...]
    upstream_port: int
    autodiscover_redirect: str


@dataclass(frozen=True)
class AccessLine:
    """One nginx access-log line: what reached nginx, and what the service answered."""

    scheme: str
    host: str
    method: str
    path: str
    status: int
    upstream_status: str  # "-" when nginx answered itself (fault, redirect)
    query_address: str  # the emailaddress query parameter as sent (URL-encoded), "-" if none
    upstream_content_type: str

    @property
    def emailaddress(self) -> str | None:
        """The ``emailaddress`` parameter, decoded; None when the client sent none."""
        return None if self.query_address == "-" else urllib.parse.unquote_plus(self.query_address)


# $upstream_http_content_type is what the service sent, before any fault rewrote it.
_LOG_FORMAT = (
    "$scheme $host $request_method $uri $status $upstream_status $arg_emailaddress $upstream_http_content_type"
)
_FAULT_KINDS = ("down", "text-plain")
_TEXT_PLAIN_PREFIX = "/.mailautoconf-test-text-plain"


class Nginx:
    """nginx in front of the service on 127.0.0.1 (and ::1) ports 443 and 80.

    Every connection is new (``keepalive_timeout 0``) and verifies the
    certificate again (no session cache, no tickets), and certificates are
    read per handshake from ``certs/<SNI name>.pem``: so a fault switched on
    between two client requests applies to the second one, without a reload.
    """

    def __init__(self, workdir: Path, ca: CA, sites: Sequence[Site]) -> None:
        self.workdir = workdir
        self.ca = ca
        self.sites = tuple(sites)
        self.conf = workdir / "nginx.conf"
        self.error_log = workdir / "error.log"
        self.access_log = workdir / "access.log"
        self.certs = workdir / "certs"
        self.faults_dir = workdir / "faults"
        self.process: subprocess.Popen[bytes] | None = None
        self._stdout: Path = workdir / "nginx.out"
        self._trusted = b""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for site in self.sites for name in site.names)

    def start(self) -> Nginx:
        for folder in (
            "tmp",
            "certs",
            *(f"faults/{kind}/{scheme}" for kind in _FAULT_KINDS for scheme in ("http", "https")),
        ):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        self._trusted = b"".join(self.ca.issue(list(self.names)))  # chain and key in one PEM
        for name in self.names:
            self._write_cert(name, self._trusted)
        self.conf.write_text(self.config_text(), encoding="utf-8")
        command = ["nginx", "-p", str(self.workdir), "-e", str(self.error_log), "-c", str(self.conf)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=STOP_TIMEOUT)
        if check.returncode != 0:
            raise AssertionError(f"nginx -t refused {self.conf}:\n{check.stderr}")
        with open(self._stdout, "wb") as out:
            self.process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=out, stderr=out)
        try:
            wait_for_ports(self.process, (443, 80), "nginx", self.error_log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # SIGQUIT would wait for open connections; SIGTERM is nginx's fast shutdown.
        stop_process(self.process)
        self.process = None

    def config_text(self) -> str:
        """The whole nginx.conf: one https and one http server per site, plus defaults."""
        d = self.workdir
        listen6 = ipv6_loopback()
        parts = [
            "# Generated by tests/support/tlsnet.py for one test run.",
            "user root root;  # workers read certs/ and faults/ in a root-only temp dir",
            "worker_processes 1;",
            f"pid {d}/nginx.pid;",
            f"error_log {self.error_log} info;",
            "events { worker_connections 512; }",
            "http {",
            f"    log_format mailautoconf '{_LOG_FORMAT}';",
            f"    access_log {self.access_log} mailautoconf;",
            *(f"    {kind}_temp_path {d}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
            "    server_names_hash_bucket_size 128;",
            "    keepalive_timeout 0;            # a fault applies from the next request on",
            "    ssl_session_cache off;          # every handshake verifies the certificate",
            "    ssl_session_tickets off;",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            "    proxy_connect_timeout 5s;",
            "    proxy_read_timeout 10s;",
            "    proxy_send_timeout 10s;",
        ]
        for site in self.sites:
            parts += self._site_text(site, listen6)
        parts += [
            "    # Names no site serves: no certificate, no answer.",
            "    server {",
            "        listen 127.0.0.1:443 ssl default_server;",
            *(["        listen [::1]:443 ssl default_server;"] if listen6 else []),
            "        ssl_reject_handshake on;",
            "    }",
            "    server {",
            "        listen 127.0.0.1:80 default_server;",
            *(["        listen [::1]:80 default_server;"] if listen6 else []),
            "        return 404;",
            "    }",
            "}",
        ]
        return "\n".join(parts) + "\n"

    def _site_text(self, site: Site, listen6: bool) -> list[str]:
        d = self.workdir
        upstream = f"http://127.0.0.1:{site.upstream_port}"
        proxy = [
            f"proxy_pass {upstream};",
            "proxy_set_header Host $host;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
        ]
        # Test-only faults, looked up per request: faults/<kind>/<scheme>/<host>.
        faults = [
            f'if (-f {d}/faults/down/$scheme/$host) {{ return 404 "not served here (test fault)\\n"; }}',
            # One path of a host down (Delta Chat asks <d> for two documents): faults/down/<scheme>/<host><path>.
            f'if (-f {d}/faults/down/$scheme/$host$uri) {{ return 404 "not served here (test fault)\\n"; }}',
            f"if (-f {d}/faults/text-plain/$scheme/$host) {{ rewrite ^ {_TEXT_PLAIN_PREFIX}$uri last; }}",
        ]
        # A misconfigured proxy in front of the unchanged service: same answer, Content-Type text/plain.
        text_plain = [
            f"location ^~ {_TEXT_PLAIN_PREFIX}/ {{",
            "    internal;",
            f"    rewrite ^{_TEXT_PLAIN_PREFIX}(/.*)$ $1 break;",
            *(f"    {line}" for line in proxy),
            "    proxy_hide_header Content-Type;",
            '    add_header Content-Type "text/plain; charset=utf-8" always;',
            "}",
        ]
        names = " ".join(site.names)

        def indent(lines: Iterable[str], depth: int = 2) -> list[str]:
            return [("    " * depth) + line for line in lines]

        return [
            "    server {",
            "        listen 127.0.0.1:443 ssl;",
            *(["        listen [::1]:443 ssl;"] if listen6 else []),
            f"        server_name {names};",
            "        # Read per handshake, so a test can swap in an untrusted certificate.",
            f"        ssl_certificate {d}/certs/$ssl_server_name.pem;",
            f"        ssl_certificate_key {d}/certs/$ssl_server_name.pem;",
            *indent(faults),
            "        location / {",
            *indent(proxy, 3),
            "        }",
            *indent(text_plain),
            "    }",
            "    server {",
            "        listen 127.0.0.1:80;",
            *(["        listen [::1]:80;"] if listen6 else []),
            f"        server_name {names};",
            *indent(faults),
            "        # Outlook's and Thunderbird's http Autodiscover step expects a redirect to https.",
            "        location ~* ^/autodiscover/ {",
            f"            return 301 https://{site.autodiscover_redirect}$request_uri;",
            "        }",
            "        location / {",
            *indent(proxy, 3),
            "        }",
            *indent(text_plain),
            "    }",
        ]

    def _write_cert(self, name: str, pem: bytes) -> None:
        # One file for certificate and key, replaced atomically: a handshake
        # never sees a certificate with the other one's key.
        target = self.certs / f"{name}.pem"
        temporary = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(pem)
        os.replace(temporary, target)

    @contextlib.contextmanager
    def faults(
        self,
        *,
        down: Iterable[str] = (),
        text_plain: Iterable[str] = (),
        untrusted: Iterable[str] = (),
        untrusted_ca: CA | None = None,
    ) -> Iterator[None]:
        """Misconfigure single names for the duration; always restored.

        ``down`` and ``text_plain`` take ``scheme://host`` strings: the host
        answers 404 from nginx itself, or the service's answer with
        ``Content-Type: text/plain``. ``down`` also takes
        ``scheme://host/path``: only that path (exactly, without the query)
        answers 404, the host's other paths are served; a host cannot be
        down whole and by path at once. ``untrusted`` takes host names whose
        https certificate then comes from ``untrusted_ca``.
        """
        markers: list[Path] = []
        swapped: list[str] = []
        try:
            for kind, urls in (("down", down), ("text-plain", text_plain)):
                for url in urls:
                    scheme, _, target = url.partition("://")
                    host, slash, path = target.partition("/")
                    parts = path.split("/")
                    if scheme not in ("http", "https") or not host:
                        raise ValueError(f"fault target must be scheme://host, not {url!r}")
                    if slash and (kind != "down" or not path or any(x in ("", ".", "..") for x in parts)):
                        raise ValueError(f"only down takes a path, a plain one: not {url!r}")
                    marker = self.faults_dir / kind / scheme / host.lower()
                    if slash:
                        marker = marker.joinpath(*parts)
                        marker.parent.mkdir(parents=True, exist_ok=True)
                    marker.touch()
                    markers.append(marker)
            hosts = list(untrusted)
            if hosts:
                if untrusted_ca is None:
                    raise ValueError("untrusted names need the untrusted_ca that signs them")
                pem = b"".join(untrusted_ca.issue(list(hosts)))
                for host in hosts:
                    self._write_cert(host, pem)
                    swapped.append(host)
            yield
        finally:
            for marker in markers:
                marker.unlink(missing_ok=True)
                # A path fault's folders go too, so the host can be down whole later.
                for folder in marker.parents:
                    if folder.parent.parent == self.faults_dir:  # faults/<kind>/<scheme>: kept
                        break
                    with contextlib.suppress(OSError):  # not empty: another fault of the host is on
                        folder.rmdir()
            for host in swapped:
                self._write_cert(host, self._trusted)

    def log_position(self) -> int:
        """Where the access log ends now; pass to :meth:`requests_since`."""
        try:
            return self.access_log.stat().st_size
        except FileNotFoundError:
            return 0

    def requests_since(self, position: int) -> list[AccessLine]:
        """Requests logged after ``position`` (nginx writes each line when the answer is sent)."""
        try:
            with open(self.access_log, "rb") as log:
                log.seek(position)
                text = log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        lines = []
        for raw in text.splitlines():
            scheme, host, method, path, status, upstream, address, content_type = (raw.split(" ", 7) + [""] * 8)[:8]
            lines.append(AccessLine(scheme, host, method, path, int(status), upstream, address, content_type))
        return lines

    def wait_for_requests(
        self, position: int, expected: Callable[[list[AccessLine]], bool], timeout: float = 5.0
    ) -> list[AccessLine]:
        """Requests since ``position`` once ``expected`` holds for them, or after ``timeout``.

        nginx logs a request after sending the answer, so a client can be
        done with it a moment before its line is written.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self.requests_since(position)
            if expected(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


# -- DNS -------------------------------------------------------------------------


@dataclass(frozen=True)
class SrvRecord:
    """``name SRV priority weight port target``, e.g. ``_autodiscover._tcp.<d>``."""

    name: str
    target: str
    port: int = 443
    priority: int = 0
    weight: int = 0


@dataclass(frozen=True)
class MxRecord:
    domain: str
    host: str
    preference: int = 10


@dataclass
class Dnsmasq:
    """A DNS server on 127.0.0.1:53: A records for ``names`` (127.0.0.1) and ``addresses``, SRV, MX.

    Every other name is NXDOMAIN at once (``--local=/#/``, no upstream), so a
    client's lookup of a name that does not exist fails fast, as on the
    Internet, instead of timing out.
    """

    workdir: Path
    names: Sequence[str]
    srv: Sequence[SrvRecord] = ()
    mx: Sequence[MxRecord] = ()
    # Names on other loopback addresses (a second mail server on 127.0.0.2): name -> address.
    addresses: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "dnsmasq.log"

    def command(self) -> list[str]:
        hosts = self.workdir / "dnsmasq.hosts"
        mapping = {name: "127.0.0.1" for name in self.names} | dict(self.addresses)
        hosts.write_text("".join(f"{address} {name}\n" for name, address in mapping.items()), encoding="utf-8")
        command = [
            "dnsmasq",
            "--no-daemon",  # foreground, keeps root, logs to stderr
            "--port=53",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            f"--addn-hosts={hosts}",
            "--local=/#/",
            "--log-queries",
            "--log-facility=-",
        ]
        command += [f"--srv-host={r.name},{r.target},{r.port},{r.priority},{r.weight}" for r in self.srv]
        command += [f"--mx-host={r.domain},{r.host},{r.preference}" for r in self.mx]
        return command

    def start(self) -> Dnsmasq:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            probe = self.names[0] if self.names else "localhost"
            while dns_answer_count(probe, 1) is None:
                if self.process.poll() is not None:
                    raise AssertionError(f"dnsmasq exited with {self.process.returncode}:\n{log_tail(self.log_path)}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"dnsmasq did not answer within {START_TIMEOUT}s:\n{log_tail(self.log_path)}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


DNS_TYPES = {"A": 1, "MX": 15, "SRV": 33}


def dns_answer_count(name: str, qtype: int, server: str = "127.0.0.1", timeout: float = 0.5) -> int | None:
    """Ask ``server`` directly (no resolver, no /etc/hosts): number of answers, None if no reply."""
    query_id = secrets.randbelow(65536)
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # recursion desired, one question
    question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split("."))
    packet = header + question + b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (server, 53))
            reply, _ = sock.recvfrom(4096)
        except OSError:
            return None
    if len(reply) < 12 or struct.unpack("!H", reply[:2])[0] != query_id:
        return None
    return int(struct.unpack("!H", reply[6:8])[0])


@contextlib.contextmanager
def loopback_names(
    names: Iterable[str], nameserver: str = "127.0.0.1", addresses: Mapping[str, str] | None = None
) -> Iterator[None]:
    """/etc/hosts maps ``names`` to 127.0.0.1, /etc/resolv.conf points at ``nameserver``.

    ``addresses`` maps further names to other loopback addresses (a second
    mail server on 127.0.0.2, say); a name in both takes its address from
    ``addresses``. Both files are private bind mounts (namespace only).
    Programs using the system resolver (getaddrinfo, res_query:
    Thunderbird's SRV and MX lookups, Evolution, Python) then find the test
    names and the test DNS server.
    """
    mapping = {name: "127.0.0.1" for name in names} | dict(addresses or {})
    hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
    hosts += "".join(f"{address} {name}\n" for name, address in mapping.items())
    with bind_file("/etc/hosts", hosts), bind_file("/etc/resolv.conf", f"nameserver {nameserver}\noptions timeout:1\n"):
        yield


def require_programs(*programs: str) -> list[str]:
    """The programs of ``programs`` that are not installed (tests skip on any)."""
    return [program for program in programs if shutil.which(program) is None]
