"""render: the bytes clients get, checked the way clients read them (docs/clients.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mailautoconf import config
from mailautoconf import names
from mailautoconf import render
from mailautoconf.model import Config
from mailautoconf.render import outlook
from mailautoconf.render.templates import Template
from mailautoconf.tree.store import TemplateEntry

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "autoconfig.toml"

ENVELOPE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
SHIPPED_DOMAINS = ["example.net", "example.org", "example.com"]


# -- building configs ----------------------------------------------------------


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value, ensure_ascii=False) for value in values) + "]"


def _server(
    direction: str = "incoming",
    type: str = "imap",
    hostname: str = "mail.example.net",
    port: int = 993,
    socket_type: str = "SSL",
    authentication: tuple[str, ...] = ("password-cleartext",),
    username: str = "{address}",
    extra: str = "",
) -> str:
    return (
        f"[[provider.{direction}]]\n"
        f'type = "{type}"\n'
        f"hostname = {json.dumps(hostname, ensure_ascii=False)}\n"
        f"port = {port}\n"
        f'socket_type = "{socket_type}"\n'
        f"authentication = {_toml_list(list(authentication))}\n"
        f"username = {json.dumps(username, ensure_ascii=False)}\n"
        f"{extra}\n"
    )


IMAP = _server()
SMTP = _server("outgoing", "smtp", port=587, socket_type="STARTTLS")


def _toml(
    *servers: str,
    domains: tuple[str, ...] = ("example.net", "example.org"),
    provider: str = "",
    after: str = "",
    provider_id: str = "example.net",
    display_name: str = "Example Mail",
) -> str:
    servers = servers or (IMAP, SMTP)
    return (
        '[service]\npublic_hostname = "autoconfig.example.net"\n\n'
        "[[provider]]\n"
        f"id = {json.dumps(provider_id, ensure_ascii=False)}\n"
        f"display_name = {json.dumps(display_name, ensure_ascii=False)}\n"
        f"domains = {_toml_list(list(domains))}\n"
        f"{provider}\n" + "".join(servers) + after
    )


def _load(text: str) -> Config:
    return config.loads(text, "test.toml").config


def _render(text: str) -> render.Tree:
    return render.render(_load(text))


def _thunderbird(text: str, domain: str = "example.net") -> ET.Element:
    return ET.fromstring(_render(text)[domain][render.THUNDERBIRD])


def _pox(text: str, domain: str = "example.net") -> ET.Element:
    return ET.fromstring(_render(text)[domain][render.OUTLOOK_POX])


def _o(name: str) -> str:
    return f"{{{OUTLOOK_NS}}}{name}"


def _protocols(root: ET.Element) -> list[dict[str, str]]:
    return [
        {child.tag.removeprefix(f"{{{OUTLOOK_NS}}}"): child.text or "" for child in protocol}
        for protocol in root.iter(_o("Protocol"))
    ]


def _servers(root: ET.Element) -> list[dict[str, object]]:
    """Thunderbird's servers in document order, as plain data."""
    provider = root.find("emailProvider")
    assert provider is not None
    result: list[dict[str, object]] = []
    for element in provider:
        if element.tag not in ("incomingServer", "outgoingServer"):
            continue
        result.append(
            {
                "tag": element.tag,
                "type": element.get("type"),
                "hostname": element.findtext("hostname"),
                "port": element.findtext("port"),
                "socketType": element.findtext("socketType"),
                "username": element.findtext("username"),
                "authentication": [a.text for a in element.findall("authentication")],
                "pop3": element.find("pop3") is not None,
            }
        )
    return result


@pytest.fixture(scope="module")
def shipped_tree() -> render.Tree:
    return render.render(config.load(str(SHIPPED)).config)


# -- the tree ------------------------------------------------------------------


