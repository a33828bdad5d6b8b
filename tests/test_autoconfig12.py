"""Autoconfig 1.2's calendar and address book sections in config-v1.1.xml (issue 12, section 2).

draft-ietf-mailmaint-autoconfig-06 puts ``<calendar type="caldav">`` and
``<addressbook type="carddav">`` beside ``<emailProvider>``, each with
``<url>``, ``<authentication system="http">Basic</authentication>`` and
``<username>``. Expectations come from the TOML (``DavService.url_for``,
the username placeholders), never from the renderer's own output; the
documents are read back with an XML parser, so escaping is proven by what
a parser gets, not by the bytes we expect to have written.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.app import render_app
from support.configs import GROUPWARE
from support.configs import HOSTING
from support.configs import MINIMAL_AUTOCONFIG as MINIMAL
from support.configs import SMALL
from support.paths import EXAMPLE_CONFIG

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import render
from mailautoconf.authoring import importer
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Config
from mailautoconf.model import DavService
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import placeholders
from mailautoconf.render.templates import domain_values
from mailautoconf.render.templates import mx_values
from mailautoconf.render.templates import own_templates
from mailautoconf.render.templates import provider_templates

DOCUMENTS = (render.THUNDERBIRD, render.EVOLUTION)
SECTIONS = {"calendar": ("caldav", "caldav"), "addressbook": ("carddav", "carddav")}  # tag: (type, model field)


def loaded(text: str) -> Config:
    return config.loads(text).config


def without_dav(text: str) -> str:
    """The same config with every caldav/carddav/oauth_issuer line taken out (inline tables, one line each)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not re.match(r"(caldav|carddav|oauth_issuer) = ", line)
    )


def expected_section(service: DavService | None, domain: Domain) -> dict[str, object] | None:
    """What a parser should read from a section for ``service``, from the model alone."""
    if service is None:
        return None
    username = None
    if service.username is not None:
        username = (
            service.username.replace("{address}", "%EMAILADDRESS%")
            .replace("{localpart}", "%EMAILLOCALPART%")
            .replace("{domain}", domain.unicode)
        )
    return {"url": service.url_for(domain), "authentication": [("http", "Basic")], "username": username}


def read_section(root: ET.Element, tag: str, kind: str) -> dict[str, object] | None:
    found = root.findall(tag)
    assert len(found) <= 1, f"{len(found)} <{tag}> sections"
    if not found:
        return None
    (section,) = found
    assert section.get("type") == kind
    assert [child.tag for child in section] in (
        ["url", "authentication"],
        ["url", "authentication", "username"],
    ), [child.tag for child in section]
    username = section.find("username")
    return {
        "url": section.findtext("url"),
        "authentication": [(element.get("system"), element.text) for element in section.findall("authentication")],
        "username": None if username is None else username.text,
    }


def read_dav(document: bytes) -> dict[str, object]:
    """What a 1.2 reader takes from ``document``: the version, each DAV section, where they sit, the OAuth2 issuers."""
    root = ET.fromstring(document)
    provider_element = root.find("emailProvider")
    assert provider_element is not None
    return {
        "version": root.get("version"),
        **{tag: read_section(root, tag, kind) for tag, (kind, _) in SECTIONS.items()},
        # The draft puts them beside <emailProvider>, never inside it.
        "inside emailProvider": [tag for tag in SECTIONS if provider_element.find(tag) is not None],
        "oAuth2": [element.findtext("issuer") for element in root.findall("oAuth2")],
    }


def expected_dav(provider: Provider, domain: Domain) -> dict[str, object]:
    """What :func:`read_dav` must find for ``domain``, from the model alone: exactly its DAV services, and 1.2 then."""
    sections = {
        tag: expected_section(getattr(provider, f"{field}_for")(domain), domain) for tag, (_, field) in SECTIONS.items()
    }
    issuers = [] if provider.oauth_issuer is None else [urlsplit(provider.oauth_issuer).hostname]
    has_dav = any(section is not None for section in sections.values())
    return {
        "version": "1.2" if has_dav or issuers else "1.1",
        **sections,
        "inside emailProvider": [],
        "oAuth2": issuers,
    }


# -- with and without DAV --------------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_domain_carries_its_dav_services(document: str) -> None:
    groupware = loaded(GROUPWARE)
    tree = render.render(groupware)
    for provider, domain in groupware.domains().values():
        assert read_dav(tree[domain.name][document]) == expected_dav(provider, domain), domain.name


