"""A whole deployment for ``service.py probe`` to walk: the service, the generated nginx site, DNS, a test CA.

The world lives in the test's loopback-only namespace: nginx on the
standard ports 80 and 443 (clients ask those; the namespace has them to
itself), the real service behind it, dnsmasq on a free port serving
exactly the records ``service.py dns`` prints, and a CA the probe is told
to trust with ``--ca``. Each domain of :data:`CONFIG` is healthy or broken
on purpose from the start, so one world serves every test:

- ``example.org``: healthy, with CalDAV/CardDAV, PACC, a signed profile,
  the apex served too (``--well-known``);
- ``example.com``: healthy, no address on the apex (its .well-known
  URLs fail, as at most real domains);
- ``nocname.example``: ``autoconfig.`` and ``autodiscover.`` CNAMEs missing;
- ``plain.example``: a provider whose IMAP is ``plain`` (Android rejects it);
- ``stale.example``: the ``_ua-auto-config`` TXT record of an older document;
- ``notxt.example``: the ``_caldavs._tcp`` SRV record without its TXT path;
- ``expired.example``: its certificate expired yesterday;
- ``wrongname.example``: its certificate leaves out ``autoconfig.wrongname.example``.

Two breaks are edits of the nginx site (:meth:`World.edited_site`): a
proxy that serves the documents as text/plain, and one that is not aware
of Evolution. The access log records every request's Authorization and
Cookie headers, so a test can prove the probe sent neither.
"""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from mailautoconf import config as config_loader
from mailautoconf.deploy.certs import service_bundles
from support.dns import SERVICE_HOST
from support.dns import Dnsmasq
from support.dns import dnsmasq_options
from support.nginx import NGINX
from support.nginx import generate_site
from support.nginx import running_nginx
from support.paths import ROOT
from support.pki import CA
from support.service import Service

__all__ = ["BROKEN", "CONFIG", "HEALTHY", "World", "world"]

HEALTHY = ("example.org", "example.com")
BROKEN = (
    "nocname.example",
    "plain.example",
    "stale.example",
    "notxt.example",
    "expired.example",
    "wrongname.example",
)

_SERVERS = """
[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{address}"
"""

CONFIG_HEAD = """\
[service]
public_hostname = "autoconfig.example.net"

[tls]
layout = "dehydrated"
directory = "{folder}/certs"
challenges = "{folder}/acme"
max_names = 4

# The probe checks the digests against dnsmasq here; the service's own check
# would ask the system's resolver, which no test may.
[pacc]
check_dns = false

[signing]
certificate = "{folder}/signing/fullchain.pem"
key = "{folder}/signing/privkey.pem"

[[provider]]
id = "example.net"
display_name = "Example <b>Mail</b>"
domains = ["example.org", "example.com", "nocname.example", "stale.example", "notxt.example",
           "expired.example", "wrongname.example"]
pacc = true
caldav = {{ url = "https://dav.example.net/dav/calendars/", username = "{{address}}" }}
carddav = {{ url = "https://dav.example.net/dav/contacts/" }}
"""
PLAIN_PROVIDER = """
[[provider]]
id = "plain.example"
display_name = "Plain Mail"
domains = ["plain.example"]

[[provider.incoming]]
type = "imap"
hostname = "mail.plain.example"
port = 143
socket_type = "plain"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.plain.example"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
"""


def config_text(folder: Path) -> str:
    return CONFIG_HEAD.format(folder=folder) + _SERVERS + PLAIN_PROVIDER


CONFIG = config_text(Path("/nonexistent"))  # the shape, for unit tests that need no world

# The access log: what reached nginx, and the two headers the probe must never send.
LOG_FORMAT = "$scheme $host $request_method $uri $status auth=[$http_authorization] cookie=[$http_cookie]"


def _nginx_conf(folder: Path, site: str) -> Path:
    """nginx.conf around the site, logging Authorization and Cookie of every request."""
    (folder / "site.conf").write_text(site)
    temp = folder / "tmp"
    temp.mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(
        f"user root;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n  log_format probe '{LOG_FORMAT}';\n  access_log {folder}/access.log probe;\n"
        f"  client_body_temp_path {temp};\n  proxy_temp_path {temp};\n"
        f"  fastcgi_temp_path {temp};\n  uwsgi_temp_path {temp};\n  scgi_temp_path {temp};\n"
        f"  include {folder}/site.conf;\n}}\n"
    )
    return conf


