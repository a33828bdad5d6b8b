"""The nginx site at hoster scale: one server per certificate bundle, the MX lookup, own_names, HTTP/2.

`nginx -t` judges generated sites (100,000 domains included: no warnings);
a real nginx in front of the real service answers a hoster's config over
TLS from a throwaway CA, on 127.0.0.1 and ::1 only (the config's [nginx]
listen), inside the test namespace.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from support.isolation import bind_file
from support.isolation import requires_isolation
from support.nginx import generate_site
from support.nginx import nginx_conf
from support.nginx import running_nginx
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.pki import CA
from support.service import Service

from mailautoconf import config as config_loader
from mailautoconf.deploy import nginx as site_module
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.deploy.nginx import SiteOptions
from mailautoconf.deploy.nginx import site

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install nginx)")
EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
HTTP, HTTPS = 18180, 18543  # not test_nginx's ports: its nginx may still be stopping

# A domain hoster: customers' MX records point at mx1.hoster.test, so clients that find no
# autoconfig.<their domain> ask autoconfig.hoster.test; kunde-b.test has no names of its own.
HOSTER = """\
[service]
public_hostname = "autoconfig.provider.test"

[nginx]
listen = ["127.0.0.1", "::1"]

[[provider]]
id = "hoster.test"
display_name = "Hoster"
domains = ["kunde-a.test", "kunde-b.test"]
mx = ["mx1.hoster.test"]

