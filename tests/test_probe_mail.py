"""``probe --servers`` and ``--login`` against real Dovecot and Postfix instances (support/mailservers.py), and
``--connect-to`` against the real service on a free port, as the README's quick start runs it.

The world: the service on a free 127.0.0.1 port with a config of one
provider per kind of break, reached with ``--connect-to autoconfig.<d>:80:...``
(KMail's walk: plain http, no DNS); the mail host names sent with
``--resolve`` to three Dovecot instances on 127.0.0.1 (a certificate per
name by SNI), 127.0.0.2 (no TLS at all, so no STARTTLS) and 127.0.0.3 (CRAM-MD5
only), and to 127.0.0.4, where nothing listens; two domains send SMTP to
Postfix, with STARTTLS and AUTH through the first Dovecot on 127.0.0.5, and
without TLS on 127.0.0.6. Every broken domain must be
reported by its cause, naming the server and the step; the good one with
no finding at all.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.isolation import requires_isolation
from support.mailservers import Account
from support.mailservers import Dovecot
from support.mailservers import Listener
from support.mailservers import Postfix
from support.mailservers import missing_programs
from support.mailservers import running
from support.paths import ROOT
from support.pki import CA
from support.service import Service

pytestmark = [
    requires_isolation,
    pytest.mark.skipif(bool(missing_programs()), reason=f"needs {', '.join(missing_programs())}"),
]

PASSWORD = "Wr0ng-if-you-see-me-7f3a"  # must appear in no output and no log
GOOD = "good.example"
BADCERT = "badcert.example"  # the certificate the server presents lacks imap.badcert.example
EXPIRED = "expired.example"  # imap.expired.example's certificate (by SNI) expired yesterday
NOSTARTTLS = "nostarttls.example"  # the document says STARTTLS on 143; the server has no TLS
CRAMONLY = "cramonly.example"  # the server offers CRAM-MD5 only; the document says password-cleartext
CLOSED = "closed.example"  # nothing listens where imap.closed.example points
LOCALPART = "localpart.example"  # the document gives "fred", the server knows "fred@localpart.example"
POSTFIX = "postfix.example"  # SMTP submission by Postfix, SASL through the Dovecot
POSTFIX_NOTLS = "postfix-notls.example"  # Postfix without TLS: the document's STARTTLS is not offered
PLAIN = "plain.example"  # the document says plain (no TLS) for IMAP on 143, the TLS-less Dovecot
ADDRESS_DOMAINS = (GOOD, BADCERT, EXPIRED, CRAMONLY, CLOSED)

WHERE = {GOOD: "127.0.0.1", BADCERT: "127.0.0.1", EXPIRED: "127.0.0.1", LOCALPART: "127.0.0.1"}
WHERE |= {NOSTARTTLS: "127.0.0.2", CRAMONLY: "127.0.0.3", CLOSED: "127.0.0.4", PLAIN: "127.0.0.2"}
WHERE |= {POSTFIX: "127.0.0.1", POSTFIX_NOTLS: "127.0.0.1"}
SMTP_WHERE = {POSTFIX: "127.0.0.5", POSTFIX_NOTLS: "127.0.0.6"}


def _provider(ident: str, domains: tuple[str, ...], imap_port: int, socket_type: str, username: str) -> str:
    return f"""
[[provider]]
id = "{ident}"
display_name = "{ident}"
domains = {json.dumps(list(domains))}

