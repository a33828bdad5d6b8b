"""The settings page for people (webpage.py, render/page.py): in process, and against the real service.

What is checked: the page of a hosted domain in both languages (Accept-Language
with q-values, and ?lang=), its servers and DAV services, the per-address
block with the profile link and QR code, hostile addresses coming out
escaped, the strict Content-Security-Policy, and a 404 that names no domain.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

import pytest
from support.app import App
from support.app import render_app
from support.configs import PAGE as CONFIG
from support.paths import EXAMPLE_CONFIG

from mailautoconf import config as config_loader
from mailautoconf.render import PAGES
from mailautoconf.render.page import Tokens
from mailautoconf.render.templates import provider_templates

HOSTED = ("example.net", "example.org", "xn--bcher-kva.example", "bücher.example")


@pytest.fixture
def site(tmp_path: Path) -> App:
    return render_app(tmp_path / "page", CONFIG)


def text_of(body: bytes) -> str:
    """The page's visible text, tags dropped and entities decoded: what a person reads."""
    return html.unescape(re.sub(r"<[^>]+>", " ", body.decode("utf-8")))


def style_policy(body: bytes) -> str:
    style = re.search(rb"<style>(.*?)</style>", body, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1)).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


# -- the page of a domain ---------------------------------------------------------------------------


def test_the_page_lists_servers_and_dav_services(site: App) -> None:
    answer = site.get("/", host="autoconfig.example.org")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    body = answer.data
    assert b'<html lang="en">' in body
    assert b"<title>Set up mail for example.org</title>" in body
    text = text_of(body)
    assert "Set up mail for example.org" in text
    assert "imap.example.org" in text and "993" in text and "SSL/TLS" in text
    assert "POP3" in text and "110" in text and "STARTTLS" in text
    assert "SMTP" in text and "587" in text
    assert "your full mail address" in text
    assert "the part of your address before @" in text
    assert "mx-<the part of your address before @>.example.org" in text  # literal text spelled out
    assert "https://dav.example.org/" in text and "Calendar (CalDAV)" in text
    assert "https://contacts.example.net/example.org/" in text and "Contacts (CardDAV)" in text
    assert "Generic settings page" in text and "Only in English" in text
    # Client notes: the automatic clients, Apple's approval, Outlook's registry workaround.
    assert "Thunderbird, Evolution, KMail and the Android apps" in text
    assert "System Settings, Privacy & Security, Profiles" in text
    assert r"HKEY_CURRENT_USER\Software\Microsoft\Office\16.0\Outlook\Setup" in text
    assert "DisableOffice365SimplifiedAccountCreation" in text
    # No other hosted domain anywhere.
    assert b"example.net/" not in body.replace(b"contacts.example.net/", b"").replace(b"help.example.net/", b"")
    assert b"bcher" not in body
    # The form: a label for its input, GET, to this page, and the direct download.
    assert b'<label for="emailaddress">' in body and b'id="emailaddress" name="emailaddress"' in body
    assert b'<form method="get">' in body
    assert b'formaction="/email.mobileconfig"' in body
    assert b'<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert answer.headers["Cache-Control"] == "max-age=300"
    assert answer.headers["Vary"] == "Accept-Language"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_is_the_published_document(site: App) -> None:
    """The bytes served without an address are the file publish wrote, tokens filled with nothing."""
    on_disk = (site.output / "current" / "example.org" / PAGES["de"]).read_bytes()
    assert b"@@MAILAUTOCONF:" in on_disk
    served = site.get("/?lang=de", host="autoconfig.example.org").data
    assert b"@@MAILAUTOCONF:" not in served
    sections_cut = re.sub(
        rb"<!--@@MAILAUTOCONF:BEGIN:(\w+)@@-->.*?<!--@@MAILAUTOCONF:END:\1@@-->", b"", on_disk, flags=re.S
    )
    assert served == re.sub(rb"@@MAILAUTOCONF:\w+@@", b"", sections_cut)


