"""Hosting without a certificate per customer domain: the MX lookup (draft-ietf-mailmaint-autoconfig).

The real Thunderbird is proven against this in test_thunderbird.py; these
check the service's answers and the config's warnings directly.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.paths import ROOT
from support.pox import pox_request

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf.deploy import certs
from mailautoconf.deploy import dns
from mailautoconf.render.templates import provider_templates

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
        ('["co.uk"]', 'mx "co.uk" has no registrable domain to ask autoconfig.<domain> under'),
        (
            '["mx1.hoster.example:25"]',
            'mx "mx1.hoster.example:25" is not a valid host name '
            "(a host name has no :port (the port has a key of its own))",
        ),
        ("[25]", '"mx" must be a list of strings, not a list containing a number'),
    ],
)
def test_bad_mx_hosts(mx: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.loads(HOSTER.replace('["mx1.hoster.example"]', mx), "c.toml")
    assert [str(problem) for problem in caught.value.problems] == [
        f'c.toml, line 8: provider "hoster.example": {message}'
    ]


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


# -- Autodiscover v2 JSON for domains without own names ------------------------------------------------

# A hoster (own_names = false, one customer with its names back), a provider with
# own names but one customer without, and a provider without own names or mx.
JSON_HOSTER = """\
[service]
public_hostname = "conf.hoster.test"

[[provider]]
id = "hoster.test"
display_name = "Hoster"
domains = ["c1.example", "c2.example", "c3.example"]
mx = ["mx1.eu.hoster.test", "mx2.hoster.test"]
own_names = false
{servers}
[provider.overrides."c3.example"]
own_names = true

[[provider]]
id = "own.test"
display_name = "Own"
domains = ["own.test", "lean.test"]
mx = ["mx.own-mail.test"]
{servers}
[provider.overrides."lean.test"]
own_names = false

[[provider]]
id = "nomx.test"
display_name = "No MX"
domains = ["nomx.test"]
own_names = false
{servers}"""
SERVERS = """
[[provider.incoming]]
type = "imap"
hostname = "mail.{domain}"
port = 993
socket_type = "SSL"
authentication = "password-cleartext"
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.{domain}"
port = 465
socket_type = "SSL"
authentication = "password-cleartext"
username = "{address}"
"""
JSON_CONFIG = JSON_HOSTER.replace("{servers}", SERVERS)
JSON_PATH = "/autodiscover/autodiscover.json"
POX_RESPONSE = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def deployed_names(text: str) -> set[str]:
    """The names the generated deployment makes: in a certificate of ``certs`` and resolving by ``dns``."""
    loaded = config.loads(text, "c.toml").config
    in_certificates = {name for names in certs.certificates(loaded).values() for name in names}
    plans = [*dns.plan(loaded), *dns.lookup_plans(loaded)]
    resolving = {
        rrset.name.rstrip(".")
        for plan in plans
        for group in plan.groups
        for rrset in group.rrsets
        if rrset.type in ("CNAME", "A", "AAAA")
    }
    return in_certificates & resolving


def v2_json(service, address: str):  # type: ignore[no-untyped-def]
    return service.get(JSON_PATH, params={"Email": address, "Protocol": "AutodiscoverV1"})


def test_v2_json_names_a_host_the_deployment_has(make_service) -> None:  # type: ignore[no-untyped-def]
    """Outlook POSTs to the Url it gets: for a domain without own names that is a name dns and certs make."""
    deployed = deployed_names(JSON_CONFIG)
    loaded = config.loads(JSON_CONFIG, "c.toml").config
    service = make_service(JSON_CONFIG)
    for provider in loaded.providers:
        # A provider's domains still share its documents: the Url names no customer domain.
        assert provider_templates(provider).shared is not None, provider.id
        for domain in provider.domains:
            if not provider.has_own_names(domain) and not provider.mx:
                continue  # no name to point at: the next test
            answer = v2_json(service, f"fred@{domain.name}")
            assert answer.status_code == 200, domain.name
            url = urllib.parse.urlsplit(answer.json()["Url"])
            assert (url.scheme, url.path) == ("https", "/autodiscover/autodiscover.xml")
            if provider.has_own_names(domain):
                assert url.hostname == f"autodiscover.{domain.name}"  # as before
            else:
                assert url.hostname not in (f"autodiscover.{domain.name}", domain.name)
            assert url.hostname in deployed, (domain.name, url.hostname, sorted(deployed))
            # Outlook then asks there, and the service answers with the domain's settings.
            pox = service.post(
                "/autodiscover/autodiscover.xml", pox_request(f"fred@{domain.name}"), headers={"Host": url.hostname}
            )
            assert pox.status_code == 200
            servers = [element.text for element in ET.fromstring(pox.content).iter(f"{POX_RESPONSE}Server")]
            assert servers == [f"mail.{domain.name}", f"mail.{domain.name}"]


def test_v2_json_without_a_name_to_point_at_is_404_saying_why(make_service) -> None:  # type: ignore[no-untyped-def]
    """No own names and no mx: only the _autodiscover._tcp SRV record leads here, which Outlook asks next."""
    service = make_service(JSON_CONFIG)
    path_form = service.get(f"{JSON_PATH}/v1.0/fred@nomx.test", params={"Protocol": "AutodiscoverV1"})
    for answer in (v2_json(service, "fred@nomx.test"), path_form):
        assert answer.status_code == 404
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        body = answer.json()
        assert body["ErrorCode"] == "NotFound"
        assert "_autodiscover._tcp" in body["ErrorMessage"]
    # The domain is hosted all the same: POX answers it.
    assert service.post("/autodiscover/autodiscover.xml", pox_request("fred@nomx.test")).status_code == 200
