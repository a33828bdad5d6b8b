"""The real Thunderbird logs in with the settings it found (issue 21).

test_thunderbird.py proves that Thunderbird *reads* the account the TOML
describes. Here it goes one step further, as its account hub does before it
creates an account: ``ConfigVerifier.verifyConfig`` (called over Marionette
by tests/support/thunderbird.py) logs in to the incoming server of the found
config with the password. The servers are a real Dovecot
(tests/support/mailservers.py) on the host names, ports and TLS modes of the
config, with a certificate from the CA the profile trusts, and a password
file that knows ``fred@<d>`` for every hosted domain.

- shared host names (``mail.<provider>``) and per-domain host names
  (``imap.<d>``, the seed's case, the certificate covering them): the
  account hub's discovery finds autoconfig, and the login succeeds with the
  TOML's username on the TOML's host;
- a per-domain host name the certificate does not cover: the login fails
  on the certificate, the hub would ask the user for an exception;
- a username form the server does not know (``{localpart}`` where the
  server knows ``fred@<d>``): the login fails with Thunderbird's own error.
  Thunderbird tries no other username here: it alters usernames and methods
  only for configs that did not come from an XML document.

Thunderbird 153 verifies the incoming server only ("we currently have no
SMTP verification", ConfigVerifier.sys.mjs): the SMTP server is not asked,
which the Dovecot log shows.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.configs import provider
from support.configs import server
from support.configs import service
from support.hoster import mail_names
from support.hoster import web_names
from support.isolation import requires_isolation
from support.mailservers import Account
from support.mailservers import Dovecot
from support.mailservers import missing_programs
from support.pki import CA
from support.service import Service
from support.thunderbird import Thunderbird
from support.thunderbird import Verification
from support.tlsnet import Dnsmasq
from support.tlsnet import Nginx
from support.tlsnet import Site
from support.tlsnet import loopback_names
from support.tlsnet import require_programs

from mailautoconf.config import loads
from mailautoconf.model import Config

MISSING = require_programs("thunderbird", "nginx", "dnsmasq", "certutil") + missing_programs()
pytestmark = [
    requires_isolation,
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (tests/run.sh installs them)"),
]

LOCALPART = "fred"
PASSWORD = "not-a-real-password"
SHARED = ["shared-one.example", "shared-two.test"]
PER_DOMAIN = ["customer-a.example", "customer-b.test"]
# Per-domain host names, but the mail server's certificate for imap.<d> lacks the name.
UNCOVERED = "customer-c.example"
# The TOML gives the local part as the username; the server knows only the address.
WRONG_FORM = "localpart.example"

CONFIG_TEXT = (
    service("autoconfig.hoster.example")
    + provider("shared.example", SHARED, "mail.hoster.example")
    + provider("perdomain.example", [*PER_DOMAIN, UNCOVERED], incoming="imap.{domain}", outgoing="smtp.{domain}")
    + f'\n[[provider]]\nid = "wrongform.example"\ndisplay_name = "Wrong Form"\ndomains = ["{WRONG_FORM}"]\n\n'
    + server("incoming", "imap", "mail.hoster.example", 993, "SSL", username="{localpart}")
    + "\n"
    + server("outgoing", "smtp", "mail.hoster.example", 465, "SSL", username="{localpart}")
)
CONFIG = loads(CONFIG_TEXT, source="login").config


@dataclass(frozen=True)
class World:
    thunderbird: Thunderbird
    dovecot: Dovecot
    config: Config


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The service behind nginx and dnsmasq, a Dovecot on the config's mail host names, one Thunderbird."""
    root = tmp_path_factory.mktemp("thunderbird-login")
    with contextlib.ExitStack() as stack:
        service_ = Service(root / "service", CONFIG_TEXT)
        stack.callback(service_.stop)
        service_.start()
        trusted = CA.create("mailautoconf test CA")
        web = web_names(CONFIG)
        nginx = Nginx(root / "nginx", trusted, [Site(tuple(web), service_.port, CONFIG.service.public_hostname)])
        stack.callback(nginx.stop)
        nginx.start()

        mail = mail_names(CONFIG)
        names = web + mail
        dns = Dnsmasq(root / "dns", names)
        stack.callback(dns.stop)
        dns.start()
        stack.enter_context(loopback_names(names))

        accounts = [Account(f"{LOCALPART}@{domain}", PASSWORD) for domain in CONFIG.domains()]
        # The certificate for imap.<UNCOVERED> names another host: what a hoster that forgot one
        # customer domain serves for it (Dovecot picks it by SNI).
        elsewhere = b"".join(trusted.issue([f"imap.{PER_DOMAIN[0]}"]))
        dovecot = Dovecot(
            root / "dovecot", trusted, names=mail, accounts=accounts, certificates={f"imap.{UNCOVERED}": elsewhere}
        )
        stack.callback(dovecot.stop)
        dovecot.start()

        thunderbird = Thunderbird(root / "thunderbird", local_domains=names, ca_pem=trusted.write(root / "ca.pem"))
        stack.callback(thunderbird.stop)
        thunderbird.start()
        yield World(thunderbird, dovecot, CONFIG)