[[provider.incoming]]
type = "imap"
hostname = "mail.hoster.test"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "imap"
hostname = "mail.hoster.test"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.hoster.test"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[provider.overrides."kunde-b.test"]
own_names = false
"""


def tls_section(folder: Path) -> str:
    return f'\n[tls]\nlayout = "dehydrated"\ndirectory = "{folder}/certs"\nchallenges = "{folder}/acme"\n'


def generated_text(count: int, *, every_tenth_without_names: bool = False) -> str:
    """The shipped config with ``count`` domains d00001.example ... and an MX host."""
    names = [f"d{number:05d}.example" for number in range(1, count + 1)]
    domains = ", ".join(f'"{name}"' for name in names)
    text = EXAMPLE.replace('domains = ["example.net", "example.org", "example.com"]', f"domains = [{domains}]")
    text = text.replace("list_all_domains = false", 'list_all_domains = false\nmx = ["mx1.hoster.example"]')
    if every_tenth_without_names:
        text += "".join(f'\n[provider.overrides."{name}"]\nown_names = false\n' for name in names[::10])
    return text


def one_certificate_for_every_bundle(text: str, folder: Path, *, well_known: bool = False) -> int:
    """Every alias folder a symlink to one certificate: nginx -t reads them all, none is checked for names."""
    one = folder / "one"
    CA.create().issue_files(["one.example"], one)
    bundles = service_bundles(config_loader.loads(text).config, well_known=well_known)
    (folder / "certs").mkdir(exist_ok=True)
    for alias in bundles:
        (folder / "certs" / alias).symlink_to(one)
    (folder / "acme").mkdir(exist_ok=True)
    return len(bundles)


def nginx_test(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=120)


def server_blocks(text: str) -> list[str]:
    return re.findall(r"^server \{\n.*?^\}\n", text, flags=re.S | re.M)


def server_names(block: str) -> list[str]:
    return [name for line in re.findall(r"^    server_name (.*);$", block, flags=re.M) for name in line.split()]


def map_keys(text: str, variable: str) -> list[str]:
    body = re.search(rf"^map \S+ \${variable} \{{\n(.*?)^\}}", text, flags=re.S | re.M)
    assert body, variable
    return [line.split()[0] for line in body.group(1).splitlines() if not line.lstrip().startswith(("default", '"'))]


# -- the site's text --------------------------------------------------------------------------------


def test_one_server_per_bundle_with_exactly_its_names() -> None:
    text = generated_text(3000, every_tenth_without_names=True)
    loaded = config_loader.loads(text).config
    bundles = service_bundles(loaded)
    generated = site(loaded, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv/static_xml"))
    https = [block for block in server_blocks(generated) if "ssl_certificate " in block]
    assert len(https) == len(bundles) > 30
    for block, (alias, names) in zip(https, bundles.items(), strict=True):
        assert server_names(block) == names
        assert f"ssl_certificate /var/lib/dehydrated/certs/{alias}/fullchain.pem;" in block
        assert f"ssl_certificate_key /var/lib/dehydrated/certs/{alias}/privkey.pem;" in block
        assert "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n" in block
        assert block.count("    location ") == 5  # each location holds every module's settings: few
    every = {name for names in bundles.values() for name in names}
    assert "autoconfig.hoster.example" in every and "autoconfig.d00002.example" in every
    # own_names = false: no server name, no map entry, anywhere.
    assert not any("d00001.example" in name for name in every)
    assert "d00001.example" not in generated
    assert map_keys(generated, "mailautoconf_host_static")[:2] == [
        "autoconfig.d00002.example",
        "autoconfig.d00003.example",
    ]
    assert "    autoconfig.hoster.example /_mx.hoster.example/;" in generated
    assert "    d00002.example /d00002.example/;" in generated  # the address map
    # Port 80 answers every autoconfig.* / autodiscover.* / ua-auto-config.* (PACC) name, for ACME
    # before regeneration.
    (http,) = [block for block in server_blocks(generated) if "ssl_certificate " not in block]
    assert server_names(http) == ["autoconfig.*", "autodiscover.*", "ua-auto-config.*"]


def test_listen_addresses_and_http2_spelling() -> None:
    loaded = config_loader.loads(EXAMPLE + '\n[nginx]\nlisten = ["2001:db8::1", "10.0.0.5"]\n').config
    options = SiteOptions(upstream="127.0.0.1:8080", static_root="/srv", https_port=8443)
    text = site(loaded, options)
    assert "    listen [2001:db8::1]:8443 ssl http2;\n    listen 10.0.0.5:8443 ssl http2;\n" in text
    assert "    listen [2001:db8::1]:80;\n    listen 10.0.0.5:80;\n" in text
    assert "listen 443" not in text and "listen [::]" not in text
    newer = site(loaded, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv", http2="directive"))
    assert "    listen 10.0.0.5:443 ssl;\n    http2 on;\n" in newer and " http2;" not in newer
    assert "ssl_session_cache shared:mailautoconf:10m;" in text and "ssl_session_timeout 1d;" in text
    assert "ssl_stapling" not in text and "Expect-CT" not in text


def test_the_installed_nginx_version_decides_the_http2_spelling(tmp_path: Path) -> None:
    version = site_module.nginx_version(NGINX)
    assert version is not None and version >= (1, 9, 5)
    text = EXAMPLE + tls_section(tmp_path)
    one_certificate_for_every_bundle(text, tmp_path)
    (tmp_path / "autoconfig.toml").write_text(text)
    result = subprocess.run(
        [sys.executable, "service.py", "nginx", "--config", str(tmp_path / "autoconfig.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    if version >= site_module.HTTP2_DIRECTIVE_SINCE:
        assert "    http2 on;" in result.stdout
    else:
        assert " ssl http2;" in result.stdout and "http2 on;" not in result.stdout


def test_hash_sizes_follow_nginx_search() -> None:
    """What the generator sizes for, nginx builds without a warning: at scale (below) and for odd names."""
    long_names = [f"autoconfig.{'x' * 60}-{number}.{'y' * 50}.example" for number in range(3000)]
    max_size, bucket_size = site_module.hash_sizes(long_names)
    assert bucket_size % 64 == 0 and bucket_size >= site_module._element_size(len(long_names[0])) + 8
    hashes = [site_module._ngx_hash(name.encode()) for name in long_names]
    sizes = [site_module._element_size(len(name)) for name in long_names]
    assert site_module._search(hashes, sizes, max_size, bucket_size)
    assert site_module._ngx_hash(b"ab") == 97 * 31 + 98


@pytest.mark.parametrize("well_known", [False, True])
def test_nginx_accepts_a_hoster_site(tmp_path: Path, well_known: bool) -> None:
    text = HOSTER + tls_section(tmp_path)
    one_certificate_for_every_bundle(text, tmp_path, well_known=well_known)
    (tmp_path / "autoconfig.toml").write_text(text)
    generated = generate_site(
        tmp_path / "autoconfig.toml", "127.0.0.1:8080", tmp_path, 8081, 8443, well_known=well_known
    )
    result = nginx_test(nginx_conf(tmp_path, generated))
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


@pytest.mark.slow  # scale: 100,000 domains
def test_nginx_accepts_100000_domains_without_warnings(tmp_path: Path) -> None:
    """The hoster's scale: about 2,900 https servers, maps of 100,000 keys, in well under a minute."""
    text = generated_text(100_000) + tls_section(tmp_path)
    started = time.monotonic()
    count = one_certificate_for_every_bundle(text, tmp_path)
    (tmp_path / "autoconfig.toml").write_text(text)
    generated = generate_site(tmp_path / "autoconfig.toml", "127.0.0.1:8080", tmp_path, 8081, 8443, well_known=False)
    assert generated.count("ssl_certificate ") == count > 2000
    result = nginx_test(nginx_conf(tmp_path, generated))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "could not build" not in result.stderr, result.stderr
    assert time.monotonic() - started < 60


