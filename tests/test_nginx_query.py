"""The generated nginx site reads the query and the Host as the service does: the same answer, byte for byte.

nginx answers the common autoconfig lookups from the rendered tree itself
(deploy/nginx.py); for every other request it asks the service. Whatever a
client sends, the answer must be the one the service gives (docs/commands.md
promises it): a real nginx runs the generated site in front of the real
service, and each request of a table of odd queries is asked of both. Then
the service is stopped, and nginx answers each request from disk, equal to
the service's answer, or says 502 (it would have asked the service).
In process, hypothesis puts many more queries to the site's regular
expressions (as printed) and to the service's own reading of the query.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support import configs
from support.isolation import requires_isolation
from support.nginx import NGINX
from support.nginx import generate_site
from support.nginx import make_certificates
from support.nginx import nginx_conf
from support.nginx import running_nginx
from support.pki import CA
from support.service import Service

from mailautoconf import config
from mailautoconf import names
from mailautoconf.deploy.nginx import SiteOptions
from mailautoconf.deploy.nginx import site
from mailautoconf.serve import documents
from mailautoconf.serve import wsgi

needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install nginx)")
HTTP, HTTPS = 18280, 18643  # not test_nginx's or test_deploy_nginx's: their nginx may still be stopping
EVOLUTION = "Evolution/3.46.4"

# a.test and b.test have own names, c.test none; autoconfig.b.test is hosted too, so the Host
# autoconfig.b.test is a hosted domain itself (the service asks that before b.test).
CONFIG = configs.service("autoconfig.provider.test") + configs.provider(
    "provider.test",
    ["a.test", "b.test", "c.test", "autoconfig.b.test"],
    display_name="Provider",
    incoming="mail.{domain}",
    outgoing="mail.provider.test",
    extra='mx = ["mx.provider.test"]\n',
    after='[provider.overrides."c.test"]\nown_names = false\n',
)
DOCUMENT = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"


@dataclass(frozen=True)
class Ask:
    host: str
    target: str  # path and query, as sent
    user_agent: str = "Thunderbird/128.0"
    # True: nginx must answer this one from disk (what clients send every day).
    static: bool = False


LONG_LOCAL = "x" * 320  # with "@b.test" over the 320 octets the service reads an address from
ASKS = [
    # What clients send: nginx answers these itself.
    Ask("autoconfig.a.test", DOCUMENT, static=True),  # K-9, KMail: no address
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred%40a.test", static=True),  # Thunderbird
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred%40b.test", static=True),  # another hosted domain
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b.test", static=True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=EVOLUTIONUSER%40b.test&emailmd5=0a1b", EVOLUTION, True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred+tag@b.test", static=True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@B.TEST", static=True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=", static=True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b.test&emailaddress=fred@a.test", static=True),
    Ask("autoconfig.a.test", f"{DOCUMENT}?lang=de&emailaddress=fred@b.test", static=True),
    Ask("autoconfig.unhosted.test", f"{DOCUMENT}?emailaddress=fred%40b.test", static=True),
    Ask("autoconfig.b.test", DOCUMENT, static=True),  # a hosted domain, not b.test's autoconfig name
    Ask("autoconfig.provider.test", DOCUMENT, static=True),  # the MX lookup domain: the provider's document
    # The name in another letter case: not the service's emailaddress, so the Host decides.
    Ask("autoconfig.a.test", f"{DOCUMENT}?EMAILADDRESS=fred@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?EmailAddress=fred%40b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?EMAILADDRESS=fred@b.test&emailaddress=fred@autoconfig.b.test"),
    # A percent-encoded name is decoded: it is emailaddress.
    Ask("autoconfig.a.test", f"{DOCUMENT}?%65mailaddress=fred@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?email%61ddress=fred%40b.test&emailaddress=fred@a.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?x%3Dy=1&emailaddress=fred@b.test"),
    # The first pair counts, "=" or not.
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress&emailaddress=fred@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=&emailaddress=fred@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@x.test&emailaddress=fred@b.test"),
    # Addresses the service reads no domain from: the Host decides.
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=%40b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=+@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=%20%09@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress={LONG_LOCAL}@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@-b.test"),
    # Addresses the service reads a domain from that nginx would have to decode.
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b.test."),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b%2Etest"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b.test+"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred%40a.test%40b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred%%40b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=%41@b.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@b%C3%BCcher.test"),
    # Other domains: without own names, unhosted, an unhosted Host.
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@c.test"),
    Ask("autoconfig.a.test", f"{DOCUMENT}?emailaddress=fred@unhosted.test"),
    Ask("autoconfig.unhosted.test", DOCUMENT),
    Ask("autoconfig.unhosted.test", f"{DOCUMENT}?emailaddress=fred@unhosted.test"),
    # The hosted domains' own names (--well-known), the second path.
    Ask("b.test", f"{WELL_KNOWN}?EMAILADDRESS=fred@a.test"),
    Ask("b.test", f"{WELL_KNOWN}?emailaddress=fred%40a.test", static=True),
    Ask("a.test", f"{WELL_KNOWN}?emailaddress", EVOLUTION),
]


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def _get(connection: http.client.HTTPConnection, target: str, headers: dict[str, str]) -> Answer:
    """GET ``target`` as written: requests would decode %41 and %65 (unreserved) and re-encode a stray %."""
    try:
        connection.request("GET", target, headers=headers)
        answer = connection.getresponse()
        return Answer(answer.status, answer.getheader("Content-Type", ""), answer.read())
    finally:
        connection.close()


@dataclass
class Site:
    service: Service
    tls: ssl.SSLContext

    def through_nginx(self, ask: Ask, scheme: str) -> Answer:
        """Over nginx, by the name (/etc/hosts: 127.0.0.1), with SNI and Host as clients send them."""
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                ask.host, HTTPS, context=self.tls, timeout=10
            )
        else:
            connection = http.client.HTTPConnection(ask.host, HTTP, timeout=10)
        return _get(connection, ask.target, {"User-Agent": ask.user_agent})

    def from_service(self, ask: Ask) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.service.port, timeout=10)
        return _get(connection, ask.target, {"Host": ask.host, "User-Agent": ask.user_agent})


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("nginx-query")
    text = CONFIG + f'\n[tls]\nlayout = "dehydrated"\ndirectory = "{folder}/certs"\nchallenges = "{folder}/acme"\n'
    ca = CA.create()
    make_certificates(ca, text, folder)
    service = Service(folder / "service", text).start()
    site = generate_site(service.config_path, f"127.0.0.1:{service.port}", service.output, HTTP, HTTPS)
    conf = nginx_conf(folder, site)
    names = {ask.host for ask in ASKS} | {"autoconfig.provider.test"}
    hosts = "127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {name}\n" for name in sorted(names))
    try:
        with running_nginx(folder, conf, hosts, f"http://autoconfig.a.test:{HTTP}/healthz"):
            yield Site(service, ssl.create_default_context(cafile=str(ca.write(folder / "ca.pem"))))
    finally:
        service.stop()


def _schemes(ask: Ask) -> tuple[str, ...]:
    """https where the site holds a certificate for the name; an unhosted name gets none."""
    return ("http",) if "unhosted" in ask.host else ("https", "http")


def _shown(ask: Ask) -> str:
    return f"{ask.host}{ask.target[:120]} ({ask.user_agent})"


@needs_nginx
@requires_isolation
def test_nginx_answers_every_query_as_the_service_does(deployment: Site) -> None:
    """Each request through nginx (https and http) gets the service's answer; then with the service stopped."""
    expected = {ask: deployment.from_service(ask) for ask in ASKS}
    assert expected[ASKS[0]].status == 200  # the service serves: the comparison below means something
    differ = [
        f"{scheme} {_shown(ask)}: nginx {found.status} {found.body[:200]!r}, service {expected[ask].body[:200]!r}"
        for ask in ASKS
        for scheme in _schemes(ask)
        if (found := deployment.through_nginx(ask, scheme)) != expected[ask]
    ]
    assert not differ, "\n".join(differ)

    deployment.service.stop()  # now nginx answers from the rendered tree, or fails to reach the service
    from_disk: dict[tuple[str, Ask], bool] = {}
    for ask in ASKS:
        for scheme in _schemes(ask):
            found = deployment.through_nginx(ask, scheme)
            if found.status == 502:
                from_disk[scheme, ask] = False
                continue
            assert found == expected[ask], f"{scheme} {_shown(ask)}: from disk {found.body[:300]!r}"
            from_disk[scheme, ask] = True
    # nginx answers what clients send every day itself (the point of the site).
    assert [f"{scheme} {_shown(ask)}" for (scheme, ask), disk in from_disk.items() if ask.static and not disk] == []


