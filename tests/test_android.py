"""The Thunderbird-for-Android rule checker, and every document we render against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.configs import HOSTING as HOSTING_CONFIG
from support.paths import EXAMPLE_CONFIG

from mailautoconf import android
from mailautoconf import config
from mailautoconf import render

ISPDB = Path(__file__).parent / "data" / "ispdb"
MINIMAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.org">
    <domain>example.org</domain>
    <incomingServer type="imap">
      <hostname>imap.example.org</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.org</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


@pytest.mark.parametrize(
    "config_text", [EXAMPLE_CONFIG.read_text(encoding="utf-8"), HOSTING_CONFIG], ids=["example", "hosting"]
)
def test_every_rendered_document_passes(config_text: str) -> None:
    tree = render.render(config.loads(config_text).config)
    assert tree
    for domain, documents in tree.items():
        assert android.problems(documents[render.THUNDERBIRD], f"fred@{domain}") == [], domain


def test_minimal_document_passes() -> None:
    assert android.problems(MINIMAL) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType> SSL</socketType>",
                     ["incoming server 1 (imap): socketType ' SSL' is not SSL or STARTTLS"], id="space-in-socket-type"),
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType>plain</socketType>",
                     ["incoming server 1 (imap): socketType 'plain' is not SSL or STARTTLS"], id="plain"),
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType>TLS</socketType>",
                     ["incoming server 1 (imap): socketType 'TLS' is not SSL or STARTTLS"], id="old-tls"),
        pytest.param(b"<port>993</port>", b"<port>993\n</port>",
                     ["incoming server 1 (imap): invalid port '993\\n'"], id="newline-in-port"),
        pytest.param(b"<port>993</port>", b"", ["incoming server 1 (imap): missing <port>"], id="missing-port"),
        pytest.param(b'type="imap"', b'type="pop3"',
                     ["no incoming server of type imap (POP3-only settings are rejected)"], id="pop3-only"),
        pytest.param(b"<hostname>imap.example.org</hostname>", b"<hostname>imap example</hostname>",
                     ["incoming server 1 (imap): invalid hostname 'imap example'"], id="bad-hostname"),
        pytest.param(b'id="example.org"', b'id="example org"',
                     ["emailProvider id 'example org' is not a host name"], id="bad-id"),
        pytest.param(b"<domain>example.org</domain>", b"", ["no <domain> that is a valid host name"], id="no-domain"),
        pytest.param(b"<authentication>password-cleartext</authentication>\n    </incomingServer>",
                     b"<authentication>NTLM</authentication>\n    </incomingServer>",
                     ["incoming server 1 (imap): no usable authentication (password-cleartext, password-encrypted "
                      "or OAuth2)"], id="ntlm-only"),
        pytest.param(b"<username>%EMAILADDRESS%</username>\n      <authentication>password-cleartext</authentication>"
                     b"\n    </outgoingServer>",
                     b"<authentication>password-cleartext</authentication>\n    </outgoingServer>",
                     ["outgoing server 1 (smtp): missing <username>"], id="smtp-without-username"),
        pytest.param(b"<?xml", b"\xef\xbb\xbf<?xml", ["the document starts with a UTF-8 byte order mark"], id="bom"),
    ],
)  # fmt: skip
def test_each_rule_is_named(old: bytes, new: bytes, expected: list[str]) -> None:
    assert old in MINIMAL
    assert android.problems(MINIMAL.replace(old, new, 1)) == expected


def test_ispdb_verdicts_match_the_real_client() -> None:
    """Of Mozilla's ISPDB, the real Android app accepts 117 of 163 files (clients.md section 1):
    35 fail on plain, 10 are POP3-only, 1 lacks an SMTP username."""
    verdicts: dict[str, int] = {"accepted": 0, "plain": 0, "pop3-only": 0, "smtp-username": 0}
    others = []
    files = sorted(ISPDB.glob("*.xml"))
    assert len(files) == 163
    for path in files:
        found = android.problems(path.read_bytes(), f"fred@{path.stem}")
        if not found:
            verdicts["accepted"] += 1
        elif any("'plain'" in problem for problem in found):
            verdicts["plain"] += 1
        elif any("POP3-only" in problem for problem in found):
            verdicts["pop3-only"] += 1
        elif found == ["outgoing server 1 (smtp): missing <username>"]:
            verdicts["smtp-username"] += 1
        else:
            others.append((path.name, found))
    assert others == []
    assert verdicts == {"accepted": 117, "plain": 35, "pop3-only": 10, "smtp-username": 1}
