"""Delta Chat, a real client nobody here wrote, sets up the TOML's account and logs in (issue 21).

Delta Chat's core (``deltachat-rpc-server`` from PyPI, tests/support/deltachat.py)
runs its own configure against the real service behind a real nginx with
TLS and a real DNS server (tests/support/tlsnet.py), and then logs in to a
real Dovecot (tests/support/mailservers.py) with what it found, all on
loopback inside the test namespace. It keeps an account only when the
IMAP and the SMTP login both worked.

Delta Chat asks, over https only and in this order (chatmail/core
src/configure.rs, docs/clients.md section 1.14):

1. ``https://autoconfig.<d>/mail/config-v1.1.xml?emailaddress=<address>``
2. ``https://<d>/.well-known/autoconfig/mail/config-v1.1.xml``
3. ``GET https://<d>/autodiscover/autodiscover.xml``, no body
4. ``GET https://autodiscover.<d>/autodiscover/autodiscover.xml``

and no MX, SRV or TXT record. Every hosted domain of the shipped example
config and of a hosting config with per-domain host names is set up through
each path alone: nginx answers 404 on the others (a path of ``<d>`` alone
for 2 and 3, which share the host). The expected servers are computed from
the TOML with mailautoconf.config and Delta Chat's reading rules, never
from the service's output; that Delta Chat logged in is read from its own
log and from Dovecot's.

Trust: Delta Chat ignores ``SSL_CERT_FILE`` and any system store; the test
hosts' keys are pinned in its own key store (support/deltachat.py), and the
control tests here show what that does not let through: a certificate
whose key is not pinned (one from the same test CA, one from another CA)
and a pinned key on a certificate for another host name, for https and
for IMAP and SMTP alike.
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from support.clientworld import Deployment
from support.clientworld import serve_behind_nginx
from support.configs import HOSTING
from support.deltachat import Configured
from support.deltachat import DeltaChat
from support.deltachat import Outcome
from support.deltachat import Server
from support.deltachat import rpc_server_path
from support.deltachat import spki_hash
from support.hoster import mail_names
from support.isolation import requires_isolation
from support.mailservers import Account
from support.mailservers import Dovecot
from support.mailservers import missing_programs
from support.paths import EXAMPLE_CONFIG
from support.pki import CA
from support.tlsnet import AccessLine
from support.tlsnet import Dnsmasq
from support.tlsnet import Nginx
from support.tlsnet import loopback_names
from support.tlsnet import require_programs

from mailautoconf.config import loads
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType

MISSING = [
    *require_programs("nginx", "dnsmasq"),
    *missing_programs(),
    *([] if rpc_server_path() else ["deltachat-rpc-server (requirements-test.txt)"]),
]
pytestmark = [
    requires_isolation,
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (tests/run.sh installs them)"),
]

CONFIG_TEXTS = {"example": EXAMPLE_CONFIG.read_text(encoding="utf-8"), "hosting": HOSTING}
CONFIGS = {key: loads(text, source=key).config for key, text in CONFIG_TEXTS.items()}
LOCALPART = "fred"
PASSWORD = "not-a-real-password"
UNHOSTED = "unhosted.test"
# A name that resolves to the mail server but is on none of its certificates (the IMAP/SMTP name check).
UNLISTED_MAIL_HOST = "unlisted-mail.example.net"

AUTOCONFIG = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
AUTODISCOVER = "/autodiscover/autodiscover.xml"

# config-v1.1.xml's socketType as Delta Chat saves it (auto_mozilla.rs; transport.rs ConnectionSecurity).
DC_SECURITY = {SocketType.SSL: "tls", SocketType.STARTTLS: "starttls", SocketType.PLAIN: "plain"}
# Which Dovecot listener serves a candidate: implicit TLS on an SSL port, STARTTLS on a STARTTLS port.
LISTENER_KIND = {"tls": "SSL", "starttls": "STARTTLS", "plain": "plain"}


# -- what Delta Chat should end up with, from the TOML -----------------------------


def address_for(domain: Domain) -> str:
    """The address a user types, with the domain in its ASCII form (an IDN domain as xn--...).

    Delta Chat puts the domain into its URLs and host names as typed and
    never converts it to IDNA: with ``bücher.example`` no lookup reaches
    any server (test_idn_address_in_unicode).
    """
    return f"{LOCALPART}@{domain.name}"


def login(template: str, domain: Domain, address: str) -> str:
    """A username template filled in for ``address``: what the user logs in with."""
    return (
        template.replace("{address}", address)
        .replace("{localpart}", address.rpartition("@")[0])
        .replace("{domain}", domain.unicode)
    )


def autoconfig_candidates(servers: tuple[ResolvedServer, ...], domain: Domain, address: str) -> dict[str, list[Server]]:
    """What auto_mozilla.rs makes of config-v1.1.xml: its IMAP and SMTP servers, in document (TOML) order.

    POP3 is skipped (Delta Chat reads only ``imap`` and ``smtp``); socketType
    and port are taken as they are; the username with its placeholders
    filled from the typed address. <authentication> is not read at all:
    Delta Chat logs in with LOGIN (IMAP) and PLAIN/LOGIN (SMTP) whatever
    the document says.
    """
    found: dict[str, list[Server]] = {"imap": [], "smtp": []}
    for server in servers:
        if server.type in found:
            user = login(server.username or "", domain, address)
            found[server.type].append(Server(server.hostname, server.port, DC_SECURITY[server.socket_type], user))
    return found


def autodiscover_candidates(servers: tuple[ResolvedServer, ...], address: str) -> dict[str, list[Server]]:
    """What auto_outlook.rs makes of a POX answer: <Type>, <Server>, <Port>, <SSL>; nothing else.

    ``<SSL>on</SSL>`` is "automatic" and expands (server_params.rs) into
    implicit TLS, then STARTTLS, on the same port; off is plain.
    ``<Encryption>`` and ``<LoginName>`` are not read: the username is the
    address (expand_usernames).
    """
    found: dict[str, list[Server]] = {"imap": [], "smtp": []}
    for server in servers:
        if server.type in found:
            securities = ["plain"] if server.socket_type is SocketType.PLAIN else ["tls", "starttls"]
            found[server.type] += [Server(server.hostname, server.port, s, address) for s in securities]
    return found


def first_served(candidates: list[Server], protocol: str, dovecot: Dovecot) -> Server:
    """The candidate Delta Chat logs in with: the first one the mail server answers in its TLS mode."""
    for candidate in candidates:
        with contextlib.suppress(KeyError):
            if dovecot.listener(protocol, LISTENER_KIND[candidate.security]).port == candidate.port:
                return candidate
    raise AssertionError(f"no candidate the test's Dovecot serves: {candidates}")


# -- the world -----------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    deltachat: DeltaChat
    nginx: Nginx
    dovecot: Dovecot
    trusted_ca: CA
    untrusted_ca: CA
    deployments: dict[str, Deployment]
    pins: dict[str, str]  # host -> the SPKI hash of the certificate its server presents

    def configure(self, address: str, *, pins: dict[str, str] | None = None, **manual: Any) -> Outcome:
        return self.deltachat.configure(address, PASSWORD, pins=self.pins if pins is None else pins, manual=manual)


def accounts(configs: dict[str, Config]) -> list[Account]:
    """Every login the TOML gives ``fred`` of a hosted domain (IMAP and SMTP may differ), one password."""
    logins: list[str] = []
    for config in configs.values():
        for provider, domain in config.domains().values():
            address = address_for(domain)
            logins += [address] + [login(s.username or "", domain, address) for s in provider.resolve_servers(domain)]
    return [Account(name, PASSWORD) for name in dict.fromkeys(logins)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[World]:
    """Services for both configs, nginx with TLS, Dovecot, dnsmasq, name resolution and one Delta Chat."""
    root = tmp_path_factory.mktemp("deltachat")
    with contextlib.ExitStack() as stack:
        web = serve_behind_nginx(
            stack, root, {key: (text, CONFIGS[key]) for key, text in CONFIG_TEXTS.items()}, UNHOSTED
        )
        nginx, trusted, web_names = web.nginx, web.trusted_ca, web.names

        mail_hosts = list(dict.fromkeys(host for config in CONFIGS.values() for host in mail_names(config)))
        dovecot = Dovecot(root / "dovecot", trusted, names=mail_hosts, accounts=accounts(CONFIGS))
        stack.callback(dovecot.stop)
        dovecot.start()

        names = [*web_names, *mail_hosts, UNLISTED_MAIL_HOST]
        dns = Dnsmasq(root / "dns", names)
        stack.callback(dns.stop)
        dns.start()
        stack.enter_context(loopback_names(names))

        # The keys the servers present, from the files the test gave them (never learnt from the network).
        pins = {name: spki_hash((nginx.certs / f"{name}.pem").read_bytes()) for name in web_names}
        pins |= {name: spki_hash((dovecot.certs / "default.crt").read_bytes()) for name in mail_hosts}

        deltachat = DeltaChat(root / "deltachat")
        stack.callback(deltachat.stop)
        deltachat.start()

        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n[test_deltachat] Delta Chat core {deltachat.version()}, {deltachat.workdir}", file=sys.stderr)

        yield World(deltachat, nginx, dovecot, trusted, web.untrusted_ca, web.deployments, pins)


# -- helpers -------------------------------------------------------------------------


def domain_cases() -> list[Any]:
    """(config key, domain) for every hosted domain of both configs."""
    return [pytest.param(key, name, id=f"{key}-{name}") for key, config in CONFIGS.items() for name in config.domains()]


def hosted(config: Config, name: str) -> tuple[Provider, Domain]:
    return config.domains()[name]


def assert_configured(outcome: Outcome) -> Configured:
    if outcome.configured is None:
        pytest.fail(f"Delta Chat configured nothing: {outcome.error}\n--- its log ---\n{outcome.log_text()[-6000:]}")
    return outcome.configured


def dovecot_logins(world: World, position: int) -> list[str]:
    """Dovecot's "Login: user=<...>" lines since ``position``: the logins the real server accepted."""
    text = world.dovecot.log_text()[position:]
    return [line for line in text.splitlines() if "-login: Info: Login: user=<" in line]


