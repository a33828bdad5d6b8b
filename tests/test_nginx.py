"""The generated nginx site, with the real nginx: `nginx -t`, then every endpoint through it.

nginx runs on the standard ports inside the test's own network namespace,
terminates TLS with certificates of a throwaway CA and proxies to the real
service; clients trust only that CA.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from support.isolation import bind_file
from support.isolation import requires_isolation
from support.nginx import NGINX
from support.nginx import generate_site
from support.nginx import make_certificates
from support.nginx import nginx_conf
from support.nginx import reached_the_service
from support.nginx import running_nginx
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.pki import CA
from support.pox import pox_request
from support.service import Service

from mailautoconf import config
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.deploy.nginx import SiteOptions
from mailautoconf.deploy.nginx import literal
from mailautoconf.deploy.nginx import site as nginx_site

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install nginx)")
HOSTED = ["example.net", "example.org", "example.com"]
# High loopback ports, as a second nginx beside a real one would use; the redirect keeps the port.
HTTP, HTTPS = 18080, 18443
PORTS = {"http": HTTP, "https": HTTPS}
NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def tls_config(folder: Path) -> str:
    """The example config with certificates and challenges in ``folder`` (dehydrated layout)."""
    return (
        EXAMPLE_CONFIG.read_text(encoding="utf-8")
        + f'\n[tls]\nlayout = "dehydrated"\ndirectory = "{folder}/certs"\nchallenges = "{folder}/acme"\n'
    )


def test_nginx_accepts_the_generated_site(tmp_path: Path) -> None:
    text = tls_config(tmp_path)
    make_certificates(CA.create(), text, tmp_path)
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(text)
    site = generate_site(config_path, "127.0.0.1:8080", tmp_path / "static_xml", 8081, 8443)
    for name in HOSTED:
        assert f"    autoconfig.{name} /{name}/;" in site
    result = subprocess.run([NGINX, "-t", "-c", str(nginx_conf(tmp_path, site))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_http_only_site_needs_no_certificates_yet(tmp_path: Path) -> None:
    """The bootstrap site: answers ACME challenges before any certificate exists."""
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(tls_config(tmp_path))  # no certificates made
    command = [sys.executable, "service.py", "nginx", "--config", str(config_path), "--http-only", "--well-known"]
    site = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "ssl_certificate" not in site and "acme-challenge" in site
    result = subprocess.run([NGINX, "-t", "-c", str(nginx_conf(tmp_path, site))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@dataclass
class Deployment:
    service: Service
    ca_file: Path
    folder: Path
    http: requests.Session

    def get(self, url: str, **kwargs: object) -> requests.Response:
        return self.http.get(url, verify=str(self.ca_file), timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def post(self, url: str, body: bytes, **kwargs: object) -> requests.Response:
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        return self.http.post(
            url,
            data=body,
            headers=headers,
            verify=str(self.ca_file),
            timeout=10,
            allow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("nginx")
    ca = CA.create()
    text = tls_config(folder)
    make_certificates(ca, text, folder)
    service = Service(folder / "service", text).start()
    site = generate_site(service.config_path, f"127.0.0.1:{service.port}", service.output, HTTP, HTTPS)
    conf = nginx_conf(folder, site)
    subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
    hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(
        f"127.0.0.1 {name} autoconfig.{name} autodiscover.{name}\n" for name in HOSTED
    )
    try:
        with running_nginx(folder, conf, hosts, f"http://autoconfig.example.org:{HTTP}/healthz") as session:
            yield Deployment(service, ca.write(folder / "ca.pem"), folder, session)
    finally:
        service.stop()


def domains_listed(body: bytes) -> list[str]:
    return [element.text or "" for element in ET.fromstring(body).iter("domain")]


@requires_isolation
@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("domain", HOSTED)
def test_autoconfig_through_nginx(deployment: Deployment, scheme: str, domain: str) -> None:
    for url in (
        f"{scheme}://autoconfig.{domain}:{PORTS[scheme]}/mail/config-v1.1.xml?emailaddress=fred%40{domain}",
        f"{scheme}://autoconfig.{domain}:{PORTS[scheme]}/mail/config-v1.1.xml",
        f"{scheme}://{domain}:{PORTS[scheme]}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=fred@{domain}",
    ):
        answer = deployment.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
        assert domains_listed(answer.content) == [domain]
        if scheme == "https":
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


@requires_isolation
@pytest.mark.parametrize("domain", HOSTED)
def test_autodiscover_through_nginx(deployment: Deployment, domain: str) -> None:
    for host in (f"autodiscover.{domain}", domain):
        answer = deployment.post(f"https://{host}:{HTTPS}/autodiscover/autodiscover.xml", pox_request(f"fred@{domain}"))
        assert answer.status_code == 200, host
        logins = {p.findtext(f"{NS}LoginName") for p in ET.fromstring(answer.content).iter(f"{NS}Protocol")}
        assert logins == {f"fred@{domain}"}
    # Plain http: redirected to https (Thunderbird sends passwords here).
    answer = deployment.post(f"http://autodiscover.{domain}:{HTTP}/Autodiscover/Autodiscover.xml", pox_request("a@b.c"))
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"https://autodiscover.{domain}:{HTTPS}/Autodiscover/Autodiscover.xml"
    # ... to the same name, where the GET the redirect turns the POST into gets the domain's document
    # for any address (Delta Chat's request): Thunderbird POSTs that same https URL first, and its
    # answer outranks the redirect's (docs/clients.md section 2.7).
    got = deployment.get(f"https://autodiscover.{domain}:{HTTPS}/autodiscover/autodiscover.xml")
    assert got.status_code == 200
    assert {p.findtext(f"{NS}LoginName") for p in ET.fromstring(got.content).iter(f"{NS}Protocol")} == {None}
    v2 = deployment.get(
        f"https://autodiscover.{domain}:{HTTPS}/autodiscover/autodiscover.json?Email=fred@{domain}&Protocol=AutodiscoverV1"
    )
    assert v2.json() == {
        "Protocol": "AutodiscoverV1",
        "Url": f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
    }


@requires_isolation
def test_evolution_document_through_nginx(deployment: Deployment) -> None:
    answer = deployment.get(
        f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml?emailaddress=EVOLUTIONUSER%40example.org",
        headers={"User-Agent": "Evolution/3.46.4"},
    )
    assert [server.findtext("port") for server in ET.fromstring(answer.content).iter("incomingServer")] == [
        "993",
        "995",
    ]


@requires_isolation
def test_static_documents_never_reach_python(deployment: Deployment) -> None:
    """With the service frozen, nginx still answers the common lookups from the rendered tree."""
    process = deployment.service.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        for domain in HOSTED:
            answer = deployment.get(
                f"https://autoconfig.{domain}:{HTTPS}/mail/config-v1.1.xml?emailaddress=a%40{domain}"
            )
            assert answer.status_code == 200
            assert domains_listed(answer.content) == [domain]
            assert answer.headers["ETag"]
        # An address of another hosted domain: that domain's document, as the service answers.
        answer = deployment.get(
            f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml?emailaddress=a%40example.com"
        )
        assert domains_listed(answer.content) == ["example.com"]
        # An address nginx cannot read, or of a domain it has no file for, goes to the service,
        # which is frozen.
        for address in ("a%40b%C3%BCcher.example", "no-at-sign", "a%40gmail.example"):
            with pytest.raises(requests.ReadTimeout):
                deployment.http.get(
                    f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml?emailaddress={address}",
                    verify=str(deployment.ca_file),
                    timeout=1,
                )
    finally:
        process.send_signal(signal.SIGCONT)
    answer = deployment.get(
        f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml?emailaddress=a%40gmail.example"
    )
    assert domains_listed(answer.content) == ["example.org"]  # an unhosted address: the Host's domain


GNOME = "gnome-online-accounts/3.58.1 libsoup/3.6.5"


@requires_isolation
def test_gnome_url_is_served_from_the_tree_over_https(deployment: Deployment) -> None:
    """GNOME asks https://autoconfig.<d>/.well-known/mail-v1.xml first, the address not URL-encoded
    (goamailclient.c; docs/clients.md section 1.15): nginx answers it from the same file as
    config-v1.1.xml, with the service frozen; over http (GNOME never asks it so) the service answers."""
    process = deployment.service.process
    assert process is not None
    headers = {"User-Agent": GNOME}
    served: dict[str, bytes] = {}
    for domain in HOSTED:
        served[domain] = deployment.get(
            f"https://autoconfig.{domain}:{HTTPS}/mail/config-v1.1.xml?emailaddress=fred%40{domain}", headers=headers
        ).content
    process.send_signal(signal.SIGSTOP)
    try:
        for domain in HOSTED:
            answer = deployment.get(
                f"https://autoconfig.{domain}:{HTTPS}/.well-known/mail-v1.xml?emailaddress=fred+tag@{domain}",
                headers=headers,
            )
            assert answer.status_code == 200, domain
            assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
            assert answer.content == served[domain]
            again = deployment.get(
                f"https://autoconfig.{domain}:{HTTPS}/.well-known/mail-v1.xml?emailaddress=fred+tag@{domain}",
                headers={**headers, "If-None-Match": answer.headers["ETag"]},
            )
            assert again.status_code == 304
    finally:
        process.send_signal(signal.SIGCONT)
    answer = deployment.get(
        f"http://autoconfig.example.org:{HTTP}/.well-known/mail-v1.xml?emailaddress=fred@example.org", headers=headers
    )
    assert answer.status_code == 200 and domains_listed(answer.content) == ["example.org"]
    with bind_file("/etc/hosts", "127.0.0.1 autoconfig.other.test\n"):
        answer = deployment.get(f"http://autoconfig.other.test:{HTTP}/.well-known/mail-v1.xml", headers=headers)
    assert answer.status_code == 404


@requires_isolation
def test_unhosted_acme_and_health(deployment: Deployment) -> None:
    assert deployment.get(f"http://autoconfig.example.org:{HTTP}/.well-known/acme-challenge/token-123").text == (
        "challenge-answer\n"
    )
    assert deployment.get(f"https://autoconfig.example.org:{HTTPS}/healthz").json()["domains"] == 3
    with bind_file("/etc/hosts", "127.0.0.1 autoconfig.other.test\n"):
        answer = deployment.get(f"http://autoconfig.other.test:{HTTP}/mail/config-v1.1.xml")
    assert answer.status_code == 404


def _status_from(source: str, path: str, host: str) -> tuple[int, bytes]:
    """GET over plain http from the local address ``source`` (lo holds all of 127/8) to nginx on 127.0.0.1."""
    connection = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=5, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": host})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@requires_isolation
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_health_and_metrics_only_from_this_machine(deployment: Deployment, path: str) -> None:
    """The site lets 127.0.0.1 read /healthz and /metrics, and no other client address."""
    status, body = _status_from("127.0.0.1", path, "autoconfig.example.org")
    assert status == 200
    assert (b"mailautoconf_domains 3.0" in body) if path == "/metrics" else (b'"domains": 3' in body)
    status, body = _status_from("127.0.0.2", path, "autoconfig.example.org")
    assert status == 403 and b"mailautoconf" not in body


@requires_isolation
def test_only_the_test_ca_is_trusted(deployment: Deployment) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        deployment.http.get(f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml", timeout=10)  # system CAs
    assert deployment.get(f"https://autoconfig.example.org:{HTTPS}/mail/config-v1.1.xml").status_code == 200


@requires_isolation
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_settings_page_and_profile_paths_through_nginx(deployment: Deployment, scheme: str) -> None:
    """People's paths reach the service on autoconfig.<d>, autodiscover.<d> and (--well-known) <d>."""
    port = PORTS[scheme]
    pages = [
        f"{scheme}://autoconfig.example.org:{port}/",
        f"{scheme}://autodiscover.example.org:{port}/?emailaddress=fred%40example.org",
        f"{scheme}://example.org:{port}/.well-known/autoconfig/?lang=de",
    ]
    for url in pages:
        answer = deployment.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8", url
        assert "example.org" in answer.text and "example.com" not in answer.text
    assert "/email.mobileconfig?emailaddress=fred@example.org" in deployment.get(pages[1]).text
    for host in ("autoconfig.example.org", "autodiscover.example.org", "example.org"):
        for path in ("/email.mobileconfig", "/mobileconfig", "/apple.mobileconfig"):
            answer = deployment.get(f"{scheme}://{host}:{port}{path}?emailaddress=fred%40example.org")
            assert reached_the_service(answer), (host, path)
    # Anything else on a domain's own name is not the service's: nginx refuses it.
    refused = deployment.get(f"{scheme}://example.org:{port}/index.html")
    assert refused.status_code == 404 and not reached_the_service(refused)


