"""GNOME Online Accounts: its URL served, `check` warning about what it ignores, and its parser's verdicts.

GNOME asks ``https://autoconfig.<d>/.well-known/mail-v1.xml?emailaddress=<address>``
first (goamailclient.c, docs/clients.md section 1.15) and reads the
config-v1.1.xml format: the service answers it with the same rendered
document as config-v1.1.xml, 404 for an unhosted domain, and the same
conditional GETs. What GNOME ignores in a valid config (a username that is
not exactly a placeholder, the port, ``plain``) is a `check` warning with
file, line and key, and the probe's verdict on a document off the wire.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.app import App
from support.configs import SMALL
from support.paths import ROOT
from support.service import Service

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf.probe import verdicts
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import Verdict
from mailautoconf.serve.web import create_app
from mailautoconf.tree.store import Store

GNOME = "/.well-known/mail-v1.xml"
AUTOCONFIG = "/mail/config-v1.1.xml"
AGENT = {"User-Agent": "gnome-online-accounts/3.58.1 libsoup/3.6.5"}


# -- the service's answer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "?emailaddress=fred@example.org",  # GNOME: the address as it is
        "?emailaddress=fred+tag@example.org",  # a "+" it did not encode: a space here, the same domain
        "?emailaddress=fred%40example.org",
        "",  # no address: the Host decides
    ],
)
def test_the_same_document_as_config_v1_1(app: App, query: str) -> None:
    answer = app.get(GNOME + query, **AGENT)
    reference = app.get(AUTOCONFIG + query, **AGENT)
    assert answer.status_code == reference.status_code == 200
    assert answer.data == reference.data
    assert b"<domain>example.org</domain>" in answer.data
    assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert answer.headers["ETag"] == reference.headers["ETag"]
    assert answer.headers["Last-Modified"] == reference.headers["Last-Modified"]


def test_the_address_chooses_the_domain_whatever_the_host(app: App) -> None:
    answer = app.get(GNOME + "?emailaddress=fred@example.net", host="autoconfig.example.org")
    assert b"<domain>example.net</domain>" in answer.data


def test_an_unhosted_domain_is_404_as_for_autoconfig(app: App) -> None:
    for query in ("", "?emailaddress=fred@gmail.example"):
        answer = app.get(GNOME + query, host="autoconfig.not-hosted.example")
        assert answer.status_code == 404
        assert answer.text == app.get(AUTOCONFIG + query, host="autoconfig.not-hosted.example").text


def test_head_and_conditional_get(app: App) -> None:
    full = app.get(GNOME)
    head = app.client.head(GNOME, headers={"Host": "autoconfig.example.org"})
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == full.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(full.data))
    assert app.get(GNOME, **{"If-None-Match": full.headers["ETag"]}).status_code == 304
    assert app.get(GNOME, **{"If-Modified-Since": full.headers["Last-Modified"]}).status_code == 304
    assert app.get(GNOME, **{"If-None-Match": '"other"'}).status_code == 200


def test_only_get_and_head(app: App) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PROPFIND"):
        answer = app.client.open(GNOME, method=method, headers={"Host": "autoconfig.example.org"})
        assert answer.status_code == 405, method


def test_nothing_rendered_yet_is_503() -> None:
    answer = create_app(Store()).test_client().get(GNOME, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"


HOSTILE = [
    "?emailaddress=" + "a" * 5000 + "@example.org",
    "?emailaddress=%00%ff%fe@example.org",
    "?emailaddress=<script>@example.org",
    "?emailaddress=fred@exa%0d%0ample.org",
    "?emailaddress=@&emailaddress=fred@example.net",
    "?emailaddress=fred@@example.org",
    "?emailaddress=fred@" + "x." * 200 + "org",
    "?emailaddress=fred@xn--zz.example",
    "?%65mailaddress=fred@example.org",
    "?" + "&" * 3000,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_get_an_ordinary_answer(app: App, query: str) -> None:
    answer = app.get(GNOME + query)
    reference = app.get(AUTOCONFIG + query)
    assert answer.status_code == reference.status_code
    assert answer.status_code in (200, 404)
    assert answer.data == reference.data
    assert b"<script>" not in answer.data


def test_through_the_real_service_with_a_raw_query(tmp_path: Path) -> None:
    """Waitress, the WSGI middleware and the access log see GNOME's unencoded query; /metrics counts it apart."""
    service = Service(tmp_path / "service", SMALL).start()
    try:
        before = service.metrics()
        answer = service.get(GNOME + "?emailaddress=fred+x@example.org", host="autoconfig.example.org", headers=AGENT)
        assert answer.status_code == 200 and b"<domain>example.org</domain>" in answer.content
        missing = service.get(GNOME, host="autoconfig.other.example", headers=AGENT)
        assert missing.status_code == 404
        after = service.metrics()
        key = "mailautoconf_http_requests_total"
        for status, count in (("200", 1), ("404", 1)):
            labels = tuple(sorted({"endpoint": "autoconfig_gnome", "client": "gnome", "status": status}.items()))
            assert after[(key, labels)] - before.get((key, labels), 0.0) == count
    finally:
        service.stop()
    log = service.log()
    assert "Traceback" not in log
    assert "fred+x@example.org" not in log and "fred x@example.org" not in log  # masked