def expect_login(world: World, position: int, service: str, user: str) -> None:
    """Dovecot logged ``service`` ("imap", "submission") accepting ``user``.

    Dovecot's log process writes the line a moment after the client got
    its OK, so this waits for it, boundedly.
    """
    wanted = f"{service}-login: Info: Login: user=<{user}>,"
    deadline = time.monotonic() + 5
    while not any(wanted in line for line in dovecot_logins(world, position)) and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = dovecot_logins(world, position)
    assert any(wanted in line for line in lines), (wanted, lines)


@contextlib.contextmanager
def serving(nginx: Nginx, host: str, pem: bytes) -> Iterator[None]:
    """nginx presents ``pem`` (chain and key) for ``host`` for the duration (it reads certs/<SNI>.pem per handshake)."""
    path = nginx.certs / f"{host}.pem"
    original = path.read_bytes()
    path.write_bytes(pem)
    try:
        yield
    finally:
        path.write_bytes(original)


def same_key_other_name(pem: bytes, ca: CA, names: list[str]) -> bytes:
    """A certificate from ``ca`` for ``names`` with the key of ``pem`` (chain and key): its pin is the same."""
    key = serialization.load_pem_private_key(_key_block(pem), password=None)
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM) + ca.pem + _key_block(pem)


def _key_block(pem: bytes) -> bytes:
    start = pem.index(b"-----BEGIN PRIVATE KEY-----")
    end = pem.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----\n")
    return pem[start:end]


