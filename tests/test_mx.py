"""Hosting without a certificate per customer domain: the MX lookup (draft-ietf-mailmaint-autoconfig).

The real Thunderbird is proven against this in test_thunderbird.py; these
check the service's answers and the config's warnings directly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.paths import ROOT

from mailautoconf import clientrules
from mailautoconf import config

HOSTER = (ROOT / "tests" / "data" / "mx-hoster.toml").read_text(encoding="utf-8")
PATH = "/mail/config-v1.1.xml"


def test_mx_domains_follow_the_public_suffix_list(tmp_path: Path) -> None:
    text = HOSTER.replace('mx = ["mx1.hoster.example"]', 'mx = ["mx.eu.hoster.co.uk", "MX1.Hoster.Example."]')
    loaded = config.loads(text, str(tmp_path / "c.toml")).config
    assert loaded.providers[0].mx == ("mx.eu.hoster.co.uk", "mx1.hoster.example")
    assert loaded.providers[0].mx_domains == ("eu.hoster.co.uk", "hoster.co.uk", "hoster.example")


@pytest.mark.parametrize(
    ("mx", "message"),
    [
        ('["co.uk"]', 'mx "co.uk" has no registrable domain'),
        ('["mx1.hoster.example:25"]', 'mx "mx1.hoster.example:25" is not a valid host name'),
        ("[25]", '"mx" must be a list of strings'),
    ],
)
def test_bad_mx_hosts(mx: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.loads(HOSTER.replace('["mx1.hoster.example"]', mx), "c.toml")
    assert message in str(caught.value)
    assert "c.toml, line 8:" in str(caught.value)


def test_warnings_about_what_the_mx_lookup_cannot_say() -> None:
    warnings = [str(problem) for problem in clientrules.warnings(config.loads(HOSTER, "c.toml"))]
    assert any('domain "c2.example" has its own server host names' in line for line in warnings)
    assert any(
        'autoconfig.hoster.example (from its mx) answers for provider "hoster.example"' in line for line in warnings
    )
    no_mx = HOSTER.replace('mx = ["mx2.hoster.example"]\n', "")
    assert any("without own names" in str(problem) for problem in clientrules.warnings(config.loads(no_mx, "c.toml")))


def test_service_answers_autoconfig_on_the_mx_domain(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(HOSTER)
    # Without an address: the provider's document, the domain left to the client.
    answer = service.get(PATH, host="autoconfig.hoster.example")
    assert answer.status_code == 200
    root = ET.fromstring(answer.content)
    assert [e.text for e in root.iter("hostname")] == ["mail.%EMAILDOMAIN%", "mail.%EMAILDOMAIN%"]
    # ... and the MX hosts' base domain, marked as such (draft-06, "domain"), from the TOML's mx hosts.
    mx_hosts = config.loads(HOSTER, "c.toml").config.providers[0].mx
    assert mx_hosts and all(host.endswith(".hoster.example") for host in mx_hosts)
    assert [(e.text, e.get("purpose")) for e in root.iter("domain")] == [
        ("%EMAILDOMAIN%", None),
        ("hoster.example", "mx"),
    ]
    assert b"c1.example" not in answer.content  # no customer list
    assert clientrules.android_problems(answer.content, "fred@c1.example") == []
    assert (
        answer.content == (service.output / "current" / "_mx.hoster.example" / "mail" / "config-v1.1.xml").read_bytes()
    )
    # With a hosted address: that domain's own document (Thunderbird sends it).
    own = service.get(PATH + "?emailaddress=fred%40c2.example", host="autoconfig.hoster.example")
    assert b"imap.c2.example" in own.content and b"<domain>c2.example</domain>" in own.content
    # An address of a domain not hosted: still the provider's document (no probing for customers).
    other = service.get(PATH + "?emailaddress=fred%40elsewhere.example", host="autoconfig.hoster.example")
    assert other.content == answer.content
    assert service.get(PATH, host="autoconfig.elsewhere.example").status_code == 404


def test_mx_document_goes_when_the_mx_goes(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(HOSTER)
    folder = service.output / "current" / "_mx.hoster.example"
    assert folder.is_dir()
    text = HOSTER.replace('mx = ["mx1.hoster.example"]\n', "").replace('mx = ["mx2.hoster.example"]\n', "")
    service.config_path.write_text(text, encoding="utf-8")
    service.wait_for(lambda: service.get(PATH, host="autoconfig.hoster.example").status_code == 404, what="removal")
    assert not folder.exists()
