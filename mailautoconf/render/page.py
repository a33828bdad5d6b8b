"""The settings page for people: "Set up mail for <d>", one HTML document per domain and language.

Rendered ahead of time like every client document (a pure function of
provider and domain, so render/templates.py renders a provider once with a
stand-in domain). What depends on the request, the address someone typed,
is left as tokens: :func:`fill_tokens` names them, and the view
(mailautoconf/serve/webpage.py) replaces them, escaped, and keeps or drops the
marked sections. The page has no script; its one inline style is hashed
into the Content-Security-Policy (:func:`style_hash`).

The Jinja templates are ``mailautoconf/templates/*.html`` (autoescaped);
the words of each language are :data:`STRINGS`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from mailautoconf import endpoints
from mailautoconf.model import DavService
from mailautoconf.model import Documentation
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "SECTIONS",
    "STRINGS",
    "TEMPLATE_FOLDER",
    "Tokens",
    "not_found",
    "renderer",
    "section_markers",
    "style",
    "style_hash",
]

TEMPLATE_FOLDER = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = (("en", "English"), ("de", "Deutsch"))
# Parts of the page shown only for some requests (webpage.py keeps or drops them).
SECTIONS = ("address", "invalid", "unknown")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Set up mail for",
        "language": "Language",
        "apple_heading": "iPhone, iPad and Mac",
        "apple_intro": "Apple Mail sets itself up from a profile. Type your mail address to get yours.",
        "address_label": "Your mail address",
        "address_example": "name",
        "show_profile": "Show my profile",
        "download_now": "Download profile",
        "invalid": "That is not a mail address. Please check it and try again.",
        "unknown": "There are no settings here for the domain of that address.",
        "profile_for": "Profile for",
        "download": "Download the profile",
        "scan": "On a computer? Scan the code with the camera of your iPhone or iPad to open the profile there.",
        "apple_install": "On iPhone and iPad, open Settings afterwards and tap “Profile Downloaded” to install it.",
        "macos_install": "On a Mac, approve it under System Settings, Privacy & Security, Profiles "
        "(on newer macOS: System Settings, General, Device Management).",
        "servers_heading": "Server settings",
        "servers_intro": "For setting up an account by hand. Use the first server of each kind when you can.",
        "incoming": "Incoming mail",
        "outgoing": "Outgoing mail",
        "preferred": "preferred",
        "server": "Server",
        "port": "Port",
        "security": "Security",
        "username": "Username",
        "authentication": "Password",
        "url": "Address",
        "dav_heading": "Calendar and contacts",
        "caldav": "Calendar (CalDAV)",
        "carddav": "Contacts (CardDAV)",
        "none": "none",
        "full_address": "your full mail address",
        "localpart": "the part of your address before @",
        "type_it": "the one you were given",
        "no_username": "none needed",
        "password_normal": "normal password",
        "password_encrypted": "encrypted password",
        "password_other": "as your provider tells you",
        "clients_heading": "Notes for your mail program",
        "automatic": "Thunderbird, Evolution, KMail and the Android apps (Thunderbird for Android, K-9 Mail) "
        "find these settings by themselves: type your mail address and password.",
        "apple_note": "iPhone, iPad and Mac use the profile above.",
        "outlook_note": "Outlook 2016 and newer may not look these settings up for IMAP accounts. If it does not, "
        "close Outlook and add in the Windows registry under",
        "outlook_value": "the DWORD value",
        "help_heading": "Help",
        "footer": "This page only shows settings; it stores nothing you type.",
        "notfound_title": "No mail settings here",
        "notfound_text": "This address serves mail settings only for the domains it hosts, and this is not one of "
        "them. Check the address in your browser, or ask your mail provider.",
    },
    "de": {
        "title": "E-Mail einrichten für",
        "language": "Sprache",
        "apple_heading": "iPhone, iPad und Mac",
        "apple_intro": "Apple Mail richtet sich mit einem Profil selbst ein. Geben Sie Ihre E-Mail-Adresse ein, "
        "um Ihres zu erhalten.",
        "address_label": "Ihre E-Mail-Adresse",
        "address_example": "name",
        "show_profile": "Mein Profil anzeigen",
        "download_now": "Profil herunterladen",
        "invalid": "Das ist keine E-Mail-Adresse. Bitte prüfen Sie sie und versuchen Sie es noch einmal.",
        "unknown": "Für die Domain dieser Adresse gibt es hier keine Einstellungen.",
        "profile_for": "Profil für",
        "download": "Profil herunterladen",
        "scan": "Am Computer? Scannen Sie den Code mit der Kamera Ihres iPhones oder iPads, um das Profil dort "
        "zu öffnen.",
        "apple_install": "Öffnen Sie danach auf iPhone und iPad die Einstellungen und tippen Sie auf "
        "„Profil geladen“, um es zu installieren.",
        "macos_install": "Auf dem Mac bestätigen Sie es unter Systemeinstellungen, Datenschutz & Sicherheit, "
        "Profile (in neueren macOS-Versionen: Systemeinstellungen, Allgemein, Geräteverwaltung).",
        "servers_heading": "Servereinstellungen",
        "servers_intro": "Zum Einrichten von Hand. Nehmen Sie, wenn möglich, jeweils den ersten Server.",
        "incoming": "Posteingang",
        "outgoing": "Postausgang",
        "preferred": "bevorzugt",
        "server": "Server",
        "port": "Port",
        "security": "Verschlüsselung",
        "username": "Benutzername",
        "authentication": "Passwort",
        "url": "Adresse",
        "dav_heading": "Kalender und Kontakte",
        "caldav": "Kalender (CalDAV)",
        "carddav": "Kontakte (CardDAV)",
        "none": "keine",
        "full_address": "Ihre vollständige E-Mail-Adresse",
        "localpart": "der Teil Ihrer Adresse vor dem @",
        "type_it": "der, den Sie erhalten haben",
        "no_username": "nicht nötig",
        "password_normal": "normales Passwort",
        "password_encrypted": "verschlüsseltes Passwort",
        "password_other": "wie Ihr Anbieter es angibt",
        "clients_heading": "Hinweise zu Ihrem E-Mail-Programm",
        "automatic": "Thunderbird, Evolution, KMail und die Android-Apps (Thunderbird für Android, K-9 Mail) "
        "finden diese Einstellungen selbst: Geben Sie E-Mail-Adresse und Passwort ein.",
        "apple_note": "iPhone, iPad und Mac verwenden das Profil oben.",
        "outlook_note": "Outlook 2016 und neuer fragt diese Einstellungen für IMAP-Konten mitunter nicht ab. "
        "Dann schließen Sie Outlook und legen in der Windows-Registrierung unter",
        "outlook_value": "den DWORD-Wert an:",
        "help_heading": "Hilfe",
        "footer": "Diese Seite zeigt nur Einstellungen; sie speichert nichts, was Sie eingeben.",
        "notfound_title": "Keine E-Mail-Einstellungen hier",
        "notfound_text": "Unter dieser Adresse gibt es Einstellungen nur für die hier betreuten Domains, und diese "
        "gehört nicht dazu. Prüfen Sie die Adresse im Browser, oder fragen Sie Ihren E-Mail-Anbieter.",
    },
}

_SECURITY = {SocketType.SSL: "SSL/TLS", SocketType.STARTTLS: "STARTTLS"}


class Tokens:
    """The fill-in points of a rendered page, replaced per request by webpage.py.

    Plain ASCII that HTML escaping leaves as it is, so a token stands in the
    page as written; no host name or URL can hold one, and a display name
    or description would have to spell one out on purpose. An address can
    spell one, and escaping keeps it: so :data:`ALL` are filled in one pass,
    never one after another.
    """

    ADDRESS_VALUE = "@@MAILAUTOCONF:ADDRESS_VALUE@@"  # the input's value: HTML-escaped address
    ADDRESS_TEXT = "@@MAILAUTOCONF:ADDRESS_TEXT@@"  # the address in text: HTML-escaped
    ADDRESS_QUERY = "@@MAILAUTOCONF:ADDRESS_QUERY@@"  # the address in the profile link: URL-quoted
    PROFILE_URL = "@@MAILAUTOCONF:PROFILE_URL@@"  # the absolute profile URL, as text
    QR = "@@MAILAUTOCONF:QR@@"  # the QR code of that URL, inline SVG
    LANG_QUERY = "@@MAILAUTOCONF:LANG_QUERY@@"  # "&amp;emailaddress=..." on the language links, or nothing
    ALL = (ADDRESS_VALUE, ADDRESS_TEXT, ADDRESS_QUERY, PROFILE_URL, QR, LANG_QUERY)

    @staticmethod
    def section_begin(name: str) -> Markup:
        return Markup(section_markers(name)[0])

    @staticmethod
    def section_end(name: str) -> Markup:
        return Markup(section_markers(name)[1])


def section_markers(name: str) -> tuple[str, str]:
    """The comments a section of the page stands between."""
    return f"<!--@@MAILAUTOCONF:BEGIN:{name}@@-->", f"<!--@@MAILAUTOCONF:END:{name}@@-->"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_FOLDER),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@functools.cache
def style() -> str:
    """The page's one stylesheet, inline (a CSP hash allows exactly it)."""
    return (TEMPLATE_FOLDER / "page.css").read_text(encoding="utf-8").strip()


def style_hash(css: str) -> str:
    """The CSP source expression that allows an inline ``<style>`` holding exactly ``css``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


@dataclass(frozen=True)
class _ServerView:
    protocol: str
    hostname: str
    port: int
    security: str
    username: str
    authentication: str


@dataclass(frozen=True)
class _DavView:
    name: str
    url: str
    username: str


@dataclass(frozen=True)
class _Link:
    url: str
    text: str


def _username(template: str | None, domain: Domain, t: dict[str, str]) -> str:
    """How a person types the username: in words for the usual forms, else the template spelled out."""
    if template is None:
        return t["no_username"]
    if template == "{address}":
        return t["full_address"]
    if template == "{localpart}":
        return t["localpart"]
    # Literal text with placeholders: shown as written, the placeholders in words.
    return (
        template.replace("{address}", f"<{t['full_address']}>")
        .replace("{localpart}", f"<{t['localpart']}>")
        .replace("{domain}", domain.unicode)
    )


def _authentication(methods: tuple[str, ...], t: dict[str, str]) -> str:
    first = methods[0] if methods else ""
    if first == "password-cleartext":
        return t["password_normal"]
    if first == "password-encrypted":
        return t["password_encrypted"]
    if first in ("none", "client-IP-address"):
        return t["no_username"]
    return f"{t['password_other']} ({first})"


def _server(server: ResolvedServer, domain: Domain, t: dict[str, str]) -> _ServerView:
    return _ServerView(
        protocol=server.type.upper(),
        hostname=server.hostname,
        port=server.port,
        security=_SECURITY.get(server.socket_type, t["none"]),
        username=_username(server.username, domain, t),
        authentication=_authentication(server.authentication, t),
    )


def _dav(name: str, service: DavService | None, domain: Domain, t: dict[str, str]) -> list[_DavView]:
    if service is None:
        return []
    username = _username(service.username, domain, t) if service.username is not None else t["type_it"]
    return [_DavView(name, service.url_for(domain), username)]


def _documentation(documentation: tuple[Documentation, ...], language: str) -> list[_Link]:
    """Each link in ``language``, else English, else its first description."""
    links = []
    for entry in documentation:
        texts = dict(entry.descriptions)
        text = texts.get(language) or texts.get(DEFAULT_LANGUAGE) or next(iter(texts.values()), entry.url)
        links.append(_Link(entry.url, text))
    return links


def render(provider: Provider, domain: Domain, language: str) -> bytes:
    """The settings page of ``domain`` in ``language``, with the request's tokens left in."""
    t = STRINGS[language]
    servers = provider.resolve_servers(domain)
    groups = [
        (t[direction], [_server(server, domain, t) for server in servers if server.direction == direction])
        for direction in ("incoming", "outgoing")
    ]
    dav = _dav(t["caldav"], provider.caldav_for(domain), domain, t) + _dav(
        t["carddav"], provider.carddav_for(domain), domain, t
    )
    page = (
        _environment()
        .get_template("page.html")
        .render(
            lang=language,
            t=t,
            languages=LANGUAGE_NAMES,
            domain=domain,
            display_name=provider.display_name_for(domain),
            style=Markup(style()),
            tokens=Tokens,
            profile_path=endpoints.APPLE_PROFILE.path,
            address_parameter=endpoints.ADDRESS_PARAMETER,
            groups=groups,
            dav=dav,
            documentation=_documentation(provider.documentation, language),
        )
    )
    return page.encode("utf-8")


def renderer(language: str) -> Callable[[Provider, Domain], bytes]:
    """The DOCUMENTS renderer of the page in ``language``."""

    def render_language(provider: Provider, domain: Domain) -> bytes:
        return render(provider, domain, language)

    render_language.__name__ = f"render_{language}"
    return render_language


@functools.cache
def not_found(language: str) -> bytes:
    """The page for a Host or address of no hosted domain: names no domain at all."""
    page = (
        _environment()
        .get_template("notfound.html")
        .render(lang=language, t=STRINGS[language], languages=LANGUAGE_NAMES, style=Markup(style()))
    )
    return page.encode("utf-8")