def test_tree_has_every_document_of_every_domain(shipped_tree: render.Tree) -> None:
    assert list(shipped_tree) == SHIPPED_DOMAINS
    for documents in shipped_tree.values():
        assert set(documents) == {
            render.THUNDERBIRD,
            render.EVOLUTION,
            render.OUTLOOK_POX,
            render.OUTLOOK_JSON,
            render.APPLE_PROFILE,
            render.PACC,
            *render.PAGES.values(),
        }
        # PACC is off by default (pacc = true): its document is empty, served as 404.
        assert documents[render.PACC] == b""
        assert all(isinstance(content, bytes) and content for path, content in documents.items() if path != render.PACC)


# Renders the config file argv[1] and prints every document in the tree's own order.
RENDER_AND_DUMP = """
import base64, sys
from mailautoconf import config
from mailautoconf import render
tree = render.render(config.load(sys.argv[1]).config)
for domain, documents in tree.items():
    for path, content in documents.items():
        print(domain, path, base64.b64encode(content).decode("ascii"))
"""
HASH_SEEDS = ("0", "1", "4242")


def _render_in_subprocess(config_path: Path, seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    command = [sys.executable, "-c", RENDER_AND_DUMP, str(config_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout, "nothing rendered"
    return result.stdout


EVERYTHING_SET = _toml(
    IMAP,
    _server(type="pop3", port=995, extra="pop3 = { leave_messages_on_server = true, check_interval_minutes = 5 }"),
    SMTP,
    domains=("example.net", "bücher.example", "example.org", "shop.test", "zz.example"),
    provider='list_all_domains = true\nmx = ["mx1.example.net", "mx2.example.net"]',
    after='[provider.overrides."example.org"]\nhostname = "mail.{domain}"\ndisplay_name = "Org & Co"\n'
    '[[provider.documentation]]\nurl = "https://example.net/help?a=1&b=2"\n'
    'description = { en = "Help <here>", de = "Hilfe", fr = "Aide", es = "Ayuda" }\n',
)


@pytest.mark.parametrize("config_text", [SHIPPED.read_text(encoding="utf-8"), EVERYTHING_SET], ids=["shipped", "all"])
def test_rendering_is_the_same_bytes_under_every_hash_seed(tmp_path: Path, config_text: str) -> None:
    """Set and dict-of-str iteration differ between processes: renders in fresh interpreters must agree."""
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(config_text, encoding="utf-8")
    first, *others = (_render_in_subprocess(config_path, seed) for seed in HASH_SEEDS)
    for seed, other in zip(HASH_SEEDS[1:], others, strict=True):
        assert other == first, f"PYTHONHASHSEED={seed} rendered other bytes or order than seed {HASH_SEEDS[0]}"


def test_rendering_does_not_depend_on_the_file_name() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    first = render.render(config.loads(text, "a.toml").config)
    second = render.render(config.loads(text, "b.toml").config)
    assert first == second
    assert render.render(config.load(str(SHIPPED)).config) == first


# -- Thunderbird config-v1.1.xml -------------------------------------------------


@pytest.mark.parametrize("domain", SHIPPED_DOMAINS)
def test_thunderbird_is_what_parsers_accept(shipped_tree: render.Tree, domain: str) -> None:
    content = shipped_tree[domain][render.THUNDERBIRD]
    assert content.startswith(b"<?xml")
    assert not content.startswith(b"\xef\xbb\xbf")
    assert b'encoding="UTF-8"' in content.split(b"\n", 1)[0]
    content.decode("utf-8")
    assert b"xmlns" not in content
    assert not re.search(rb"</?[A-Za-z_][\w.-]*:", content), "namespace prefix"
    root = ET.fromstring(content)
    assert root.tag == "clientConfig"
    assert root.get("version") == "1.1"
    for element in root.iter():
        assert "{" not in element.tag and ":" not in element.tag
        if len(element) == 0:
            if element.text is not None:
                assert element.text == element.text.strip(), (element.tag, element.text)
        else:
            assert (element.text or "").strip() == "", element.tag
        assert (element.tail or "").strip() == "", element.tag
    provider = root.find("emailProvider")
    assert provider is not None
    assert names.is_hostname(provider.get("id", ""))


def test_thunderbird_shipped_values(shipped_tree: render.Tree) -> None:
    root = ET.fromstring(shipped_tree["example.org"][render.THUNDERBIRD])
    provider = root.find("emailProvider")
    assert provider is not None
    assert provider.get("id") == "example.net"
    assert [d.text for d in provider.findall("domain")] == ["example.org"]
    assert provider.findtext("displayName") == "Your Own Mail Provider"
    assert provider.findtext("displayShortName") == "example.net"
    common = {"hostname": "mail.example.net", "username": "%EMAILADDRESS%", "authentication": ["password-cleartext"]}
    assert _servers(root) == [
        {"tag": "incomingServer", "type": "imap", "port": "993", "socketType": "SSL", "pop3": False, **common},
        {"tag": "incomingServer", "type": "imap", "port": "143", "socketType": "STARTTLS", "pop3": False, **common},
        {"tag": "incomingServer", "type": "pop3", "port": "995", "socketType": "SSL", "pop3": True, **common},
        {"tag": "incomingServer", "type": "pop3", "port": "110", "socketType": "STARTTLS", "pop3": True, **common},
        {"tag": "outgoingServer", "type": "smtp", "port": "465", "socketType": "SSL", "pop3": False, **common},
        {"tag": "outgoingServer", "type": "smtp", "port": "587", "socketType": "STARTTLS", "pop3": False, **common},
    ]
    for pop3 in root.iter("pop3"):
        assert [(child.tag, child.text) for child in pop3] == [("leaveMessagesOnServer", "true")]
    (documentation,) = provider.findall("documentation")
    assert documentation.get("url") == "http://www.example.net/"
    assert [(d.get("lang"), d.text) for d in documentation.findall("descr")] == [
        ("en", "Generic settings page"),
        ("de", "Allgemeine Beschreibung der Einstellungsmöglichkeiten"),
    ]


def test_thunderbird_element_order(shipped_tree: render.Tree) -> None:
    root = ET.fromstring(shipped_tree["example.net"][render.THUNDERBIRD])
    provider = root.find("emailProvider")
    assert provider is not None
    tags = [child.tag for child in provider]
    assert tags == ["domain", "displayName", "displayShortName"] + ["incomingServer"] * 4 + ["outgoingServer"] * 2 + [
        "documentation"
    ]
    server = provider.find("incomingServer")
    assert server is not None
    assert [child.tag for child in server] == ["hostname", "port", "socketType", "username", "authentication"]


@pytest.mark.parametrize("domain", SHIPPED_DOMAINS)
def test_thunderbird_lists_only_the_requested_domain(shipped_tree: render.Tree, domain: str) -> None:
    root = ET.fromstring(shipped_tree[domain][render.THUNDERBIRD])
    assert [d.text for d in root.iter("domain")] == [domain]
    # No other customer domain anywhere (example.net is the provider's own: id and server names).
    for other in SHIPPED_DOMAINS:
        if other not in (domain, "example.net"):
            assert other.encode() not in shipped_tree[domain][render.THUNDERBIRD]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        pytest.param("example.net", ["example.net", "example.org", "example.com"], id="first"),
        pytest.param("example.org", ["example.org", "example.net", "example.com"], id="second"),
        pytest.param("example.com", ["example.com", "example.net", "example.org"], id="last"),
    ],
)
def test_thunderbird_list_all_domains(requested: str, expected: list[str]) -> None:
    text = _toml(domains=("example.net", "example.org", "example.com"), provider="list_all_domains = true")
    assert [d.text for d in _thunderbird(text, requested).iter("domain")] == expected


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        pytest.param("{address}", "%EMAILADDRESS%", id="address"),
        pytest.param("{localpart}", "%EMAILLOCALPART%", id="localpart"),
        pytest.param("{localpart}@{domain}", "%EMAILLOCALPART%@example.org", id="localpart-at-domain"),
        pytest.param("{domain}\\{localpart}", "example.org\\%EMAILLOCALPART%", id="windows-style"),
        pytest.param("mail-{address}", "mail-%EMAILADDRESS%", id="prefixed"),
        pytest.param("shared", "shared", id="literal"),
    ],
)
def test_thunderbird_username(username: str, expected: str) -> None:
    text = _toml(_server(username=username), SMTP)
    root = _thunderbird(text, "example.org")
    assert root.findtext("emailProvider/incomingServer/username") == expected
    assert root.findtext("emailProvider/outgoingServer/username") == "%EMAILADDRESS%"