@pytest.mark.parametrize(
    "text", [EXAMPLE_CONFIG.read_text(encoding="utf-8"), HOSTING, SMALL], ids=["example", "hosting", "small"]
)
def test_without_dav_nothing_is_added(text: str) -> None:
    """No DAV configured: version 1.1 and no section (the byte-for-byte proof is test_render and test_import)."""
    assert "caldav" not in text and "carddav" not in text
    tree = render.render(loaded(text))
    for documents in tree.values():
        for path in DOCUMENTS:
            root = ET.fromstring(documents[path])
            assert root.get("version") == "1.1"
            assert [child.tag for child in root] == ["emailProvider"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_dav_adds_only_its_sections(document: str) -> None:
    """Taking DAV and OAuth2 out of the config gives the same bytes as taking the sections out of the document.

    So the sections change nothing else: not a server, not an escape, not the order.
    """
    with_dav = render.render(loaded(GROUPWARE))
    plain = render.render(loaded(without_dav(GROUPWARE)))
    assert set(with_dav) == set(plain)
    for name in with_dav:
        stripped = re.sub(
            rb"  <(calendar|addressbook|oAuth2)( type=\"[a-z]+\")?>\n(    .*\n)*?  </\1>\n",
            b"",
            with_dav[name][document],
        )
        assert stripped != with_dav[name][document], name
        assert (
            stripped.replace(b'<clientConfig version="1.2">', b'<clientConfig version="1.1">') == plain[name][document]
        )


def test_only_caldav_or_only_carddav() -> None:
    text = SMALL.replace('domains = ["example.net", "example.org"]\n', 'domains = ["example.net", "example.org"]\nX\n')
    for line, present in (
        ('caldav = { url = "https://cal.example.net/" }', "calendar"),
        ('carddav = { url = "https://card.example.net/" }', "addressbook"),
    ):
        groupware = loaded(text.replace("X", line))
        for provider, domain in groupware.domains().values():
            document = render.render(groupware)[domain.name][render.THUNDERBIRD]
            assert read_dav(document) == expected_dav(provider, domain), domain.name
            assert [child.tag for child in ET.fromstring(document)] == ["emailProvider", present]


def test_the_draft_spelling_of_http_basic() -> None:
    """Revision -06 ("URL-based protocols"): system="http" and the HTTP scheme's own spelling, Basic."""
    document = render.render(loaded(GROUPWARE))["groupware.test"][render.THUNDERBIRD]
    assert document.count(b'    <authentication system="http">Basic</authentication>\n') == 2


# -- the OAuth2 issuer (issue 12, section 4) ---------------------------------------


@pytest.mark.parametrize(
    ("issuer", "host"),
    [
        ("https://login.example.net", "login.example.net"),
        ("https://Login.Example.NET/realms/mail", "login.example.net"),
        ("https://anmeldung.bücher.example/", "anmeldung.xn--bcher-kva.example"),
    ],
)
def test_oauth_issuer_is_the_oauth2_section(issuer: str, host: str) -> None:
    """The draft's <oAuth2> beside <emailProvider>: the issuer's host name alone, never a client id or secret.

    The MX lookup document carries it too: the issuer is the provider's, not a domain's.
    """
    text = SMALL.replace(
        'domains = ["example.net", "example.org"]\n',
        f'domains = ["example.net", "example.org"]\noauth_issuer = "{issuer}"\n',
    )
    result = config.loads(text)
    assert result.config is not None, result.errors
    (provider,) = result.config.providers
    tree = render.render(result.config)
    documents = [tree[domain.name][path] for domain in provider.domains for path in DOCUMENTS]
    documents += [provider_templates(provider).mx[path].fill(mx_values()) for path in DOCUMENTS]
    for document in documents:
        root = ET.fromstring(document)
        assert root.get("version") == "1.2"
        assert [child.tag for child in root] == ["emailProvider", "oAuth2"]
        (section,) = root.findall("oAuth2")
        assert [(child.tag, child.text) for child in section] == [("issuer", host)]
        assert clientrules.android_problems(document, "fred@example.org") == []
    assert clientrules.warnings(result) == ()


# -- display name lengths (draft-06, "displayName and displayShortName") ------------------


NAMES = 'display_name = "Example Mail"\n'


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ('display_name = "' + "D" * 60 + '"\nshort_name = "' + "S" * 20 + '"\n', []),  # at the limits
        (
            'display_name = "' + "D" * 61 + '"\nshort_name = "Short"\n',
            [
                'line 6: warning: provider "example.net": display_name has 61 characters; Autoconfig 1.2 allows 60 '
                "in displayName: shorten it"
            ],
        ),
        (
            'display_name = "' + "D" * 21 + '"\n',
            [
                'line 6: warning: provider "example.net": display_name, the short name too while short_name is not '
                "set, has 21 characters; Autoconfig 1.2 allows 20 in displayShortName: add a short_name"
            ],
        ),
        (
            'display_name = "Example Mail"\nshort_name = "' + "S" * 21 + '"\n',
            [
                'line 7: warning: provider "example.net": short_name has 21 characters; Autoconfig 1.2 allows 20 '
                "in displayShortName: shorten it"
            ],
        ),
        (
            NAMES + '\n[provider.overrides."example.org"]\nshort_name = "' + "S" * 21 + '"\n',
            [
                'line 26: warning: provider "example.net", domain "example.org": short_name has 21 characters; '
                "Autoconfig 1.2 allows 20 in displayShortName: shorten it"
            ],
        ),
    ],
    ids=["at-the-limits", "long-display-name", "long-display-name-as-short-name", "long-short-name", "override"],
)
def test_display_names_longer_than_the_draft_allows_are_warnings(names: str, expected: list[str]) -> None:
    text = SMALL.replace(NAMES, names)
    if "[provider.overrides" in names:  # the override table goes after the provider's servers
        text = SMALL + names.removeprefix(NAMES)
    assert text != SMALL
    found = [str(problem) for problem in clientrules.warnings(config.loads(text, "c.toml"))]
    assert [line.removeprefix("c.toml, ") for line in found if "Autoconfig 1.2 allows" in line] == expected