# -- a real nginx in front of the service --------------------------------------------------------------


@dataclass
class Hoster:
    service: Service
    folder: Path
    ca_file: Path
    http: requests.Session

    def get(self, url: str, **kwargs: object) -> requests.Response:
        return self.http.get(url, verify=str(self.ca_file), timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def document(self, folder: str, evolution: bool = False) -> bytes:
        name = "config-v1.1.evolution.xml" if evolution else "config-v1.1.xml"
        return (self.service.output / "current" / folder / "mail" / name).read_bytes()


NAMES = ["autoconfig.kunde-a.test", "autodiscover.kunde-a.test", "autoconfig.kunde-b.test", "autoconfig.hoster.test"]


@pytest.fixture(scope="module")
def hoster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hoster]:
    folder = tmp_path_factory.mktemp("hoster")
    ca = CA.create()
    text = HOSTER + tls_section(folder)
    for alias, names in service_bundles(config_loader.loads(text).config).items():
        ca.issue_files(names, folder / "certs" / alias)
    (folder / "acme").mkdir()
    service = Service(folder / "service", text).start()
    generated = generate_site(
        service.config_path, f"127.0.0.1:{service.port}", service.output, HTTP, HTTPS, well_known=False
    )
    conf = nginx_conf(folder, generated)
    subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
    hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"127.0.0.1 {name}\n" for name in NAMES)
    try:
        with running_nginx(folder, conf, hosts, f"http://autoconfig.kunde-a.test:{HTTP}/healthz") as session:
            yield Hoster(service, folder, ca.write(folder / "ca.pem"), session)
    finally:
        service.stop()


def frozen(hoster: Hoster):  # type: ignore[no-untyped-def]
    """Stop the service (SIGSTOP) for a block: what is answered then comes from nginx alone."""
    import contextlib

    @contextlib.contextmanager
    def block() -> Iterator[None]:
        process = hoster.service.process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

    return block()


AUTOCONFIG_URL = f"https://autoconfig.hoster.test:{HTTPS}/mail/config-v1.1.xml"


