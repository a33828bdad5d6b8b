"""PACC (draft-ietf-mailmaint-pacc): the document, its DNS digest and the guard against a stale one.

End to end where it matters: the digest ``service.py dns`` prints is compared
with the SHA-256 of the bytes the real service (waitress) sends over http,
and of the bytes a real nginx sends over TLS; ``check-dns`` asks a real
dnsmasq on 127.0.0.1 holding a stale, a right, and both TXT records; a
config edited under the running service changes the digest, and its log and
/healthz say for how many domains. No mocks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from support import configs
from support.dns import DNSMASQ
from support.dns import Dnsmasq
from support.dns import dnsmasq_options
from support.dns import record_lines
from support.isolation import bind_file
from support.isolation import requires_isolation
from support.nginx import generate_site
from support.nginx import nginx_conf
from support.paths import ROOT
from support.pki import CA
from support.service import Service

from mailautoconf import clientrules
from mailautoconf import config as config_loader
from mailautoconf import paccspec
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.render import pacc

needs_dnsmasq = pytest.mark.skipif(DNSMASQ is None, reason="needs dnsmasq (Debian dnsmasq-base)")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")
HTTP, HTTPS = 18280, 18643  # not the other nginx tests' ports


def server(direction: str, type_: str, host: str, port: int, socket: str) -> str:
    return "\n" + configs.server(direction, type_, host, port, socket)


# Three providers: one opts in (with a name that holds markup), one does not, one opts in
# with STARTTLS servers only, which PACC cannot describe.
PACC_PROVIDER = (
    """
[[provider]]
id = "example.net"
display_name = "Example <b>Mail</b> & Co"
short_name = "Example"
domains = ["example.org", "example.com"]
pacc = true
"""
    + server("incoming", "imap", "imap.{domain}", 993, "SSL")
    + server("incoming", "pop3", "pop.example.net", 110, "STARTTLS")
    + server("outgoing", "smtp", "smtp.example.net", 587, "STARTTLS")
    + server("outgoing", "smtp", "smtp.example.net", 465, "SSL")
    + '\n[provider.caldav]\nurl = "https://dav.{domain}/calendars/"\n'
)
PLAIN_PROVIDER = configs.provider(
    "other.test",
    ["other.example"],
    display_name="Not Opted In",
    incoming="imap.other.test",
    outgoing="smtp.other.test",
)
STARTTLS_PROVIDER = (
    """