# Accept-Language (RFC 9110 section 12.5.4) and the page's language. A language's
# weight is the one the header gives it by name; else the best of its more specific
# ranges (who reads de-AT reads de); else that of "*". q=0: not acceptable (section
# 12.4.2); equal weights: the header's order; nothing acceptable: a language not
# refused, English first. An element whose range or weight is malformed counts not.
ACCEPT_LANGUAGE = [
    ("", "en"),
    ("de", "de"),
    ("de-DE,de;q=0.9,en;q=0.5", "de"),
    ("en;q=0.2, de;q=0.8", "de"),
    ("de;q=0.1, en", "en"),
    ("fr, de;q=0.5", "de"),
    ("fr", "en"),
    ("*", "en"),
    ("de-AT, en;q=0.5", "de"),
    ("en-GB;q=0.3, de-CH;q=0.7", "de"),
    ("de;q=0, en", "en"),
    # q=0 is "not acceptable", however it is spelled, also under "*".
    ("de;q=0", "en"),
    ("de;q=0.000", "en"),
    ("*;q=0.5, de;q=0", "en"),
    ("*, en;q=0", "de"),
    ("en;q=0", "de"),
    ("en;q=0, de;q=0", "en"),
    ("*;q=0", "en"),
    ("de-AT;q=0.2, de-CH;q=0, en;q=0.1", "de"),
    ("de;q=0.001, en;q=0", "de"),
    # Tags and the q are matched without letter case; whitespace only where the grammar has it.
    ("DE", "de"),
    ("De-At;Q=0.5, EN;q=0.4", "de"),
    ("de ;q=0.5, en;q=0.4", "de"),
    ("de;q=0.5\t, en;q=0.4", "de"),
    # Equal weights: the order of the header.
    ("en, de", "en"),
    ("de, en", "de"),
    ("en;q=0.5, de;q=0.5", "en"),
    ("de;q=1.000, en", "de"),
    # Malformed weights and ranges count not: no preference, no refusal.
    ("de;q=0.5000, en;q=0.1", "en"),
    ("de;q=.5, en;q=0.1", "en"),
    ("de;q=1.5, en;q=0.1", "en"),
    ("de;q=1e0, en;q=0.1", "en"),
    ("de;q=-0, en;q=0.1", "en"),
    ("de;q=abc, en;q=0.1", "en"),
    ("de;q=, en;q=0.1", "en"),
    ("de;q = 0.5, en;q=0.1", "en"),
    ("de;q=0;q=1, en;q=0.1", "en"),
    ("de;level=1, en;q=0.1", "en"),
    ("de-, en;q=0.1", "en"),
    ("deutschland, en;q=0.1", "en"),
    ("de;q=0.5000, de;q=0", "en"),
    ("en;q=0.9x, de;q=0.1", "de"),
    (",,de,,", "de"),
    (";q=1, de", "de"),
]


@pytest.mark.parametrize(("accept", "language"), ACCEPT_LANGUAGE)
def test_the_language_follows_accept_language(site: App, accept: str, language: str) -> None:
    answer = site.get("/", host="autoconfig.example.org", **({"Accept-Language": accept} if accept else {}))
    assert f'<html lang="{language}">'.encode() in answer.data
    title = "E-Mail einrichten für example.org" if language == "de" else "Set up mail for example.org"
    assert title in text_of(answer.data)


def test_the_german_page(site: App) -> None:
    answer = site.get("/?lang=de", host="autodiscover.example.org", **{"Accept-Language": "en"})
    text = text_of(answer.data)
    assert "E-Mail einrichten für example.org" in text
    assert "Posteingang" in text and "Postausgang" in text and "Verschlüsselung" in text
    assert "Ihre vollständige E-Mail-Adresse" in text
    assert "Systemeinstellungen, Datenschutz & Sicherheit, Profile" in text
    assert "DisableOffice365SimplifiedAccountCreation" in text
    # Documentation in German where there is a German text, else English.
    assert "Allgemeine Beschreibung" in text and "Generic settings page" not in text
    assert "Only in English" in text
    # The switch back to English, on this path.
    assert b'<a href="?lang=en" hreflang="en" lang="en">English</a>' in answer.data