# -- paths and addresses the site prints ------------------------------------------------------------

# Everything nginx's config syntax gives a meaning: a space, ";", braces, "#", quotes and a
# backslash before a letter (unquoted, nginx reads "\t" as a tab).
ODD = "odd dir; {x} #\"q'\\t"
ODD_HTTP, ODD_HTTPS = 18090, 18453  # not the module fixture's: its nginx is still running


@requires_isolation
def test_odd_paths_are_literal_to_nginx(tmp_path: Path) -> None:
    """Static root, challenges folder and certificates under ODD: nginx -t passes and serves from there."""
    odd = tmp_path / ODD
    text = tls_config(tmp_path)  # check refuses spaces and quotes in [tls]: the model gets ODD below
    loaded = config.loads(text, str(tmp_path / "autoconfig.toml")).config
    loaded = replace(loaded, tls=replace(loaded.tls, directory=f"{odd}/certs", challenges=f"{odd}/acme"))
    ca = CA.create()
    for alias, names in service_bundles(loaded).items():
        ca.issue_files(names, odd / "certs" / alias)
    (odd / "acme").mkdir()
    (odd / "acme" / "token-123").write_text("from the odd folder\n")
    service = Service(tmp_path / "service", text)
    service.output = odd / "static_xml"
    service.start()
    try:
        options = SiteOptions(
            f"127.0.0.1:{service.port}", str(service.output), http_port=ODD_HTTP, https_port=ODD_HTTPS
        )
        site = nginx_site(loaded, options)
        assert f"root {ODD}" not in site  # quoted
        conf = nginx_conf(tmp_path, site)
        result = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        hosts = "127.0.0.1 localhost autoconfig.example.org\n"
        with running_nginx(tmp_path, conf, hosts, f"http://autoconfig.example.org:{ODD_HTTP}/healthz") as session:
            answer = session.get(f"http://autoconfig.example.org:{ODD_HTTP}/.well-known/acme-challenge/token-123")
            assert answer.text == "from the odd folder\n"
            service.stop()  # the document comes from the rendered tree under ODD, over TLS from ODD/certs
            answer = session.get(
                f"https://autoconfig.example.org:{ODD_HTTPS}/mail/config-v1.1.xml?emailaddress=fred%40example.org",
                verify=str(ca.write(tmp_path / "ca.pem")),
                timeout=10,
            )
            assert answer.status_code == 200
            assert domains_listed(answer.content) == ["example.org"]
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        # A variable nginx would fill in per request: the tree of another host.
        ("--static-root", "/srv/$host", '--static-root "/srv/$host/current": nginx reads "$" as the start'),
        ("--static-root", "/srv/static\n", "--static-root '/srv/static\\n/current' holds a control character"),
        ("--upstream", "127.0.0.1:8080; include /etc/passwd", '--upstream "127.0.0.1:8080; include /etc/passwd" is'),
        ("--upstream", "127.0.0.1:99999", '--upstream "127.0.0.1:99999" is not HOST:PORT, [IPv6]:PORT or unix:/PATH'),
        ("--upstream", "unix:/run/$x.sock", '--upstream "unix:/run/$x.sock": nginx reads "$"'),
    ],
)
def test_values_nginx_cannot_take_literally_are_refused(option: str, value: str, said: str) -> None:
    result = subprocess.run(
        [sys.executable, "service.py", "nginx", "--http-only", option, value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"nginx: {said}"), result.stderr


def test_a_challenges_path_with_a_dollar_is_refused(tmp_path: Path) -> None:
    """check lets "$" through in [tls] challenges (certs quotes it for the shell); nginx has no literal "$"."""
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(EXAMPLE_CONFIG.read_text() + "\n[tls]\nchallenges = '/srv/acme/$(reboot)'\n")
    command = [sys.executable, "service.py", "nginx", "--config", str(config_path), "--http-only"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        'nginx: [tls] challenges "/srv/acme/$(reboot)/": nginx reads "$" as the start of a variable here, '
        'and has no way to write a literal one; use a path without "$"\n'
    )


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("/var/lib/mailautoconf/static_xml", "/var/lib/mailautoconf/static_xml"),
        ("/srv/a b", '"/srv/a b"'),
        ('/srv/"q"\\t;{}#', '"/srv/\\"q\\"\\\\t;{}#"'),
        ("/srv/bücher", '"/srv/bücher"'),
    ],
)
def test_literal_quotes_what_nginx_would_read_otherwise(value: str, printed: str) -> None:
    assert literal(value, "path") == printed