[[provider]]
id = "starttls.test"
display_name = "STARTTLS Only"
domains = ["starttls.example"]
pacc = true
"""
    + server("incoming", "imap", "imap.starttls.test", 143, "STARTTLS")
    + server("outgoing", "smtp", "smtp.starttls.test", 587, "STARTTLS")
)
HEAD = configs.service("autoconfig.example.net")
CONFIG = HEAD + PACC_PROVIDER + PLAIN_PROVIDER + STARTTLS_PROVIDER
# A service serving PACC looks its digests up in DNS, by default with the system's resolver; the tests
# here ask no DNS server (test_pacc_stale.py asks a dnsmasq on 127.0.0.1).
NO_DNS_CHECK = "\n[pacc]\ncheck_dns = false\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def printed_digest(config_path: Path, domain: str) -> str:
    """The d= of the _ua-auto-config TXT record `dns --domain` prints for ``domain``."""
    result = run("dns", "--config", str(config_path), "--domain", domain)
    assert result.returncode == 0, result.stderr
    lines = [line for line in record_lines(result.stdout) if line.startswith(f"_ua-auto-config.{domain}. ")]
    assert len(lines) == 1, result.stdout
    found = re.fullmatch(rf'_ua-auto-config\.{re.escape(domain)}\. \d+ IN TXT "v=UAAC1; a=sha256; d=(\S+)"', lines[0])
    assert found is not None, lines[0]
    return found.group(1)


def sha256_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def load(text: str):  # type: ignore[no-untyped-def]
    return config_loader.loads(text, "test.toml")


# -- the document -----------------------------------------------------------------------------------


def test_document_as_the_draft_defines_it() -> None:
    provider = load(CONFIG).config.providers[0]
    body = pacc.render(provider, provider.domains[0])
    assert body.endswith(b"}\n") and body.count(b"\n") == 1  # one final newline, part of the digest
    assert json.loads(body) == {
        "protocols": {
            # The STARTTLS pop3 and the 587 smtp server cannot be said: left out.
            "imap": {"host": "imap.example.org"},
            "submit": {"host": "smtp.example.net"},  # revision -03 (the default)
            "caldav": {"url": "https://dav.example.org/calendars/"},
        },
        "authentication": {"password": True},
        "info": {"provider": {"name": "Example <b>Mail</b> & Co", "shortName": "Example"}},
    }
    # Deterministic: sorted keys, no whitespace, markup spelled as \\uXXXX.
    assert (
        body
        == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .encode("ascii")
        + b"\n"
    )
    assert not {b"<", b">", b"&"} & {bytes([byte]) for byte in body}
    assert pacc.render(provider, provider.domains[0]) == body


def test_revision_02_says_smtp() -> None:
    provider = load(CONFIG.replace("pacc = true\n", 'pacc = true\npacc_revision = "02"\n', 1)).config.providers[0]
    protocols = json.loads(pacc.render(provider, provider.domains[0]))["protocols"]
    assert protocols["smtp"] == {"host": "smtp.example.net"} and "submit" not in protocols


def test_names_are_cut_to_the_drafts_limits_and_check_says_so() -> None:
    long_name = "N" * 70
    result = load(
        CONFIG.replace(
            'display_name = "Example <b>Mail</b> & Co"\nshort_name = "Example"', f'display_name = "{long_name}"'
        )
    )
    provider = result.config.providers[0]
    info = json.loads(pacc.render(provider, provider.domains[0]))["info"]["provider"]
    assert info == {"name": "N" * 60, "shortName": "N" * 20}
    messages = [str(problem) for problem in clientrules.warnings(result)]
    assert (
        'test.toml, line 6: warning: provider "example.net": display_name has 70 characters; PACC allows 60'
        in "\n".join(messages)
    )


def test_unicode_names_are_ascii_escapes() -> None:
    provider = load(CONFIG.replace("Example <b>Mail</b> & Co", "Bücher Post \u2709")).config.providers[0]
    body = pacc.render(provider, provider.domains[0])
    assert body.isascii() and b"\\u00fc" in body and b"\\u2709" in body
    assert json.loads(body)["info"]["provider"]["name"] == "Bücher Post \u2709"


def test_off_by_default_and_for_starttls_only_no_document_and_a_warning() -> None:
    result = load(CONFIG)
    plain, starttls = result.config.providers[1:]
    assert plain.pacc is None and pacc.render(plain, plain.domains[0]) == b""
    assert starttls.pacc == "03" and pacc.render(starttls, starttls.domains[0]) == b""
    messages = [str(problem) for problem in clientrules.warnings(result)]
    line = CONFIG.splitlines().index('socket_type = "STARTTLS"', CONFIG.splitlines().index('id = "starttls.test"')) + 1
    assert (
        f'test.toml, line {line}: warning: provider "starttls.test", incoming server 1: pacc = true, but no '
        'incoming server is implicit TLS (socket_type "SSL") on its default port (imap 993, pop3 995, smtp 465) '
        "with a password login (or OAuth2 with oauth_issuer), which is all PACC can describe: the domains get "
        "no PACC document"
    ) in messages
    # Each direction is said, so one fix is not followed by the next warning.
    assert any('"starttls.test", outgoing server 1: pacc = true, but no outgoing server' in m for m in messages)
    # The opted-in provider's STARTTLS pop3 is said too; its document simply leaves pop3 out.
    assert any("PACC can describe no pop3 server" in message for message in messages)


def test_oauth_issuer_is_published_as_oauth_public_and_makes_oauth2_servers_expressible() -> None:
    text = (
        HEAD
        + STARTTLS_PROVIDER.replace(
            'domains = ["starttls.example"]\n',
            'domains = ["starttls.example"]\noauth_issuer = "https://login.example.net/realms/mail"\n',
        )
        + server("incoming", "imap", "imap.starttls.test", 993, "SSL").replace('"password-cleartext"', '"OAuth2"')
        + server("outgoing", "smtp", "smtp.starttls.test", 465, "SSL").replace('"password-cleartext"', '"OAuth2"')
    )
    result = load(text)
    provider = result.config.providers[0]
    document = json.loads(pacc.render(provider, provider.domains[0]))
    assert document["authentication"] == {
        "password": False,  # the servers PACC lists take OAuth2 only
        "oauth-public": {"issuer": "https://login.example.net/realms/mail"},
    }
    assert document["protocols"] == {"imap": {"host": "imap.starttls.test"}, "submit": {"host": "smtp.starttls.test"}}
    # Without the issuer those servers cannot be stated: no document.
    plain = load(text.replace('oauth_issuer = "https://login.example.net/realms/mail"\n', "")).config.providers[0]
    assert pacc.render(plain, plain.domains[0]) == b""


@pytest.mark.parametrize(
    "issuer",
    ["http://login.example.net/", "https://login.example.net/?realm=mail", "https://login.example.net/#x", "login"],
)
def test_oauth_issuer_must_be_https_without_query_or_fragment(issuer: str) -> None:
    text = HEAD + PLAIN_PROVIDER.replace(
        'domains = ["other.example"]\n', f'domains = ["other.example"]\noauth_issuer = "{issuer}"\n'
    )
    with pytest.raises(config_loader.ConfigError) as refused:
        config_loader.loads(text, "test.toml")
    assert [str(problem) for problem in refused.value.problems] == [
        f'test.toml, line 8: provider "other.test": oauth_issuer "{issuer}" must be an https URL '
        "without query or fragment"
    ]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param(
            'pacc = true\npacc_revision = "04"',
            'pacc_revision \'04\' is not a revision this version serves; use "02" or "03"',
            id="unknown-revision",
        ),
        pytest.param('pacc = "yes"', '"pacc" must be true or false, not a string', id="not-a-bool"),
        pytest.param(
            "pacc = true\npacc_revision = 3",
            'pacc_revision 3 is not a revision this version serves; use "02" or "03"',
            id="revision-not-a-string",
        ),
    ],
)
def test_setting_errors(setting: str, expected: str) -> None:
    text = HEAD + PLAIN_PROVIDER.replace('domains = ["other.example"]\n', f'domains = ["other.example"]\n{setting}\n')
    with pytest.raises(config_loader.ConfigError) as refused:
        config_loader.loads(text, "test.toml")
    messages = [str(problem) for problem in refused.value.problems]
    line = text.splitlines().index(setting.splitlines()[-1]) + 1  # the key at fault
    assert messages == [f'test.toml, line {line}: provider "other.test": {expected}']


def test_revision_without_pacc_is_a_warning() -> None:
    text = HEAD + PLAIN_PROVIDER.replace(
        'domains = ["other.example"]\n', 'domains = ["other.example"]\npacc_revision = "02"\n'
    )
    result = config_loader.loads(text, "test.toml")
    assert result.config.providers[0].pacc is None
    line = text.splitlines().index('pacc_revision = "02"') + 1
    assert [str(w) for w in result.warnings] == [
        f'test.toml, line {line}: warning: provider "other.test": pacc_revision has no effect without "pacc = true"'
    ]


# -- served by the service, digest printed by dns ---------------------------------------------------


def pacc_get(service: Service, host: str, **kwargs: object) -> requests.Response:
    return service.get(paccspec.PATH, host=host, **kwargs)


def test_the_digest_dns_prints_is_the_sha256_of_the_bytes_served(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG + NO_DNS_CHECK)
    for domain in ("example.org", "example.com"):
        answer = pacc_get(service, f"ua-auto-config.{domain}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert (
            answer.content
            == (service.output / "current" / domain / "pacc" / "user-agent-configuration.json").read_bytes()
        )
        assert printed_digest(service.config_path, domain) == sha256_b64(answer.content)
        again = pacc_get(service, f"ua-auto-config.{domain}", headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304 and again.content == b""
    # Not opted in, not describable, not hosted: 404, and dns prints no PACC records for them.
    for host in ("ua-auto-config.other.example", "ua-auto-config.starttls.example", "ua-auto-config.nowhere.example"):
        assert pacc_get(service, host).status_code == 404
    for domain in ("other.example", "starttls.example"):
        result = run("dns", "--config", str(service.config_path), "--domain", domain)
        assert "ua-auto-config" not in result.stdout
    assert service.health()["pacc_digests_changed"] == 0  # the first run knows nothing older
    counted = service.metrics()
    assert (
        counted[("mailautoconf_http_requests_total", (("client", "other"), ("endpoint", "pacc"), ("status", "200")))]
        == 2
    )


def test_a_changed_config_changes_the_digest_and_is_reported(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG + NO_DNS_CHECK)
    before = pacc_get(service, "ua-auto-config.example.org").content
    old_digest = printed_digest(service.config_path, "example.org")
    # An edit of a provider without PACC changes no digest.
    edited = (CONFIG + NO_DNS_CHECK).replace('display_name = "Not Opted In"', 'display_name = "Still Not Opted In"')
    replace_by_rename(service.config_path, edited)
    service.wait_for(
        lambda: (
            service.health()["generation"]
            and "Still Not" in service.get("/mail/config-v1.1.xml", host="autoconfig.other.example").text
        ),
        what="the unrelated edit",
    )
    assert service.health()["pacc_digests_changed"] == 0
    # The opted-in provider's name changes: both its domains get a new digest.
    replace_by_rename(service.config_path, edited.replace("Example <b>Mail</b> & Co", "Renamed Mail"))
    after = service.wait_for(
        lambda: (body := pacc_get(service, "ua-auto-config.example.org").content) != before and body, what="new body"
    )
    health = service.wait_for(lambda: (h := service.health())["pacc_digests_changed"] and h, what="healthz count")
    assert health["pacc_digests_changed"] == 2
    assert service.metrics()[("mailautoconf_pacc_digests_changed", ())] == 2
    # The log has its own writer thread: /healthz may say it first.
    service.wait_for(lambda: "the PACC documents of 2 domain(s) changed" in service.log(), what="the log line")
    new_digest = printed_digest(service.config_path, "example.org")
    assert new_digest != old_digest and new_digest == sha256_b64(after)


def replace_by_rename(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# -- check-dns against a real DNS server -------------------------------------------------------------


def dnsmasq_with_txt(zone_text: str, txt: dict[str, list[str]]) -> list[str]:
    """dnsmasq options for `dns` output; the PACC TXT records replaced by ``txt`` (name -> texts)."""
    kept = "\n".join(
        line for line in record_lines(zone_text) if not (" IN TXT " in line and line.startswith("_ua-auto-config."))
    )
    options = dnsmasq_options(kept)
    for name, texts in txt.items():
        options += [f"--txt-record={name},{text}" for text in texts]
    return options


@needs_dnsmasq
def test_check_dns_reports_a_stale_digest(tmp_path: Path) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(CONFIG)
    zone = run("dns", "--config", str(path)).stdout
    right = {
        domain: paccspec.txt_record(pacc.render(provider, d))
        for provider in load(CONFIG).config.providers
        for d in provider.domains
        for domain in [d.name]
        if provider.pacc and pacc.render(provider, d)
    }
    assert set(right) == {"example.org", "example.com"}
    stale = "v=UAAC1; a=sha256; d=" + sha256_b64(b"what was served last week")
    cases = {
        # example.org stale, example.com right (tags in another order: order does not matter).
        "stale": {
            "example.org": [stale],
            "example.com": ["d=" + right["example.com"].split("d=")[1] + "; a=sha256; v=UAAC1"],
        },
        # Both during a change: a client accepts any record that matches.
        "ok": {"example.org": [stale, right["example.org"]], "example.com": [right["example.com"]]},
    }
    public = "--host-record=autoconfig.example.net,127.0.0.1"
    local = ["example.net", "example.org", "example.com", "other.example", "starttls.example"]
    for case, records in cases.items():
        txt = {f"_ua-auto-config.{domain}": texts for domain, texts in records.items()}
        server = Dnsmasq(tmp_path, [public, *dnsmasq_with_txt(zone, txt)], [*local, "invalid"])
        try:
            result = run("check-dns", "--config", str(path), "--resolver", f"127.0.0.1:{server.port}")
        finally:
            server.stop()
        lines = result.stdout.splitlines()
        org = next(line for line in lines if "_ua-auto-config.example.org." in line)
        com = next(line for line in lines if "_ua-auto-config.example.com." in line)
        assert com.startswith("ok ")
        assert "ok      ua-auto-config.example.org. CNAME autoconfig.example.net." in lines
        if case == "stale":
            assert org.startswith("stale   _ua-auto-config.example.org. TXT: expected "), org
            assert f'"{right["example.org"]}"; found "{stale}"' in org
            assert result.returncode == 1 and ", 1 stale" in result.stderr
        else:
            assert org.startswith("ok "), org
            assert result.returncode == 0, result.stdout
    # A name without the TXT record at all is missing, as any record.
    server = Dnsmasq(tmp_path, [public, *dnsmasq_with_txt(zone, {})], [*local, "invalid"])
    try:
        result = run(
            "check-dns", "--config", str(path), "--resolver", f"127.0.0.1:{server.port}", "--domain", "example.org"
        )
    finally:
        server.stop()
    assert any(line.startswith("missing _ua-auto-config.example.org. TXT") for line in result.stdout.splitlines())


# -- certificates and the nginx site ------------------------------------------------------------------


def test_certificates_cover_the_pacc_names_of_opted_in_domains_only() -> None:
    names = {name for names in service_bundles(load(CONFIG).config).values() for name in names}
    assert {"ua-auto-config.example.org", "ua-auto-config.example.com"} <= names
    assert not {"ua-auto-config.other.example", "ua-auto-config.starttls.example"} & names


@requires_isolation
@needs_nginx
def test_through_nginx_the_bytes_are_the_digests(tmp_path: Path) -> None:
    """A real nginx over TLS serves the document itself (the service stopped), byte for byte what dns digests."""
    tls = f'\n[tls]\nlayout = "dehydrated"\ndirectory = "{tmp_path}/certs"\nchallenges = "{tmp_path}/acme"\n'
    text = HEAD + '\n[nginx]\nlisten = ["127.0.0.1"]\n' + tls + PACC_PROVIDER + PLAIN_PROVIDER
    ca = CA.create()
    for alias, names in service_bundles(config_loader.loads(text).config).items():
        ca.issue_files(names, tmp_path / "certs" / alias)
    (tmp_path / "acme").mkdir()
    service = Service(tmp_path / "service", text + NO_DNS_CHECK).start()
    nginx = None
    try:
        site = generate_site(
            service.config_path, f"127.0.0.1:{service.port}", service.output, HTTP, HTTPS, well_known=False
        )
        assert "map $host $mailautoconf_pacc {" in site
        conf = nginx_conf(tmp_path, site)
        checked = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert checked.returncode == 0 and "[warn]" not in checked.stderr, checked.stderr
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"127.0.0.1 ua-auto-config.{domain}\n" for domain in ("example.org", "example.com")
        )
        with bind_file("/etc/hosts", hosts):
            nginx = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
            session = requests.Session()
            session.trust_env = False
            ca_file = str(ca.write(tmp_path / "ca.pem"))

            def get(domain: str) -> requests.Response:
                url = f"https://ua-auto-config.{domain}:{HTTPS}{paccspec.PATH}"
                return session.get(url, verify=ca_file, timeout=10, allow_redirects=False)

            deadline = time.monotonic() + 20
            while True:
                try:
                    get("example.org")
                    break
                except requests.ConnectionError:
                    assert nginx.poll() is None and time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.05)
            assert service.process is not None
            service.process.send_signal(signal.SIGSTOP)  # what answers now is nginx alone
            try:
                for domain in ("example.org", "example.com"):
                    answer = get(domain)
                    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
                    assert "max-age=31536000" in answer.headers["Strict-Transport-Security"]
                    assert printed_digest(service.config_path, domain) == sha256_b64(answer.content)
            finally:
                service.process.send_signal(signal.SIGCONT)
        # Not opted in: no PACC name in the site at all (nor in its certificates).
        assert "ua-auto-config.other.example" not in site
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        service.stop()
