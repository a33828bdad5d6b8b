"""The real Thunderbird finds calendars and address books through our RFC 6764 answers (issue 12).

After mail setup, Thunderbird's account hub (``views/email.mjs``,
``#fetchSyncAccounts``) asks, for the mail domain ``<d>``:

- ``RemoteAddressBookUtils.getAddressBooksForAccount(address, password,
  "https://<d>")``, which is ``CardDAVUtils.detectAddressBooks``:
  ``_carddavs._tcp.<d>`` SRV and its TXT ``path=``, else
  ``https://<d>/.well-known/carddav``;
- ``cal.provider.detection.detect(address, password, "https://<d>", ...)``,
  whose CalDAV provider tries ``_caldavs._tcp.<d>`` SRV and TXT, else
  ``https://<d>/.well-known/caldav``, else ``/``.

These are called here over Marionette, as the hub calls them, against a
real CalDAV/CardDAV server (Debian's radicale) behind nginx under a context
path (``/dav/``) that only our TXT record names: nothing else leads there.
The SRV and TXT records are those ``service.py dns`` prints, served by
dnsmasq; the mail names are served by the generated nginx site.

Not here: the route through the well-known redirect alone. Thunderbird
153 asks ``https://<d>/.well-known/carddav`` (and ``caldav``), gets the
service's 301 and sends the PROPFIND on to the DAV host, which answers 207;
then its own request code fails with "Connection error" (NS_ERROR_FAILURE)
whenever the redirect leads to another origin, while it follows a redirect
within one origin (probed with this setup: a 301 within the DAV host was
followed, one from another host to it was not). A hoster's DAV service is
on another host than the mail domain, so for Thunderbird the SRV and
TXT records are the route that works; the redirect serves DAVx5, Apple
devices and Thunderbird setups where the DAV service shares the origin.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from support.isolation import requires_isolation
from support.nginx import generate_site
from support.nginx import make_certificates
from support.nginx import nginx_conf
from support.pki import CA
from support.service import Service
from support.thunderbird import Thunderbird
from support.tlsnet import Dnsmasq
from support.tlsnet import SrvRecord
from support.tlsnet import loopback_names
from support.tlsnet import require_programs
from support.tlsnet import stop_process

from mailautoconf import config as config_loader
from mailautoconf.deploy.dns import records

MISSING = require_programs("thunderbird", "radicale", "nginx", "dnsmasq", "certutil")
pytestmark = [
    requires_isolation,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (tests/run.sh installs them)"),
]

DAV_HOST = "dav.example.net"
DAV_URL = f"https://{DAV_HOST}/dav/"
PASSWORD = "correct horse"
SRV_DOMAIN = "srv.example"
USERS = {SRV_DOMAIN: f"fred@{SRV_DOMAIN}"}


def config_text(folder: Path) -> str:
    return f"""\
[service]
public_hostname = "autoconfig.example.net"

[tls]
directory = "{folder}/certs"
challenges = "{folder}/acme"

[[provider]]
id = "example.net"
display_name = "Example Mail"
domains = ["{SRV_DOMAIN}"]
caldav = {{ url = "{DAV_URL}", username = "{{address}}" }}
carddav = {{ url = "{DAV_URL}", username = "{{address}}" }}