# -- {domain} in the host, overrides, escaping -------------------------------------


def test_domain_in_the_url_host_is_each_domains_a_label() -> None:
    groupware = loaded(GROUPWARE)
    tree = render.render(groupware)
    urls = {
        name: ET.fromstring(tree[name][render.THUNDERBIRD]).findtext("calendar/url")
        for name in ("groupware.test", "xn--kse-qla.example")
    }
    assert urls == {
        "groupware.test": "https://dav.groupware.test/caldav/?client=autoconfig&v=2",
        "xn--kse-qla.example": "https://dav.xn--kse-qla.example/caldav/?client=autoconfig&v=2",
    }


def test_an_override_gives_the_domain_its_own_services() -> None:
    groupware = loaded(GROUPWARE)
    provider, office = groupware.domains()["office.test"]
    assert office.override.caldav is not None and office.override.carddav is not None
    root = ET.fromstring(render.render(groupware)["office.test"][render.THUNDERBIRD])
    assert root.findtext("calendar/url") == "https://calendar.office-own.test/dav/"
    assert root.findtext("addressbook/url") == "https://calendar.office-own.test/contacts/"
    assert root.findtext("calendar/username") == root.findtext("addressbook/username") == "%EMAILADDRESS%"
    # ... and only that domain: its neighbours keep the provider's.
    other = ET.fromstring(render.render(groupware)["groupware.test"][render.THUNDERBIRD])
    assert other.findtext("addressbook/url") == "https://contacts.groupware.test/carddav/"
    assert other.find("addressbook/username") is None
    assert provider.caldav is not None and other.findtext("calendar/url") != root.findtext("calendar/url")


@pytest.mark.parametrize(
    ("url", "username"),
    [
        ("https://dav.example.net/cal/?a=1&b=2&lt=3", "{localpart}&co"),
        ("https://dav.example.net/c&d/#x&y", "<{address}>"),
        ("https://dav.example.net/%41%26/", "{address}&amp;"),
    ],
)
def test_url_and_username_are_escaped(url: str, username: str) -> None:
    text = SMALL.replace(
        'domains = ["example.net", "example.org"]\n',
        f'domains = ["example.net", "example.org"]\ncaldav = {{ url = "{url}", username = "{username}" }}\n',
    )
    groupware = loaded(text)
    for provider, domain in groupware.domains().values():
        for path in DOCUMENTS:
            document = render.render(groupware)[domain.name][path]
            assert read_dav(document) == expected_dav(provider, domain), domain.name
            assert ET.fromstring(document).findtext("calendar/url") == url
    assert clientrules.warnings(config.loads(text)) == ()


# -- the shared templates and the MX lookup document ------------------------------