@requires_isolation
def test_mx_lookup_host_is_served_by_nginx_alone(hoster: Hoster) -> None:
    with frozen(hoster):
        answer = hoster.get(AUTOCONFIG_URL)
        assert answer.status_code == 200
        assert answer.content == hoster.document("_mx.hoster.test")
        domains = [(element.text, element.get("purpose")) for element in ET.fromstring(answer.content).iter("domain")]
        assert domains == [("%EMAILDOMAIN%", None), ("hoster.test", "mx")]  # no customer list
        assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
        evolution = hoster.get(AUTOCONFIG_URL, headers={"User-Agent": "Evolution/3.46.4"})
        assert evolution.content == hoster.document("_mx.hoster.test", evolution=True)
        # An address of a domain with own names: that domain's document, still from nginx.
        answer = hoster.get(AUTOCONFIG_URL, params={"emailaddress": "fred@kunde-a.test"})
        assert answer.content == hoster.document("kunde-a.test")
        # Plain http, as KMail asks.
        answer = hoster.get(f"http://autoconfig.hoster.test:{HTTP}/mail/config-v1.1.xml")
        assert answer.content == hoster.document("_mx.hoster.test")


@requires_isolation
def test_gnome_url_on_the_mx_lookup_host_is_served_by_nginx_alone(hoster: Hoster) -> None:
    """GNOME asks https://autoconfig.<MX base domain>/.well-known/mail-v1.xml with the user's address,
    not URL-encoded (docs/clients.md section 1.15): nginx answers the address's domain's file."""
    url = f"https://autoconfig.hoster.test:{HTTPS}/.well-known/mail-v1.xml"
    agent = {"User-Agent": "gnome-online-accounts/3.58.1 libsoup/3.6.5"}
    with frozen(hoster):
        answer = hoster.get(url + "?emailaddress=fred@kunde-a.test", headers=agent)
        assert answer.status_code == 200
        assert answer.content == hoster.document("kunde-a.test")
        assert hoster.get(url, headers=agent).content == hoster.document("_mx.hoster.test")