[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"
"""


@dataclass
class TxtDnsmasq(Dnsmasq):
    """tlsnet's dnsmasq with TXT records too: (name, text)."""

    txt: list[tuple[str, str]] = field(default_factory=list)

    def command(self) -> list[str]:
        return [*super().command(), *(f"--txt-record={name},{text}" for name, text in self.txt)]


def dns_records(loaded: config_loader.Config, domain: str) -> tuple[list[SrvRecord], list[tuple[str, str]]]:
    """The RFC 6764 SRV and TXT records ``service.py dns`` prints for ``domain``, for dnsmasq."""
    srv, txt = [], []
    for line in records(loaded, domain).splitlines():
        if line.startswith(";") or "dav" not in line.split(" ", 1)[0]:
            continue
        name, _ttl, _class, rdtype, data = line.split(" ", 4)
        if rdtype == "SRV":
            priority, weight, port, target = data.split()
            srv.append(SrvRecord(name.rstrip("."), target.rstrip("."), int(port), int(priority), int(weight)))
        elif rdtype == "TXT":
            txt.append((name.rstrip("."), data.strip('"')))
    return srv, txt


def radicale(folder: Path) -> tuple[list[str], int]:
    """Radicale's command line, with a calendar and an address book for each user; its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    users = folder / "users"
    users.write_text("".join(f"{user}:{PASSWORD}\n" for user in USERS.values()), encoding="utf-8")
    storage = folder / "collections"
    for user in USERS.values():
        for name, tag in (("calendar", "VCALENDAR"), ("contacts", "VADDRESSBOOK")):
            collection = storage / "collection-root" / user / name
            collection.mkdir(parents=True)
            (collection / ".Radicale.props").write_text(f'{{"tag": "{tag}", "D:displayname": "{name}"}}')
    conf = folder / "radicale.conf"
    conf.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\n\n"
        f"[rights]\ntype = owner_only\n\n[storage]\nfilesystem_folder = {storage}\n\n"
        "[web]\ntype = none\n\n[logging]\nlevel = info\n",
        encoding="utf-8",
    )
    return ["radicale", "--config", str(conf)], port


def dav_server_block(folder: Path, ca: CA, radicale_port: int) -> str:
    """The DAV host behind nginx, at /dav/ only: radicale builds its links from X-Script-Name."""
    ca.issue_files([DAV_HOST], folder / "dav-cert")
    return f"""
server {{
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name {DAV_HOST};
    ssl_certificate {folder}/dav-cert/fullchain.pem;
    ssl_certificate_key {folder}/dav-cert/privkey.pem;
    location /dav/ {{
        proxy_pass http://127.0.0.1:{radicale_port}/;
        proxy_set_header X-Script-Name /dav;
        proxy_set_header Host $host;
    }}
    location / {{ return 404; }}
}}
"""


_SCRIPT = r"""
const [args, resolve] = [arguments[0], arguments[arguments.length - 1]];
const { RemoteAddressBookUtils } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/RemoteAddressBookUtils.sys.mjs"
);
const { cal } = ChromeUtils.importESModule("resource:///modules/calendar/calUtils.sys.mjs");
const location = `https://${args.domain}`;
const failure = e => String(e?.message ?? e);
(async () => {
  const found = { books: null, calendars: null, errors: [] };
  try {
    const books = await RemoteAddressBookUtils.getAddressBooksForAccount(args.username, args.password, location);
    found.books = books.map(book => ({ name: book.name, url: String(book.url.href ?? book.url) }));
  } catch (e) {
    found.errors.push("address books: " + failure(e));
  }
  try {
    const detected = await cal.provider.detection.detect(args.username, args.password, location, false, [], {});
    found.calendars = [];
    for (const [provider, calendars] of detected) {
      for (const calendar of calendars) {
        found.calendars.push({ provider: provider.type, name: calendar.name, url: calendar.uri.spec });
      }
    }
  } catch (e) {
    found.errors.push("calendars: " + failure(e));
  }
  return found;
})().then(resolve, e => resolve({ errors: [failure(e)] }));
"""


@dataclass
class World:
    thunderbird: Thunderbird
    nginx_log: Path
    radicale_log: Path
    service: Service

    def detect(self, domain: str) -> dict[str, Any]:
        assert self.thunderbird.client is not None
        answer = self.thunderbird.client.execute_async_script(
            _SCRIPT,
            script_args=[{"domain": domain, "username": USERS[domain], "password": PASSWORD}],
            script_timeout=90_000,
        )
        assert isinstance(answer, dict), answer
        return answer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("tbdav")
    ca = CA.create()
    text = config_text(root)
    make_certificates(ca, text, root)
    loaded = config_loader.loads(text).config
    srv, txt = dns_records(loaded, SRV_DOMAIN)
    assert [record.name for record in srv] == [f"_caldavs._tcp.{SRV_DOMAIN}", f"_carddavs._tcp.{SRV_DOMAIN}"]
    assert txt == [(f"_caldavs._tcp.{SRV_DOMAIN}", "path=/dav/"), (f"_carddavs._tcp.{SRV_DOMAIN}", "path=/dav/")]
    names = [DAV_HOST, *(f"{p}.{d}" for p in ("autoconfig", "autodiscover") for d in USERS)]
    with contextlib.ExitStack() as stack:
        service = Service(root / "service", text).start()
        stack.callback(service.stop)
        command, radicale_port = radicale(root)
        radicale_log = root / "radicale.log"
        with open(radicale_log, "wb") as log:
            dav_server = subprocess.Popen(command, stdout=log, stderr=log)
        stack.callback(stop_process, dav_server)
        site = generate_site(service.config_path, f"127.0.0.1:{service.port}", service.output, 80, 443)
        conf = nginx_conf(root, site + dav_server_block(root, ca, radicale_port))
        subprocess.run(["nginx", "-t", "-c", str(conf)], check=True, capture_output=True)
        dns = TxtDnsmasq(root / "dns", names, srv, txt=txt)
        dns.start()
        stack.callback(dns.stop)
        stack.enter_context(loopback_names(names))
        with open(root / "nginx.stderr", "wb") as log:
            nginx = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], stderr=log)
        stack.callback(stop_process, nginx, signal.SIGQUIT)
        deadline = time.monotonic() + 20
        for port in (443, radicale_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"nothing listens on {port}: {radicale_log.read_text()}") from None
                    time.sleep(0.1)
        thunderbird = Thunderbird(root / "thunderbird", local_domains=names, ca_pem=ca.write(root / "ca.pem"))
        thunderbird.start()
        stack.callback(thunderbird.stop)
        yield World(thunderbird, root / "access.log", radicale_log, service)


def expected(domain: str) -> dict[str, Any]:
    user = USERS[domain].replace("@", "%40")  # as radicale writes its links
    return {
        "books": [{"name": "contacts", "url": f"{DAV_URL}{user}/contacts/"}],
        "calendars": [{"provider": "caldav", "name": "calendar", "url": f"{DAV_URL}{user}/calendar/"}],
        "errors": [],
    }


def requests_during(world: World, work: Any) -> tuple[Any, list[str]]:
    """What ``work()`` returned, and the request lines nginx logged meanwhile."""
    before = world.nginx_log.stat().st_size if world.nginx_log.exists() else 0
    result = work()
    time.sleep(0.5)  # nginx writes its access log after the answer
    with open(world.nginx_log, "rb") as log:
        log.seek(before)
        lines = log.read().decode("utf-8", "replace").splitlines()
    return result, [line.split('"')[1] for line in lines if line.count('"') >= 2]


def test_found_through_srv_and_txt(world: World) -> None:
    found, asked = requests_during(world, lambda: world.detect(SRV_DOMAIN))
    assert found == expected(SRV_DOMAIN), (found, asked, world.thunderbird.log()[-3000:])
    # Straight to the context path the TXT record names: no well-known URI was needed.
    assert not [line for line in asked if "/.well-known/" in line], asked