# -- `check`: what GNOME ignores -------------------------------------------------------------------------


def config_with(username: str, port: int = 993, socket: str = "SSL", kind: str = "imap") -> str:
    return SMALL.replace('username = "{address}"', f'username = "{username}"', 1).replace(
        'type = "imap"\nhostname = "mail.example.net"\nport = 993\nsocket_type = "SSL"',
        f'type = "{kind}"\nhostname = "mail.example.net"\nport = {port}\nsocket_type = "{socket}"',
    )


def gnome_warnings(text: str) -> list[str]:
    result = config.loads(text)
    return [str(problem) for problem in clientrules.warnings(result) if "GNOME" in problem.message]


@pytest.mark.parametrize("username", ["{address}", "{localpart}"])
def test_the_forms_gnome_reads_give_no_warning(username: str) -> None:
    assert gnome_warnings(config_with(username)) == []


@pytest.mark.parametrize("username", ["{localpart}@{domain}", "{domain}", "{address}.imap", "postmaster", "x{address}"])
def test_a_username_gnome_ignores_is_a_warning_with_line_and_key(tmp_path: Path, username: str) -> None:
    text = config_with(username)
    path = tmp_path / "autoconfig.toml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "service.py", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = text.splitlines().index(f'username = "{username}"') + 1
    said = [entry for entry in result.stderr.splitlines() if "GNOME" in entry]
    assert said == [
        f'{path}, line {line}: warning: provider "example.net", incoming server 1: GNOME Online Accounts '
        f'ignores username "{username}": it fills in <username> only when it is exactly %EMAILADDRESS%, '
        '%EMAILLOCALPART% or %EMAILDOMAIN%, so GNOME users must type the username themselves ("{address}" '
        'and "{localpart}" are the forms it reads)'
    ]
    assert result.stderr.count("Traceback") == 0


def test_only_the_first_imap_and_smtp_count() -> None:
    """GNOME takes the first imap and the first smtp section; POP3 it never reads."""
    pop3 = config_with("postmaster", port=995, kind="pop3")
    assert gnome_warnings(pop3) == []  # no imap server at all: nothing GNOME reads
    second = SMALL.replace(
        "[[provider.outgoing]]",
        '[[provider.incoming]]\ntype = "imap"\nhostname = "mail.example.net"\nport = 143\n'
        'socket_type = "STARTTLS"\nauthentication = ["password-cleartext"]\nusername = "shared"\n\n'
        "[[provider.outgoing]]",
    )
    assert gnome_warnings(second) == []


def test_the_port_and_plain_that_gnome_ignores() -> None:
    (port,) = gnome_warnings(config_with("{address}", port=10993))
    assert "incoming server 1: GNOME Online Accounts ignores the port: it connects to 993" in port
    assert "not 10993" in port
    (plain,) = gnome_warnings(config_with("{address}", port=143, socket="plain"))
    assert "has no plain connection: it sets this imap server up with SSL on port 993" in plain
    assert gnome_warnings(config_with("{address}", port=143, socket="STARTTLS")) == []