def test_thunderbird_servers_in_configured_order() -> None:
    text = _toml(
        _server(type="pop3", hostname="pop.example.net", port=110, socket_type="STARTTLS"),
        _server(hostname="imap.example.net", port=143, socket_type="STARTTLS"),
        _server(hostname="imap2.example.net", authentication=("OAuth2", "password-cleartext")),
        _server("outgoing", "smtp", "smtp.example.net", 587, "STARTTLS", ("password-encrypted", "NTLM")),
        _server("outgoing", "smtp", "smtp2.example.net", 25, "plain", ("smtp-after-pop",)),
    )
    servers = _servers(_thunderbird(text))
    assert [(s["type"], s["hostname"], s["port"], s["socketType"], s["authentication"]) for s in servers] == [
        ("pop3", "pop.example.net", "110", "STARTTLS", ["password-cleartext"]),
        ("imap", "imap.example.net", "143", "STARTTLS", ["password-cleartext"]),
        ("imap", "imap2.example.net", "993", "SSL", ["OAuth2", "password-cleartext"]),
        ("smtp", "smtp.example.net", "587", "STARTTLS", ["password-encrypted", "NTLM"]),
        ("smtp", "smtp2.example.net", "25", "plain", ["smtp-after-pop"]),
    ]


def test_thunderbird_pop3_block() -> None:
    options = (
        "pop3 = { leave_messages_on_server = false, download_on_biff = true, "
        "days_to_leave_messages_on_server = 14, check_interval_minutes = 10 }"
    )
    text = _toml(IMAP, _server(type="pop3", port=995, extra=options), SMTP)
    root = _thunderbird(text)
    (pop3,) = root.iter("pop3")
    assert [(child.tag, child.text, dict(child.attrib)) for child in pop3] == [
        ("leaveMessagesOnServer", "false", {}),
        ("downloadOnBiff", "true", {}),
        ("daysToLeaveMessagesOnServer", "14", {}),
        ("checkInterval", None, {"minutes": "10"}),
    ]
    servers = root.findall("emailProvider/incomingServer")
    assert servers[0].find("pop3") is None
    assert servers[1].find("pop3") is pop3
    assert servers[1].find("pop3") is not None
    assert [child.tag for child in servers[1]][-1] == "pop3"


