"""Thunderbird's ``config-v1.1.xml`` (also read by Evolution, KMail, K-9).

Spec: https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
and draft-ietf-mailmaint-autoconfig. Clients fetch it from
``https://autoconfig.<d>/mail/config-v1.1.xml`` and
``https://<d>/.well-known/autoconfig/mail/config-v1.1.xml``.

Parser quirks this module exists for (docs/clients.md section 1.4):
- no whitespace inside value elements: Thunderbird rejects
  ``<socketType> SSL</socketType>`` and Android drops the whole document;
- UTF-8 without a BOM (Android), no namespace prefixes;
- ``emailProvider id`` and ``<domain>`` must be host names: A-labels, never
  U-labels.

Calendars and contacts (draft-ietf-mailmaint-autoconfig-06, "Server
sections" and "URL-based protocols"): with CalDAV or CardDAV configured the
document carries ``<calendar type="caldav">`` and ``<addressbook
type="carddav">`` beside ``<emailProvider>``, each with ``<url>``,
``<authentication system="http">Basic</authentication>`` and, when the
config names one, ``<username>``. Every reader we prove skips them unread
(docs/clients.md sections 1.11 and 1.13), so a document without them stays the
Autoconfig 1.1 document it always was, byte for byte.

OAuth2: a provider's ``oauth_issuer`` goes out as the draft's ``<oAuth2>``
section, beside ``<emailProvider>`` too, with ``<issuer>`` alone (the
draft's "OAuth2 requirements": a client without authURL, tokenURL and scope
fetches them from the issuer's metadata). Never a client secret.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.sax.saxutils import escape
from xml.sax.saxutils import quoteattr

from mailautoconf import names
from mailautoconf.model import DavService
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.render import placeholders

__all__ = ["HTTP_BASIC", "VERSION_1_1", "VERSION_1_2", "document", "render"]

# <clientConfig version>. The draft's own version is 1.2 and it says a
# client MUST NOT reject a file for its version alone ("clientConfig");
# none of the readers we prove reads the attribute at all (docs/clients.md
# section 1.13: Thunderbird's readFromXML, Android's RealAutoconfigParser,
# Evolution's e-mail-autoconfig.c, KMail's ispdbservice.cpp). A document
# says 1.2 only when it uses 1.2's sections, so a document without them is
# the 1.1 document it was before, byte for byte.
VERSION_1_1 = "1.1"
VERSION_1_2 = "1.2"
# How a URL-based section names HTTP Basic authentication in revision -06
# ("URL-based protocols", "authentication": system="http", the HTTP scheme
# name as HTTP spells it; -05 and before wrote "basic"). Every CalDAV and
# CardDAV server of our kind accepts Basic over TLS, and the config has no
# other method to say.
HTTP_BASIC = '<authentication system="http">Basic</authentication>'


def _element(indent: str, name: str, text: str) -> str:
    return f"{indent}<{name}>{escape(text)}</{name}>\n"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _server(server: ResolvedServer, domain: Domain) -> str:
    tag = "incomingServer" if server.direction == "incoming" else "outgoingServer"
    parts = [f"    <{tag} type={quoteattr(server.type)}>\n"]
    parts.append(_element("      ", "hostname", server.hostname))
    parts.append(_element("      ", "port", str(server.port)))
    parts.append(_element("      ", "socketType", server.socket_type.value))
    if server.username is not None:  # None: the server takes no credentials
        parts.append(_element("      ", "username", placeholders.username(server.username, domain)))
    parts.extend(_element("      ", "authentication", method) for method in server.authentication)
    pop3 = server.pop3
    if server.type == "pop3" and not pop3.is_empty():
        parts.append("      <pop3>\n")
        if pop3.leave_messages_on_server is not None:
            parts.append(_element("        ", "leaveMessagesOnServer", _bool(pop3.leave_messages_on_server)))
        if pop3.download_on_biff is not None:
            parts.append(_element("        ", "downloadOnBiff", _bool(pop3.download_on_biff)))
        if pop3.days_to_leave_messages_on_server is not None:
            days = str(pop3.days_to_leave_messages_on_server)
            parts.append(_element("        ", "daysToLeaveMessagesOnServer", days))
        if pop3.check_interval_minutes is not None:
            parts.append(f"        <checkInterval minutes={quoteattr(str(pop3.check_interval_minutes))}/>\n")
        parts.append("      </pop3>\n")
    parts.append(f"    </{tag}>\n")
    return "".join(parts)


def _dav(tag: str, kind: str, service: DavService | None, domain: Domain) -> str:
    """One URL-based server section (draft-ietf-mailmaint-autoconfig-06, "URL-based protocols"), or nothing.

    The MX lookup document serves every domain of the provider and knows
    none (render/templates.py): a URL with ``{domain}`` in it has no value
    there. The draft lets clients replace placeholders in ``<url>`` only as
    a MAY ("Placeholders"), and a provider's configuration MUST NOT contain
    non-working data ("Configuration publishing by mail providers"), so the
    section is left out of that document; a client that sends the address
    gets the domain's own document, with the section.
    """
    if service is None:
        return ""
    if domain.name == placeholders.DOMAIN and "{domain}" in service.url:
        return ""
    parts = [f"  <{tag} type={quoteattr(kind)}>\n", _element("    ", "url", service.url_for(domain))]
    parts.append(f"    {HTTP_BASIC}\n")
    if service.username is not None:  # None: the user types it
        parts.append(_element("    ", "username", placeholders.username(service.username, domain)))
    parts.append(f"  </{tag}>\n")
    return "".join(parts)


def _oauth2(provider: Provider) -> str:
    """The ``<oAuth2>`` section naming the provider's issuer, or nothing.

    ``<issuer>`` holds the issuer's host name, as the draft's example and
    every ``<oAuth2>`` in Mozilla's ISPDB spell it (Thunderbird keys its
    built-in OAuth2 providers by that host, OAuth2Providers.sys.mjs), not
    the RFC 8414 URL that PACC's ``oauth-public`` carries: an issuer path
    (a Keycloak realm, say) has no place in this format.
    """
    if provider.oauth_issuer is None:
        return ""
    host = urlsplit(provider.oauth_issuer).hostname or ""
    return "  <oAuth2>\n" + _element("    ", "issuer", host) + "  </oAuth2>\n"


def _mx_base_domains(provider: Provider) -> list[str]:
    """The domains of the provider's MX hosts, each once: ``<domain purpose="mx">``.

    draft-ietf-mailmaint-autoconfig-06, "domain": the configuration applies
    to an address whose MX server is within such a domain (RECOMMENDED for
    a provider found through the MX lookup). The base domain (the Public
    Suffix List's registrable domain) holds every MX host under it. Host
    names need no escaping. Every reader we prove takes a ``<domain>`` for
    a domain the document is valid for, and none checks the address's
    domain against them (docs/clients.md section 1.4).
    """
    found: dict[str, None] = {}
    for host in provider.mx:
        lookup = names.mx_lookup_domains(host)
        if lookup:
            found.setdefault(lookup[-1], None)
    return list(found)


def render(provider: Provider, domain: Domain) -> bytes:
    """Render the document served for ``domain``, every server in preference order."""
    return document(provider, domain, provider.resolve_servers(domain))


def document(provider: Provider, domain: Domain, servers: tuple[ResolvedServer, ...]) -> bytes:
    """Render a config-v1.1.xml for ``domain`` listing ``servers``.

    ``<domain>`` names the requested domain only, unless the provider sets
    ``list_all_domains``: clients do not check it, and listing every customer
    domain hands the customer list to anyone asking for one of them.
    """
    listed = [domain.name]
    if provider.list_all_domains:
        listed += [other.name for other in provider.domains if other.name != domain.name]
    # Beside <emailProvider>, not inside it ("Server sections"); in the
    # draft's example order, address book first.
    dav = _dav("addressbook", "carddav", provider.carddav_for(domain), domain) + _dav(
        "calendar", "caldav", provider.caldav_for(domain), domain
    )
    oauth2 = _oauth2(provider)
    version = VERSION_1_2 if dav or oauth2 else VERSION_1_1
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f"<clientConfig version={quoteattr(version)}>\n",
        f"  <emailProvider id={quoteattr(provider.id)}>\n",
    ]
    parts.extend(_element("    ", "domain", name) for name in listed)
    parts.extend(f'    <domain purpose="mx">{name}</domain>\n' for name in _mx_base_domains(provider))
    parts.append(_element("    ", "displayName", provider.display_name_for(domain)))
    parts.append(_element("    ", "displayShortName", provider.short_name_for(domain)))
    parts.extend(_server(server, domain) for server in servers)
    for documentation in provider.documentation:
        parts.append(f"    <documentation url={quoteattr(documentation.url)}>\n")
        for language, text in documentation.descriptions:
            parts.append(f"      <descr lang={quoteattr(language)}>{escape(text)}</descr>\n")
        parts.append("    </documentation>\n")
    parts.append("  </emailProvider>\n")
    parts.append(dav)
    parts.append(oauth2)
    parts.append("</clientConfig>\n")
    return "".join(parts).encode("utf-8")
