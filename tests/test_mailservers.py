"""The test world's mail servers (tests/support/mailservers.py) are real and do what they say.

Before Thunderbird, Delta Chat or the probe rely on them (issue 21), Python's
own clients (imaplib, poplib, smtplib) log in to every listener with TLS
verified against the test CA and the host name checked, and the servers'
answers are the ones the fixtures promise: the right login accepted, a wrong
one refused, CRAM-MD5 only when asked for, no STARTTLS when switched off, a
per-name certificate through SNI, and Postfix's submission AUTH answered by
the Dovecot's password file.
"""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import poplib
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.isolation import requires_isolation
from support.mailservers import DEFAULT_LISTENERS
from support.mailservers import Account
from support.mailservers import Dovecot
from support.mailservers import Listener
from support.mailservers import Postfix
from support.mailservers import missing_programs
from support.mailservers import running
from support.pki import CA
from support.tlsnet import loopback_names

MISSING = missing_programs()
installed = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (tests/run.sh installs them)"
)

FRED = Account("fred@example.org", "correct horse")
HOST = "mail.example.org"
# Served by the same Dovecot with a certificate of its own (SNI): one that lacks the name, one expired.
WRONG_NAME = "wrong.example.org"
EXPIRED = "expired.example.org"
CRAM_HOST, CRAM_ADDRESS = "cram.example.org", "127.0.0.2"
PLAIN_HOST, PLAIN_ADDRESS = "plain.example.org", "127.0.0.3"
SMTP_HOST, SMTP_ADDRESS = "smtp.example.org", "127.0.0.4"
TIMEOUT = 10


@dataclass(frozen=True)
class Servers:
    ca_file: Path
    main: Dovecot
    cram: Dovecot
    plain: Dovecot
    postfix: Postfix


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("mailservers")
    ca = CA.create()
    now = datetime.timedelta(0)
    certificates = {
        WRONG_NAME: b"".join(ca.issue(["somewhere-else.example.org"])),
        EXPIRED: b"".join(ca.issue([EXPIRED], days=-1, starts=now - datetime.timedelta(days=3))),
    }
    main = Dovecot(root / "main", ca, names=[HOST], accounts=[FRED], certificates=certificates)
    cram = Dovecot(
        root / "cram",
        ca,
        names=[CRAM_HOST],
        accounts=[FRED],
        address=CRAM_ADDRESS,
        listeners=[Listener("imap", 993, "SSL"), Listener("pop3", 110, "STARTTLS")],
        auth_mechanisms=("cram-md5",),
    )
    plain = Dovecot(
        root / "plain",
        ca,
        names=[PLAIN_HOST],
        accounts=[FRED],
        address=PLAIN_ADDRESS,
        listeners=[
            Listener("imap", 143, "STARTTLS"),
            Listener("pop3", 110, "STARTTLS"),
            Listener("submission", 587, "STARTTLS"),
        ],
        starttls=False,
    )
    postfix = Postfix(root / "postfix", ca, names=[SMTP_HOST], dovecot=main, address=SMTP_ADDRESS)
    addresses = {CRAM_HOST: CRAM_ADDRESS, PLAIN_HOST: PLAIN_ADDRESS, SMTP_HOST: SMTP_ADDRESS}
    with loopback_names([HOST, WRONG_NAME, EXPIRED], addresses=addresses), running(main, cram, plain, postfix):
        yield Servers(ca.write(root / "ca.pem"), main, cram, plain, postfix)


def context(servers: Servers) -> ssl.SSLContext:
    """Trusts the test CA only, checks the host name: what a client must do."""
    verified = ssl.create_default_context(cafile=str(servers.ca_file))
    assert verified.check_hostname and verified.verify_mode == ssl.CERT_REQUIRED
    return verified