def test_an_unknown_lang_falls_back_to_accept_language(site: App) -> None:
    answer = site.get("/?lang=xx", host="autoconfig.example.org", **{"Accept-Language": "de"})
    assert b'<html lang="de">' in answer.data


def test_the_domain_comes_from_the_address_then_the_host(site: App) -> None:
    answer = site.get("/?emailaddress=fred%40example.org", host="autoconfig.example.net")
    assert "Set up mail for example.org" in text_of(answer.data)
    answer = site.get("/", host="EXAMPLE.org.:8080")
    assert "Set up mail for example.org" in text_of(answer.data)
    answer = site.get("/.well-known/autoconfig/", host="example.net")
    assert answer.status_code == 200 and "Set up mail for example.net" in text_of(answer.data)
    assert "imap.example.net" in text_of(answer.data)


def test_an_idn_domain_is_shown_in_its_unicode_form(site: App) -> None:
    answer = site.get("/", host="autoconfig.xn--bcher-kva.example")
    text = text_of(answer.data)
    assert "Set up mail for bücher.example" in text
    assert "imap.xn--bcher-kva.example" in text  # host names as DNS needs them
    assert "https://dav.xn--bcher-kva.example/" in text


# -- the address ------------------------------------------------------------------------------------


def test_an_address_gets_its_profile_link_and_qr_code(site: App) -> None:
    answer = site.get("/?emailaddress=fred%40example.org&lang=en", host="autoconfig.example.org")
    assert answer.status_code == 200
    body = answer.data
    assert b'href="/email.mobileconfig?emailaddress=fred@example.org"' in body
    assert b"<svg " in body and b'class="qr"' in body
    assert "https://autoconfig.example.org/email.mobileconfig?emailaddress=fred@example.org" in text_of(body)
    assert b'value="fred@example.org"' in body
    assert b'<a href="?lang=de&amp;emailaddress=fred@example.org" hreflang="de" lang="de">Deutsch</a>' in body
    assert "Profile for fred@example.org" in " ".join(text_of(body).split())
    assert answer.headers["Cache-Control"] == "no-store"
    assert b'role="alert"' not in body


def test_the_qr_code_names_the_host_asked(site: App) -> None:
    answer = site.get("/?emailaddress=fred%40example.org", host="AutoDiscover.Example.org:8443")
    assert "https://autodiscover.example.org:8443/email.mobileconfig?emailaddress=fred@example.org" in text_of(
        answer.data
    )
    # A Host that is no name (an IP address): the domain's autoconfig name.
    answer = site.get("/?emailaddress=fred%40example.org", host="127.0.0.1:8080")
    assert "https://autoconfig.example.org/email.mobileconfig?emailaddress=fred@example.org" in text_of(answer.data)


HOSTILE = [
    '"><script>alert(1)</script>@example.org',
    "o'hara\"<b>&amp;@example.org",
    "<img src=x onerror=alert(1)>@example.org",
    "jürgen@bücher.example",
    "fred@BÜCHER.example",
    "%3Cscript%3E@example.org",
    "a b\r\nSet-Cookie: x=1@example.org",
]


