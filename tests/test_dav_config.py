"""CalDAV and CardDAV services and the [signing] table in the config: parsed, normalised, refused clearly."""

from __future__ import annotations

import pytest
from support.configs import HEAD
from support.configs import provider

from mailautoconf import config
from mailautoconf.model import DavService

DAV = '[provider.caldav]\nurl = "https://DAV.{domain}/cal/"\nusername = "{address}"\n\n[provider.carddav]\nurl = "https://dav.example.net:8443/card/?x=1"\n'
PASSWORDS = "(calendars and contacts carry passwords)"
BASE = HEAD + provider("alpha.example", ["alpha.example", "beta.example"], "mail.alpha.example", extra=DAV)


def test_dav_services_are_read_and_normalised() -> None:
    loaded = config.loads(BASE).config
    found = loaded.providers[0]
    assert found.caldav == DavService("https://dav.{domain}/cal/", "{address}")
    assert found.carddav == DavService("https://dav.example.net:8443/card/?x=1", None)
    alpha = found.domains[0]
    assert found.caldav_for(alpha) is found.caldav
    assert found.caldav.url_for(alpha) == "https://dav.alpha.example/cal/"


def test_an_override_replaces_the_providers_service() -> None:
    text = BASE + '\n[provider.overrides."beta.example".caldav]\nurl = "https://cal.beta.example/"\n'
    found = config.loads(text).config.providers[0]
    alpha, beta = found.domains
    assert found.caldav_for(beta) == DavService("https://cal.beta.example/", None)
    assert found.caldav_for(alpha) == found.caldav
    assert found.carddav_for(beta) == found.carddav


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://dav.example.net/", f'url "http://dav.example.net/" is not an https URL {PASSWORDS}'),
        ("https://dav example/", f'url "https://dav example/" is not an https URL {PASSWORDS}'),
        (
            "https://dav.{user}.example/",
            'url "dav.{user}.example" has an unknown placeholder (only {domain} may be used here)',
        ),
        (
            "https://-bad-.example/",
            'url "-bad-.example" is not a valid host name '
            '(the label "-bad-" may only hold letters, digits and inner hyphens)',
        ),
    ],
)
def test_bad_urls_name_file_line_and_key(url: str, message: str) -> None:
    text = BASE.replace("https://dav.example.net:8443/card/?x=1", url)
    line = text.splitlines().index(f'url = "{url}"') + 1
    with pytest.raises(config.ConfigError) as caught:
        config.loads(text, "c.toml")
    assert [str(problem) for problem in caught.value.problems] == [
        f'c.toml, line {line}: provider "alpha.example", carddav: {message}'
    ]


def test_signing_paths_are_relative_to_the_config() -> None:
    text = BASE + '\n[signing]\ncertificate = "certs/fullchain.pem"\nkey = "/etc/keys/privkey.pem"\n'
    signing = config.loads(text, "/etc/mailautoconf/autoconfig.toml").config.signing
    assert signing.enabled
    assert signing.certificate == "/etc/mailautoconf/certs/fullchain.pem"
    assert signing.key == "/etc/keys/privkey.pem"
    assert signing.files() == ("/etc/mailautoconf/certs/fullchain.pem", "/etc/keys/privkey.pem")
    assert not config.loads(BASE).config.signing.enabled


def test_signing_needs_certificate_and_key() -> None:
    text = BASE + '\n[signing]\ncertificate = "c.pem"\n'
    line = text.splitlines().index("[signing]") + 1
    with pytest.raises(config.ConfigError) as caught:
        config.loads(text, "c.toml")
    assert [str(p) for p in caught.value.problems] == [f'c.toml, line {line}: [signing]: "key" is missing']