# -- the probe's verdict: GNOME's parser rules -----------------------------------------------------------


def exchange(body: str, status: int = 200, content_type: str = "text/html") -> Exchange:
    url = "https://autoconfig.example.org/.well-known/mail-v1.xml"
    return Exchange(url, "GET", status=status, content_type=content_type, body=body.encode())


def document(imap: str = "", smtp: str = "", root: str = "clientConfig") -> str:
    server = (
        "<hostname>mail.example.net</hostname><port>{port}</port><socketType>SSL</socketType>"
        "<username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication>"
    )
    return (
        f'<{root} version="1.1"><emailProvider id="example.net"><domain>example.org</domain>'
        f'<incomingServer type="pop3">{server.format(port=995)}</incomingServer>'
        f'<incomingServer type="imap">{imap or server.format(port=993)}</incomingServer>'
        f'<outgoingServer type="smtp">{smtp or server.format(port=465)}</outgoingServer>'
        f"</emailProvider></{root}>"
    )


def test_a_whole_document_is_ok_whatever_its_content_type() -> None:
    judged = verdicts.gnome_config(exchange(document()), "fred@example.org")
    assert judged.verdict is Verdict.OK
    assert [str(server) for server in judged.servers] == [
        "IMAP mail.example.net:993 SSL",  # the pop3 section before it is not read
        "SMTP mail.example.net:465 SSL",
    ]


@pytest.mark.parametrize(
    ("imap", "note"),
    [
        (
            "<hostname>mail.example.net</hostname><port>993</port><socketType>SSL</socketType>"
            "<username>%EMAILLOCALPART%@example.org</username>",
            "imap username '%EMAILLOCALPART%@example.org': GNOME fills in only an exact",
        ),
        (
            "<hostname>mail.example.net</hostname><port>10993</port><socketType>ssl</socketType>"
            "<username>%emailaddress%</username>",
            "imap port '10993': GNOME ignores <port> and connects to 993",
        ),
        (
            "<hostname>mail.example.net</hostname><port>143</port><socketType>plain</socketType>"
            "<username>%EMAILADDRESS%</username>",
            "imap socketType plain: GNOME has no such mode and sets up SSL",
        ),
    ],
)
def test_what_gnome_ignores_is_a_warning(imap: str, note: str) -> None:
    judged = verdicts.gnome_config(exchange(document(imap=imap)), "fred@example.org")
    assert judged.verdict is Verdict.WARN
    assert any(said.startswith(note) for said in judged.notes), judged.notes
    assert str(judged.servers[0]) == "IMAP mail.example.net:993 SSL"  # GNOME's port and mode, not the document's


@pytest.mark.parametrize(
    ("body", "status", "reason", "ends"),
    [
        (document(), 201, "status 201: GNOME accepts exactly 200", False),
        ("<html>not a config</html>", 200, "the root element is <'html'>, not <clientConfig>", False),
        ("<clientConfig", 200, "not well-formed XML", False),
        ("<clientConfig/>", 200, "no <emailProvider>: GNOME stops", True),
        (document().replace('type="imap"', 'type="pop3"'), 200, "no incomingServer of type imap", True),
        (
            document(imap="<hostname>imap.%EMAILDOMAIN%</hostname><socketType>SSL</socketType>"),
            200,
            "imap hostname 'imap.%EMAILDOMAIN%': GNOME replaces no placeholder",
            True,
        ),
        (
            document(imap="<hostname> mail.example.net</hostname><socketType>SSL</socketType>"),
            200,
            "imap hostname ' mail.example.net' is not a host name",
            True,
        ),
    ],
)
def test_what_gnome_cannot_use(body: str, status: int, reason: str, ends: bool) -> None:
    answer = exchange(body, status)
    judged = verdicts.gnome_config(answer, "fred@example.org")
    assert judged.verdict is Verdict.FAIL
    assert judged.reason.startswith(reason), judged.reason
    assert verdicts.gnome_ends_search(answer) is ends