@contextlib.contextmanager
def session(
    servers: Servers, listener: Listener, host: str = HOST
) -> Iterator[imaplib.IMAP4 | poplib.POP3 | smtplib.SMTP]:
    """A connection to ``host`` on ``listener`` with TLS up (implicit or by STARTTLS), not logged in."""
    tls = context(servers)
    client: imaplib.IMAP4 | poplib.POP3 | smtplib.SMTP
    if listener.protocol == "imap":
        if listener.implicit_tls:
            client = imaplib.IMAP4_SSL(host, listener.port, ssl_context=tls, timeout=TIMEOUT)
        else:
            client = imaplib.IMAP4(host, listener.port, timeout=TIMEOUT)
            client.starttls(ssl_context=tls)
    elif listener.protocol == "pop3":
        if listener.implicit_tls:
            client = poplib.POP3_SSL(host, listener.port, context=tls, timeout=TIMEOUT)
        else:
            client = poplib.POP3(host, listener.port, timeout=TIMEOUT)
            client.stls(context=tls)
    else:
        if listener.implicit_tls:
            client = smtplib.SMTP_SSL(host, listener.port, context=tls, timeout=TIMEOUT)
        else:
            client = smtplib.SMTP(host, listener.port, timeout=TIMEOUT)
            client.starttls(context=tls)
        client.ehlo()
    try:
        yield client
    finally:
        close(client)


def close(client: imaplib.IMAP4 | poplib.POP3 | smtplib.SMTP) -> None:
    """End the session and close the socket (imaplib's close() is IMAP's CLOSE command)."""
    if isinstance(client, imaplib.IMAP4):
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(OSError):
            client.shutdown()
    else:
        client.close()


def login(client: imaplib.IMAP4 | poplib.POP3 | smtplib.SMTP, account: Account) -> str:
    """Log in with the protocol's usual command; the server's answer."""
    if isinstance(client, imaplib.IMAP4):
        status, lines = client.login(account.login, account.password)
        assert status == "OK"
        client.select("INBOX")  # a session that works after the login, not only the login
        return repr(lines)
    if isinstance(client, poplib.POP3):
        client.user(account.login)
        answer = client.pass_(account.password).decode()
        client.stat()
        return answer
    code, message = client.login(account.login, account.password)
    return f"{code} {message.decode()}"


def listener_id(listener: Listener) -> str:
    return f"{listener.protocol}-{listener.port}-{listener.socket_type}"


@requires_isolation
@installed
@pytest.mark.parametrize("listener", DEFAULT_LISTENERS, ids=listener_id)
def test_login_on_every_listener(servers: Servers, listener: Listener) -> None:
    with session(servers, listener) as client:
        assert login(client, FRED)


@requires_isolation
@installed
@pytest.mark.parametrize(
    ("listener", "wrong"),
    [
        *(
            pytest.param(x, Account(FRED.login, "wrong password"), id=f"wrong-password-{listener_id(x)}")
            for x in DEFAULT_LISTENERS
        ),
        *(
            pytest.param(x, Account("fred", FRED.password), id=f"localpart-only-{listener_id(x)}")
            for x in DEFAULT_LISTENERS
            if x.implicit_tls
        ),
    ],
)
def test_wrong_login_refused(servers: Servers, listener: Listener, wrong: Account) -> None:
    """A wrong password (every listener) and a username form the server does not know are refused.

    Dovecot answers a failed login after up to half a second (its auth
    process's failure queue), so the username form is tried once per protocol.
    """
    refused = (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPAuthenticationError)
    with session(servers, listener) as client, pytest.raises(refused):
        login(client, wrong)


@requires_isolation
@installed
@pytest.mark.parametrize(
    ("host", "error"),
    [(WRONG_NAME, "Hostname mismatch"), (EXPIRED, "certificate has expired")],
    ids=["name-missing", "expired"],
)
def test_certificate_per_name(servers: Servers, host: str, error: str) -> None:
    """The ``certificates`` mapping: Dovecot presents that name's own certificate (SNI), which fails as made."""
    with pytest.raises(ssl.SSLCertVerificationError, match=error):
        imaplib.IMAP4_SSL(host, 993, ssl_context=context(servers), timeout=TIMEOUT)
    # The same server, asked for its default name, is trusted.
    with session(servers, Listener("imap", 993, "SSL")) as client:
        assert login(client, FRED)


