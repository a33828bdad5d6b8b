"""The pure half of ``probe --servers``: capability lines read (mailproto), sessions judged (mailcheck), the
documents' authentication and username read off each format (verdicts), and ``--connect-to`` parsed.

The sessions here are what the network layer returns (probe/net.py's
dialog), written out; tests/test_probe_mail.py has the real servers.
"""

from __future__ import annotations

import pytest

from mailautoconf.probe import mailcheck
from mailautoconf.probe import mailproto
from mailautoconf.probe import verdicts
from mailautoconf.probe.mailproto import LoginResult
from mailautoconf.probe.mailproto import MailSession
from mailautoconf.probe.net import parse_connect_to
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import TlsInfo
from mailautoconf.probe.report import Verdict

IMAP = MailServer("IMAP", "imap.example.org", 993, "SSL", ("password-cleartext",), "fred@example.org")
GOOD_TLS = TlsInfo(True, "", "", "imap.example.org", "test CA", ("imap.example.org",), 40, version="TLSv1.3")
IMAP_CAPS = ("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN", "a1 OK done")


def session(**changes: object) -> MailSession:
    base = {"server": MailServer("IMAP", "imap.example.org", 993, "SSL"), "tls": GOOD_TLS, "capabilities": IMAP_CAPS}
    base.update(changes)
    return MailSession(**base)  # type: ignore[arg-type]


# -- reading capabilities -------------------------------------------------------------------------------------


def test_imap_capabilities_from_the_greeting_code_and_the_untagged_answer() -> None:
    found = mailproto.offer("IMAP", ("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",))
    assert found.starttls and found.login_disabled and found.mechanisms == frozenset()
    found = mailproto.offer("IMAP", IMAP_CAPS)
    assert not found.starttls and found.mechanisms == {"PLAIN", "LOGIN"}


def test_pop3_capa_and_smtp_ehlo() -> None:
    pop = mailproto.offer("POP3", ("TOP", "UIDL", "SASL PLAIN CRAM-MD5", "USER", "STLS"))
    assert pop.starttls and pop.user_pass and pop.mechanisms == {"PLAIN", "CRAM-MD5"}
    smtp = mailproto.offer("SMTP", ("250-mail.example.org", "250-STARTTLS", "250-AUTH=LOGIN", "250 AUTH SCRAM-SHA-256"))
    assert smtp.starttls and smtp.mechanisms == {"LOGIN", "SCRAM-SHA-256"}


@pytest.mark.parametrize(
    ("protocol", "method", "lines", "offered"),
    [
        ("SMTP", "password-cleartext", ("250-x", "250 AUTH PLAIN"), True),
        ("SMTP", "password-cleartext", ("250-x", "250 AUTH CRAM-MD5"), False),
        ("SMTP", "password-encrypted", ("250-x", "250 AUTH SCRAM-SHA-1"), True),
        ("SMTP", "password-encrypted", ("250-x", "250 AUTH PLAIN LOGIN"), False),
        ("SMTP", "OAuth2", ("250-x", "250 AUTH OAUTHBEARER"), True),
        ("SMTP", "OAuth2", ("250-x", "250 AUTH PLAIN"), False),
        ("IMAP", "password-cleartext", ("* CAPABILITY IMAP4rev1",), True),  # the LOGIN command
        ("IMAP", "password-cleartext", ("* CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=CRAM-MD5",), False),
        ("POP3", "password-cleartext", ("USER",), True),
        ("POP3", "password-cleartext", ("SASL CRAM-MD5",), False),
        ("SMTP", "none", ("250 x",), True),
    ],
)
def test_which_mechanisms_carry_which_method(protocol: str, method: str, lines: tuple[str, ...], offered: bool) -> None:
    assert mailproto.offers_method(protocol, method, mailproto.offer(protocol, lines)) is offered


def test_security_spellings() -> None:
    assert mailproto.normal_security("IMAP", 993, "SSL/TLS") == "SSL"  # Apple: UseSSL on the implicit port
    assert mailproto.normal_security("IMAP", 143, "SSL/TLS") == "STARTTLS"
    assert mailproto.normal_security("SMTP", 587, "STARTTLS") == "STARTTLS"
    assert mailproto.normal_security("SMTP", 25, "plain") == "plain"
    assert mailproto.normal_protocol("SUBMIT") == "SMTP" and mailproto.normal_protocol("CalDAV") is None


# -- judging a session ------------------------------------------------------------------------------------------


def test_a_good_server_is_one_ok_step() -> None:
    steps = mailcheck.judge_session(session(), IMAP)
    assert [step.verdict for step in steps] == [Verdict.OK]
    assert steps[0].label == "IMAP imap.example.org:993 SSL"
    assert "password-cleartext offered" in steps[0].reason and "40 days left" in steps[0].reason