def error_log_position(world: World) -> int:
    try:
        return world.nginx.error_log.stat().st_size
    except FileNotFoundError:
        return 0


def handshake_alerts(world: World, position: int) -> str:
    """The TLS alerts clients sent nginx since ``position``: why a client refused a certificate.

    A client that refuses the certificate tells the server with an alert,
    which nginx logs at level info: "alert unknown ca" (rustls: the chain
    leads to no root it trusts, here: the key is not pinned), "alert bad
    certificate" (rustls: not valid for the name asked for). Delta Chat
    drops a failed lookup without logging why (configure.rs), so the
    server's side is where the reason shows.
    """
    deadline = time.monotonic() + 2
    while True:
        with open(world.nginx.error_log, "rb") as log:
            log.seek(position)
            text = log.read().decode("utf-8", errors="replace")
        alerts = "\n".join(line for line in text.splitlines() if "SSL alert number" in line)
        if alerts or time.monotonic() > deadline:
            return alerts
        time.sleep(0.02)


def answers(lines: list[AccessLine], domain: str) -> list[tuple[str, str, str, str, int]]:
    """(scheme, host, method, path, status) of the requests for ``domain``'s names."""
    own = {f"autoconfig.{domain}", f"autodiscover.{domain}", domain}
    return [(x.scheme, x.host, x.method, x.path, x.status) for x in lines if x.host in own]


