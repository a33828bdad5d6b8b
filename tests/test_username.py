"""A server that takes no credentials (none, client-IP-address) has no username, from TOML to the wire.

An open relay in a company network, or a server that trusts the client's
address, has no login to name. Such a server may leave ``username`` out;
it is then rendered without ``<username>`` (Autodiscover without
``LoginName``), imported without one, and the plain-socket warning says
what is really at stake, since no password crosses the wire.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from support.configs import HEAD
from support.configs import provider
from support.pox import pox_request

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf.authoring import importer
from mailautoconf.render import outlook
from mailautoconf.render import thunderbird

# An IMAP server with logins, and an open relay that trusts the client's address.
CONFIG = HEAD + provider("example.net", ["example.net"], "mail.example.net").replace(
    'port = 465\nsocket_type = "SSL"\nauthentication = ["password-cleartext"]\nusername = "{address}"',
    'port = 25\nsocket_type = "STARTTLS"\nauthentication = ["client-IP-address"]',
)
LINES = CONFIG.splitlines()
OUTGOING_LINE = LINES.index("[[provider.outgoing]]") + 1
SOCKET_LINE = LINES.index('socket_type = "STARTTLS"') + 1
METHODS_LINE = LINES.index('authentication = ["client-IP-address"]') + 1
POX = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def test_a_server_without_credentials_needs_no_username() -> None:
    provider = config.loads(CONFIG).config.providers[0]
    assert provider.incoming[0].username == "{address}"
    assert provider.outgoing[0].username is None


@pytest.mark.parametrize("methods", ['["password-cleartext"]', '["client-IP-address", "TLS-client-cert"]'])
def test_a_server_with_credentials_still_needs_one(methods: str) -> None:
    text = CONFIG.replace('authentication = ["client-IP-address"]', f"authentication = {methods}")
    with pytest.raises(config.ConfigError) as caught:
        config.loads(text, "c.toml")
    assert [str(problem) for problem in caught.value.problems] == [
        f'c.toml, line {OUTGOING_LINE}: provider "example.net", outgoing server 1: "username" is missing'
    ]


def test_a_username_may_still_be_given() -> None:
    text = CONFIG.replace('authentication = ["client-IP-address"]\n', 'authentication = ["none"]\nusername = "x"\n')
    assert config.loads(text).config.providers[0].outgoing[0].username == "x"


def _rendered() -> tuple[bytes, bytes]:
    provider = config.loads(CONFIG).config.providers[0]
    domain = provider.domains[0]
    return thunderbird.render(provider, domain), outlook.render_pox(provider, domain)


def test_rendered_without_username_and_login_name() -> None:
    document, pox = _rendered()
    outgoing = ET.fromstring(document).find("emailProvider/outgoingServer")
    assert outgoing is not None
    assert outgoing.find("hostname") is not None and outgoing.find("username") is None
    assert ET.fromstring(document).find("emailProvider/incomingServer/username") is not None
    protocols = ET.fromstring(pox).findall(f".//{POX}Protocol")
    assert [protocol.findtext(f"{POX}Type") for protocol in protocols] == ["IMAP", "SMTP"]
    assert protocols[0].findtext(f"{POX}LoginName") == "%EMAILADDRESS%"
    assert protocols[1].find(f"{POX}LoginName") is None
    assert protocols[1].findtext(f"{POX}AuthRequired") == "off"


def test_import_keeps_it_without_username() -> None:
    document, _ = _rendered()
    item = importer.parse_document(document, "relay.xml")
    outgoing = item.provider["outgoing"][0]
    assert "username" not in outgoing
    assert not any("username" in note for note in item.notes)
    again = config.loads(importer.build_document([item], None)).config.providers[0]
    assert thunderbird.render(again, again.domains[0]) == document


def test_import_still_fills_a_missing_username_where_one_is_needed() -> None:
    document, _ = _rendered()
    without = document.replace(
        b"<authentication>client-IP-address</authentication>", b"<authentication>password-cleartext</authentication>"
    )
    item = importer.parse_document(without, "relay.xml")
    assert item.provider["outgoing"][0]["username"] == "{address}"
    assert any("no <username>" in note for note in item.notes)


def test_the_plain_warning_says_what_is_at_stake_without_a_password() -> None:
    text = CONFIG.replace('socket_type = "STARTTLS"', 'socket_type = "plain"')
    warnings = [str(problem) for problem in clientrules.warnings(config.loads(text, "c.toml"))]
    assert warnings == [
        # What Android reads: no username, and no method it can use.
        f'c.toml, line {OUTGOING_LINE}: warning: provider "example.net", outgoing server 1: Thunderbird for Android '
        "rejects the whole document: missing <username>",
        f'c.toml, line {SOCKET_LINE}: warning: provider "example.net", outgoing server 1: socket_type "plain" '
        "sends no password, but mail travels unencrypted; Thunderbird for Android refuses a plain connection at "
        "all and rejects the whole document; Thunderbird warns the user",
        f'c.toml, line {SOCKET_LINE}: warning: provider "example.net", outgoing server 1: GNOME Online Accounts has '
        "no plain connection: it sets this smtp server up with SSL on port 465",
        f'c.toml, line {METHODS_LINE}: warning: provider "example.net", outgoing server 1: Thunderbird for Android '
        "rejects the whole document: no usable authentication (password-cleartext, password-encrypted or OAuth2)",
    ]


def test_served_without_username(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    document, _ = _rendered()
    answer = service.get("/mail/config-v1.1.xml?emailaddress=fred@example.net", host="autoconfig.example.net")
    assert answer.status_code == 200
    assert answer.content == document
    pox = service.post(
        "/autodiscover/autodiscover.xml", pox_request("fred@example.net"), headers={"Host": "autodiscover.example.net"}
    )
    assert pox.status_code == 200
    protocols = ET.fromstring(pox.content).findall(f".//{POX}Protocol")
    assert protocols[0].findtext(f"{POX}LoginName") == "fred@example.net"
    assert protocols[1].find(f"{POX}LoginName") is None
