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
real CalDAV/CardDAV server (Debian's radicale) behind nginx, for three
domains of one config:

- ``srv.example``: the DAV host ``dav.example.net`` under a context path
  (``/dav/``) that only our TXT record names: nothing else leads there.
  The SRV and TXT records are those ``service.py dns`` prints, served by
  dnsmasq.
- ``same.example``: no DAV records in DNS; its URLs are
  ``https://{domain}/dav/``, which the generated site (``--well-known
  --dav-upstream``, deploy/davnginx.py) proxies to the DAV server. The
  well-known redirect alone leads Thunderbird there: it stays within the
  origin ``https://same.example``.
- ``cross.example``: no DAV records in DNS either, its well-known URIs
  redirect to ``dav.example.net``. Thunderbird follows the 301, the DAV
  server answers 207, and Thunderbird reports "Connection error"
  (NS_ERROR_FAILURE): both detections open their channel with a content
  principal of the first URL and ``SEC_ALLOW_CROSS_ORIGIN_SEC_CONTEXT_IS_NULL``
  (``CardDAVUtils.makeRequest``; ``cal.provider.prepHttpChannel`` for
  ``CalDavRequestBase``), so after a redirect to another origin the answer
  is opaque and Gecko's Opaque Response Blocking cancels it (``MOZ_LOG=ORB:5``:
  "Blocked: Javascript validation failed"). The test shows the outcome and,
  with ``browser.opaqueResponseBlocking`` off, that ORB is all that stops it.
  Not the cause: ``asyncOnChannelRedirect`` (CardDAVUtils' and
  CalDavRequest's) abandons a cross-origin redirect only when the request
  already carries an Authorization header, which these first requests do
  not (it would with OAuth2, whose Bearer header is set up front).

The mail names are served by the generated nginx site.
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
from support.tlsnet import DNS_TYPES
from support.tlsnet import Dnsmasq
from support.tlsnet import SrvRecord
from support.tlsnet import dns_answer_count
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
SAME_DOMAIN = "same.example"  # its DAV URLs on its own name, found through the well-known redirect alone
CROSS_DOMAIN = "cross.example"  # no DAV records, the well-known redirect to DAV_HOST
USERS = {SRV_DOMAIN: f"fred@{SRV_DOMAIN}", SAME_DOMAIN: f"barney@{SAME_DOMAIN}", CROSS_DOMAIN: f"wilma@{CROSS_DOMAIN}"}
# Thunderbird's Opaque Response Blocking switch (Gecko's browser.opaqueResponseBlocking, on by default).
ORB_PREF = "browser.opaqueResponseBlocking"


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
domains = ["{SRV_DOMAIN}", "{SAME_DOMAIN}", "{CROSS_DOMAIN}"]
caldav = {{ url = "{DAV_URL}", username = "{{address}}" }}
carddav = {{ url = "{DAV_URL}", username = "{{address}}" }}

[provider.overrides."{SAME_DOMAIN}"]
caldav = {{ url = "https://{{domain}}/dav/", username = "{{address}}" }}
carddav = {{ url = "https://{{domain}}/dav/", username = "{{address}}" }}

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def radicale(folder: Path) -> tuple[list[str], int]:
    """Radicale's command line, with a calendar and an address book for each user; its port."""
    port = free_port()
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


def dav_server_block(folder: Path, ca: CA, radicale_port: int, front_port: int) -> str:
    """The DAV host behind nginx, at /dav/ only: radicale builds its links from X-Script-Name.

    The same on ``127.0.0.1:front_port`` over http: the DAV server as the
    generated site's ``--dav-upstream`` reaches it, radicale at /dav/ as its
    documentation puts it behind a reverse proxy.
    """
    ca.issue_files([DAV_HOST], folder / "dav-cert")
    return f"""
server {{
    listen 127.0.0.1:{front_port};
    location /dav/ {{
        proxy_pass http://127.0.0.1:{radicale_port}/;
        proxy_set_header X-Script-Name /dav;
        proxy_set_header Host $host;
    }}
    location / {{ return 404; }}
}}

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
const failure = e => `${e?.name ?? typeof e}: ${e?.message ?? e}`;
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

    def detect(self, domain: str, *, opaque_response_blocking: bool = True) -> dict[str, Any]:
        """What Thunderbird's detection finds for ``domain``'s user; ORB off only for this call if asked."""
        client = self.thunderbird.client
        assert client is not None
        if opaque_response_blocking:
            return self._detect(domain)
        client.execute_script(f"Services.prefs.setBoolPref({ORB_PREF!r}, false);")
        try:
            return self._detect(domain)
        finally:
            client.execute_script(f"Services.prefs.clearUserPref({ORB_PREF!r});")

    def _detect(self, domain: str) -> dict[str, Any]:
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
    # The domains' own names: the well-known URIs are asked there.
    names = [DAV_HOST, *USERS, *(f"{p}.{d}" for p in ("autoconfig", "autodiscover") for d in USERS)]
    with contextlib.ExitStack() as stack:
        service = Service(root / "service", text).start()
        stack.callback(service.stop)
        command, radicale_port = radicale(root)
        front_port = free_port()
        radicale_log = root / "radicale.log"
        with open(radicale_log, "wb") as log:
            dav_server = subprocess.Popen(command, stdout=log, stderr=log)
        stack.callback(stop_process, dav_server)
        site = generate_site(
            service.config_path,
            f"127.0.0.1:{service.port}",
            service.output,
            80,
            443,
            well_known=True,
            dav_upstream=f"127.0.0.1:{front_port}",
        )
        assert "location ^~ /dav/ " in site, site
        conf = nginx_conf(root, site + dav_server_block(root, ca, radicale_port, front_port))
        subprocess.run(["nginx", "-t", "-c", str(conf)], check=True, capture_output=True)
        dns = TxtDnsmasq(root / "dns", names, srv, txt=txt)
        dns.start()
        stack.callback(dns.stop)
        stack.enter_context(loopback_names(names))
        with open(root / "nginx.stderr", "wb") as log:
            nginx = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], stderr=log)
        stack.callback(stop_process, nginx, signal.SIGQUIT)
        deadline = time.monotonic() + 20
        for port in (443, radicale_port, front_port):
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


def expected(domain: str, dav_url: str = DAV_URL) -> dict[str, Any]:
    user = USERS[domain].replace("@", "%40")  # as radicale writes its links
    return {
        "books": [{"name": "contacts", "url": f"{dav_url}{user}/contacts/"}],
        "calendars": [{"provider": "caldav", "name": "calendar", "url": f"{dav_url}{user}/calendar/"}],
        "errors": [],
    }


def answers_during(world: World, work: Any) -> tuple[Any, list[tuple[str, str]]]:
    """What ``work()`` returned, and the (request line, status) pairs nginx logged meanwhile."""
    before = world.nginx_log.stat().st_size if world.nginx_log.exists() else 0
    result = work()
    time.sleep(0.5)  # nginx writes its access log after the answer
    with open(world.nginx_log, "rb") as log:
        log.seek(before)
        lines = log.read().decode("utf-8", "replace").splitlines()
    parts = [line.split('"') for line in lines if line.count('"') >= 2]
    return result, [(part[1], part[2].split()[0]) for part in parts]


def requests_during(world: World, work: Any) -> tuple[Any, list[str]]:
    """What ``work()`` returned, and the request lines nginx logged meanwhile."""
    result, answers = answers_during(world, work)
    return result, [line for line, _status in answers]


def no_dav_records(domain: str) -> bool:
    """Whether the test DNS server has no CalDAV/CardDAV SRV record for ``domain``: the redirect is all there is."""
    return all(
        dns_answer_count(f"{label}.{domain}", DNS_TYPES["SRV"]) == 0 for label in ("_caldavs._tcp", "_carddavs._tcp")
    )


def test_found_through_srv_and_txt(world: World) -> None:
    found, asked = requests_during(world, lambda: world.detect(SRV_DOMAIN))
    assert found == expected(SRV_DOMAIN), (found, asked, world.thunderbird.log()[-3000:])
    # Straight to the context path the TXT record names: no well-known URI was needed.
    assert not [line for line in asked if "/.well-known/" in line], asked


def test_found_through_the_well_known_redirect_within_one_origin(world: World) -> None:
    assert no_dav_records(SAME_DOMAIN)
    found, answers = answers_during(world, lambda: world.detect(SAME_DOMAIN))
    assert found == expected(SAME_DOMAIN, f"https://{SAME_DOMAIN}/dav/"), (
        found,
        answers,
        world.thunderbird.log()[-3000:],
    )
    # Both found through the service's 301 on the domain's own name, then the proxied DAV path.
    assert ("PROPFIND /.well-known/carddav HTTP/2.0", "301") in answers, answers
    assert ("PROPFIND /.well-known/caldav HTTP/2.0", "301") in answers, answers
    assert ("PROPFIND /dav/ HTTP/2.0", "207") in answers, answers


def test_a_well_known_redirect_to_another_origin_is_blocked_by_thunderbird(world: World) -> None:
    """What Thunderbird 153 does: it follows the 301, gets the 207, and its ORB drops the answer."""
    assert no_dav_records(CROSS_DOMAIN)
    logged = len(world.thunderbird.log())
    found, answers = answers_during(world, lambda: world.detect(CROSS_DOMAIN))
    errors = ["address books: NS_ERROR_FAILURE: Connection error", "calendars: NoneFoundError: "]
    assert found == {"books": None, "calendars": None, "errors": errors}, found
    # The calendar provider logs the well-known attempt's error and reports only that it found none.
    log = world.thunderbird.log()[logged:]
    assert "Could not detect calendar using method wellKnown" in log and '"Connection error"' in log, log[-3000:]
    assert ("PROPFIND /.well-known/carddav HTTP/2.0", "301") in answers, answers
    assert ("PROPFIND /.well-known/caldav HTTP/2.0", "301") in answers, answers
    assert ("PROPFIND /dav/ HTTP/2.0", "207") in answers, answers  # the DAV server answered; Thunderbird dropped it
    # ORB is all that stands in the way: with it off, the same redirect leads to both.
    assert world.detect(CROSS_DOMAIN, opaque_response_blocking=False) == expected(CROSS_DOMAIN)
