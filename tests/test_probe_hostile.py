"""``service.py probe`` against a hostile server on 127.0.0.1:80: every answer is a clear finding, never a traceback.

A small HTTP server (support/hostile_http.py) answers by Host name: a
body of 20 MiB, an XML bomb, markup and rich's own markup in every field,
a trickle slower than any client waits, a redirect loop. The names reach
it through ``--resolve`` only. It also records the headers it got: no
Authorization, no Cookie.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from support.hostile_http import HostileServer
from support.isolation import requires_isolation
from support.paths import ROOT
from support.refusing_dns import refusing_dns

pytestmark = requires_isolation
HOSTS = ("huge", "bomb", "markup", "slow", "loop", "split")


# A DNS server that refuses at once (support/refusing_dns.py): the MX, SRV and TXT look-ups the probe
# makes besides the --resolve names get their answer without a timeout.
RESOLVER: list[str] = []


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer(port=80) as server, refusing_dns() as resolver:
        RESOLVER[:] = [resolver]
        yield server
        RESOLVER.clear()


def probe(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    resolves = [f"--resolve={prefix}{name}.example:80:127.0.0.1" for name in HOSTS for prefix in ("", "autoconfig.")]
    command = [sys.executable, "service.py", "probe", "--resolver", RESOLVER[0], *resolves, *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("huge", "the answer is larger than 1024 KiB: no client reads a document that size"),
        ("bomb", "the answer declares a DTD (a way to build XML bombs): refused unread"),
        ("markup", "emailProvider id '[bold red]x[/bold red]<b>' is not a host name"),
        ("slow", "autoconfig.slow.example: no complete answer within 5 s"),
        ("loop", "more than 50 redirects"),
    ],
)
def test_hostile_answers_are_findings(hostile: HostileServer, name: str, reason: str) -> None:
    started = time.monotonic()
    code, out, err = probe(f"fred@{name}.example", "--client", "kmail", "--client", "thunderbird", "--json")
    assert code == 1 and "Traceback" not in err, err
    report = json.loads(out)
    reasons = [step["reason"] for family in report["families"] for step in family["steps"]]
    assert any(reason in found for found in reasons), reasons
    assert time.monotonic() - started < 20  # the trickle is cut at the URL's deadline


def test_the_human_report_escapes_what_it_was_sent(hostile: HostileServer) -> None:
    code, out, err = probe("fred@markup.example", "--client", "kmail", "--client", "thunderbird")
    assert code == 1 and "Traceback" not in err, err
    flat = "".join(char for char in out if not char.isspace() and char not in "│┃")
    assert "[boldred]x[/boldred]<b>" in flat  # shown as sent (a table cell may wrap it), not interpreted by rich
    assert "\x1b" not in out  # not a terminal: no colour, and nothing the server sent as escapes


def test_no_credentials_reached_the_server(hostile: HostileServer) -> None:
    probe("fred@markup.example")
    assert hostile.headers_seen
    assert not [h for h in hostile.headers_seen if h.lower() in ("authorization", "cookie", "proxy-authorization")]


def test_paths_that_name_different_servers_are_a_disagreement(hostile: HostileServer) -> None:
    """Thunderbird sends the address, KMail does not; a server that answers them differently is caught."""
    code, out, err = probe("fred@split.example", "--client", "kmail", "--client", "thunderbird", "--json")
    assert "Traceback" not in err, err
    report = json.loads(out)
    assert code == 0, report["fixes"]  # both configure: only the disagreement tells
    servers = {family["family"]: family["servers"] for family in report["families"]}
    assert "IMAP imap.with-address.example:993 SSL" in servers["thunderbird"], servers
    assert "IMAP imap.without-address.example:993 SSL" in servers["kmail"], servers
    (disagreement,) = report["disagreements"]
    assert "imap.with-address.example" in disagreement and "imap.without-address.example" in disagreement