def test_starttls_not_offered_names_server_and_step() -> None:
    failed = session(
        server=MailServer("SMTP", "smtp.example.org", 587, "STARTTLS"),
        tls=None,
        failed_step="STARTTLS",
        error="smtp.example.org:587: STARTTLS is not offered before TLS",
        error_kind="protocol",
    )
    [step] = mailcheck.judge_session(failed, IMAP)
    assert step.verdict is Verdict.FAIL and step.reason.startswith("STARTTLS: ")
    assert step.cause is not None and step.cause.key == "mail-starttls:smtp.example.org:587"
    assert "does not offer STARTTLS" in step.cause.fix and "smtp.example.org:587" in step.cause.fix


def test_a_certificate_without_the_name() -> None:
    tls = TlsInfo(False, "the certificate does not cover imap.b.example", "name", names=("imap.a.example",))
    failed = session(
        server=MailServer("IMAP", "imap.b.example", 993, "SSL"), tls=tls, failed_step="TLS", error="x", error_kind="tls"
    )
    [step] = mailcheck.judge_session(failed, IMAP)
    assert step.cause is not None and step.cause.key == "mail-tls-name:imap.b.example"
    assert "add imap.b.example to the mail server's certificate" in step.cause.fix
    assert "(it is for imap.a.example)" in step.cause.fix


def test_expired_and_closed_and_garbage() -> None:
    tls = TlsInfo(False, "the certificate expired 1 day(s) ago (2020-01-01 00:00 UTC)", "expired")
    [expired] = mailcheck.judge_session(session(tls=tls, failed_step="TLS", error="x", error_kind="tls"), IMAP)
    assert expired.cause is not None and expired.cause.key == "mail-tls-expired:imap.example.org"
    assert expired.cause.fix.startswith("renew the certificate the IMAP server imap.example.org:993 presents")
    refused = session(tls=None, failed_step="connect", error="cannot connect (refused)", error_kind="connect")
    [closed] = mailcheck.judge_session(refused, IMAP)
    assert closed.cause is not None and closed.cause.key == "mail-connect:imap.example.org:993"
    assert "start the IMAP service on port 993" in closed.cause.fix
    garbage = session(
        failed_step="greeting", error="the greeting is not an IMAP server's ('HTTP/1.1 400')", error_kind="protocol"
    )
    [bad] = mailcheck.judge_session(garbage, IMAP)
    assert bad.cause is not None and bad.cause.key == "mail-protocol:imap.example.org:993"


def test_auth_methods_the_document_does_not_name() -> None:
    only_cram = session(capabilities=("* CAPABILITY IMAP4rev1 AUTH=CRAM-MD5 LOGINDISABLED", "a1 OK"))
    steps = mailcheck.judge_session(only_cram, IMAP)
    keys = [step.cause.key for step in steps if step.cause is not None]
    assert keys == ["mail-auth:imap.example.org:993:password-cleartext", "mail-logindisabled:imap.example.org:993"]
    assert "offers CRAM-MD5; LOGINDISABLED after TLS, not PLAIN or LOGIN" in steps[0].reason


def test_login_refused_and_accepted() -> None:
    refused = session(login=LoginResult("fred", "PLAIN", False, "a2 NO [AUTHENTICATIONFAILED] failed."))
    steps = mailcheck.judge_session(refused, IMAP)
    assert [step.verdict for step in steps] == [Verdict.OK, Verdict.FAIL]
    assert steps[1].label == "login IMAP imap.example.org:993 as fred"
    assert steps[1].cause is not None and "refuses the login as 'fred'" in steps[1].cause.fix
    accepted = session(login=LoginResult("fred@example.org", "PLAIN", True, "a2 OK"))
    assert [s.verdict for s in mailcheck.judge_session(accepted, IMAP)] == [Verdict.OK, Verdict.OK]


def test_judge_fails_every_family_given_a_broken_server_with_one_cause() -> None:
    smtp = MailServer("SMTP", "smtp.example.org", 465, "SSL", ("password-cleartext",), "fred@example.org")
    ok = [
        FamilyResult("thunderbird", "Thunderbird", "ok", "configures", (), (IMAP, smtp)),
        FamilyResult("outlook", "Outlook", "ok", "configures", (), (IMAP, smtp)),
        FamilyResult("kmail", "KMail", "fail", "no config", ()),
    ]
    asks = mailcheck.plan(ok, login=False)
    assert [ask.server for ask in asks] == [
        MailServer("IMAP", "imap.example.org", 993, "SSL"),
        MailServer("SMTP", "smtp.example.org", 465, "SSL"),
    ]
    sessions = {
        asks[0]: session(),
        asks[1]: session(server=asks[1].server, tls=None, failed_step="connect", error="refused", error_kind="connect"),
    }
    judged = mailcheck.judge(ok, sessions, login=False)
    assert [result.status for result in judged] == ["fail", "fail", "fail"]
    assert judged[0].causes == judged[1].causes and len(judged[0].causes) == 1
    assert judged[0].summary.startswith("configures, but SMTP smtp.example.org:465 SSL: connect: refused")
    assert judged[2] is ok[2]  # a family that gets no servers is left as it was
    ehlo = ("250-smtp.example.org", "250 AUTH PLAIN LOGIN")
    good = {asks[0]: session(), asks[1]: session(server=asks[1].server, capabilities=ehlo)}
    assert [r.status for r in mailcheck.judge(ok[:2], good, login=False)] == ["ok", "ok"]


