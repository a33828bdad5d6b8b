"""RFC 6764 discovery of calendars and contacts: the DNS records, check-dns, the well-known redirects.

End to end, no mocks: ``dns`` output goes to BIND's named-checkzone and to
a real dnsmasq on 127.0.0.1 that check-dns asks; the redirects come from
the real service under waitress, and through the generated nginx site in
the test namespace (TLS from a throwaway CA, names in a private /etc/hosts).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support import configs
from support.app import render_app
from support.dns import DNSMASQ
from support.dns import NAMED_CHECKZONE
from support.dns import SERVICE_HOST
from support.dns import Dnsmasq
from support.dns import check_dns
from support.dns import checkzone
from support.dns import dnsmasq_options
from support.dns import record_lines
from support.isolation import requires_isolation
from support.nginx import NGINX
from support.nginx import generate_site
from support.nginx import make_certificates
from support.nginx import nginx_conf
from support.nginx import reached_the_service
from support.nginx import running_nginx
from support.pki import CA
from support.service import Service

from mailautoconf import config as config_loader
from mailautoconf.deploy.dns import records
from mailautoconf.deploy.dns import warnings
from mailautoconf.deploy.dns import zone_txt
from mailautoconf.model import Config
from mailautoconf.serve.davredirect import CACHE_SECONDS

# Per-domain CalDAV host, a shared CardDAV host on its own port, an override with a bare host
# (context path "/"), and a provider without DAV: its domains get no records and a 404.
CONFIG = (
    configs.service("autoconfig.example.net")
    + configs.provider(
        "example.net",
        ["example.net", "example.org", "example.com"],
        "mail.example.net",
        display_name="Example Mail",
        extra="""\
