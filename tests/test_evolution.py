"""The real Evolution against the real service: it must end up with the provider's first choice.

Evolution (3.46) keeps the *last* server of each type it reads, field by
field (docs/clients.md section 1.8), so the service answers ``User-Agent:
Evolution/...`` with a document listing only the first server of each type
(render/evolution.py). Reading our XML with our own parser would prove
nothing about that, so these tests run Evolution's own code: tests/evolution/probe.c
calls ``e_mail_autoconfig_new_sync()`` from Evolution's mail library and
hands the results to the account assistant's ``EConfigLookup``, exactly as
the assistant's lookup module does, then prints what each protocol's
account source was configured with.

Everything runs inside the loopback-only namespace (tests/isolated.sh), with
a private /etc/hosts pointing ``autoconfig.<d>`` and ``<d>`` at 127.0.0.1,
and the service listening where Evolution looks: http on port 80 (nothing
listens on 443, so Evolution's https attempts fail at once). Expectations
come from the TOML through ``mailautoconf.config.loads``, never from
hand-copied numbers.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from support.configs import GROUPWARE
from support.isolation import bind_file
from support.isolation import requires_isolation
from support.paths import EXAMPLE_CONFIG
from support.service import Service

from mailautoconf import config
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType

PROBE_SOURCE = Path(__file__).resolve().parent / "evolution" / "probe.c"
# Evolution's mail library (e-mail-autoconfig.h, e-config-lookup.h) and what the probe reads back.
PKG_CONFIG_MODULES = ("evolution-mail-3.0", "libedataserver-1.2", "camel-1.2")
# Every probe run is bounded: a hung D-Bus activation or lookup fails the test, never the run.
PROBE_TIMEOUT = 60.0
EVOLUTION_USER_AGENT = "Evolution/"
PROTOCOLS = ("imap", "pop3", "smtp")
LOCALPART = "fred"
UNHOSTED = "unhosted.test"
# CamelNetworkSecurityMethod nicks, as the probe prints them.
EVOLUTION_SECURITY = {
    "ssl-on-alternate-port": SocketType.SSL,
    "starttls-on-standard-port": SocketType.STARTTLS,
    "none": SocketType.PLAIN,
}
AUTOCONFIG_PATH = "/mail/config-v1.1.xml"
WELL_KNOWN_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"

# Per-domain host names, an IDN domain, an override, a provider without POP3;
# the first and the last server of a type differ in host, port, security and
# user name wherever the config allows, so picking the wrong one shows.
HOSTING_CONFIG = """\
[service]
public_hostname = "autoconfig.provider.test"

[[provider]]
id = "provider.test"
display_name = "Hosting Provider"
domains = ["shop.test", "Bücher.Example", "customer.test"]

[[provider.incoming]]
type = "imap"
hostname = "imap.{domain}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.incoming]]
type = "imap"
hostname = "legacy-imap.{domain}"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "pop3"
hostname = "pop.{domain}"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{localpart}"

[[provider.incoming]]
type = "pop3"
hostname = "legacy-pop.{domain}"
port = 110
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.{domain}"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "submission.{domain}"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}"

[provider.overrides."customer.test"]
incoming_hostname = "mx.customer-own.test"
outgoing_hostname = "out.customer-own.test"

[[provider]]
id = "other.test"
display_name = "Other Provider"
domains = ["other.test"]