@dataclass
class World:
    folder: Path
    ca_file: Path
    service: Service
    dns: Dnsmasq
    conf: Path
    site: str

    @property
    def resolver(self) -> str:
        return f"127.0.0.1:{self.dns.port}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``service.py probe`` against this world (its resolver and CA)."""
        command = [sys.executable, "service.py", "probe", "--resolver", self.resolver, "--ca", str(self.ca_file), *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    def access_log(self) -> str:
        return (self.folder / "access.log").read_text(errors="replace")

    def _reload(self, site: str) -> None:
        (self.folder / "site.conf").write_text(site)
        subprocess.run([NGINX, "-c", str(self.conf), "-t"], check=True, capture_output=True)
        subprocess.run([NGINX, "-c", str(self.conf), "-s", "reload"], check=True, capture_output=True)
        time.sleep(1.0)  # the old workers finish; new connections get the new configuration

    @contextlib.contextmanager
    def edited_site(self, old: str, new: str) -> Iterator[None]:
        """The nginx site with ``old`` replaced by ``new`` (a misconfigured proxy), restored afterwards."""
        assert old in self.site, old
        self._reload(self.site.replace(old, new))
        try:
            yield
        finally:
            self._reload(self.site)


def _dns_options(config_path: Path) -> list[str]:
    """The records `dns` prints, with this world's breaks, plus the service host and example.org's apex."""
    printed = subprocess.run(
        [sys.executable, "service.py", "dns", "--config", str(config_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    options = []
    for option in dnsmasq_options(printed):
        if option.startswith(("--cname=autoconfig.nocname.example,", "--cname=autodiscover.nocname.example,")):
            continue  # the missing CNAMEs
        if option.startswith("--txt-record=_caldavs._tcp.notxt.example,"):
            continue  # SRV without its TXT path
        if option.startswith("--txt-record=_ua-auto-config.stale.example,"):
            option = "--txt-record=_ua-auto-config.stale.example,v=UAAC1; a=sha256; d=" + "A" * 43 + "="
        options.append(option)
    names = [*HEALTHY, *BROKEN]
    apex = [f"--host-record={name},127.0.0.1" for name in names if name != "example.com"]
    return [*options, SERVICE_HOST, *apex, "--host-record=dav.example.net,127.0.0.1"]


def _certificates(ca: CA, text: str, folder: Path) -> None:
    loaded = config_loader.loads(text).config
    bundles = service_bundles(loaded, well_known=True)
    for alias, names in bundles.items():
        if "autoconfig.expired.example" in names:
            start = -datetime.timedelta(days=30)
            ca.issue_files(names, folder / "certs" / alias, days=-1, starts=start)
        elif "autoconfig.wrongname.example" in names:
            ca.issue_files([n for n in names if n != "autoconfig.wrongname.example"], folder / "certs" / alias)
        else:
            ca.issue_files(names, folder / "certs" / alias, days=40)
    shared = [alias for alias, names in bundles.items() if "autoconfig.example.org" in names]
    assert all(not {f"autoconfig.{d}" for d in BROKEN} & set(bundles[alias]) for alias in shared), bundles
    (folder / "acme").mkdir(exist_ok=True)
    ca.issue_files(["autoconfig.example.net"], folder / "signing", days=30)


@contextlib.contextmanager
def world(folder: Path) -> Iterator[World]:
    """Start the whole deployment in ``folder``; stopped afterwards."""
    ca = CA.create()
    text = config_text(folder)
    _certificates(ca, text, folder)
    service = Service(folder / "service", text).start()
    try:
        site = generate_site(service.config_path, f"127.0.0.1:{service.port}", service.output, 80, 443)
        conf = _nginx_conf(folder, site)
        subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
        local = ["example", "example.org", "example.com", "example.net", "invalid"]
        dns = Dnsmasq(folder, _dns_options(service.config_path), local)
        names = [f"{p}{d}" for d in (*HEALTHY, *BROKEN) for p in ("", "autoconfig.")]
        hosts = "127.0.0.1 localhost autoconfig.example.net " + " ".join(names) + "\n"
        try:
            with running_nginx(folder, conf, hosts, "http://autoconfig.example.org/healthz") as session:
                assert isinstance(session, requests.Session)
                yield World(folder, ca.write(folder / "ca.pem"), service, dns, conf, site)
        finally:
            dns.stop()
    finally:
        service.stop()