@pytest.mark.parametrize("address", HOSTILE)
def test_hostile_addresses_come_out_escaped(site: App, address: str) -> None:
    answer = site.client.get("/", query_string={"emailaddress": address}, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 200
    body = answer.data.decode("utf-8")
    assert "<script" not in body and "<img" not in body and "<b>" not in body
    assert "onerror=alert" not in body.replace("onerror=alert(1)&gt;", "")
    assert "Set-Cookie" not in answer.headers
    escaped = html.escape(address.strip(), quote=True)
    assert f'value="{escaped}"' in body
    # Every attribute stays closed: a quote in the address never ends one.
    for value in re.findall(r'href="([^"]*)"', body):
        assert "<" not in value and "'" not in value
    assert "@@MAILAUTOCONF:" not in body


# Every token of the page, read from the class that defines them: a new token is covered too.
TOKENS = [value for name, value in vars(Tokens).items() if name.isupper() and isinstance(value, str)]
# Addresses that spell a token, with markup, for each state of the page: with a
# profile (hosted domain), of an unhosted domain, and no address at all (no domain).
TOKEN_ADDRESSES = [
    address
    for token in TOKENS
    for address in (f'{token}"><b>x</b>@example.org', f"<i>{token}</i>@other.test", f"{token}<u>")
]


def assert_filled_once(body: bytes, address: str) -> None:
    """``address`` stands in the page escaped, each time whole, and nothing else came of it.

    The address spells a token: filled one after another, a later token
    was replaced inside the already filled address (a QR code's markup in
    the input's value attribute).
    """
    text = body.decode("utf-8")
    escaped = html.escape(address, quote=True)
    assert f'value="{escaped}"' in text
    if address.endswith("@example.org"):
        assert f'<span class="address">{escaped}</span>' in text
    assert text.count(escaped) == (2 if address.endswith("@example.org") else 1)
    assert text.count("<svg") == (1 if address.endswith("@example.org") else 0)
    for tag in ("<b>", "<i>", "<u>"):
        assert tag not in text
    # Where the escaped address stands, nothing else was put; no token is left anywhere else.
    assert "@@MAILAUTOCONF:" not in text.replace(escaped, "")


def test_every_token_is_filled() -> None:
    """The fill finds the tokens of Tokens.ALL: a token left out there would stay in the page."""
    assert sorted(Tokens.ALL) == sorted(TOKENS)


@pytest.mark.parametrize("address", TOKEN_ADDRESSES)
def test_an_address_spelling_a_token_is_filled_in_once(site: App, address: str) -> None:
    answer = site.client.get("/", query_string={"emailaddress": address}, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 200
    assert_filled_once(answer.data, address)


def test_an_idn_address_gets_the_profile_of_its_domain(site: App) -> None:
    answer = site.client.get(
        "/", query_string={"emailaddress": "jürgen@bücher.example"}, headers={"Host": "autoconfig.example.org"}
    )
    body = answer.data.decode()
    assert "Set up mail for bücher.example" in text_of(answer.data)
    assert 'href="/email.mobileconfig?emailaddress=j%C3%BCrgen@b%C3%BCcher.example"' in body


@pytest.mark.parametrize("address", ["not-an-address", "fred@", "@example.org", "fred@exa mple.org", "x" * 5000])
def test_an_invalid_address_gets_the_page_with_an_error(site: App, address: str) -> None:
    answer = site.client.get("/", query_string={"emailaddress": address}, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 200
    text = text_of(answer.data)
    assert "That is not a mail address" in text
    assert "Set up mail for example.org" in text
    assert b"/email.mobileconfig?emailaddress=" not in answer.data
    assert b"<svg" not in answer.data
    assert answer.headers["Cache-Control"] == "no-store"
    if len(address) > 320:
        assert address.encode() not in answer.data  # not echoed


def test_an_address_of_an_unhosted_domain_gets_no_profile(site: App) -> None:
    answer = site.get("/?emailaddress=fred%40gmail.example&lang=de", host="autoconfig.example.org")
    assert answer.status_code == 200
    text = text_of(answer.data)
    assert "Für die Domain dieser Adresse gibt es hier keine Einstellungen." in text
    assert b"/email.mobileconfig?emailaddress=" not in answer.data


# -- headers, and what the page may not do ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/?emailaddress=fred%40example.org", "/?lang=de&emailaddress=x"])
def test_the_content_security_policy_is_strict(site: App, path: str) -> None:
    answer = site.get(path, host="autoconfig.example.org")
    policy = answer.headers["Content-Security-Policy"]
    assert policy == style_policy(answer.data)
    assert "unsafe" not in policy and "script-src" not in policy and "img-src" not in policy
    body = answer.data
    assert b"<script" not in body and b" style=" not in body
    assert not re.search(rb"<[^>]*\son\w+=", body)  # no event handler attributes
    assert len(re.findall(rb"<style>", body)) == 1


def test_an_unhosted_domain_gets_a_404_page_naming_no_domain(site: App) -> None:
    for host in ("autoconfig.other.test", '"><b>x</b>', "127.0.0.1"):
        answer = site.get("/?emailaddress=fred%40other.test", host=host, **{"Accept-Language": "de"})
        assert answer.status_code == 404
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Keine E-Mail-Einstellungen hier" in text_of(answer.data)
        assert answer.headers["Content-Security-Policy"] == style_policy(answer.data)
        body = answer.data.decode()
        for name in (*HOSTED, "other.test", "<b>", "fred"):
            assert name not in body, (host, name)
    answer = site.get("/.well-known/autoconfig/", host="other.test")
    assert answer.status_code == 404 and answer.headers["Cache-Control"] == "max-age=300"


def test_other_paths_are_unchanged(site: App) -> None:
    assert site.get("/index.html", host="autoconfig.example.org").status_code == 404
    assert site.get("/mail/config-v1.1.xml", host="autoconfig.example.org").status_code == 200


# -- shared rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [EXAMPLE_CONFIG.read_text(encoding="utf-8"), CONFIG], ids=["shipped", "test"])
def test_the_page_is_rendered_once_per_provider(text: str) -> None:
    """The stand-in trick holds for the page: no provider falls back to rendering each domain."""
    for provider in config_loader.loads(text).config.providers:
        assert provider_templates(provider).shared is not None, provider.id


# -- the real service -------------------------------------------------------------------------------


def test_the_page_from_the_real_service(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    answer = service.get("/", host="autoconfig.example.org", headers={"Accept-Language": "de-AT, en;q=0.5"})
    assert answer.status_code == 200
    assert "E-Mail einrichten für example.org" in text_of(answer.content)
    assert answer.headers["Content-Security-Policy"] == style_policy(answer.content)
    assert answer.headers["Vary"] == "Accept-Language"
    answer = service.get("/", host="autoconfig.example.org", params={"emailaddress": '"><i>@example.org'})
    assert answer.status_code == 200 and b"<i>" not in answer.content
    assert 'Profile for "><i>@example.org' in " ".join(text_of(answer.content).split())
    answer = service.get("/", host="example.org", params={"emailaddress": "fred@example.org"})
    assert b'href="/email.mobileconfig?emailaddress=fred@example.org"' in answer.content
    assert service.get("/", host="autoconfig.other.test").status_code == 404


def test_addresses_spelling_tokens_from_the_real_service(make_service) -> None:  # type: ignore[no-untyped-def]
    """Each token spelled in an address, with markup: the page shows the address escaped, once per place."""
    service = make_service(CONFIG)
    for address in TOKEN_ADDRESSES:
        for language in ("en", "de"):
            answer = service.get("/", host="autoconfig.example.org", params={"emailaddress": address, "lang": language})
            assert answer.status_code == 200, address
            assert_filled_once(answer.content, address)


def test_accept_language_from_the_real_service(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    for accept, language in ACCEPT_LANGUAGE:
        headers = {"Accept-Language": accept} if accept else {}
        answer = service.get("/", host="autoconfig.example.org", headers=headers)
        assert answer.status_code == 200
        assert f'<html lang="{language}">'.encode() in answer.content, accept