def test_gnome_url_has_one_static_location_in_every_https_server() -> None:
    """Over https the same try_files as config-v1.1.xml; over http (GNOME never asks so) the service answers."""
    loaded = config_loader.loads(HOSTER).config
    for well_known in (False, True):
        generated = site(loaded, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv", well_known=well_known))
        for block in server_blocks(generated):
            location = f"    location = {site_module.GNOME_PATH} {{\n"
            if "ssl_certificate " in block:
                assert block.count(location) == 1
                after = block[block.index(location) :]
                assert after.splitlines()[1].strip() == (
                    "try_files $mailautoconf_static$mailautoconf_document @mailautoconf;"
                )
            else:
                assert location not in block


@requires_isolation
def test_mx_lookup_with_an_address_nginx_has_no_file_for_asks_the_service(hoster: Hoster) -> None:
    with frozen(hoster), pytest.raises(requests.ReadTimeout):
        hoster.http.get(
            AUTOCONFIG_URL, params={"emailaddress": "fred@kunde-b.test"}, verify=str(hoster.ca_file), timeout=1
        )
    answer = hoster.get(AUTOCONFIG_URL, params={"emailaddress": "fred@kunde-b.test"})
    assert answer.status_code == 200
    domains = [element.text for element in ET.fromstring(answer.content).iter("domain") if not element.get("purpose")]
    assert domains == ["kunde-b.test"]


@requires_isolation
def test_a_domain_without_own_names_has_no_certificate_name(hoster: Hoster) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        hoster.get(f"https://autoconfig.kunde-b.test:{HTTPS}/mail/config-v1.1.xml")
    assert hoster.get(f"https://autoconfig.kunde-a.test:{HTTPS}/mail/config-v1.1.xml").status_code == 200


@requires_isolation
def test_public_hostname_answers_autodiscover_over_tls(hoster: Hoster) -> None:
    """The _autodiscover._tcp SRV target: the only way Outlook finds a domain without own names."""
    with bind_file("/etc/hosts", "127.0.0.1 autoconfig.provider.test\n"):
        answer = hoster.get(f"https://autoconfig.provider.test:{HTTPS}/autodiscover/autodiscover.xml")
    assert answer.status_code == 405  # GET on the POX URL: the service answered, over a valid certificate


@requires_isolation
@pytest.mark.skipif(CURL is None, reason="needs curl")
@pytest.mark.parametrize("address", ["127.0.0.1", "[::1]"])
def test_http2_on_every_listen_address(hoster: Hoster, address: str) -> None:
    host = "autoconfig.kunde-a.test"
    result = subprocess.run(
        [str(CURL), "--silent", "--show-error", "--http2", "--cacert", str(hoster.ca_file), "--noproxy", "*",
         "--resolve", f"{host}:{HTTPS}:{address}", "--output", "/dev/null",
         "--write-out", "%{http_version} %{http_code}", f"https://{host}:{HTTPS}/mail/config-v1.1.xml"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.stdout == "2 200", result.stderr


@requires_isolation
@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_tls_sessions_are_resumed(hoster: Hoster) -> None:
    """ssl_session_cache: a second connection resumes the first one's session."""
    result = subprocess.run(
        [str(OPENSSL), "s_client", "-connect", f"127.0.0.1:{HTTPS}", "-servername", "autoconfig.kunde-a.test",
         "-tls1_2", "-reconnect", "-CAfile", str(hoster.ca_file)],
        input="", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.stdout.count("Reused, TLSv1.2") >= 4, result.stdout[-2000:]


@requires_isolation
def test_a_changed_document_is_served_within_seconds(hoster: Hoster) -> None:
    """nginx keeps opened documents for a second (open_file_cache_valid): an edit shows soon after."""
    url = f"https://autoconfig.kunde-a.test:{HTTPS}/mail/config-v1.1.xml?emailaddress=fred%40kunde-a.test"
    assert b"<displayName>Hoster</displayName>" in hoster.get(url).content
    path = hoster.service.config_path
    original = path.read_text()
    try:
        temporary = path.with_name("autoconfig.toml.new")
        temporary.write_text(original.replace('display_name = "Hoster"', 'display_name = "Hoster, renamed"'))
        os.replace(temporary, path)
        written = time.monotonic()
        deadline = written + 10
        while b"Hoster, renamed" not in hoster.get(url).content:
            assert time.monotonic() < deadline, "nginx kept the old document"
            time.sleep(0.05)
        assert time.monotonic() - written < 5
    finally:
        temporary.write_text(original)
        os.replace(temporary, path)


def test_a_public_hostname_that_is_a_hosted_domain_is_named_once(tmp_path: Path) -> None:
    text = EXAMPLE.replace('public_hostname = "autoconfig.example.net"', 'public_hostname = "example.org"')
    text += tls_section(tmp_path)
    one_certificate_for_every_bundle(text, tmp_path, well_known=True)
    (tmp_path / "autoconfig.toml").write_text(text)
    generated = generate_site(tmp_path / "autoconfig.toml", "127.0.0.1:8080", tmp_path, 8081, 8443)
    names = [name for block in server_blocks(generated) for name in server_names(block)]
    assert names.count("example.org") == 2  # port 80 once, its certificate's server once
    result = nginx_test(nginx_conf(tmp_path, generated))
    assert result.returncode == 0 and "[warn]" not in result.stderr, result.stderr


def test_certificates_not_issued_yet_leave_their_servers_out(tmp_path: Path) -> None:
    """During a big first issue (the CA's rate limits spread it over hours) the site still loads."""
    text = generated_text(500) + tls_section(tmp_path).replace("[tls]\n", "[tls]\nmax_names = 10\n")
    bundles = service_bundles(config_loader.loads(text).config)
    one = tmp_path / "one"
    CA.create().issue_files(["one.example"], one)
    (tmp_path / "certs").mkdir()
    issued = sorted(bundles)[::2]
    for alias in issued:
        (tmp_path / "certs" / alias).symlink_to(one)
    (tmp_path / "acme").mkdir()
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(text)
    command = [sys.executable, "service.py", "nginx", "--config", str(config_path), "--static-root", str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    missing = len(bundles) - len(issued)
    assert result.stderr.startswith(f"nginx: {missing} of {len(bundles)} certificates are not in {tmp_path}/certs yet")
    https = [block for block in server_blocks(result.stdout) if "ssl_certificate " in block]
    assert [re.search(r"certs/(\S+)/fullchain", block).group(1) for block in https] == issued  # type: ignore[union-attr]
    assert f"# {missing} certificate(s) did not exist when this was generated" in result.stdout
    checked = nginx_test(nginx_conf(tmp_path, result.stdout))
    assert checked.returncode == 0 and "[warn]" not in checked.stderr, checked.stderr


def test_people_paths_reach_the_service_on_every_name() -> None:
    """The settings page and the Apple profile: proxied on the own names too, exactly these paths."""
    loaded = config_loader.loads(EXAMPLE).config
    generated = site(loaded, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv", well_known=True))
    people = (
        r"    location ~ ^(?:/|/\.well-known/autoconfig/|/email\.mobileconfig|/mobileconfig|/apple\.mobileconfig"
        r"|/\.well-known/caldav/?|/\.well-known/carddav/?)$"
        " { proxy_pass http://mailautoconf; }\n"
    )
    blocks = server_blocks(generated)
    own_http = [block for block in blocks if "ssl_certificate " not in block and "example.org" in server_names(block)]
    https = [block for block in blocks if "ssl_certificate " in block]
    assert len(own_http) == 1 and https
    for block in [*own_http, *https]:
        assert people in block
        # Before the catch-all that refuses the own names everything else.
        assert block.index(people) < block.index("    location / {")
    # Without --well-known every name of a server is autoconfig./autodiscover.: `location /` proxies all.
    plain = site(loaded, SiteOptions(upstream="127.0.0.1:8080", static_root="/srv"))
    assert people not in plain
    assert all("    location / { proxy_pass http://mailautoconf; }" in block for block in server_blocks(plain))
    # RFC 6764 section 5: the DAV well-known URIs too, with or without a trailing slash.
    dav_paths = [path + slash for path in site_module.DAV_PATHS for slash in ("", "/")]
    assert dav_paths == ["/.well-known/caldav", "/.well-known/caldav/", "/.well-known/carddav", "/.well-known/carddav/"]
    for path in [*site_module.PEOPLE_PATHS, *dav_paths]:
        assert re.fullmatch(site_module._people_regex(), path)
    unlisted = ("/index.html", "/.well-known/autoconfig/mail/", "/email.mobileconfigx", "/emailxmobileconfig")
    unlisted += ("/.well-known/caldav/x", "/.well-known/caldavs", "/.well-known/xcaldav", "/.well-known/carddav//")
    for path in unlisted:
        assert not re.fullmatch(site_module._people_regex(), path)


@requires_isolation
def test_the_settings_page_through_nginx(hoster: Hoster) -> None:
    for url in (f"https://autoconfig.kunde-a.test:{HTTPS}/", f"http://autodiscover.kunde-a.test:{HTTP}/"):
        answer = hoster.get(url, headers={"Accept-Language": "de"})
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "E-Mail einrichten für kunde-a.test" in answer.text
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")


# -- a DAV server on the domains' own names (--dav-upstream, deploy/davnginx.py) ---------------------

# kunde-a.test's calendars on its own name (the shape Thunderbird follows through the well-known
# redirect alone), its address books on another host; kunde-b.test has no own names.
HOSTER_DAV = HOSTER.replace(
    'mx = ["mx1.hoster.test"]\n',
    'mx = ["mx1.hoster.test"]\n'
    'caldav = { url = "https://{domain}/dav/" }\n'
    'carddav = { url = "https://dav.hoster.test/card/" }\n',
)
DAV_LOCATION = (
    "    location ^~ /dav/ { if ($mailautoconf_own_name = 0) { return 404; }"
    " client_max_body_size 100m; proxy_pass http://mailautoconf_dav; }\n"
)


def test_dav_paths_on_the_own_names_go_to_the_dav_server() -> None:
    loaded = config_loader.loads(HOSTER_DAV + tls_section(Path("/etc/ssl"))).config
    options = SiteOptions(upstream="127.0.0.1:8080", static_root="/srv", well_known=True, dav_upstream="10.0.0.5:5232")
    generated = site(loaded, options)
    assert "upstream mailautoconf_dav {\n    server 10.0.0.5:5232;\n" in generated
    blocks = server_blocks(generated)
    https = [block for block in blocks if "ssl_certificate " in block]
    assert https and all(block.count(DAV_LOCATION) == 1 for block in https)
    # Over http no DAV (the config's URLs are https); nothing but /dav/: the CardDAV URL is on another host.
    assert not [block for block in blocks if "ssl_certificate " not in block and "mailautoconf_dav" in block]
    assert re.findall(r"location \^~ (\S+) \{ if \(\$mailautoconf_own_name", generated) == ["/dav/"] * len(https)
    # Only with --well-known (the own names) and --dav-upstream.
    base = SiteOptions(upstream="127.0.0.1:8080", static_root="/srv")
    for other in (replace(base, well_known=True), replace(base, dav_upstream="10.0.0.5:5232")):
        assert "mailautoconf_dav" not in site(loaded, other)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://{domain}/", "it is the domain's root, which this site answers"),
        ("https://{domain}/.well-known/dav/", "its path is one the site answers itself"),
        ("https://{domain}/autodiscover/dav/", "its path is one the site answers itself"),
        ("https://{domain}/d%C3%A4v/", "its path holds characters nginx would match decoded"),
        ("https://{domain}/dav/?user=x", "it has a query or fragment"),
    ],
)
def test_dav_paths_the_site_cannot_proxy_are_named(url: str, why: str) -> None:
    from mailautoconf.deploy import davnginx

    loaded = config_loader.loads(HOSTER_DAV.replace("https://{domain}/dav/", url)).config
    assert davnginx.paths(loaded) == davnginx.DavPaths((), ((url.replace("{domain}", "kunde-a.test"), why),))


def test_dav_paths_of_domains_without_own_names_are_not_this_sites() -> None:
    from mailautoconf.deploy import davnginx

    text = HOSTER_DAV.replace('caldav = { url = "https://{domain}/dav/" }\n', "")
    text += '\ncaldav = { url = "https://{domain}/cal/" }\n'  # kunde-b.test's override: own_names = false
    assert davnginx.paths(config_loader.loads(text).config) == davnginx.DavPaths((), ())


def run_nginx_command(config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "service.py", "nginx", "--config", str(config), *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_nginx_command_says_what_becomes_of_dav_paths(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    config.write_text(HOSTER_DAV + tls_section(tmp_path))
    one_certificate_for_every_bundle(config.read_text(), tmp_path, well_known=True)
    refused = run_nginx_command(config, "--dav-upstream", "127.0.0.1:5232")
    assert refused.returncode == 2 and not refused.stdout
    assert refused.stderr == "nginx: --dav-upstream proxies the domains' own names: it needs --well-known\n"
    without = run_nginx_command(config, "--well-known")
    assert without.returncode == 0, without.stderr
    assert (
        "nginx: DAV URLs on the domains' own names (/dav/) answer 404 here; "
        "pass --dav-upstream HOST:PORT to proxy them to the DAV server\n"
    ) in without.stderr
    assert "mailautoconf_dav" not in without.stdout
    with_upstream = run_nginx_command(config, "--well-known", "--dav-upstream", "127.0.0.1:5232")
    assert with_upstream.returncode == 0 and "DAV" not in with_upstream.stderr, with_upstream.stderr
    assert DAV_LOCATION in with_upstream.stdout


def test_nginx_accepts_a_site_with_dav_paths(tmp_path: Path) -> None:
    text = HOSTER_DAV + tls_section(tmp_path)
    one_certificate_for_every_bundle(text, tmp_path, well_known=True)
    (tmp_path / "autoconfig.toml").write_text(text)
    generated = generate_site(
        tmp_path / "autoconfig.toml", "127.0.0.1:8080", tmp_path, 8081, 8443, dav_upstream="127.0.0.1:5232"
    )
    assert DAV_LOCATION in generated
    result = nginx_test(nginx_conf(tmp_path, generated))
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr
