"""The real Thunderbird ends up with the account the TOML describes (issue #3).

One headless Thunderbird (tests/support/thunderbird.py) runs its own account-setup
modules against the real service behind a real nginx with TLS and a real
DNS server (tests/support/tlsnet.py), all on loopback inside the test namespace.
For every hosted domain of the shipped example config and of a hosting
config with per-domain host names, every way Thunderbird looks for settings
is tried alone, by switching the other ways off in nginx:

- autoconfig on ``https://autoconfig.<d>``, on ``https://<d>/.well-known``,
  over plain http only; with and without the ``emailaddress`` parameter;
- Autodiscover POX on ``autodiscover.<d>``, on ``<d>``, through the http
  redirect (to the provider's host, the "HTTP redirect method" hosters use)
  and through the ``_autodiscover._tcp`` SRV record;
- the account hub's full discovery, with every name up, and with only DNS
  (MX and SRV records) pointing at the provider;
- a provider with calendars and contacts (``GROUPWARE``): its documents
  carry Autoconfig 1.2's ``<calendar>`` and ``<addressbook>`` beside the
  mail settings and say version 1.2, and Thunderbird (whose readFromXML
  reads ``emailProvider`` only) still sets up exactly the TOML's account;
- a hoster whose customer domains have no web names at all (``own_names =
  false``): the MX lookup on ``autoconfig.<MX domain>``, with the address's
  own document, or without an address of a hosted domain the provider-wide
  one (``%EMAILDOMAIN%``), for shared and for per-domain host names.

The expected account is computed from the TOML with mailautoconf.config and
Thunderbird's documented reading rules (docs/clients.md sections 1.7 and 2.5), never
from the service's output. Failures must fail the way Thunderbird fails: an
unhosted domain, a certificate the profile does not trust, a wrong
Content-Type.
"""

from __future__ import annotations

import contextlib
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from support.clientworld import Deployment
from support.clientworld import base_domain
from support.clientworld import dns_records
from support.clientworld import serve_behind_nginx
from support.configs import GROUPWARE
from support.configs import HOSTING as DOMAINS_CONFIG
from support.isolation import requires_isolation
from support.paths import EXAMPLE_CONFIG
from support.pki import CA
from support.thunderbird import Outcome
from support.thunderbird import Thunderbird
from support.thunderbird import thunderbird_version
from support.tlsnet import AccessLine
from support.tlsnet import Dnsmasq
from support.tlsnet import MxRecord
from support.tlsnet import Nginx
from support.tlsnet import SrvRecord
from support.tlsnet import loopback_names
from support.tlsnet import require_programs

from mailautoconf import clientrules
from mailautoconf.config import loads
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType

MISSING = require_programs("thunderbird", "nginx", "dnsmasq", "certutil")
pytestmark = [
    requires_isolation,
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (tests/run.sh installs them)"),
]

# Per-domain host names, an override, an IDN domain and a second provider
# with STARTTLS and password-encrypted.
HOSTING_CONFIG = DOMAINS_CONFIG

# CalDAV and CardDAV configured: every document carries the 1.2 sections.
CONFIG_TEXTS = {
    "example": EXAMPLE_CONFIG.read_text(encoding="utf-8"),
    "hosting": HOSTING_CONFIG,
    "groupware": GROUPWARE,
}
CONFIGS = {key: loads(text, source=key).config for key, text in CONFIG_TEXTS.items()}

# A hoster without a certificate (or any web name) per customer domain
# (issue 8): customer domains have only MX records to the hoster's mail
# exchangers, whose domains are not mail domains, and the _autodiscover._tcp
# SRV record. One provider with shared host names; one with per-domain host
# names, whose MX host has a full domain longer than its base domain, and
# calendars and contacts: its MX lookup document carries the address book
# (a fixed URL) but not the per-domain calendar, and says version 1.2.
MX_CONFIG = """\
[service]
public_hostname = "autoconfig.hoster.example"

[[provider]]
id = "hoster.example"
display_name = "Hoster Mail"
domains = ["customer-one.example", "customer-two.test"]
mx = ["mx1.hoster.example", "mx2.hoster.example"]
own_names = false

[[provider.incoming]]
type = "imap"
hostname = "mail.hoster.example"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "pop3"
hostname = "mail.hoster.example"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.hoster.example"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.hoster.example"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider]]
id = "hosted-mail.example"
display_name = "Hosted Mail"
domains = ["shop-three.example", "bäckerei.test"]
mx = ["mx.eu.hosted-mail.example"]
own_names = false
caldav = { url = "https://dav.{domain}/calendars/", username = "{localpart}@{domain}" }
carddav = { url = "https://contacts.hosted-mail.example/", username = "{address}" }

[[provider.incoming]]
type = "imap"
hostname = "mail.{domain}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.{domain}"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.{domain}"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"
"""
MX_CONFIGS = {"mx": loads(MX_CONFIG, source="mx").config}
MX_PROVIDERS = dict(zip(("shared", "per-domain"), MX_CONFIGS["mx"].providers, strict=True))
# A domain that is no customer's but whose MX points at the hoster (a former
# or a would-be customer): the draft wants a real configuration for it too.
STRANGER = "not-a-customer.example"
# A plus and a dot: Thunderbird URL-encodes the address in the query and puts it unescaped into the POX body.
LOCALPART = "fred.bloggs+tb"
PASSWORD = "not-a-real-password"
UNHOSTED = "unhosted.test"

# What Thunderbird 153's readFromXML reads from config-v1.1.xml (AUTH: the
# first listed method it supports wins; OAuth2 only for hosts in its own
# OAuth2 provider list, which no test host is; a server without a supported
# method is dropped). Outgoing additionally maps the password-less methods.
TB_SOCKET = {SocketType.SSL: "SSL", SocketType.STARTTLS: "alwaysSTARTTLS", SocketType.PLAIN: "plain"}
TB_AUTH_INCOMING = {
    "password-cleartext": "passwordCleartext",
    "password-encrypted": "passwordEncrypted",
    "GSSAPI": "GSSAPI",
    "NTLM": "NTLM",
}
TB_AUTH_OUTGOING = TB_AUTH_INCOMING | {"none": "none", "client-IP-address": "none", "smtp-after-pop": "none"}


# -- what Thunderbird should end up with, from the TOML -------------------------


def address_for(domain: str) -> str:
    return f"{LOCALPART}@{domain}"


def hosted(config: Config, domain: str) -> tuple[Provider, Domain]:
    return config.domains()[domain]


def login(template: str, domain: Domain, address: str) -> str:
    """A username template filled in for ``address``: what the user logs in with."""
    localpart = address.rpartition("@")[0]
    return template.replace("{address}", address).replace("{localpart}", localpart).replace("{domain}", domain.unicode)


def placeholder_login(template: str, domain_text: str) -> str:
    """A username template in Thunderbird's placeholder spelling, as config-v1.1.xml carries it.

    ``domain_text`` is what ``{domain}`` became at render time: the domain
    (as the admin wrote it), or ``%EMAILDOMAIN%`` in a provider-wide document.
    """
    return (
        template.replace("{address}", "%EMAILADDRESS%")
        .replace("{localpart}", "%EMAILLOCALPART%")
        .replace("{domain}", domain_text)
    )


def replace_variables(text: str, address: str) -> str:
    """AccountConfig.replaceVariables on one value: the placeholders filled from the typed address."""
    localpart, _, domain = address.rpartition("@")
    return (
        text.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", localpart)
        .replace("%EMAILDOMAIN%", domain.lower())
    )


def autoconfig_account(config: Config, domain_name: str, address: str) -> dict[str, Any]:
    """The servers Thunderbird configures from this domain's config-v1.1.xml, in TOML order."""
    provider, domain = hosted(config, domain_name)
    return xml_account(provider.resolve_servers(domain), domain.unicode, address)


def provider_document_account(provider: Provider, address: str) -> dict[str, Any]:
    """The servers Thunderbird configures from a provider-wide config-v1.1.xml (the MX lookup's).

    That document knows no domain: ``%EMAILDOMAIN%`` stands in host names
    and usernames where the TOML has ``{domain}``, and no override applies.
    """
    anywhere = Domain(name="%EMAILDOMAIN%", unicode="%EMAILDOMAIN%")
    return xml_account(provider.resolve_servers(anywhere), "%EMAILDOMAIN%", address)


def xml_account(servers: tuple[ResolvedServer, ...], domain_text: str, address: str) -> dict[str, Any]:
    """What readFromXML and replaceVariables make of a document listing ``servers``, in TOML order.

    The first usable incoming and outgoing server are the account's, the
    others its alternatives (readFromXML). AccountConfig.replaceVariables
    fills in the address (host names and usernames) for incoming, incoming
    alternatives and outgoing only: Thunderbird 153 leaves outgoing
    alternatives with their placeholders (its account hub never offers them).
    """
    incoming: list[dict[str, Any]] = []
    outgoing: list[dict[str, Any]] = []
    for server in servers:
        mapping = TB_AUTH_INCOMING if server.direction == "incoming" else TB_AUTH_OUTGOING
        auth = next((mapping[method] for method in server.authentication if method in mapping), None)
        if auth is None:
            continue
        target = incoming if server.direction == "incoming" else outgoing
        hostname, username = server.hostname, placeholder_login(server.username, domain_text)
        if not (server.direction == "outgoing" and outgoing):
            hostname, username = replace_variables(hostname, address), replace_variables(username, address)
        target.append(_server(server, auth, username, hostname))
    return {
        "incoming": incoming[0],
        "incomingAlternatives": incoming[1:],
        "outgoing": outgoing[0],
        "outgoingAlternatives": outgoing[1:],
    }


def pox_auth(methods: tuple[str, ...]) -> str:
    """The method Thunderbird should use when it learns the server from Autodiscover POX.

    POX can only say SPA on or off; Thunderbird reads SPA=on as "secure"
    (any encrypted method: CRAM-MD5, NTLM, GSSAPI) and everything else as
    cleartext. So the TOML is followed if Thunderbird uses cleartext where
    the TOML allows it (and does not prefer NTLM), else "secure".
    """
    if methods[0] != "NTLM" and "password-cleartext" in methods:
        return "passwordCleartext"
    if any(method in ("NTLM", "GSSAPI", "password-encrypted") for method in methods):
        return "secure"
    return "passwordCleartext"  # none / client-IP-address: Thunderbird ignores AuthRequired


def autodiscover_account(config: Config, domain_name: str, address: str) -> dict[str, Any]:
    """The servers Thunderbird configures from the POX answer for ``address``.

    Every server, in TOML order (readAutoDiscoverXML keeps them all; no
    authentication filter), socket types as the TOML says (Thunderbird
    derives them from SSL/Encryption and the port), and the login filled in
    by the service for every server, outgoing alternatives included.
    """
    provider, domain = hosted(config, domain_name)
    servers = provider.resolve_servers(domain)
    incoming = [
        _server(s, pox_auth(s.authentication), login(s.username, domain, address))
        for s in servers
        if s.direction == "incoming"
    ]
    outgoing = [
        _server(s, pox_auth(s.authentication), login(s.username, domain, address))
        for s in servers
        if s.direction == "outgoing"
    ]
    return {
        "incoming": incoming[0],
        "incomingAlternatives": incoming[1:],
        "outgoing": outgoing[0],
        "outgoingAlternatives": outgoing[1:],
    }


def _server(server: ResolvedServer, auth: str, username: str, hostname: str | None = None) -> dict[str, Any]:
    return {
        "type": server.type,
        "hostname": server.hostname if hostname is None else hostname,
        "port": server.port,
        "socketType": TB_SOCKET[server.socket_type],
        "auth": auth,
        "username": username,
    }


# -- the network, the services, Thunderbird ----------------------------------------


@dataclass(frozen=True)
class World:
    thunderbird: Thunderbird
    nginx: Nginx
    untrusted_ca: CA
    deployments: dict[str, Deployment]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[World]:
    """Services for both configs, nginx with TLS, dnsmasq, name resolution and one Thunderbird.

    Everything is stopped by the ExitStack, in reverse order, also when a
    later step of the setup fails.
    """
    root = tmp_path_factory.mktemp("thunderbird")
    with contextlib.ExitStack() as stack:
        texts = CONFIG_TEXTS | {"mx": MX_CONFIG}
        configs = CONFIGS | MX_CONFIGS
        web = serve_behind_nginx(stack, root, {key: (text, configs[key]) for key, text in texts.items()}, UNHOSTED)
        deployments, names, trusted = web.deployments, web.names, web.trusted_ca

        srv: list[SrvRecord] = []
        mx: list[MxRecord] = []
        for deployment in deployments.values():
            records = dns_records(deployment)
            srv += records[0]
            mx += records[1]
        mx += [MxRecord(STRANGER, host, 10 * (rank + 1)) for rank, host in enumerate(MX_PROVIDERS["per-domain"].mx)]
        dns = Dnsmasq(root / "dns", names, srv, mx)
        stack.callback(dns.stop)
        dns.start()
        stack.enter_context(loopback_names(names))

        thunderbird = Thunderbird(root / "thunderbird", local_domains=names, ca_pem=trusted.write(root / "ca.pem"))
        stack.callback(thunderbird.stop)
        thunderbird.start()

        version = thunderbird_version()
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n[test_thunderbird] {version}, profile {thunderbird.profile}", file=sys.stderr)

        yield World(thunderbird, web.nginx, web.untrusted_ca, deployments)


def domain_cases(*, exclude_provider_domain: bool = False) -> list[Any]:
    """(config key, domain) for every hosted domain of both configs."""
    cases = []
    for key, config in CONFIGS.items():
        provider_domain = base_domain(config.service.public_hostname)
        for domain in config.domains():
            if exclude_provider_domain and domain == provider_domain:
                continue
            cases.append(pytest.param(key, domain, id=f"{key}-{domain}"))
    return cases


def each_name(domain: str, schemes: tuple[str, ...] = ("https", "http")) -> list[str]:
    """scheme://host for the names Thunderbird derives from ``domain``."""
    return [f"{scheme}://{host}" for scheme in schemes for host in (f"autoconfig.{domain}", domain)]


Request = tuple[str, str, str, str, int]


def served(world: World, position: int, *expected: Request) -> list[Request]:
    """(scheme, host, method, path, status) of every request since ``position``.

    Waits (boundedly) until the ``expected`` requests are logged: nginx
    writes a line just after the answer, a client may be faster.
    """

    def summary(lines: list[AccessLine]) -> list[Request]:
        return [(x.scheme, x.host, x.method, x.path, x.status) for x in lines]

    return summary(world.nginx.wait_for_requests(position, lambda lines: set(expected) <= set(summary(lines))))


def assert_found(outcome: Outcome, thunderbird: Thunderbird) -> None:
    if outcome.account is None:
        pytest.fail(
            f"Thunderbird found no account: {outcome.error}\n--- thunderbird.log ---\n{thunderbird.log()[-3000:]}"
        )


# -- autoconfig (config-v1.1.xml) ----------------------------------------------------

AUTOCONFIG = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"

# route -> (names switched off, Thunderbird's subSource, the request that must have answered)
AUTOCONFIG_ROUTES = {
    "autoconfig-host": (
        lambda d: [f"https://{d}", f"http://autoconfig.{d}", f"http://{d}"],
        "xml-from-isp-https",
        lambda d: ("https", f"autoconfig.{d}", "GET", AUTOCONFIG, 200),
    ),
    "well-known": (
        lambda d: [f"https://autoconfig.{d}", f"http://autoconfig.{d}", f"http://{d}"],
        "xml-from-isp-https",
        lambda d: ("https", d, "GET", WELL_KNOWN, 200),
    ),
    "http-only": (
        lambda d: [f"https://autoconfig.{d}", f"https://{d}"],
        "xml-from-isp-http",
        lambda d: ("http", f"autoconfig.{d}", "GET", AUTOCONFIG, 200),
    ),
}