# -- the four paths ------------------------------------------------------------------

# path -> (what nginx switches off, the one request that answers 200, which parser reads it)
PATHS = {
    "autoconfig": (
        lambda d: [f"https://{d}", f"https://autodiscover.{d}"],
        lambda d: ("https", f"autoconfig.{d}", "GET", AUTOCONFIG, 200),
        "autoconfig",
    ),
    "well-known": (
        lambda d: [f"https://autoconfig.{d}", f"https://{d}{AUTODISCOVER}", f"https://autodiscover.{d}"],
        lambda d: ("https", d, "GET", WELL_KNOWN, 200),
        "autoconfig",
    ),
    "autodiscover-domain": (
        lambda d: [f"https://autoconfig.{d}", f"https://{d}{WELL_KNOWN}", f"https://autodiscover.{d}"],
        lambda d: ("https", d, "GET", AUTODISCOVER, 200),
        "autodiscover",
    ),
    "autodiscover-host": (
        lambda d: [f"https://autoconfig.{d}", f"https://{d}"],
        lambda d: ("https", f"autodiscover.{d}", "GET", AUTODISCOVER, 200),
        "autodiscover",
    ),
}


def path_cases() -> list[Any]:
    cases = []
    for case in domain_cases():
        key, domain = case.values
        for path in PATHS:
            cases.append(pytest.param(key, domain, path, id=f"{case.id}-{path}"))
    return cases


@pytest.mark.parametrize(("key", "domain", "path"), path_cases())
def test_lookup_path(world: World, key: str, domain: str, path: str) -> None:
    """Each of Delta Chat's lookups alone gives the TOML's servers, and Delta Chat logs in to them.

    The request that answered is the path's own, every other one it made
    for the domain got nginx's 404; the candidates Delta Chat saved are the
    TOML's IMAP and SMTP servers read by its rules, it logged in with the
    first one the server answers, and Dovecot says so.
    """
    down, answering, parser = PATHS[path]
    provider, hosted_domain = hosted(CONFIGS[key], domain)
    address = address_for(hosted_domain)
    servers = provider.resolve_servers(hosted_domain)
    expected = (
        autoconfig_candidates(servers, hosted_domain, address)
        if parser == "autoconfig"
        else autodiscover_candidates(servers, address)
    )
    position = world.nginx.log_position()
    dovecot_position = len(world.dovecot.log_text())
    with world.nginx.faults(down=down(domain)):
        outcome = world.configure(address)
    configured = assert_configured(outcome)

    asked = answers(world.nginx.requests_since(position), domain)
    assert [x for x in asked if x[-1] == 200] == [answering(domain)], asked
    assert all(x[-1] == 404 for x in asked if x != answering(domain)), asked

    assert configured.addr == address
    assert list(configured.imap) == expected["imap"]
    assert list(configured.smtp) == expected["smtp"]
    assert configured.used_imap == first_served(expected["imap"], "imap", world.dovecot), outcome.log_text()
    assert configured.used_smtp == first_served(expected["smtp"], "submission", world.dovecot), outcome.log_text()
    expect_login(world, dovecot_position, "imap", configured.used_imap.user)
    expect_login(world, dovecot_position, "submission", configured.used_smtp.user)