@requires_isolation
@installed
def test_cram_md5_only_when_asked(servers: Servers) -> None:
    with session(servers, Listener("imap", 993, "SSL")) as client:
        assert isinstance(client, imaplib.IMAP4)
        offered = {c for c in client.capabilities if c.startswith("AUTH=")}
        assert offered == {"AUTH=PLAIN", "AUTH=LOGIN"}
    with session(servers, Listener("imap", 993, "SSL"), CRAM_HOST) as client:
        assert isinstance(client, imaplib.IMAP4)
        assert {c for c in client.capabilities if c.startswith("AUTH=")} == {"AUTH=CRAM-MD5"}
        with pytest.raises(imaplib.IMAP4.error, match="Unsupported authentication mechanism"):
            client.login(FRED.login, FRED.password)  # LOGIN is PLAIN inside Dovecot
    with session(servers, Listener("imap", 993, "SSL"), CRAM_HOST) as client:
        assert isinstance(client, imaplib.IMAP4)
        assert client.login_cram_md5(FRED.login, FRED.password)[0] == "OK"
    with session(servers, Listener("pop3", 110, "STARTTLS"), CRAM_HOST) as client:
        assert isinstance(client, poplib.POP3)
        assert client.capa()["SASL"] == ["CRAM-MD5"]


@requires_isolation
@installed
def test_no_starttls_when_switched_off(servers: Servers) -> None:
    """starttls=False: no STARTTLS in IMAP CAPABILITY, POP3 CAPA or SMTP EHLO, and no plain-text login either."""
    imap = imaplib.IMAP4(PLAIN_HOST, 143, timeout=TIMEOUT)
    try:
        assert "STARTTLS" not in imap.capabilities
        # From 127.0.0.1 to 127.0.0.3 is not "secure" for Dovecot: it refuses passwords in the clear.
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="Plaintext authentication disallowed"):
            imap.login(FRED.login, FRED.password)
    finally:
        imap.shutdown()
    pop = poplib.POP3(PLAIN_HOST, 110, timeout=TIMEOUT)
    try:
        assert "STLS" not in pop.capa()
    finally:
        pop.close()
    with smtplib.SMTP(PLAIN_HOST, 587, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
    # ... while the default instance offers it on the same ports.
    with smtplib.SMTP(HOST, 587, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")


@requires_isolation
@installed
def test_postfix_submission_auth_via_dovecot(servers: Servers) -> None:
    """Postfix offers AUTH only after STARTTLS on 587, and the Dovecot's password file decides."""
    with smtplib.SMTP(SMTP_HOST, 587, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
    for listener in servers.postfix.listeners:
        with session(servers, listener, SMTP_HOST) as client:
            assert isinstance(client, smtplib.SMTP)
            assert set(client.esmtp_features["auth"].upper().split()) == {"PLAIN", "LOGIN"}
            assert login(client, FRED).startswith("235 ")
        with session(servers, listener, SMTP_HOST) as client, pytest.raises(smtplib.SMTPAuthenticationError):
            login(client, Account(FRED.login, "wrong password"))


@requires_isolation
@installed
def test_dovecot_submission_relays_to_postfix(servers: Servers) -> None:
    """A message sent after the login goes through the Dovecot's relay to the Postfix, which discards it."""
    position = servers.main.log_position()
    with session(servers, Listener("submission", 587, "STARTTLS")) as client:
        assert isinstance(client, smtplib.SMTP)
        login(client, FRED)
        assert client.sendmail(FRED.login, ["someone@example.net"], b"Subject: test\r\n\r\nHello\r\n") == {}
    # Dovecot's processes log through its master, a moment after the answer.
    assert "Successfully relayed message" in servers.main.log_since(position, "Successfully relayed message")


def test_settings_that_contradict_are_refused(tmp_path: Path) -> None:
    """Dovecot switches TLS per address, not per port: no implicit-TLS listener without STARTTLS."""
    ca = CA.create()
    with pytest.raises(ValueError, match="starttls=False"):
        Dovecot(tmp_path, ca, names=[HOST], accounts=[FRED], starttls=False)
    with pytest.raises(ValueError, match="protocol"):
        Listener("jmap", 443, "SSL")
    with pytest.raises(ValueError, match="two listeners on one port"):
        Dovecot(tmp_path, ca, names=[HOST], accounts=[FRED], listeners=[Listener("imap", 143, "STARTTLS")] * 2)
    assert "correct horse" not in repr(FRED)