def test_thunderbird_pop3_without_options_has_no_block() -> None:
    text = _toml(IMAP, _server(type="pop3", port=995), SMTP)
    assert list(_thunderbird(text).iter("pop3")) == []


@pytest.mark.parametrize(
    ("override", "incoming", "outgoing"),
    [
        pytest.param('hostname = "mx.example.org"', "mx.example.org", "mx.example.org", id="hostname"),
        pytest.param('incoming_hostname = "imap.example.org"', "imap.example.org", "mail.example.net", id="incoming"),
        pytest.param('outgoing_hostname = "smtp.example.org"', "mail.example.net", "smtp.example.org", id="outgoing"),
        pytest.param(
            'hostname = "mx.example.org"\noutgoing_hostname = "smtp.example.org"',
            "mx.example.org",
            "smtp.example.org",
            id="hostname-and-outgoing",
        ),
        pytest.param('hostname = "mail.{domain}"', "mail.example.org", "mail.example.org", id="template"),
        pytest.param('hostname = "MAIL.Example.ORG."', "mail.example.org", "mail.example.org", id="normalised"),
    ],
)
def test_thunderbird_hostname_overrides(override: str, incoming: str, outgoing: str) -> None:
    text = _toml(after=f'[provider.overrides."example.org"]\n{override}\n')
    org = _thunderbird(text, "example.org")
    assert org.findtext("emailProvider/incomingServer/hostname") == incoming
    assert org.findtext("emailProvider/outgoingServer/hostname") == outgoing
    net = _thunderbird(text, "example.net")
    assert net.findtext("emailProvider/incomingServer/hostname") == "mail.example.net"
    assert net.findtext("emailProvider/outgoingServer/hostname") == "mail.example.net"