def test_unhosted_domain(world: World) -> None:
    """A domain the TOML does not host: every lookup fails at the service, and so does the account.

    Its names exist and have certificates, so the answers come from the
    service (nginx's log shows the upstream's status): 404 for both
    autoconfig URLs, 405 for the Autodiscover GETs (only hosted domains
    are answered). Delta Chat then guesses ``imap.<d>``, ``mail.<d>`` and
    ``<d>``, none of which is a mail server with a certificate for it.
    """
    position = world.nginx.log_position()
    dovecot_position = len(world.dovecot.log_text())
    outcome = world.configure(f"{LOCALPART}@{UNHOSTED}")
    assert outcome.configured is None
    assert outcome.error
    lines = world.nginx.requests_since(position)
    seen = {(x.host, x.path, x.upstream_status) for x in lines}
    assert seen == {
        (f"autoconfig.{UNHOSTED}", AUTOCONFIG, "404"),
        (UNHOSTED, WELL_KNOWN, "404"),
        (UNHOSTED, AUTODISCOVER, "405"),
        (f"autodiscover.{UNHOSTED}", AUTODISCOVER, "405"),
    }, lines
    assert dovecot_logins(world, dovecot_position) == []


def test_idn_address_in_unicode(world: World) -> None:
    """An IDN address typed in Unicode: Delta Chat asks ``autoconfig.bücher.example`` as such, and finds nothing.

    It does not convert the domain to its ASCII form (IDNA) for its URLs
    or its guessed host names, so none of the domain's names is reached
    and the configure fails; typed as ``xn--bcher-kva.example`` the same
    account works (test_lookup_path). docs/clients.md section 1.14.
    """
    _, domain = hosted(CONFIGS["hosting"], "xn--bcher-kva.example")
    assert domain.unicode != domain.name
    position = world.nginx.log_position()
    dovecot_position = len(world.dovecot.log_text())
    outcome = world.configure(f"{LOCALPART}@{domain.unicode}")
    assert outcome.configured is None, outcome
    assert answers(world.nginx.requests_since(position), domain.name) == []
    assert dovecot_logins(world, dovecot_position) == []
    assert f"https://autoconfig.{domain.unicode}{AUTOCONFIG}" in outcome.log_text()


# -- what the pins trust, and what not ------------------------------------------------


def autoconfig_only(domain: str) -> list[str]:
    return [f"https://{domain}", f"https://autodiscover.{domain}"]


def test_pinned_host_is_trusted(world: World) -> None:
    """The twin of the refusals below: the same lookup with the server's own certificate works."""
    domain = "example.org"
    with world.nginx.faults(down=autoconfig_only(domain)):
        outcome = world.configure(f"{LOCALPART}@{domain}")
    assert_configured(outcome)


@pytest.mark.parametrize("case", ["not-pinned", "other-key", "other-ca"])
def test_https_key_not_pinned_is_refused(world: World, case: str) -> None:
    """A certificate whose key is not pinned for its host is refused, whoever signed it.

    ``not-pinned``: the host's own certificate from the test CA, but no pin
    for it (the test CA is trusted nowhere in Delta Chat). ``other-key``:
    a certificate from the test CA for the host with a new key.
    ``other-ca``: one from another CA. No https request for the host gets
    past the handshake (nginx logs none); the configure fails.
    """
    domain = "example.org"
    host = f"autoconfig.{domain}"
    pins = dict(world.pins)
    with contextlib.ExitStack() as faults:
        faults.enter_context(world.nginx.faults(down=autoconfig_only(domain)))
        if case == "not-pinned":
            del pins[host]
        elif case == "other-key":
            faults.enter_context(serving(world.nginx, host, b"".join(world.trusted_ca.issue([host]))))
        else:
            faults.enter_context(world.nginx.faults(untrusted=[host], untrusted_ca=world.untrusted_ca))
        position, errors = world.nginx.log_position(), error_log_position(world)
        outcome = world.configure(f"{LOCALPART}@{domain}", pins=pins)
    assert outcome.configured is None, outcome
    assert [x for x in world.nginx.requests_since(position) if x.host == host] == []
    alerts = handshake_alerts(world, errors)
    assert "alert unknown ca" in alerts and "alert bad certificate" not in alerts, alerts