def test_templates_give_each_domain_its_own_bytes() -> None:
    """The stand-in domain in a DAV URL's host fills back to exactly the directly rendered document."""
    groupware = loaded(GROUPWARE)
    (provider,) = groupware.providers
    templates = provider_templates(provider)
    assert templates.shared is not None, "a {domain} DAV URL must not stop sharing"
    plain = [domain for domain in provider.domains if domain.override is NO_OVERRIDE]
    assert len(plain) == 2
    for domain in plain:
        for path in DOCUMENTS:
            assert templates.shared[path].fill(domain_values(domain)) == render.DOCUMENTS[path](provider, domain)
    (office,) = (domain for domain in provider.domains if domain.override is not NO_OVERRIDE)
    own = own_templates(provider, office)
    for path in DOCUMENTS:
        filled = own[path].fill({})
        assert filled == render.DOCUMENTS[path](provider, office)
        assert templates.shared[path].fill(domain_values(office)) != filled  # the override matters


def test_served_documents_are_the_rendered_ones(tmp_path: Path) -> None:
    """Through publish, the store and the web layer: each domain gets its document, the override its own."""
    app = render_app(tmp_path, GROUPWARE)
    groupware = loaded(GROUPWARE)
    tree = render.render(groupware)
    for provider, domain in groupware.domains().values():
        answer = app.get("/mail/config-v1.1.xml", host=f"autoconfig.{domain.name}")
        assert answer.status_code == 200
        assert answer.data == tree[domain.name][render.THUNDERBIRD]
        assert read_dav(answer.data) == expected_dav(provider, domain), domain.name
        evolution = app.get(
            "/mail/config-v1.1.xml", host=f"autoconfig.{domain.name}", **{"User-Agent": "Evolution/3.46.4"}
        )
        assert evolution.data == tree[domain.name][render.EVOLUTION]


MX = '\nmx = ["mx1.hoster.example"]\n'


@pytest.mark.parametrize(
    ("caldav", "carddav", "tags"),
    [
        ("https://dav.{domain}/cal/", "https://contacts.hoster.example/card/", ["emailProvider", "addressbook"]),
        ("https://cal.hoster.example/", "https://card.hoster.example/", ["emailProvider", "addressbook", "calendar"]),
        ("https://dav.{domain}/cal/", "https://dav.{domain}/card/", ["emailProvider"]),
    ],
    ids=["one-per-domain", "none-per-domain", "all-per-domain"],
)
def test_mx_document_leaves_out_what_needs_the_domain(caldav: str, carddav: str, tags: list[str]) -> None:
    """autoconfig.<MX domain> answers for every domain: a DAV URL with {domain} has no value there.

    The draft lets clients fill placeholders in <url> only as a MAY, so
    %EMAILDOMAIN% must not stand in a URL; a fixed URL stays in.
    """
    extra = f'caldav = {{ url = "{caldav}", username = "{{localpart}}@{{domain}}" }}\ncarddav = {{ url = "{carddav}" }}'
    text = SMALL.replace(
        'domains = ["example.net", "example.org"]\n', f'domains = ["example.net", "example.org"]{MX}{extra}\n'
    )
    (provider,) = loaded(text).providers
    templates = provider_templates(provider)
    for path in DOCUMENTS:
        document = templates.mx[path].fill(mx_values())
        root = ET.fromstring(document)
        assert [child.tag for child in root] == tags
        assert root.get("version") == ("1.2" if len(tags) > 1 else "1.1")
        for section in root:
            if section.tag != "emailProvider":
                assert "%EMAILDOMAIN%" not in (section.findtext("url") or "")
                assert section.findtext("username") in (None, f"%EMAILLOCALPART%@{placeholders.DOMAIN}")
        assert clientrules.android_problems(document, "fred@customer.example") == []
    # The domains' own documents keep every section.
    for domain in provider.domains:
        assert [child.tag for child in ET.fromstring(render.render(loaded(text))[domain.name][render.THUNDERBIRD])] == [
            "emailProvider",
            "addressbook",
            "calendar",
        ]


# -- Thunderbird for Android ------------------------------------------------------


def test_android_accepts_every_dav_document() -> None:
    result = config.loads(GROUPWARE)
    tree = render.render(result.config)
    for name, documents in tree.items():
        for path in DOCUMENTS:
            assert clientrules.android_problems(documents[path], f"fred@{name}") == [], (name, path)
    assert not [problem for problem in clientrules.warnings(result) if "Android" in str(problem)]