def test_thunderbird_hostname_template_per_domain() -> None:
    text = _toml(_server(hostname="imap.{domain}"), _server("outgoing", "smtp", "smtp.{domain}", 465))
    for domain in ("example.net", "example.org"):
        root = _thunderbird(text, domain)
        assert root.findtext("emailProvider/incomingServer/hostname") == f"imap.{domain}"
        assert root.findtext("emailProvider/outgoingServer/hostname") == f"smtp.{domain}"
    assert b"{domain}" not in b"".join(d[render.THUNDERBIRD] for d in _render(text).values())


def test_thunderbird_display_name_override() -> None:
    text = _toml(after='[provider.overrides."example.org"]\ndisplay_name = "Org Mail"\nshort_name = "Org"\n')
    org = _thunderbird(text, "example.org")
    assert org.findtext("emailProvider/displayName") == "Org Mail"
    assert org.findtext("emailProvider/displayShortName") == "Org"
    net = _thunderbird(text, "example.net")
    assert net.findtext("emailProvider/displayName") == "Example Mail"
    assert net.findtext("emailProvider/displayShortName") == "Example Mail"


def test_thunderbird_idn_domain_as_a_label() -> None:
    text = _toml(
        _server(hostname="mail.{domain}"),
        _server("outgoing", "smtp", "smtp.bücher.example", 465),
        domains=("Bücher.example", "example.net"),
        provider_id="bücher.example",
        provider="list_all_domains = true",
    )
    tree = _render(text)
    assert list(tree) == ["xn--bcher-kva.example", "example.net"]
    content = tree["xn--bcher-kva.example"][render.THUNDERBIRD]
    root = ET.fromstring(content)
    provider = root.find("emailProvider")
    assert provider is not None
    assert provider.get("id") == "xn--bcher-kva.example"
    assert [d.text for d in provider.findall("domain")] == ["xn--bcher-kva.example", "example.net"]
    assert provider.findtext("incomingServer/hostname") == "mail.xn--bcher-kva.example"
    assert provider.findtext("outgoingServer/hostname") == "smtp.xn--bcher-kva.example"
    assert "ü" not in content.decode("utf-8")
    net = ET.fromstring(tree["example.net"][render.THUNDERBIRD])
    assert [d.text for d in net.iter("domain")] == ["example.net", "xn--bcher-kva.example"]


@pytest.mark.parametrize(
    "display_name",
    [
        pytest.param('Fred & <Friends> "Mail"', id="markup"),
        pytest.param("</displayName><incomingServer type='imap'>", id="element-injection"),
        pytest.param("]]> <!-- -- --> <?pi?> &amp; &#60;", id="xml-syntax"),
        pytest.param("Ünïcødé Mail ✉", id="unicode"),
    ],
)
def test_thunderbird_display_name_is_escaped(display_name: str) -> None:
    text = _toml(display_name=display_name)
    root = _thunderbird(text)
    assert root.findtext("emailProvider/displayName") == display_name
    assert root.findtext("emailProvider/displayShortName") == display_name
    assert len(root.findall("emailProvider/incomingServer")) == 1


def test_thunderbird_documentation_is_escaped() -> None:
    url = "https://example.net/help?a=1&b=2"
    text = _toml(
        after=f'[[provider.documentation]]\nurl = "{url}"\n'
        'description = { en = "Read <this> & that", "pt-BR" = "Leia \\"isto\\"" }\n'
    )
    root = _thunderbird(text)
    (documentation,) = root.iter("documentation")
    assert documentation.get("url") == url
    assert [(d.get("lang"), d.text) for d in documentation] == [("en", "Read <this> & that"), ("pt-BR", 'Leia "isto"')]