[[provider.incoming]]
type = "imap"
hostname = "imap.{{domain}}"
port = {imap_port}
socket_type = "{socket_type}"
authentication = ["password-cleartext"]
username = "{username}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.{{domain}}"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{username}"
"""


CONFIG = (
    '[service]\npublic_hostname = "autoconfig.example.net"\n'
    + _provider("address.example", ADDRESS_DOMAINS, 993, "SSL", "{address}")
    + _provider("starttls.example", (NOSTARTTLS,), 143, "STARTTLS", "{address}")
    + _provider("localpart.example", (LOCALPART,), 993, "SSL", "{localpart}")
    + _provider("postfix.example", (POSTFIX, POSTFIX_NOTLS), 993, "SSL", "{address}")
    + _provider("plain.example", (PLAIN,), 143, "plain", "{address}")
)


@dataclass
class MailWorld:
    service: Service
    ca_file: Path
    dovecot: Dovecot
    no_tls: Dovecot

    def options(self, domain: str) -> list[str]:
        smtp_ip = SMTP_WHERE.get(domain, "127.0.0.1")
        imap_port = 143 if domain in (NOSTARTTLS, PLAIN) else 993
        return [
            "--connect-to", f"autoconfig.{domain}:80:127.0.0.1:{self.service.port}",
            "--resolve", f"imap.{domain}:{imap_port}:{WHERE[domain]}",
            "--resolve", f"smtp.{domain}:587:{smtp_ip}",
        ]  # fmt: skip

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "service.py", "probe", "--ca", str(self.ca_file), "--client", "kmail", *args]
        environment = {k: v for k, v in os.environ.items() if k != "MAILAUTOCONF_PROBE_PASSWORD"} | (env or {})
        return subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment, input=stdin
        )

    def report(self, domain: str, *extra: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = self.run("--json", "--servers", f"fred@{domain}", *self.options(domain), *extra, **kwargs)
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailWorld]:
    folder = tmp_path_factory.mktemp("probemail")
    ca = CA.create()
    accounts = [Account(f"fred@{d}", PASSWORD) for d in (GOOD, LOCALPART, NOSTARTTLS, CRAMONLY, POSTFIX, PLAIN)]
    names = [f"{p}.{d}" for d in WHERE for p in ("imap", "smtp") if f"{p}.{d}" != f"imap.{BADCERT}"]
    expired = b"".join(ca.issue([f"imap.{EXPIRED}"], days=-1, starts=-datetime.timedelta(days=30)))
    imap_smtp = [Listener("imap", 993, "SSL"), Listener("submission", 587, "STARTTLS")]
    main = Dovecot(
        folder / "main", ca, names=names, accounts=accounts, listeners=imap_smtp,
        certificates={f"imap.{EXPIRED}": expired},
    )  # fmt: skip
    no_tls = Dovecot(
        folder / "notls", ca, names=[f"imap.{NOSTARTTLS}"], accounts=accounts, address="127.0.0.2",
        listeners=[Listener("imap", 143, "STARTTLS")], starttls=False,
    )  # fmt: skip
    cram = Dovecot(
        folder / "cram", ca, names=[f"imap.{CRAMONLY}"], accounts=accounts, address="127.0.0.3",
        listeners=[Listener("imap", 993, "SSL")], auth_mechanisms=("cram-md5",),
    )  # fmt: skip
    submission = [Listener("submission", 587, "STARTTLS")]
    postfix = Postfix(
        folder / "postfix", ca, names=[f"smtp.{POSTFIX}"], dovecot=main, address="127.0.0.5", listeners=submission
    )
    postfix_notls = Postfix(
        folder / "postfix-notls", ca, names=[f"smtp.{POSTFIX_NOTLS}"], dovecot=main, address="127.0.0.6",
        listeners=submission, tls=False,
    )  # fmt: skip
    for server in (main, no_tls, cram, postfix, postfix_notls):
        server.workdir.mkdir(parents=True, exist_ok=True)
    service = Service(folder / "service", CONFIG).start()
    try:
        with running(main, no_tls, cram, postfix, postfix_notls):
            yield MailWorld(service, ca.write(folder / "ca.pem"), main, no_tls)
    finally:
        service.stop()


def server_steps(report: dict[str, Any]) -> list[dict[str, Any]]:
    kmail = report["families"][0]
    return [step for step in kmail["steps"] if step["label"].startswith(("IMAP ", "SMTP ", "login "))]


def fixes(report: dict[str, Any]) -> list[str]:
    return [fix["fix"] for fix in report["fixes"]]


def test_good_setup_has_no_finding(world: MailWorld) -> None:
    code, report = world.report(GOOD)
    assert code == 0, fixes(report)
    assert report["fixes"] == [] and report["families"][0]["status"] == "ok"
    steps = server_steps(report)
    assert [(s["label"], s["verdict"]) for s in steps] == [
        ("IMAP imap.good.example:993 SSL", "ok"),
        ("SMTP smtp.good.example:587 STARTTLS", "ok"),
    ]
    assert "valid for the name" in steps[0]["reason"] and "password-cleartext offered" in steps[0]["reason"]
    # Without --servers nothing is asked of the mail servers.
    plain = world.run("--json", f"fred@{GOOD}", *world.options(GOOD))
    assert not server_steps(json.loads(plain.stdout))


def test_certificate_lacking_the_customer_domains_imap_name(world: MailWorld) -> None:
    code, report = world.report(BADCERT)
    assert code == 1
    assert fixes(report)[0].startswith(
        "the IMAP server imap.badcert.example:993 presents a certificate that does not cover imap.badcert.example"
    )
    assert "add imap.badcert.example to the mail server's certificate" in fixes(report)[0]
    [imap, smtp] = server_steps(report)
    assert imap["verdict"] == "fail" and imap["reason"].startswith("TLS: ") and smtp["verdict"] == "ok"


def test_expired_certificate(world: MailWorld) -> None:
    code, report = world.report(EXPIRED)
    assert code == 1
    assert fixes(report) == [
        "renew the certificate the IMAP server imap.expired.example:993 presents: the certificate expired "
        + fixes(report)[0].partition("the certificate expired ")[2]
    ]
    assert "day(s) ago" in fixes(report)[0]


def test_starttls_not_offered(world: MailWorld) -> None:
    code, report = world.report(NOSTARTTLS)
    assert code == 1
    [first] = [fix for fix in fixes(report) if "STARTTLS" in fix]
    assert first.startswith("the IMAP server imap.nostarttls.example:143 does not offer STARTTLS")
    [imap, _] = server_steps(report)
    assert imap["reason"].startswith("STARTTLS: imap.nostarttls.example:143: STARTTLS is not offered")


def test_postfix_submission_with_auth_through_dovecot(world: MailWorld) -> None:
    """A real Postfix on 587: STARTTLS, then AUTH PLAIN/LOGIN (Dovecot's SASL), and the login with --login."""
    code, report = world.report(POSTFIX, "--login", env={"MAILAUTOCONF_PROBE_PASSWORD": PASSWORD})
    assert code == 0, fixes(report)
    assert [(s["label"], s["verdict"]) for s in server_steps(report)] == [
        ("IMAP imap.postfix.example:993 SSL", "ok"),
        ("login IMAP imap.postfix.example:993 as fred@postfix.example", "ok"),
        ("SMTP smtp.postfix.example:587 STARTTLS", "ok"),
        ("login SMTP smtp.postfix.example:587 as fred@postfix.example", "ok"),
    ]


def test_postfix_without_starttls(world: MailWorld) -> None:
    code, report = world.report(POSTFIX_NOTLS)
    assert code == 1
    [first] = [fix for fix in fixes(report) if "STARTTLS" in fix]
    assert first.startswith("the SMTP server smtp.postfix-notls.example:587 does not offer STARTTLS")
    [imap, smtp] = server_steps(report)
    assert imap["verdict"] == "ok" and smtp["verdict"] == "fail"


def test_only_auth_methods_the_document_does_not_name(world: MailWorld) -> None:
    code, report = world.report(CRAMONLY)
    assert code == 1
    auth = [fix for fix in fixes(report) if "which the documents promise (password-cleartext)" in fix]
    assert len(auth) == 1 and auth[0].startswith("the IMAP server imap.cramonly.example:993 offers CRAM-MD5")
    assert "not PLAIN or LOGIN" in auth[0]


def test_closed_port(world: MailWorld) -> None:
    code, report = world.report(CLOSED)
    assert code == 1
    assert fixes(report)[0].startswith("the IMAP server imap.closed.example:993: imap.closed.example: cannot connect")
    assert "start the IMAP service on port 993" in fixes(report)[0]


def test_login_with_the_documents_username(world: MailWorld, tmp_path: Path) -> None:
    # Good: the password from the environment variable; the document's username is the address.
    env = {"MAILAUTOCONF_PROBE_PASSWORD": PASSWORD}
    code, report = world.report(GOOD, "--login", env=env)
    assert code == 0, fixes(report)
    logins = [s for s in server_steps(report) if s["label"].startswith("login ")]
    assert [(s["label"], s["verdict"]) for s in logins] == [
        ("login IMAP imap.good.example:993 as fred@good.example", "ok"),
        ("login SMTP smtp.good.example:587 as fred@good.example", "ok"),
    ]
    # Refused: the document gives the local part, the server wants the address; the password from stdin.
    human = world.run("--servers", "--login", f"fred@{LOCALPART}", *world.options(LOCALPART), stdin=PASSWORD + "\n")
    assert human.returncode == 1, human.stdout + human.stderr
    assert "refuses the login as 'fred'" in human.stdout
    code, report = world.report(LOCALPART, "--login", stdin=PASSWORD + "\n")
    [refused, *_] = [s for s in server_steps(report) if s["verdict"] == "fail"]
    assert refused["label"] == "login IMAP imap.localpart.example:993 as fred"
    # The password is nowhere: not in what the probe printed, not in the servers' logs.
    for text in (human.stdout, human.stderr, json.dumps(report), world.dovecot.log_text()):
        assert PASSWORD not in text


def test_login_sends_no_password_without_tls(world: MailWorld) -> None:
    """A document that says plain: --login does not try, and the server sees no login at all."""
    position = world.no_tls.log_position()
    _, report = world.report(PLAIN, "--login", env={"MAILAUTOCONF_PROBE_PASSWORD": PASSWORD})
    [skipped] = [s for s in server_steps(report) if s["label"].startswith("login IMAP")]
    assert (skipped["label"], skipped["verdict"]) == ("login IMAP imap.plain.example:143 as fred@plain.example", "skip")
    assert skipped["reason"] == "not tried: no TLS here: the probe sends no password in the clear"
    logged = world.no_tls.log_since(position, expected="imap-login", timeout=2)
    assert "imap-login" in logged and "fred@plain.example" not in logged
    assert PASSWORD not in json.dumps(report)


def test_login_needs_a_password_and_never_takes_one_as_argument(world: MailWorld) -> None:
    result = world.run("--servers", "--login", f"fred@{GOOD}", *world.options(GOOD), stdin="")
    assert result.returncode == 2 and "MAILAUTOCONF_PROBE_PASSWORD or standard input" in result.stderr
    assert world.run("--password", PASSWORD, f"fred@{GOOD}").returncode == 2  # no such option


def test_fleet_names_the_domain_with_the_bad_certificate(world: MailWorld, tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    fleet = (GOOD, BADCERT, LOCALPART)
    config.write_text(
        '[service]\npublic_hostname = "autoconfig.example.net"\n'
        + _provider("address.example", (GOOD, BADCERT), 993, "SSL", "{address}")
        + _provider("localpart.example", (LOCALPART,), 993, "SSL", "{localpart}")
    )
    options = [option for domain in fleet for option in world.options(domain)]
    result = world.run("--servers", "--config", str(config), "--parallel", "2", *options)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert set(lines) == set(fleet)
    assert lines[GOOD].startswith("ok ") and lines[LOCALPART].startswith("ok ")
    assert lines[BADCERT].startswith("FAIL ")
    assert "does not cover imap.badcert.example" in lines[BADCERT]
    assert "cause mail-tls-name: 1 domain(s), e.g. badcert.example" in result.stderr


def test_connect_to_probes_the_quick_start(tmp_path: Path) -> None:
    """The README's first command serves the example config on plain http; --connect-to sends KMail's
    http://autoconfig.example.org/ there, its Host header unchanged."""
    service = Service(tmp_path / "quick").start()
    try:
        command = [
            sys.executable, "service.py", "probe", "fred@example.org", "--client", "kmail", "--json",
            "--connect-to", f"::127.0.0.1:{service.port}",
        ]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        kmail = json.loads(result.stdout)["families"][0]
        assert kmail["status"] == "ok" and kmail["via"] == "http autoconfig.example.org"
        # The shipped example config's servers for example.org, as the service rendered them.
        assert [server.split()[:2] for server in kmail["servers"]] == [
            ["IMAP", "mail.example.net:993"],
            ["SMTP", "mail.example.net:465"],
        ], kmail["servers"]
        assert kmail["steps"][0]["exchange"]["status"] == 200
    finally:
        service.stop()