def _address_map() -> list[tuple[bytes, bytes]]:
    """The site's ``map $args $mailautoconf_address_domain`` as printed: (key, value) in order."""
    text = site(config.loads(CONFIG).config, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv"))
    block = text.split("map $args $mailautoconf_address_domain {\n", 1)[1].split("\n}", 1)[0]
    entries = [re.fullmatch(r'\s*(default|"[^"]*")\s+(\S+);', line) for line in block.splitlines()]
    assert all(entries), block
    return [(m[1].strip('"').encode(), m[2].strip('"').encode()) for m in entries if m is not None]


ADDRESS_MAP = _address_map()


def nginx_reads(query: bytes) -> bytes:
    """What the map gives for ``$args``: the exact key first (nginx lowercases it), then each regex in order."""
    for key, value in ADDRESS_MAP:
        if key == b"default":
            return value
        if not key.startswith(b"~"):
            if key == query.lower():
                return value
            continue
        # PCRE's (?<name>...) is Python's (?P<name>...); pcre_exec searches, as re.search does.
        found = re.search(key[1:].replace(b"(?<", b"(?P<").replace(b"(?P<=", b"(?<=").replace(b"(?P<!", b"(?<!"), query)
        if found is not None:
            return found["mailautoconf_d"] if value == b"$mailautoconf_d" else value
    raise AssertionError("the map has no default")


def service_reads(query: bytes) -> str | None:
    """The domain the service takes from the query (serve/autoconfig.py), after the WSGI layer it runs behind."""
    seen: dict[str, Any] = {}
    wsgi.AsciiQueryString(lambda environ, start: seen.update(environ) or [])(
        {"QUERY_STRING": query.decode("latin-1")},  # PEP 3333: the raw bytes as latin-1
        lambda *args: None,
    )
    address = documents.query_argument(seen["QUERY_STRING"], "emailaddress")
    return names.domain_of_address(address) if address else None


KEYS = ["emailaddress", "EMAILADDRESS", "%65mailaddress", "email%61ddress", "emailaddressx", "lang", "x%3D", ""]
LOCALS = [
    "fred", "+", "%20", "%09", "%0A", "%41", "%40", "@", "%", "%4", "%%40", ".", "-", "x" * 310, "ü", "%C2%A0",
    "\u00a0", "%2B", "=", ";",
]  # fmt: skip
SEPARATORS = ["@", "%40", "%2540", "", "%4", "+@"]
DOMAINS = ["b.test", "B.TEST", "b.test.", "b%2Etest", "-b.test", "b.test+", "", "b..test", "büch.test", "b.test%20"]
VALUES = st.tuples(
    st.lists(st.sampled_from(LOCALS), max_size=5).map("".join), *map(st.sampled_from, (SEPARATORS, DOMAINS))
)
PAIRS = st.one_of(
    st.sampled_from(KEYS),
    st.tuples(st.sampled_from(KEYS), VALUES.map("".join)).map("=".join),
)
QUERIES = st.lists(PAIRS, max_size=5).map("&".join)


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(QUERIES)
def test_the_site_reads_a_query_as_the_service_does(query: str) -> None:
    """Where the site's map names a domain, or none, it is the one the service reads; "?" leaves it to the service."""
    raw = query.encode("utf-8")
    read = nginx_reads(raw)
    domain = service_reads(raw)
    if read == b"":  # the Host decides: the service must read no domain
        assert domain is None, (query, domain)
    elif read != b"?":  # that domain's folder, if it is a hosted domain (a valid name)
        name = read.decode("ascii").lower()
        if names.is_hostname(name):
            assert domain == name, (query, read, domain)


def test_the_map_reads_what_clients_send() -> None:
    """Not everything is left to the service: the queries clients send are read by nginx itself."""
    assert nginx_reads(b"") == b""
    assert nginx_reads(b"emailaddress=fred%40b.test") == b"b.test"  # Thunderbird
    assert nginx_reads(b"emailaddress=EVOLUTIONUSER%40b.test&emailmd5=0a1b") == b"b.test"  # Evolution
    assert nginx_reads(b"emailaddress=fred.o-neil+tag@B.test") == b"B.test"
    assert nginx_reads(b"EMAILADDRESS=fred@b.test") == b""  # not the service's parameter
    assert nginx_reads(b"%65mailaddress=fred@b.test") == b"?"