def test_login_asks_per_username() -> None:
    other = MailServer("IMAP", "imap.example.org", 993, "SSL", ("password-cleartext",), "fred")
    results = [
        FamilyResult("thunderbird", "Thunderbird", "ok", "", (), (IMAP,)),
        FamilyResult("outlook", "Outlook", "ok", "", (), (other,)),
    ]
    assert len(mailcheck.plan(results, login=False)) == 1
    assert [ask.username for ask in mailcheck.plan(results, login=True)] == ["fred@example.org", "fred"]


# -- what each document says of logging in ---------------------------------------------------------------------

AUTOCONFIG = b"""<clientConfig version="1.1"><emailProvider id="example.org"><domain>example.org</domain>
<incomingServer type="imap"><hostname>imap.%EMAILDOMAIN%</hostname><port>993</port><socketType>SSL</socketType>
<authentication>password-encrypted</authentication><authentication>password-cleartext</authentication>
<username>%EMAILLOCALPART%</username></incomingServer>
<outgoingServer type="smtp"><hostname>smtp.example.org</hostname><port>465</port><socketType>SSL</socketType>
<authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"""


def test_autoconfig_gives_methods_and_filled_username() -> None:
    exchange = Exchange("https://x/", "GET", status=200, content_type="text/xml", body=AUTOCONFIG)
    imap, smtp = verdicts.thunderbird_config(exchange, "fred@example.org").servers
    assert imap.host == "imap.example.org" and imap.authentication == ("password-encrypted", "password-cleartext")
    assert imap.username == "fred" and smtp.username == "fred@example.org"
    assert mailproto.promised(imap.authentication) == "password-encrypted"
    android_imap = verdicts.android_config(AUTOCONFIG, "fred@example.org").servers[0]
    assert android_imap.username == "fred" and android_imap == imap  # compared as before: host, port, security


def test_gnome_logs_in_with_login_or_plain_and_only_an_exact_placeholder() -> None:
    """GNOME never reads <authentication> (LOGIN or PLAIN always) and fills only an exact placeholder (1.15)."""
    document = AUTOCONFIG.replace(b"imap.%EMAILDOMAIN%", b"imap.example.org")  # GNOME fills no host name
    exchange = Exchange("https://x/", "GET", status=200, content_type="text/xml", body=document)
    imap, smtp = verdicts.gnome_config(exchange, "fred@example.org").servers
    assert (imap.authentication, imap.username) == (("password-cleartext",), "fred")
    assert (smtp.authentication, smtp.username) == (("password-cleartext",), "fred@example.org")
    literal = document.replace(b"<username>%EMAILLOCALPART%</username>", b"<username>%EMAILLOCALPART%-x</username>")
    typed = verdicts.gnome_config(Exchange("https://x/", "GET", status=200, body=literal), "fred@example.org")
    assert typed.servers[0].username is None  # the user types it: --login has no username to try


def test_pox_gives_login_name_and_spa() -> None:
    body = b"""<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account>
<AccountType>email</AccountType><Action>settings</Action>
<Protocol><Type>IMAP</Type><Server>imap.example.org</Server><Port>993</Port><LoginName>fred</LoginName>
<SPA>off</SPA><SSL>on</SSL><AuthRequired>on</AuthRequired></Protocol>
<Protocol><Type>SMTP</Type><Server>smtp.example.org</Server><Port>465</Port>
<SPA>on</SPA><SSL>on</SSL><AuthRequired>on</AuthRequired></Protocol>
</Account></Response></Autodiscover>"""
    exchange = Exchange("https://x/", "POST", status=200, content_type="text/xml", body=body)
    imap, smtp = verdicts.pox_response(exchange, "fred@example.org").servers
    assert (imap.authentication, imap.username) == (("password-cleartext",), "fred")
    assert (smtp.authentication, smtp.username) == (("password-encrypted",), None)


# -- --connect-to ------------------------------------------------------------------------------------------------


def test_connect_to_as_curl_takes_it() -> None:
    assert parse_connect_to("autoconfig.example.org:80:127.0.0.1:8080") == (
        "autoconfig.example.org",
        80,
        "127.0.0.1",
        8080,
    )
    assert parse_connect_to("::127.0.0.1:8080") == ("", 0, "127.0.0.1", 8080)
    assert parse_connect_to("example.org:443:[::1]:") == ("example.org", 443, "::1", 0)
    for bad in ("example.org:80:127.0.0.1", "x:99999:y:1", "x:80:y:port"):
        with pytest.raises(ValueError, match="is not HOST:PORT:CONNECT_HOST:CONNECT_PORT"):
            parse_connect_to(bad)