[[provider.incoming]]
type = "imap"
hostname = "imap.other.test"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "imap"
hostname = "imap.other.test"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.other.test"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.other.test"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"
"""
EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")
# CalDAV and CardDAV configured: the Evolution document carries Autoconfig
# 1.2's <calendar> and <addressbook> (with usernames unlike the servers'
# first ones) and says version 1.2; Evolution must still take exactly the
# first mail server of each type.
CONFIGS = [
    pytest.param(EXAMPLE_TEXT, id="example"),
    pytest.param(HOSTING_CONFIG, id="per-domain-hosts"),
    pytest.param(GROUPWARE, id="calendars-and-contacts"),
]


def _evolution_dev_missing() -> str | None:
    """Why the probe cannot be built here, or None. Only a missing evolution-dev skips."""
    if shutil.which("pkg-config") is None:
        return "pkg-config is not installed (tests/run.sh installs it with evolution-dev)"
    found = subprocess.run(
        ["pkg-config", "--exists", *PKG_CONFIG_MODULES], capture_output=True, timeout=30, check=False
    )
    if found.returncode != 0:
        return "evolution-dev is not installed (tests/run.sh installs it): no pkg-config evolution-mail-3.0"
    return None


EVOLUTION_DEV_MISSING = _evolution_dev_missing()
pytestmark = [
    requires_isolation,
    pytest.mark.skipif(EVOLUTION_DEV_MISSING is not None, reason=EVOLUTION_DEV_MISSING or ""),
]


# -- what Evolution ends up with ---------------------------------------------


@dataclass(frozen=True)
class Account:
    """One protocol's settings as Evolution stores them in the account's source."""

    host: str
    port: int
    security: SocketType
    user: str


@dataclass(frozen=True)
class Lookup:
    """The probe's ``key=value`` report for one address."""

    values: dict[str, str]
    stderr: str

    @classmethod
    def parse(cls, stdout: str, stderr: str) -> Lookup:
        values = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        return cls(values, stderr)

    def accounts(self) -> dict[str, Account]:
        """Every protocol Evolution found settings for; empty when it found none."""
        if self.values.get("status") != "found":
            return {}
        found = {}
        for protocol in PROTOCOLS:
            count = int(self.values[f"{protocol}.results"])
            assert count <= 1, f"Evolution offers {count} {protocol} results: {self.values}"
            if count:
                found[protocol] = Account(
                    host=self.values[f"{protocol}.host"],
                    port=int(self.values[f"{protocol}.port"]),
                    security=EVOLUTION_SECURITY[self.values[f"{protocol}.security"]],
                    user=self.values[f"{protocol}.user"],
                )
        return found