caldav = { url = "https://dav.{domain}/dav/calendars/", username = "{address}" }
carddav = { url = "https://contacts.example.net:8443/card/" }
""",
        after='[provider.overrides."example.com".caldav]\nurl = "https://cal.example.com"\n',
    )
    + configs.provider("plain.test", ["plain.test"], "mail.example.net", display_name="No calendars")
)
LOCAL = ["example.net", "example.org", "example.com", "plain.test"]
CALDAV = {
    "example.net": "https://dav.example.net/dav/calendars/",
    "example.org": "https://dav.example.org/dav/calendars/",
    "example.com": "https://cal.example.com",
}
CARDDAV = "https://contacts.example.net:8443/card/"


def load(text: str = CONFIG) -> Config:
    return config_loader.loads(text, "test.toml").config


# -- what `dns` prints ------------------------------------------------------------------------------


def test_srv_and_txt_records_exact() -> None:
    loaded = load()
    dav_lines = [line for line in record_lines(records(loaded)) if "dav" in line.split(" ", 1)[0]]
    assert dav_lines == [
        # RFC 6764 section 3: priority 0, weight 1, the URL's port (443 by default), its host.
        "_caldavs._tcp.example.net. 3600 IN SRV 0 1 443 dav.example.net.",
        # Section 4: the context path beside it.
        '_caldavs._tcp.example.net. 3600 IN TXT "path=/dav/calendars/"',
        "_carddavs._tcp.example.net. 3600 IN SRV 0 1 8443 contacts.example.net.",
        '_carddavs._tcp.example.net. 3600 IN TXT "path=/card/"',
        "_caldavs._tcp.example.org. 3600 IN SRV 0 1 443 dav.example.org.",
        '_caldavs._tcp.example.org. 3600 IN TXT "path=/dav/calendars/"',
        "_carddavs._tcp.example.org. 3600 IN SRV 0 1 8443 contacts.example.net.",
        '_carddavs._tcp.example.org. 3600 IN TXT "path=/card/"',
        "_caldavs._tcp.example.com. 3600 IN SRV 0 1 443 cal.example.com.",  # the override
        '_caldavs._tcp.example.com. 3600 IN TXT "path=/"',  # a URL without a path
        "_carddavs._tcp.example.com. 3600 IN SRV 0 1 8443 contacts.example.net.",
        '_carddavs._tcp.example.com. 3600 IN TXT "path=/card/"',
    ]
    text = records(loaded, "example.org")
    # A comment citing the RFC, and saying why there is no plain-http record.
    assert "; Optional: CalDAV (calendars) for clients that find it by SRV (RFC 6764 section 3):" in text
    assert "; https only: no _caldav._tcp record (RFC 6764 section 3, plain http), the config's URLs are https." in text
    assert "_caldav._tcp" not in "".join(record_lines(records(loaded)))
    assert "dav" not in "".join(record_lines(records(loaded, "plain.test")))
    assert warnings(loaded) == []


def test_what_dns_cannot_say_is_a_warning() -> None:
    text = CONFIG.replace(CARDDAV, "https://contacts.example.net/card/?user=x")
    lines = record_lines(records(load(text), "example.org"))
    assert '_carddavs._tcp.example.org. 3600 IN TXT "path=/card/"' in lines
    assert warnings(load(text))[1] == (
        'test.toml: warning: domain "example.org": carddav url "https://contacts.example.net/card/?user=x": '
        '"?user=x" cannot be published in DNS (SRV and TXT carry host, port and path only, RFC 6764 sections 3 '
        "and 4); clients that find it by DNS start at /card/"
    )
    # A path with characters a zone file must escape, and one that is not ASCII: percent-encoded, as on the wire.
    odd = load(CONFIG.replace("/dav/calendars/", "/k\\\\al/ä/"))
    assert '_caldavs._tcp.example.org. 3600 IN TXT "path=/k\\\\al/%C3%A4/"' in record_lines(records(odd))
    assert zone_txt('a"b\\c\x01') == '"a\\"b\\\\c\\001"'


def test_srv_target_that_is_our_cname_is_a_warning() -> None:
    text = CONFIG.replace("https://dav.{domain}/", "https://autoconfig.{domain}/")
    found = warnings(load(text), "example.org")
    assert found == [
        'test.toml: warning: domain "example.org": _caldavs._tcp.example.org. points at autoconfig.example.org., '
        "which these records make a CNAME; RFC 2782 forbids an alias as SRV target: use the DAV server's own host name"
    ]


@pytest.mark.slow  # scale: 100,000 domains
def test_dns_with_dav_for_100000_domains_takes_seconds() -> None:
    """One plan per service, not per domain: the DAV records add no per-domain parsing."""
    domains = ", ".join(f'"d{number:05d}.example"' for number in range(1, 100_001))
    loaded = load(CONFIG.replace('"example.net", "example.org", "example.com"', f'"example.com", {domains}'))
    started = time.monotonic()
    text = records(loaded)
    assert text.count(" IN TXT ") == 200_002
    assert "_caldavs._tcp.d99999.example. 3600 IN SRV 0 1 443 dav.d99999.example." in text
    assert time.monotonic() - started < 60


@pytest.mark.skipif(NAMED_CHECKZONE is None, reason="needs named-checkzone (Debian bind9-utils)")
def test_named_checkzone_accepts_the_records(tmp_path: Path) -> None:
    loaded = load()
    for name in loaded.domains():
        result = checkzone(tmp_path, name, records(loaded, name))
        assert result.returncode == 0, (name, result.stdout, result.stderr)


# -- check-dns against a real dnsmasq ---------------------------------------------------------------


def dnsmasq_with_txt(zone_text: str) -> list[str]:
    """dnsmasq options for `dns` output, the TXT path records included."""
    assert " IN TXT " in zone_text
    return dnsmasq_options(zone_text)


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[Dnsmasq] = []

    def start(options: list[str]) -> Dnsmasq:
        server = Dnsmasq(tmp_path, [SERVICE_HOST, *options], [*LOCAL, "invalid"])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.skipif(DNSMASQ is None, reason="needs dnsmasq (Debian dnsmasq-base)")
def test_check_dns_ok_then_missing_and_wrong_path(tmp_path: Path, dnsmasq) -> None:  # type: ignore[no-untyped-def]
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    correct = dnsmasq_with_txt(records(load()))
    result = check_dns(config_path, dnsmasq(correct), "--domain", "example.org")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok ") for line in lines)
    assert lines[-4:] == [
        "ok      _caldavs._tcp.example.org. SRV 0 1 443 dav.example.org.",
        'ok      _caldavs._tcp.example.org. TXT "path=/dav/calendars/"',
        "ok      _carddavs._tcp.example.org. SRV 0 1 8443 contacts.example.net.",
        'ok      _carddavs._tcp.example.org. TXT "path=/card/"',
    ]
    # The TXT path left out of the zone, and another's path given: both said, the rest still ok.
    broken = [
        option.replace("path=/card/", "path=/Card/")
        for option in correct
        if option != "--txt-record=_caldavs._tcp.example.org,path=/dav/calendars/"
    ]
    assert len(broken) == len(correct) - 1
    result = check_dns(config_path, dnsmasq(broken), "--domain", "example.org")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-4:] == [
        "ok      _caldavs._tcp.example.org. SRV 0 1 443 dav.example.org.",
        'missing _caldavs._tcp.example.org. TXT (optional): expected "path=/dav/calendars/"; '
        "found nothing (the name has no TXT record)",
        "ok      _carddavs._tcp.example.org. SRV 0 1 8443 contacts.example.net.",
        'wrong   _carddavs._tcp.example.org. TXT (optional): expected "path=/card/"; found "path=/Card/"',
    ]
    assert "check-dns: 12 ok, 1 missing, 1 wrong, 0 error" in result.stderr


# -- the redirects from the service ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dav_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = Service(tmp_path_factory.mktemp("dav"), CONFIG).start()
    yield service
    service.stop()


def ask(service: Service, path: str, host: str, method: str = "PROPFIND") -> requests.Response:
    return service.http.request(
        method, service.base + path, headers={"Host": host, "Depth": "0"}, timeout=10, allow_redirects=False
    )


@pytest.mark.parametrize("method", ["PROPFIND", "GET", "HEAD", "OPTIONS", "REPORT"])
@pytest.mark.parametrize(
    "host", ["example.org", "autoconfig.example.org", "autodiscover.example.org", "Example.ORG.:8080"]
)
def test_well_known_redirects_on_every_name(dav_service: Service, host: str, method: str) -> None:
    for path, target in (("/.well-known/caldav", CALDAV["example.org"]), ("/.well-known/carddav", CARDDAV)):
        for spelling in (path, path + "/"):
            answer = ask(dav_service, spelling, host, method)
            # RFC 6764 section 5: a redirect to the context path; 301 keeps PROPFIND a PROPFIND.
            assert answer.status_code == 301, (spelling, host, method, answer.text)
            assert answer.headers["Location"] == target
            assert answer.headers["Cache-Control"] == f"max-age={CACHE_SECONDS}"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_each_domain_gets_its_own_target(dav_service: Service) -> None:
    for domain, target in CALDAV.items():
        assert ask(dav_service, "/.well-known/caldav", f"autoconfig.{domain}").headers["Location"] == target
        assert ask(dav_service, "/.well-known/carddav", domain).headers["Location"] == CARDDAV


@pytest.mark.parametrize(
    "host",
    [
        "plain.test",  # hosted, no DAV configured
        "autoconfig.plain.test",
        "unhosted.example",
        "dav.example.org",  # the DAV host itself is not a mail domain
        "autoconfig.example.net.evil.test",
        "127.0.0.1",
        "[::1]:8080",
        "",
    ],
)
def test_no_dav_here_is_404(dav_service: Service, host: str) -> None:
    for path in ("/.well-known/caldav", "/.well-known/carddav"):
        answer = ask(dav_service, path, host)
        assert answer.status_code == 404, (host, answer.text)
        assert "Location" not in answer.headers


def test_other_methods_and_paths(dav_service: Service) -> None:
    answer = ask(dav_service, "/.well-known/caldav", "example.org", "POST")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"}
    for path in ("/.well-known/caldav/x", "/.well-known/caldavs", "/.well-known/CalDAV", "/.well-known/caldav.xml"):
        assert ask(dav_service, path, "example.org").status_code == 404, path


def raw_status(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


HOSTILE_HOSTS = [
    b"autoconfig..example.org",
    b".",
    b"x" * 64 + b".example.org",
    b"x" * 5000,
    b"example.org:99999999999",
    b"example.org:",
    b"b\xc3\xbccher.example",
    b"\xff\xfe",
    b"example.org\x00.evil",
    b"%2e%2e/example.org",
    b"example.org/../../etc",
    b"[::1",
    b"autoconfig.example.org@evil.test",
]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hostile_host_headers_never_500(dav_service: Service, host: bytes) -> None:
    for path in (b"/.well-known/caldav", b"/.well-known/carddav/"):
        raw = raw_status(
            dav_service.port, b"PROPFIND " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        )
        status = raw.split(b" ", 2)[1]
        assert status in (b"301", b"400", b"404"), raw[:300]
        if status == b"301":  # only ever one of the config's URLs
            location = next(line for line in raw.split(b"\r\n") if line.lower().startswith(b"location:"))
            assert location.split(b": ", 1)[1].decode() in {*CALDAV.values(), CARDDAV}
    assert b"Traceback" not in dav_service.log().encode()


def test_a_reload_changes_the_target(tmp_path: Path) -> None:
    service = Service(tmp_path, CONFIG).start()
    try:
        assert ask(service, "/.well-known/caldav", "example.org").headers["Location"] == CALDAV["example.org"]
        service.config_path.write_text(CONFIG.replace("/dav/calendars/", "/caldav/"), encoding="utf-8")
        service.wait_for(
            lambda: (
                ask(service, "/.well-known/caldav", "example.org").headers.get("Location")
                == "https://dav.example.org/caldav/"
            ),
            what="the new CalDAV URL",
        )
        # DAV taken away from the domain: 404 from the next generation on.
        service.config_path.write_text(CONFIG.replace('url = "https://cal.example.com"', 'url = "https://cal.x.test/"'))
        service.wait_for(
            lambda: ask(service, "/.well-known/caldav", "example.com").headers.get("Location") == "https://cal.x.test/",
            what="the override's new URL",
        )
        text = CONFIG.replace('caldav = { url = "https://dav.{domain}/dav/calendars/", username = "{address}" }\n', "")
        service.config_path.write_text(text, encoding="utf-8")
        service.wait_for(
            lambda: ask(service, "/.well-known/caldav", "example.org").status_code == 404, what="CalDAV gone"
        )
        assert ask(service, "/.well-known/carddav", "example.org").headers["Location"] == CARDDAV
    finally:
        service.stop()


def test_targets_are_shared_per_provider(tmp_path: Path) -> None:
    """Memory at scale: one targets object per provider (and per override), a reference per domain."""
    domains = ", ".join(f'"d{number:04d}.example"' for number in range(2_000))
    text = CONFIG.replace('"example.net", "example.org", "example.com"', f'"example.com", {domains}')
    app = render_app(tmp_path, text)
    assert app.store.generation is not None
    dav = app.store.generation.dav
    assert len(dav) == 2_001  # plain.test has none
    assert len({id(targets) for targets in dav.values()}) == 2  # the provider's and example.com's override
    answer = app.client.open("/.well-known/caldav", method="PROPFIND", headers={"Host": "d1999.example"})
    assert answer.headers["Location"] == "https://dav.d1999.example/dav/calendars/"


# -- through the generated nginx site ---------------------------------------------------------------

HTTP, HTTPS = 18081, 18444


@dataclass
class Site:
    service: Service
    ca_file: Path
    http: requests.Session

    def ask(self, url: str, method: str = "PROPFIND") -> requests.Response:
        return self.http.request(method, url, verify=str(self.ca_file), timeout=10, allow_redirects=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("davnginx")
    ca = CA.create()
    text = CONFIG + f'\n[tls]\ndirectory = "{folder}/certs"\nchallenges = "{folder}/acme"\n'
    make_certificates(ca, text, folder)
    service = Service(folder / "service", text).start()
    generated = generate_site(service.config_path, f"127.0.0.1:{service.port}", service.output, HTTP, HTTPS)
    conf = nginx_conf(folder, generated)
    subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
    hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(
        f"127.0.0.1 {name} autoconfig.{name} autodiscover.{name}\n" for name in LOCAL
    )
    try:
        with running_nginx(folder, conf, hosts, f"http://autoconfig.example.org:{HTTP}/healthz") as session:
            yield Site(service, ca.write(folder / "ca.pem"), session)
    finally:
        service.stop()


@requires_isolation
@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.parametrize(("scheme", "port"), [("https", HTTPS), ("http", HTTP)])
def test_redirects_through_nginx(site: Site, scheme: str, port: int) -> None:
    """On the domain's own name (--well-known) and on autoconfig./autodiscover., over https and http."""
    for host in ("example.org", "autoconfig.example.org", "autodiscover.example.org"):
        for path, target in (("/.well-known/caldav", CALDAV["example.org"]), ("/.well-known/carddav/", CARDDAV)):
            answer = site.ask(f"{scheme}://{host}:{port}{path}")
            assert answer.status_code == 301, (host, path, answer.text)
            assert answer.headers["Location"] == target
    for host in ("plain.test", "autoconfig.plain.test"):
        answer = site.ask(f"{scheme}://{host}:{port}/.well-known/caldav")
        assert answer.status_code == 404 and reached_the_service(answer), host  # the service's 404
    # Below the well-known URI, the own name is not the service's: nginx refuses it.
    refused = site.ask(f"{scheme}://example.org:{port}/.well-known/caldav/x")
    assert refused.status_code == 404 and not reached_the_service(refused)