def test_thunderbird_without_documentation() -> None:
    assert list(_thunderbird(_toml()).iter("documentation")) == []


# -- Outlook POX -----------------------------------------------------------------


@pytest.mark.parametrize("domain", SHIPPED_DOMAINS)
def test_pox_is_well_formed_with_default_namespaces_only(shipped_tree: render.Tree, domain: str) -> None:
    content = shipped_tree[domain][render.OUTLOOK_POX]
    assert content.startswith(b"<?xml")
    assert not content.startswith(b"\xef\xbb\xbf")
    assert b"xmlns:" not in content
    assert not re.search(rb"</?[A-Za-z_][\w.-]*:", content), "namespace prefix"
    root = ET.fromstring(content)
    assert root.tag == f"{{{ENVELOPE_NS}}}Autodiscover"
    (response,) = list(root)
    assert response.tag == _o("Response")
    (account,) = list(response)
    assert account.tag == _o("Account")
    assert account.findtext(_o("AccountType")) == "email"
    assert account.findtext(_o("Action")) == "settings"
    for element in root.iter():
        if len(element) == 0:
            assert element.text == (element.text or "").strip()


def test_pox_shipped_protocols(shipped_tree: render.Tree) -> None:
    root = ET.fromstring(shipped_tree["example.org"][render.OUTLOOK_POX])
    protocols = _protocols(root)
    assert [(p["Type"], p["Port"], p["SSL"], p["Encryption"]) for p in protocols] == [
        ("IMAP", "993", "on", "SSL"),
        ("IMAP", "143", "on", "TLS"),
        ("POP3", "995", "on", "SSL"),
        ("POP3", "110", "on", "TLS"),
        ("SMTP", "465", "on", "SSL"),
        ("SMTP", "587", "on", "TLS"),
    ]
    for protocol in protocols:
        assert protocol["Server"] == "mail.example.net"
        assert protocol["LoginName"] == "%EMAILADDRESS%"
        assert protocol["DomainRequired"] == "off"
        assert protocol["SPA"] == "off"
        assert protocol["AuthRequired"] == "on"
        assert "UsePOPAuth" not in protocol
    assert list(protocols[0]) == [
        "Type",
        "Server",
        "Port",
        "LoginName",
        "DomainRequired",
        "SPA",
        "SSL",
        "Encryption",
        "AuthRequired",
    ]


@pytest.mark.parametrize(
    ("socket_type", "ssl", "encryption"),
    [
        pytest.param("SSL", "on", "SSL", id="ssl"),
        pytest.param("STARTTLS", "on", "TLS", id="starttls"),
        pytest.param("plain", "off", "None", id="plain"),
    ],
)
def test_pox_socket_types(socket_type: str, ssl: str, encryption: str) -> None:
    text = _toml(_server(socket_type=socket_type), _server("outgoing", "smtp", port=587, socket_type=socket_type))
    for protocol in _protocols(_pox(text)):
        assert (protocol["SSL"], protocol["Encryption"]) == (ssl, encryption)