class Evolution:
    """Runs the probe the way Evolution runs: with a D-Bus session bus and its source registry.

    Each run gets a private bus (``dbus-run-session``), on which the bus
    activates /usr/libexec/evolution-source-registry, and a fresh HOME and
    XDG folders, so no run sees another's state or the machine's. The probe,
    the bus and the registry are one process group that is killed after the
    run, whatever happened.
    """

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.runs = 0

    def lookup(self, address: str) -> Lookup:
        self.runs += 1
        home = self.workdir / f"home{self.runs}"
        runtime = home / "run"
        runtime.mkdir(parents=True)
        runtime.chmod(0o700)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(runtime),
            "LANG": "C.UTF-8",
            # No dconf, no gvfs, no proxy: nothing outside this run decides where requests go.
            "GSETTINGS_BACKEND": "memory",
            "GIO_USE_VFS": "local",
            "GIO_USE_PROXY_RESOLVER": "dummy",
        }
        process = subprocess.Popen(
            ["dbus-run-session", "--", str(self.binary), address],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            stdout, stderr = process.communicate(timeout=10)
            raise AssertionError(f"Evolution probe for {address} timed out\n{stdout}\n{stderr}") from None
        finally:
            _kill_group(process.pid)
        assert process.returncode == 0, f"Evolution probe for {address} failed:\n{stdout}\n{stderr}"
        return Lookup.parse(stdout, stderr)


def _kill_group(pgid: int) -> None:
    """Kill what is left of one probe run (bus daemon, source registry): only our own group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tests/evolution/probe.c against the installed Evolution; a build failure fails, never skips."""
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", *PKG_CONFIG_MODULES],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    binary = tmp_path_factory.mktemp("evolution-probe") / "probe"
    # Evolution's own headers use deprecated GLib types (GTimeVal); that is not ours to fix.
    command = ["gcc", "-Wall", "-Wextra", "-Werror", "-Wno-deprecated-declarations", "-O1"]
    built = subprocess.run(
        [*command, "-o", str(binary), str(PROBE_SOURCE), *flags], capture_output=True, text=True, timeout=180
    )
    assert built.returncode == 0, f"cannot build the Evolution probe:\n{built.stderr}"
    return binary


@pytest.fixture
def evolution(probe_binary: Path, tmp_path: Path) -> Evolution:
    return Evolution(probe_binary, tmp_path / "evolution")


# -- the namespace: names, the service on port 80, a test-only front -----------


def _hosted(config_text: str) -> list[tuple[Provider, Domain]]:
    loaded: Config = config.loads(config_text).config
    return [(provider, domain) for provider in loaded.providers for domain in provider.domains]


@pytest.fixture(scope="module", autouse=True)
def hosts() -> Iterator[None]:
    """A private /etc/hosts: ``autoconfig.<d>`` and ``<d>`` of every test domain are 127.0.0.1."""
    texts = (EXAMPLE_TEXT, HOSTING_CONFIG, GROUPWARE)
    names = sorted({domain.name for text in texts for _, domain in _hosted(text)} | {UNHOSTED})
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    lines += [f"127.0.0.1 autoconfig.{name} {name}" for name in names]
    with bind_file("/etc/hosts", "\n".join(lines) + "\n"):
        yield


class ServiceOnPort80(Service):
    """The real service where Evolution looks: http://autoconfig.<d>/ is port 80.

    Root inside our own network namespace may bind it; nobody else sees it.
    """

    def __init__(self, workdir: Path, config_text: str | None = None) -> None:
        super().__init__(workdir, config_text)
        self.port = 80
        self.base = "http://127.0.0.1:80"


@pytest.fixture
def port_80_service(tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """Start the real service on 127.0.0.1:80 with a config text; stopped after the test."""
    started: list[Service] = []

    def start(config_text: str) -> Service:
        instance = ServiceOnPort80(tmp_path / f"port80-{len(started)}", config_text)
        started.append(instance)
        return instance.start()

    yield start
    for instance in started:
        instance.stop()


@dataclass(frozen=True)
class Seen:
    """One request as it reached the test-only front."""

    host: str
    path: str
    query: dict[str, list[str]]
    user_agent: str


Answer = tuple[int, str, bytes]  # status, content type, body


@dataclass
class Front:
    """A test-only HTTP server on 127.0.0.1:80 that records Evolution's requests.

    ``answer`` decides each response. It lets a test serve Evolution what the
    service would never serve it: the all-servers document, or a 2xx page
    without servers.
    """

    answer: Callable[[Seen], Answer]
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def front() -> Iterator[Callable[[Callable[[Seen], Answer]], Front]]:
    """Start at most one Front on port 80; shut down and joined after the test."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def start(answer: Callable[[Seen], Answer]) -> Front:
        assert not servers, "one front per test: there is one port 80"
        state = Front(answer)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                request = Seen(
                    host=self.headers.get("Host", ""),
                    path=url.path,
                    query=urllib.parse.parse_qs(url.query),
                    user_agent=self.headers.get("User-Agent", ""),
                )
                state.seen.append(request)
                status, content_type, body = state.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 80), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return state

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- expectations, from the TOML ------------------------------------------------


def _account(server: ResolvedServer, domain: Domain, address: str) -> Account:
    """What Evolution should store for ``server``: placeholders filled with the address typed."""
    user = (
        server.username.replace("{address}", address)
        .replace("{localpart}", address.partition("@")[0])
        .replace("{domain}", domain.unicode)
    )
    return Account(server.hostname, server.port, server.socket_type, user)


def _by_type(provider: Provider, domain: Domain, address: str, *, last: bool) -> dict[str, Account]:
    """The first (provider's choice) or the last server of each type, as Evolution's settings."""
    chosen: dict[str, ResolvedServer] = {}
    for server in provider.resolve_servers(domain):
        if last or server.type not in chosen:
            chosen[server.type] = server
    return {kind: _account(server, domain, address) for kind, server in chosen.items()}


def _address(domain: Domain) -> str:
    return f"{LOCALPART}@{domain.name}"


_ACCESS_LINE = re.compile(r'mailautoconf\.access: \S+ "GET (\S+)" (\d{3}) .* domain=(\S+)')


def _access_lines(log: str) -> list[tuple[str, str, str]]:
    """(path, status, domain) of every autoconfig request in the service's access log, in order."""
    found = []
    for line in log.splitlines():
        match = _ACCESS_LINE.search(line)
        if match and match.group(1) in (AUTOCONFIG_PATH, WELL_KNOWN_PATH):
            found.append((match.group(1), match.group(2), match.group(3)))
    return found


# -- the tests ----------------------------------------------------------------


@pytest.mark.parametrize("config_text", CONFIGS)
def test_evolution_ends_up_with_the_first_choice(
    config_text: str, port_80_service: Callable[[str], Service], evolution: Evolution
) -> None:
    """Issue #3: for every hosted domain, Evolution configures the provider's first server of each type."""
    service = port_80_service(config_text)
    expected: dict[str, dict[str, Account]] = {}
    alternatives: dict[str, dict[str, Account]] = {}
    observed: dict[str, dict[str, Account]] = {}
    for provider, domain in _hosted(config_text):
        address = _address(domain)
        expected[domain.name] = _by_type(provider, domain, address, last=False)
        alternatives[domain.name] = _by_type(provider, domain, address, last=True)
        lookup = evolution.lookup(address)
        assert lookup.values.get("status") == "found", (address, lookup.values, lookup.stderr)
        observed[domain.name] = lookup.accounts()
    assert observed == expected
    # The proof means something only where the last server differs from the first.
    for name, accounts in expected.items():
        assert all(alternatives[name][kind] != accounts[kind] for kind in accounts), name
    assert {kind for accounts in expected.values() for kind in accounts} == set(PROTOCOLS)
    # ... and they came from our http://autoconfig.<d>/ URL, answered 200; nothing else was asked.
    service.stop()
    requests = _access_lines(service.log())
    assert sorted(requests) == sorted((AUTOCONFIG_PATH, "200", name) for name in expected), requests


def test_evolution_reads_past_calendar_and_contacts(
    port_80_service: Callable[[str], Service], evolution: Evolution
) -> None:
    """What Evolution was served for the DAV provider had the 1.2 sections: the first-choice test above means it.

    Evolution's parser (GMarkup, e-mail-autoconfig.c) keeps text only
    inside incomingServer/outgoingServer; were it to take the sections'
    <username> (``%EMAILLOCALPART%``) for the server before it, the SMTP
    user would be the bare local part instead of the address.
    """
    service = port_80_service(GROUPWARE)
    for provider, domain in _hosted(GROUPWARE):
        answer = service.get(
            AUTOCONFIG_PATH, host=f"autoconfig.{domain.name}", headers={"User-Agent": "Evolution/3.46.4"}
        )
        root = ET.fromstring(answer.content)
        assert root.get("version") == "1.2"
        assert [child.tag for child in root] == ["emailProvider", "addressbook", "calendar", "oAuth2"]
        servers = [element.get("type") for element in root.iter() if element.tag.endswith("Server")]
        assert servers == ["imap", "pop3", "smtp"], servers  # Evolution's own document: one of each type
        caldav = provider.caldav_for(domain)
        assert caldav is not None and root.findtext("calendar/url") == caldav.url_for(domain)
        address = _address(domain)
        lookup = evolution.lookup(address)
        assert lookup.accounts() == _by_type(provider, domain, address, last=False), lookup.values


def test_control_all_servers_document_makes_evolution_take_the_last(
    make_service: Callable[..., Service], front: Callable[[Callable[[Seen], Answer]], Front], evolution: Evolution
) -> None:
    """Without our Evolution document Evolution configures the LAST servers: the probe is Evolution's parser.

    The front passes Evolution's requests to the service without the
    Evolution User-Agent, so Evolution gets the all-servers (Thunderbird)
    document every other client gets.
    """
    service = make_service(EXAMPLE_TEXT)

    def all_servers(request: Seen) -> Answer:
        params = {key: values[0] for key, values in request.query.items()}
        answer = service.get(request.path, host=request.host, params=params)  # python-requests' User-Agent
        return answer.status_code, answer.headers.get("Content-Type", "text/plain"), answer.content

    recorded = front(all_servers)
    for provider, domain in _hosted(EXAMPLE_TEXT):
        address = _address(domain)
        document = ET.fromstring(service.get(AUTOCONFIG_PATH, host=f"autoconfig.{domain.name}").content)
        servers = [element.get("type") for element in document.iter() if element.tag.endswith("Server")]
        assert all(servers.count(kind) >= 2 for kind in PROTOCOLS), servers  # the premise: a choice to make
        lookup = evolution.lookup(address)
        assert lookup.accounts() == _by_type(provider, domain, address, last=True), lookup.values
        assert lookup.accounts() != _by_type(provider, domain, address, last=False)
    # What Evolution sent: its User-Agent and a dummy local part, on http://autoconfig.<d>/ first.
    assert recorded.seen, "Evolution never reached port 80"
    for request in recorded.seen:
        assert request.user_agent.startswith(EVOLUTION_USER_AGENT), request
        domain_name = request.host.removeprefix("autoconfig.")
        assert request.query.get("emailaddress") == [f"EVOLUTIONUSER@{domain_name}"], request
    asked = {(request.host, request.path) for request in recorded.seen}
    assert asked == {(f"autoconfig.{domain.name}", AUTOCONFIG_PATH) for _, domain in _hosted(EXAMPLE_TEXT)}


def test_unhosted_domain_is_never_answered_2xx(make_service: Callable[..., Service]) -> None:
    """A well-formed 2xx answer without servers makes Evolution stop looking: unhosted gets non-2xx."""
    service = make_service(EXAMPLE_TEXT)
    headers = {"User-Agent": "Evolution/3.46.4-2+deb12u1 "}
    for path in (AUTOCONFIG_PATH, WELL_KNOWN_PATH):
        for host in (f"autoconfig.{UNHOSTED}", UNHOSTED):
            for extra in ({}, headers):
                answer = service.get(
                    path, host=host, params={"emailaddress": f"EVOLUTIONUSER@{UNHOSTED}"}, headers=extra
                )
                assert not 200 <= answer.status_code < 300, (path, host, extra, answer.status_code)
                assert answer.status_code == 404, (path, host, extra, answer.status_code)


def test_evolution_finds_nothing_for_an_unhosted_domain(
    port_80_service: Callable[[str], Service], evolution: Evolution
) -> None:
    """Evolution asks both autoconfig paths, gets 404 on each and reports no configuration, not a bogus one."""
    service = port_80_service(EXAMPLE_TEXT)
    lookup = evolution.lookup(f"{LOCALPART}@{UNHOSTED}")
    assert lookup.accounts() == {}, lookup.values
    assert lookup.values.get("status") == "error", lookup.values
    service.stop()
    assert _access_lines(service.log()) == [(AUTOCONFIG_PATH, "404", "-"), (WELL_KNOWN_PATH, "404", "-")]


def test_a_2xx_page_without_servers_stops_evolution(
    make_service: Callable[..., Service], front: Callable[[Callable[[Seen], Answer]], Front], evolution: Evolution
) -> None:
    """Why unhosted must never be 2xx: a well-formed 200 without servers ends Evolution's search.

    The front answers the autoconfig URL with a well-formed page and would
    serve the real document on the .well-known URL; Evolution never asks it.
    """
    service = make_service(EXAMPLE_TEXT)
    domain = "example.org"
    page = b'<?xml version="1.0"?>\n<html><body><p>Welcome</p></body></html>\n'

    def page_then_document(request: Seen) -> Answer:
        if request.path == AUTOCONFIG_PATH:
            return 200, "text/html; charset=utf-8", page
        answer = service.get(request.path, host=request.host, headers={"User-Agent": request.user_agent})
        return answer.status_code, answer.headers.get("Content-Type", "text/plain"), answer.content

    recorded = front(page_then_document)
    lookup = evolution.lookup(f"{LOCALPART}@{domain}")
    assert lookup.values.get("status") == "found", lookup.values  # "found": an answer, with nothing in it
    assert lookup.accounts() == {}, lookup.values
    assert [(request.host, request.path) for request in recorded.seen] == [(f"autoconfig.{domain}", AUTOCONFIG_PATH)]