def expected_incoming(config: Config, domain: str) -> tuple[str, int]:
    """(host, port) of the first incoming server the TOML gives ``domain``: the one Thunderbird uses."""
    provider_, hosted = config.domains()[domain]
    first = next(s for s in provider_.resolve_servers(hosted) if s.direction == "incoming")
    return first.hostname, first.port


def cannot_login_message() -> str:
    """Thunderbird's own "cannot-login-error" text (en-US), read from its omni.ja."""
    with zipfile.ZipFile(Path("/usr/lib/thunderbird/omni.ja")) as omni:
        text = omni.read("localization/en-US/messenger/accountcreation/accountCreation.ftl").decode("utf-8")
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cannot-login-error":
            return value.strip()
    raise AssertionError("Thunderbird's accountCreation.ftl has no cannot-login-error")


def verify(world: World, domain: str) -> tuple[Verification, str]:
    """The hub's discovery and login check for fred@``domain``; the Dovecot log lines it caused."""
    position = world.dovecot.log_position()
    verification = world.thunderbird.verify(domain, f"{LOCALPART}@{domain}", password=PASSWORD)
    assert verification.found is not None, (
        f"Thunderbird found no config: {verification.discovery_error}\n{world.thunderbird.log()[-3000:]}"
    )
    expected = "Login: " if verification.verified else "Disconnected"
    return verification, world.dovecot.log_since(position, expected)


@pytest.mark.parametrize(
    "domain",
    [pytest.param(d, id=f"shared-{d}") for d in SHARED] + [pytest.param(d, id=f"per-domain-{d}") for d in PER_DOMAIN],
)
def test_thunderbird_logs_in(world: World, domain: str) -> None:
    verification, log = verify(world, domain)
    assert verification.found is not None
    host, port = expected_incoming(world.config, domain)
    found = verification.found["incoming"]
    assert (found["hostname"], found["port"], found["socketType"]) == (host, port, "SSL")
    assert verification.found["subSource"] == "xml-from-isp-https"
    assert verification.verified, f"{verification.error}\n--- dovecot.log ---\n{log}"
    assert verification.alter is False  # an XML config: the username is used as given
    assert verification.incoming is not None
    assert verification.incoming["username"] == f"{LOCALPART}@{domain}"
    # The real server saw it: an IMAP login over TLS as fred@<d>, and nothing on its submission ports.
    logins = [line for line in log.splitlines() if "imap-login: Info: Login:" in line]
    assert len(logins) == 1, log
    assert f"user=<{LOCALPART}@{domain}>" in logins[0]
    assert "method=PLAIN" in logins[0] and ", TLS," in logins[0]
    assert "submission-login" not in log


def test_uncovered_host_name_fails_on_the_certificate(world: World) -> None:
    """imap.<d> whose certificate names another host: Thunderbird does not log in, it would ask the user."""
    verification, log = verify(world, UNCOVERED)
    assert verification.found is not None
    assert verification.found["incoming"]["hostname"] == f"imap.{UNCOVERED}"
    assert not verification.verified
    assert verification.certificate_errors == [
        {"location": f"imap.{UNCOVERED}:993", "error": "SSL_ERROR_BAD_CERT_DOMAIN"}
    ]
    assert verification.error is not None
    assert verification.error["message"] == cannot_login_message()
    assert "Login: " not in log


def test_wrong_username_form_fails_in_verification(world: World) -> None:
    """TOML ``{localpart}``, server ``fred@<d>``: Thunderbird's login check fails with its own error."""
    verification, log = verify(world, WRONG_FORM)
    assert verification.found is not None
    assert verification.found["incoming"]["username"] == LOCALPART  # the TOML's form, as found
    assert not verification.verified
    assert verification.alter is False  # no retry with the address: the config came from XML
    assert verification.error is not None
    assert verification.error["message"] == cannot_login_message()
    assert verification.certificate_errors == []
    # The server was asked, with the username the TOML gave, and refused it.
    assert f"user=<{LOCALPART}>" in log and "auth failed" in log, log
    assert "Login: " not in log