@pytest.mark.parametrize(
    ("authentication", "spa", "auth_required"),
    [
        pytest.param(("password-cleartext",), "off", "on", id="cleartext"),
        # SPA on is Thunderbird's "secure" (encrypted) and the only way to keep it off cleartext.
        pytest.param(("password-encrypted",), "on", "on", id="encrypted"),
        pytest.param(("password-encrypted", "password-cleartext"), "off", "on", id="encrypted-or-cleartext"),
        pytest.param(("NTLM",), "on", "on", id="ntlm"),
        pytest.param(("NTLM", "password-cleartext"), "on", "on", id="ntlm-first"),
        pytest.param(("password-cleartext", "NTLM"), "off", "on", id="ntlm-second"),
        pytest.param(("OAuth2", "password-cleartext"), "off", "on", id="oauth2"),
        pytest.param(("GSSAPI",), "on", "on", id="gssapi"),
        pytest.param(("OAuth2",), "off", "on", id="oauth2-only"),
        pytest.param(("none",), "off", "off", id="none"),
        pytest.param(("client-IP-address",), "off", "off", id="client-ip"),
        pytest.param(("TLS-client-cert", "none"), "off", "off", id="client-cert"),
        pytest.param(("none", "password-cleartext"), "off", "on", id="none-then-password"),
    ],
)
def test_pox_spa_and_auth_required(authentication: tuple[str, ...], spa: str, auth_required: str) -> None:
    text = _toml(IMAP, _server("outgoing", "smtp", port=587, authentication=authentication))
    imap, smtp = _protocols(_pox(text))
    assert (smtp["SPA"], smtp["AuthRequired"]) == (spa, auth_required)
    assert (imap["SPA"], imap["AuthRequired"]) == ("off", "on")


def test_pox_smtp_after_pop() -> None:
    text = _toml(
        _server(type="pop3", port=995),
        _server("outgoing", "smtp", port=25, socket_type="STARTTLS", authentication=("smtp-after-pop",)),
    )
    pop3, smtp = _protocols(_pox(text))
    assert pop3["Type"] == "POP3"
    assert smtp["Type"] == "SMTP"
    assert smtp["UsePOPAuth"] == "on"
    assert "UsePOPAuth" not in pop3


def test_pox_per_domain_values() -> None:
    text = _toml(
        _server(hostname="imap.{domain}", username="{localpart}@{domain}"),
        SMTP,
        domains=("example.net", "bücher.example"),
        after='[provider.overrides."example.net"]\noutgoing_hostname = "out.example.net"\n',
    )
    idn = _protocols(_pox(text, "xn--bcher-kva.example"))
    assert [(p["Type"], p["Server"], p["LoginName"]) for p in idn] == [
        ("IMAP", "imap.xn--bcher-kva.example", "%EMAILLOCALPART%@bücher.example"),
        ("SMTP", "mail.example.net", "%EMAILADDRESS%"),
    ]
    net = _protocols(_pox(text, "example.net"))
    assert [(p["Server"], p["LoginName"]) for p in net] == [
        ("imap.example.net", "%EMAILLOCALPART%@example.net"),
        ("out.example.net", "%EMAILADDRESS%"),
    ]


# -- filling the POX template --------------------------------------------------------


def _pox_entry(content: bytes) -> TemplateEntry:
    """The store's entry for a POX document: what the web layer fills per request."""
    return TemplateEntry({render.OUTLOOK_POX: Template.split(content)}, b"", b"", 0)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param('a<b>&"c@example.org', id="markup"),
        pytest.param("fred@example.org", id="plain"),
        pytest.param("fred+tag@example.org", id="plus"),
        pytest.param("]]>&amp;<!--@example.org", id="xml-syntax"),
        pytest.param("jürgen@bücher.example", id="unicode"),
        pytest.param("%EMAILADDRESS%@example.org", id="placeholder-in-address"),
    ],
)
def test_pox_filled_with_address(shipped_tree: render.Tree, address: str) -> None:
    filled = _pox_entry(shipped_tree["example.org"][render.OUTLOOK_POX]).content(render.OUTLOOK_POX, address)
    root = ET.fromstring(filled)
    logins = [element.text for element in root.iter(_o("LoginName"))]
    assert logins == [address] * 6
    assert len(_protocols(root)) == 6


def test_pox_filled_with_local_part() -> None:
    text = _toml(
        _server(username="{localpart}"), _server("outgoing", "smtp", port=587, username="{localpart}@{domain}")
    )
    entry = _pox_entry(_render(text)["example.org"][render.OUTLOOK_POX])
    root = ET.fromstring(entry.content(render.OUTLOOK_POX, 'a<b>&"c@example.org'))
    assert [element.text for element in root.iter(_o("LoginName"))] == ['a<b>&"c', 'a<b>&"c@example.org']