@pytest.mark.parametrize(
    "section",
    [
        b'<calendar type="caldav"><url>https://dav.example.org/</url>'
        b'<authentication system="http">Basic</authentication></calendar>',
        # The app skips clientConfig's other children unread (skipElement): even
        # what it would refuse inside a server section passes there.
        b'<addressbook type="carddav"><url><b>not text</b></url><socketType>plain</socketType></addressbook>',
        b'<oAuth2><issuer>login.example.org</issuer></oAuth2><clientConfigUpdate url="https://example.org/x"/>',
    ],
    ids=["calendar", "odd-addressbook", "other-1.2-elements"],
)
@pytest.mark.parametrize("version", [b"1.1", b"1.2", b"9.9"])
def test_android_skips_what_is_beside_email_provider(section: bytes, version: bytes) -> None:
    document = MINIMAL.replace(b'version="1.1"', b'version="' + version + b'"')
    document = document.replace(b"  </emailProvider>\n", b"  </emailProvider>\n  " + section + b"\n")
    assert section in document
    assert clientrules.android_problems(document) == []
    # ... while the same rules still hold inside <emailProvider>.
    broken = document.replace(b"<socketType>SSL</socketType>", b"<socketType>plain</socketType>", 1)
    assert clientrules.android_problems(broken) == [
        "incoming server 1 (imap): socketType 'plain' is not SSL or STARTTLS"
    ]


# -- importing a 1.2 document -------------------------------------------------------


def test_import_round_trip() -> None:
    """A document we render imports back into a config that renders the same bytes, DAV included."""
    groupware = loaded(GROUPWARE)
    tree = render.render(groupware)
    for name in tree:
        imported = importer.parse_document(tree[name][render.THUNDERBIRD], f"{name}.xml")
        assert imported.notes == [], imported.notes
        again = loaded(importer.build_document([imported], groupware.service.public_hostname))
        (provider,) = again.providers
        original, domain = groupware.domains()[name]
        for field in ("caldav", "carddav"):
            before = getattr(original, f"{field}_for")(domain)
            after = getattr(provider, f"{field}_for")(provider.domains[0])
            assert (after.url_for(provider.domains[0]), after.username) == (before.url_for(domain), before.username)
        assert render.render(again)[name][render.THUNDERBIRD] == tree[name][render.THUNDERBIRD]


def test_import_leaves_the_mx_domain_out() -> None:
    """<domain purpose="mx"> names the MX servers' domain: importing it as a mail domain would host it."""
    text = SMALL.replace(
        'domains = ["example.net", "example.org"]\n', 'domains = ["example.net"]\nmx = ["mx1.hoster.test"]\n'
    )
    document = render.render(loaded(text))["example.net"][render.THUNDERBIRD]
    assert b'<domain purpose="mx">hoster.test</domain>' in document
    imported = importer.parse_document(document, "mx.xml")
    assert imported.provider["domains"] == ["example.net"]
    assert imported.notes == [
        "mx.xml: /clientConfig/emailProvider/domain[2]: not imported "
        "(the MX servers' domain: mx = [...] takes the MX host names)"
    ]


@pytest.mark.parametrize(
    ("section", "note", "imported"),
    [
        (
            '<calendar type="caldav"><url>http://dav.example.org/</url></calendar>',
            'url "http://dav.example.org/" is not an https URL',
            None,
        ),
        ('<calendar type="caldav"><username>%EMAILADDRESS%</username></calendar>', "not imported (no <url>)", None),
        (
            '<calendar type="webcal"><url>https://dav.example.org/</url></calendar>',
            'type "webcal" not imported (only caldav)',
            None,
        ),
        (
            '<calendar type="caldav"><url>https://dav.example.org/</url>'
            '<authentication system="http">Digest</authentication></calendar>',
            '"Digest" not imported (the model says HTTP Basic for calendars and contacts)',
            {"url": "https://dav.example.org/"},
        ),
        (
            '<calendar type="caldav"><url>https://one.example.org/</url></calendar>'
            '<calendar type="caldav"><url>https://two.example.org/</url></calendar>',
            "not imported (the first <calendar> is the provider's; the model holds one)",
            {"url": "https://one.example.org/"},
        ),
    ],
    ids=["http-url", "no-url", "other-type", "digest", "second-calendar"],
)
def test_import_says_what_it_leaves_out(section: str, note: str, imported: dict[str, str] | None) -> None:
    document = MINIMAL.replace(b"  </emailProvider>\n", b"  </emailProvider>\n  " + section.encode() + b"\n")
    found = importer.parse_document(document, "x.xml")
    assert any(note in line for line in found.notes), found.notes
    assert found.provider.get("caldav") == imported
    loaded(importer.build_document([found], "autoconfig.example.org"))  # always a config check accepts