def test_https_pinned_key_for_another_name_is_refused(world: World) -> None:
    """The pinned key on a certificate that does not name the host: the name check still refuses it."""
    domain = "example.org"
    host = f"autoconfig.{domain}"
    own = (world.nginx.certs / f"{host}.pem").read_bytes()
    misnamed = same_key_other_name(own, world.trusted_ca, ["elsewhere.example.net"])
    assert spki_hash(misnamed) == world.pins[host]  # the premise: the key is the pinned one
    with world.nginx.faults(down=autoconfig_only(domain)), serving(world.nginx, host, misnamed):
        position, errors = world.nginx.log_position(), error_log_position(world)
        outcome = world.configure(f"{LOCALPART}@{domain}")
    assert outcome.configured is None, outcome
    assert [x for x in world.nginx.requests_since(position) if x.host == host] == []
    alerts = handshake_alerts(world, errors)
    assert "alert bad certificate" in alerts and "alert unknown ca" not in alerts, alerts


def manual_servers(host: str) -> dict[str, Any]:
    """Server settings typed by hand (no lookup): implicit TLS IMAP and SMTP on ``host``."""
    return {
        "imapServer": host,
        "imapPort": 993,
        "imapSecurity": "ssl",
        "smtpServer": host,
        "smtpPort": 465,
        "smtpSecurity": "ssl",
    }


@pytest.mark.parametrize("case", ["pinned", "not-pinned", "other-name"])
def test_mail_server_certificate(world: World, case: str) -> None:
    """IMAP and SMTP: Dovecot's key pinned for its host logs in; unpinned or for a name it lacks, refused.

    ``other-name``: a name that resolves to the same Dovecot, pinned with
    that Dovecot's key, but on none of its certificates.
    """
    address = f"{LOCALPART}@example.org"
    pins = dict(world.pins)
    host = "mail.example.net"
    if case == "not-pinned":
        del pins[host]
    elif case == "other-name":
        host = UNLISTED_MAIL_HOST
        pins[host] = world.pins["mail.example.net"]
    dovecot_position = len(world.dovecot.log_text())
    outcome = world.configure(address, pins=pins, **manual_servers(host))
    if case == "pinned":
        configured = assert_configured(outcome)
        assert configured.used_imap == Server(host, 993, "tls", address)
        assert configured.used_smtp == Server(host, 465, "tls", address)
        expect_login(world, dovecot_position, "imap", address)
        return
    assert outcome.configured is None, outcome
    assert dovecot_logins(world, dovecot_position) == []
    # rustls's own words in Delta Chat's log of the IMAP connection (a failed IMAP ends the
    # configure, so the SMTP attempt running beside it may not get to log; Dovecot saw no login).
    problem = "UnknownIssuer" if case == "not-pinned" else f'certificate not valid for name "{host}"'
    refused = [x for x in outcome.log if f"IMAP failed to connect to {host} (" in x and problem in x]
    assert refused, outcome.log_text()[-4000:]


def test_harness(world: World) -> None:
    """The world itself: every test host is pinned, with the key its server presents, and the pins differ by server."""
    web = {name for deployment in world.deployments.values() for name in deployment.names()}
    mail = {host for config in CONFIGS.values() for host in mail_names(config)}
    assert web | mail <= set(world.pins)
    assert len({world.pins[name] for name in web}) == 1  # nginx: one certificate for all its names
    assert len({world.pins[name] for name in mail}) == 1  # Dovecot: one for all its names
    assert {world.pins[name] for name in web}.isdisjoint(world.pins[name] for name in mail)
    assert Path(world.dovecot.certs / "default.crt").exists()