def test_pox_template_keeps_its_bytes() -> None:
    content = _render(_toml())["example.net"][render.OUTLOOK_POX]
    entry = _pox_entry(content)
    assert entry.content(render.OUTLOOK_POX) == content
    assert entry.content(render.OUTLOOK_POX, "%EMAILADDRESS%") == content


# -- Autodiscover v2 JSON --------------------------------------------------------


@pytest.mark.parametrize("domain", SHIPPED_DOMAINS)
def test_json_answer(shipped_tree: render.Tree, domain: str) -> None:
    content = shipped_tree[domain][render.OUTLOOK_JSON]
    assert json.loads(content) == {
        "Protocol": "AutodiscoverV1",
        "Url": f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
    }
    assert content == (
        b'{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.'
        + domain.encode()
        + b'/autodiscover/autodiscover.xml"}'
    )


def test_json_answer_idn() -> None:
    content = _render(_toml(domains=("bücher.example",)))["xn--bcher-kva.example"][render.OUTLOOK_JSON]
    assert json.loads(content) == {
        "Protocol": "AutodiscoverV1",
        "Url": "https://autodiscover.xn--bcher-kva.example/autodiscover/autodiscover.xml",
    }


# -- POX errors ------------------------------------------------------------------


def test_error_document() -> None:
    content = outlook.error_document(600, "Invalid Request", "16:56:32.6164027", 1054084152)
    assert content.startswith(b"<?xml")
    root = ET.fromstring(content)
    assert root.tag == f"{{{ENVELOPE_NS}}}Autodiscover"
    (response,) = list(root)
    assert response.tag == f"{{{ENVELOPE_NS}}}Response"  # no namespace of its own: the envelope's
    error = response.find(f"{{{ENVELOPE_NS}}}Error")
    assert error is not None
    assert error.get("Time") == "16:56:32.6164027"
    assert error.get("Id") == "1054084152"
    assert error.findtext(f"{{{ENVELOPE_NS}}}ErrorCode") == "600"
    assert error.findtext(f"{{{ENVELOPE_NS}}}Message") == "Invalid Request"
    assert error.find(f"{{{ENVELOPE_NS}}}DebugData") is not None
    assert b"xmlns:" not in content


@pytest.mark.parametrize(
    ("schema", "namespace"),
    [
        pytest.param(MOBILESYNC_NS, MOBILESYNC_NS, id="mobilesync"),
        pytest.param(OUTLOOK_NS, OUTLOOK_NS, id="outlook"),
        pytest.param(None, ENVELOPE_NS, id="none"),
        pytest.param("", ENVELOPE_NS, id="empty"),
        pytest.param("http://evil.example/schema", ENVELOPE_NS, id="unknown"),
        pytest.param('x"><Injected/><y a="', ENVELOPE_NS, id="markup"),
        pytest.param(MOBILESYNC_NS.upper(), ENVELOPE_NS, id="other-case"),
    ],
)
def test_error_document_schema(schema: str | None, namespace: str) -> None:
    content = outlook.error_document(601, "Provider is not available", "12:00:00.0000000", 7, schema)
    root = ET.fromstring(content)
    (response,) = list(root)
    assert response.tag == f"{{{namespace}}}Response"
    assert response.findtext(f"{{{namespace}}}Error/{{{namespace}}}ErrorCode") == "601"
    if schema and namespace == ENVELOPE_NS:
        assert schema.encode() not in content
    assert b"Injected" not in content


def test_error_document_escapes_the_message() -> None:
    content = outlook.error_document(500, 'No <such> "address" & more', "12:00:00.0000000", 5)
    root = ET.fromstring(content)
    error = root.find(f"{{{ENVELOPE_NS}}}Response/{{{ENVELOPE_NS}}}Error")
    assert error is not None
    assert error.findtext(f"{{{ENVELOPE_NS}}}Message") == 'No <such> "address" & more'
    assert error.findtext(f"{{{ENVELOPE_NS}}}ErrorCode") == "500"