@pytest.mark.parametrize("send_address", [True, False], ids=["emailaddress", "no-emailaddress"])
@pytest.mark.parametrize("route", list(AUTOCONFIG_ROUTES))
@pytest.mark.parametrize(("key", "domain"), domain_cases())
def test_autoconfig(world: World, key: str, domain: str, route: str, send_address: bool) -> None:
    """FetchConfig.fromISP with only one kind of URL answering gives the TOML's account."""
    down, sub_source, answered = AUTOCONFIG_ROUTES[route]
    config = world.deployments[key].config
    address = address_for(domain)
    position = world.nginx.log_position()
    with world.nginx.faults(down=down(domain)):
        outcome = world.thunderbird.from_isp(domain, address, send_address=send_address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == sub_source
    assert answered(domain) in served(world, position, answered(domain))
    # The answering request carried the address exactly when Thunderbird's pref says so.
    sent = {x.emailaddress for x in world.nginx.requests_since(position) if x.status == 200}
    assert sent == ({address} if send_address else {None})
    assert outcome.servers() == autoconfig_account(config, domain, address)
    provider, hosted_domain = hosted(config, domain)
    assert outcome.account is not None
    assert outcome.account["displayName"] == provider.display_name_for(hosted_domain)


def groupware_cases() -> list[Any]:
    return [case for case in domain_cases() if case.values[0] == "groupware"]


@pytest.mark.parametrize(("key", "domain"), groupware_cases())
def test_autoconfig_with_calendar_and_contacts(world: World, key: str, domain: str) -> None:
    """The document Thunderbird reads carries the DAV sections, and the account is still the TOML's.

    The premise is checked on what nginx serves Thunderbird (the sections
    and version 1.2, from the model's ``url_for``), so the account check
    below is one over a 1.2 document, not over a 1.1 one by accident.
    """
    config = world.deployments[key].config
    provider, hosted_domain = hosted(config, domain)
    position = world.nginx.log_position()
    address = address_for(domain)
    with world.nginx.faults(down=[f"https://{domain}", f"http://autoconfig.{domain}", f"http://{domain}"]):
        outcome = world.thunderbird.from_isp(domain, address, send_address=True, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.servers() == autoconfig_account(config, domain, address)
    answered = ("https", f"autoconfig.{domain}", "GET", AUTOCONFIG, 200)
    assert answered in served(world, position, answered)
    document = world.deployments[key].service.get(AUTOCONFIG, host=f"autoconfig.{domain}").content
    root = ET.fromstring(document)
    assert root.get("version") == "1.2"
    expected = {
        "calendar": provider.caldav_for(hosted_domain),
        "addressbook": provider.carddav_for(hosted_domain),
    }
    for tag, service in expected.items():
        assert service is not None
        assert root.findtext(f"{tag}/url") == service.url_for(hosted_domain), tag
        assert [element.get("system") for element in root.findall(f"{tag}/authentication")] == ["http"]
    # ... and the <oAuth2> section naming the issuer's host, which Thunderbird skips just as well.
    assert provider.oauth_issuer is not None
    assert root.findtext("oAuth2/issuer") == urlsplit(provider.oauth_issuer).hostname


# -- Autodiscover POX ------------------------------------------------------------------

AUTODISCOVER = "/autodiscover/autodiscover.xml"

# route -> (names switched off, Thunderbird's subSource)
AUTODISCOVER_ROUTES = {
    "autodiscover-host": (lambda d: [], "exchange-from-url1"),
    "domain": (lambda d: [f"https://autodiscover.{d}"], "exchange-from-url2"),
    "http-redirect": (lambda d: [f"https://autodiscover.{d}", f"https://{d}"], "exchange-from-url3"),
    "srv": (
        lambda d: [f"https://autodiscover.{d}", f"https://{d}", f"http://autodiscover.{d}"],
        "exchange-from-srv",
    ),
}


@pytest.mark.parametrize("route", list(AUTODISCOVER_ROUTES))
@pytest.mark.parametrize(("key", "domain"), domain_cases())
def test_autodiscover(world: World, key: str, domain: str, route: str) -> None:
    """fetchConfigFromExchange with only one Autodiscover route answering gives the TOML's account.

    The http redirect and the SRV record point at the provider's host;
    Thunderbird asks the user before it sends the password to another base
    domain there, and never otherwise.
    """
    down, sub_source = AUTODISCOVER_ROUTES[route]
    deployment = world.deployments[key]
    address = address_for(domain)
    position = world.nginx.log_position()
    with world.nginx.faults(down=down(domain)):
        outcome = world.thunderbird.from_exchange(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == sub_source
    public = deployment.public_hostname
    if route in ("http-redirect", "srv"):
        elsewhere = base_domain(public) != base_domain(domain)
        assert outcome.confirmations == ([{"host": base_domain(public), "scheme": "https"}] if elsewhere else [])
        answered = ("https", public, "POST", AUTODISCOVER, 200)
        assert answered in served(world, position, answered)
    if route == "http-redirect":
        # The dance of docs/clients.md section 2.7: redirect, body-less GET answered 405, POST again.
        dance = [
            ("http", f"autodiscover.{domain}", "POST", AUTODISCOVER, 301),
            ("https", public, "GET", AUTODISCOVER, 405),
        ]
        assert set(dance) <= set(served(world, position, *dance))
    assert outcome.servers() == autodiscover_account(deployment.config, domain, address)


# -- the account hub's full discovery -------------------------------------------------


@pytest.mark.parametrize(("key", "domain"), domain_cases())
def test_full_discovery(world: World, key: str, domain: str) -> None:
    """parallelAutoDiscovery with every name up: autoconfig over https wins over Autodiscover.

    (Autodiscover runs beside it and succeeds too; an IMAP/POP3 result from
    it is not added, only an Exchange one would be.)
    """
    address = address_for(domain)
    outcome = world.thunderbird.find_config(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == "xml-from-isp-https"
    assert outcome.servers() == autoconfig_account(world.deployments[key].config, domain, address)


@pytest.mark.parametrize(("key", "domain"), domain_cases(exclude_provider_domain=True))
def test_full_discovery_dns_only(world: World, key: str, domain: str) -> None:
    """A customer domain with no web names at all, only MX and SRV records to the provider.

    Thunderbird finds autoconfig through the MX host's base domain
    (``https://autoconfig.<provider>/...?emailaddress=...``: the service
    picks the domain from the address) and asks about the SRV target while
    Autodiscover runs beside it. The provider's own domain is left out: its
    autoconfig name is the service's.
    """
    deployment = world.deployments[key]
    address = address_for(domain)
    switched_off = each_name(domain) + [f"{scheme}://autodiscover.{domain}" for scheme in ("https", "http")]
    position = world.nginx.log_position()
    with world.nginx.faults(down=switched_off):
        outcome = world.thunderbird.find_config(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == "xml-from-isp-https"
    answered = ("https", f"autoconfig.{deployment.provider_domain}", "GET", AUTOCONFIG, 200)
    assert answered in served(world, position, answered)
    assert outcome.confirmations == [{"host": deployment.provider_domain, "scheme": "https"}]
    assert outcome.servers() == autoconfig_account(deployment.config, domain, address)


# -- a hoster without names for its customer domains: the MX lookup ---------------------


def mx_domain_cases(*, first_only: bool = False) -> list[Any]:
    """(domain) for the customer domains of both MX providers, or each provider's first."""
    return [
        pytest.param(domain.name, id=f"{kind}-{domain.name}")
        for kind, provider in MX_PROVIDERS.items()
        for domain in (provider.domains[:1] if first_only else provider.domains)
    ]


def mx_answer(world: World, position: int, lookup_domain: str) -> AccessLine:
    """The one successful autoconfig answer on ``autoconfig.<lookup_domain>`` since ``position``."""
    answered = ("https", f"autoconfig.{lookup_domain}", "GET", AUTOCONFIG, 200)
    served(world, position, answered)
    lines = [
        x for x in world.nginx.requests_since(position) if (x.scheme, x.host, x.method, x.path, x.status) == answered
    ]
    assert len(lines) == 1, world.nginx.requests_since(position)
    return lines[0]


def assert_no_customer_names(world: World, position: int, domain: str) -> None:
    """No name of ``domain`` is served, certified, or was asked for: the hoster has none."""
    ours = [name for name in world.nginx.names if name == domain or name.endswith(f".{domain}")]
    assert ours == []
    asked = [x for x in world.nginx.requests_since(position) if x.host == domain or x.host.endswith(f".{domain}")]
    assert asked == []


@pytest.mark.parametrize("domain", mx_domain_cases(first_only=True))
def test_mx_discovery(world: World, domain: str) -> None:
    """The account hub, for a customer domain with only MX and SRV records to the hoster.

    autoconfig.<d>, autodiscover.<d> and <d> do not exist in DNS and no
    certificate names them. Thunderbird finds nothing for the domain itself
    and gets the account through the MX lookup: the first MX host's domain
    (``mx1.hoster.example`` gives ``hoster.example``; ``mx.eu.hosted-mail.example``
    gives ``eu.hosted-mail.example``, asked before the base domain), over
    https, with the address. Autodiscover beside it goes to the SRV target,
    after asking the user about the hoster's base domain; the MX lookup
    itself asks nothing.
    """
    deployment = world.deployments["mx"]
    provider, hosted_domain = hosted(deployment.config, domain)
    address = address_for(domain)
    position = world.nginx.log_position()
    unknown = world.thunderbird.probe(f"https://autoconfig.{domain}{AUTOCONFIG}")
    assert unknown["channelStatus"] == "NS_ERROR_UNKNOWN_HOST", unknown
    outcome = world.thunderbird.find_config(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == "xml-from-isp-https"
    assert mx_answer(world, position, provider.mx_domains[0]).emailaddress == address
    assert outcome.confirmations == [{"host": deployment.provider_domain, "scheme": "https"}]
    srv_target = ("https", deployment.public_hostname, "POST", AUTODISCOVER, 200)
    assert srv_target in served(world, position, srv_target)
    assert_no_customer_names(world, position, domain)
    assert outcome.servers() == autoconfig_account(deployment.config, domain, address)
    assert outcome.account is not None
    assert outcome.account["displayName"] == provider.display_name_for(hosted_domain)


@pytest.mark.parametrize("domain", mx_domain_cases())
def test_mx_lookup(world: World, domain: str) -> None:
    """FetchConfig.forMX alone, for every customer domain: the address's own document, from the first MX domain."""
    deployment = world.deployments["mx"]
    provider, _ = hosted(deployment.config, domain)
    address = address_for(domain)
    position = world.nginx.log_position()
    outcome = world.thunderbird.from_mx(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    assert outcome.sub_source == "xml-from-isp-https"
    assert mx_answer(world, position, provider.mx_domains[0]).emailaddress == address
    assert outcome.confirmations == []
    assert_no_customer_names(world, position, domain)
    assert outcome.servers() == autoconfig_account(deployment.config, domain, address)


def test_mx_lookup_base_domain(world: World) -> None:
    """A hoster that publishes only autoconfig.<MX base domain> is found there too.

    Thunderbird asks the MX host's full domain first (the draft's 3.1) and,
    when that does not answer, the base domain (3.2), which Thunderbird for
    Android asks alone.
    """
    provider = MX_PROVIDERS["per-domain"]
    full, base = provider.mx_domains
    domain = provider.domains[0].name
    address = address_for(domain)
    position = world.nginx.log_position()
    with world.nginx.faults(down=[f"https://autoconfig.{full}"]):
        outcome = world.thunderbird.from_mx(domain, address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    asked_first = ("https", f"autoconfig.{full}", "GET", AUTOCONFIG, 404)
    assert asked_first in served(world, position, asked_first)
    assert mx_answer(world, position, base).emailaddress == address
    assert outcome.servers() == autoconfig_account(world.deployments["mx"].config, domain, address)


# (kind, domain, send_address): a customer of each provider asking without
# the address, and a domain that is no customer's asking with it.
PROVIDER_DOCUMENT_CASES = [
    pytest.param("shared", MX_PROVIDERS["shared"].domains[0].name, False, id="shared-no-emailaddress"),
    pytest.param("per-domain", MX_PROVIDERS["per-domain"].domains[0].name, False, id="per-domain-no-emailaddress"),
    pytest.param("per-domain", STRANGER, True, id="per-domain-not-a-customer"),
]


@pytest.mark.parametrize(("kind", "domain", "send_address"), PROVIDER_DOCUMENT_CASES)
def test_mx_provider_document(world: World, kind: str, domain: str, send_address: bool) -> None:
    """Without an address of a hosted domain, the MX lookup gets the provider-wide document.

    It names ``mail.%EMAILDOMAIN%`` where the TOML says ``mail.{domain}``.
    readFromXML accepts it (it refuses a document without a ``<domain>`` it
    can read; a placeholder such as ``%EMAILDOMAIN%`` passes), and
    replaceVariables fills in the typed address's domain, so the account is
    the TOML's for that domain (outgoing alternatives keep their
    placeholders, as always). A domain that is no customer's gets a real
    configuration too, not an error: the draft does not want outsiders to
    test which domains are hosted.
    """
    provider = MX_PROVIDERS[kind]
    address = address_for(domain)
    position = world.nginx.log_position()
    outcome = world.thunderbird.from_mx(domain, address, send_address=send_address, password=PASSWORD)
    assert_found(outcome, world.thunderbird)
    answer = mx_answer(world, position, provider.mx_domains[0])
    assert answer.emailaddress == (address if send_address else None)
    assert outcome.servers() == provider_document_account(provider, address)
    assert outcome.account is not None
    assert outcome.account["displayName"] == provider.display_name


@pytest.mark.parametrize("kind", list(MX_PROVIDERS))
def test_mx_provider_document_over_https(world: World, kind: str) -> None:
    """What Thunderbird for Android gets after its MX lookup: https autoconfig.<x>, no emailaddress.

    Every MX lookup domain of the provider answers through nginx with the
    provider-wide document: the TOML's servers in order, ``{domain}`` as
    ``%EMAILDOMAIN%``, and Android's parser rules accept it. Of the DAV
    services only those whose URL needs no domain are in it.
    """
    provider = MX_PROVIDERS[kind]
    expected = [
        (s.type, s.hostname.replace("{domain}", "%EMAILDOMAIN%"), str(s.port))
        for s in provider.incoming + provider.outgoing
    ]
    for lookup_domain in provider.mx_domains:
        with requests.Session() as http:
            http.trust_env = False  # never a proxy: loopback only
            url = f"https://autoconfig.{lookup_domain}{AUTOCONFIG}"
            answer = http.get(url, verify=world.thunderbird.ca_pem, timeout=10)
        assert answer.status_code == 200, (lookup_domain, answer.status_code, answer.text)
        assert answer.headers["Content-Type"].startswith("application/xml")
        document = ET.fromstring(answer.content)
        listed = [
            (x.get("type"), x.findtext("hostname"), x.findtext("port"))
            for x in document.iter()
            if x.tag in ("incomingServer", "outgoingServer")
        ]
        assert listed == expected, lookup_domain
        # It names no customer domain: the MX lookup hands out no customer list.
        listed_domains = {x.text for x in document.iter("domain")}
        assert listed_domains.isdisjoint(domain.name for domain in provider.domains), listed_domains
        # ... but the MX hosts' base domain (their last two labels here), marked purpose="mx" (draft-06).
        marked = [x.text for x in document.iter("domain") if x.get("purpose") == "mx"]
        assert marked == sorted({".".join(host.split(".")[-2:]) for host in provider.mx}), marked
        assert clientrules.android_problems(answer.content, address_for(STRANGER)) == []
        # Calendars and contacts: only what needs no domain (render/thunderbird.py, _dav).
        sections = {
            tag: service
            for tag, service in (("addressbook", provider.carddav), ("calendar", provider.caldav))
            if service is not None and "{domain}" not in service.url
        }
        assert [x.tag for x in document if x.tag != "emailProvider"] == list(sections), lookup_domain
        for tag, service in sections.items():
            assert document.findtext(f"{tag}/url") == service.url
        assert document.get("version") == ("1.2" if sections else "1.1"), lookup_domain


# -- failures ------------------------------------------------------------------------


def test_unhosted_domain(world: World) -> None:
    """A domain the TOML does not host: the service says 404 everywhere, Thunderbird finds nothing.

    Its names exist and have certificates, so the 404s come from the service
    (upstream status in nginx's log), not from DNS or TLS.
    """
    address = address_for(UNHOSTED)
    position = world.nginx.log_position()
    from_isp = world.thunderbird.from_isp(UNHOSTED, address)
    exchange = world.thunderbird.from_exchange(UNHOSTED, address, password=PASSWORD)
    found = world.thunderbird.find_config(UNHOSTED, address, password=PASSWORD)
    assert from_isp.account is None and from_isp.error is not None
    assert exchange.account is None and exchange.error is not None
    # The account hub gets null and would go on to guess server names.
    assert found.account is None and found.error is None
    expected = {
        ("https", f"autoconfig.{UNHOSTED}", AUTOCONFIG, "404"),
        ("https", UNHOSTED, WELL_KNOWN, "404"),
        ("https", f"autodiscover.{UNHOSTED}", AUTODISCOVER, "404"),
    }

    def answered(lines: list[AccessLine]) -> set[tuple[str, str, str, str]]:
        return {(x.scheme, x.host, x.path, x.upstream_status) for x in lines}

    lines = world.nginx.wait_for_requests(position, lambda lines: expected <= answered(lines))
    assert expected <= answered(lines), lines


@pytest.mark.parametrize(("key", "domain"), domain_cases())
def test_untrusted_certificate(world: World, key: str, domain: str) -> None:
    """Certificates from a CA the profile does not trust: no https answer is ever used.

    With http switched off too, autoconfig and Autodiscover (including the
    SRV target) fail; Thunderbird names the certificate error; no request
    reaches the service over https. With http on, Thunderbird falls back to
    plain http autoconfig, its next URL.
    """
    deployment = world.deployments[key]
    address = address_for(domain)
    https_names = [f"autoconfig.{domain}", domain, f"autodiscover.{domain}", deployment.public_hostname]
    http_names = [f"http://{name}" for name in (f"autoconfig.{domain}", domain, f"autodiscover.{domain}")]
    nginx = world.nginx
    position = nginx.log_position()
    with nginx.faults(untrusted=https_names, untrusted_ca=world.untrusted_ca, down=http_names):
        probe = world.thunderbird.probe(f"https://autoconfig.{domain}{AUTOCONFIG}")
        from_isp = world.thunderbird.from_isp(domain, address)
        exchange = world.thunderbird.from_exchange(domain, address, password=PASSWORD)
    assert probe["status"] == 0 and "SEC_ERROR_UNKNOWN_ISSUER" in probe["channelStatus"], probe
    assert from_isp.account is None and from_isp.error is not None
    assert exchange.account is None and exchange.error is not None
    assert [x for x in nginx.requests_since(position) if x.scheme == "https" and x.host in https_names] == []

    with nginx.faults(untrusted=https_names, untrusted_ca=world.untrusted_ca):
        fallback = world.thunderbird.from_isp(domain, address)
    assert_found(fallback, world.thunderbird)
    assert fallback.sub_source == "xml-from-isp-http"
    assert fallback.servers() == autoconfig_account(deployment.config, domain, address)


@pytest.mark.parametrize(("key", "domain"), domain_cases())
def test_wrong_content_type(world: World, key: str, domain: str) -> None:
    """A proxy that relabels the service's answers text/plain: Thunderbird ignores them all.

    nginx's log shows the service itself answered 200 with its XML type:
    only the Content-Type is wrong, and that alone makes autoconfig and
    Autodiscover fail (FetchHTTP hands readFromXML a string).
    """
    deployment = world.deployments[key]
    address = address_for(domain)
    nginx = world.nginx
    relabelled_https = [f"https://autodiscover.{domain}", f"https://{domain}", f"https://{deployment.public_hostname}"]
    position = nginx.log_position()
    with nginx.faults(text_plain=[*each_name(domain), *relabelled_https]):
        probe = world.thunderbird.probe(f"https://autoconfig.{domain}{AUTOCONFIG}?emailaddress={address}")
        from_isp = world.thunderbird.from_isp(domain, address)
        exchange = world.thunderbird.from_exchange(domain, address, password=PASSWORD)
    assert probe["status"] == 200 and probe["contentType"] == "text/plain; charset=utf-8", probe
    assert from_isp.account is None and from_isp.error is not None
    assert exchange.account is None and exchange.error is not None

    def autoconfig_was_xml(lines: list[AccessLine]) -> bool:
        return any(
            x.status == 200
            and (x.host, x.path) == (f"autoconfig.{domain}", AUTOCONFIG)
            and x.upstream_content_type.startswith("application/xml")
            for x in lines
        )

    def autodiscover_was_xml(lines: list[AccessLine]) -> bool:
        return any(
            x.status == 200 and x.path == AUTODISCOVER and x.upstream_content_type.startswith("text/xml") for x in lines
        )

    lines = nginx.wait_for_requests(position, lambda lines: autoconfig_was_xml(lines) and autodiscover_was_xml(lines))
    assert autoconfig_was_xml(lines), lines
    assert autodiscover_was_xml(lines), lines


def test_harness_network(world: World) -> None:
    """The harness itself, seen from Thunderbird.

    Test names reach nginx with a trusted certificate, other names do not
    exist, and Mozilla's ISPDB is a closed loopback port, so that lookup
    fails at once instead of leaving the namespace.
    """
    trusted = world.thunderbird.probe(f"https://autoconfig.example.org{AUTOCONFIG}")
    assert trusted["status"] == 200 and trusted["contentType"].startswith("application/xml"), trusted
    nowhere = world.thunderbird.probe("https://example.invalid/")
    assert nowhere["status"] == 0 and nowhere["channelStatus"] == "NS_ERROR_UNKNOWN_HOST", nowhere
    ispdb = world.thunderbird.probe(world.thunderbird.prefs["mailnews.auto_config_url"] + "example.org")
    assert ispdb["status"] == 0 and ispdb["channelStatus"] == "NS_ERROR_CONNECTION_REFUSED", ispdb
