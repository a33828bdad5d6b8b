"""Thunderbird for Android's autoconfig parser, emulated: which documents it rejects, and what it sets up.

It is the strictest reader of config-v1.1.xml, and what it rejects depends
on every element, not on one setting: the config side judges the document
rendered for each provider with it (:mod:`mailautoconf.clientrules`), the
probe every document fetched off the wire (:mod:`mailautoconf.probe.verdicts`).

Its RealAutoconfigParser (thunderbird-android, feature/autodiscovery/autoconfig;
docs/clients.md section 1.10) rejects the whole document for one bad imap or
smtp section:
- emailProvider id present and a valid host name;
- at least one <domain> that is a valid host name after substitution;
- every incomingServer type="imap" and outgoingServer type="smtp" has
  hostname, port, socketType, username and a usable authentication
  (password-cleartext, password-encrypted, OAuth2); pop3 sections are skipped;
- socketType exactly SSL or STARTTLS, a port a number, a host name a host
  name: the text is used as it is, so whitespace fails;
- at least one imap and one smtp section: POP3-only settings are rejected.
What it does not judge: clientConfig's children other than emailProvider
(Autoconfig 1.2's <calendar>, <addressbook>, <oAuth2>, ...) are skipped
unread whatever they hold (parseClientConfig: skipElement), and the
version attribute is never read; the emulation ignores both the same way.

May import: the vocabulary, render/ (its placeholders).
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from mailautoconf.model import Direction
from mailautoconf.render import placeholders

__all__ = ["KEY_OF_ELEMENT", "Chosen", "Rejection", "chosen_servers", "problems", "rejections", "valid_host"]

_AUTH = {"password-cleartext", "password-encrypted", "OAuth2"}
_SOCKET_TYPES = {"SSL", "STARTTLS"}
# The config key each server element comes from.
KEY_OF_ELEMENT = {
    "hostname": "hostname",
    "port": "port",
    "socketType": "socket_type",
    "username": "username",
    "authentication": "authentication",
}


@dataclass(frozen=True)
class Rejection:
    """One reason Android rejects a document; ``server`` is (direction, index from 0) when a server is at fault."""

    reason: str
    server: tuple[Direction, int] | None = None
    element: str | None = None  # the server's element at fault

    def __str__(self) -> str:
        if self.server is None:
            return self.reason
        direction, index = self.server
        kind = "imap" if direction == "incoming" else "smtp"
        return f"{direction} server {index + 1} ({kind}): {self.reason}"


def substitute(text: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return (
        text.replace(placeholders.DOMAIN, domain)
        .replace(placeholders.LOCALPART, local)
        .replace(placeholders.ADDRESS, address)
    )


# HostNameUtils.isLegalHostName: RFC 1123 labels, single labels allowed, an
# optional final dot; the text is trimmed first (cleanUpHostName).
_LDH_LABEL = r"([a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])"
# fullmatch: JavaScript's "$" does not match before a final newline, Python's does.
_HOST = re.compile(rf"({_LDH_LABEL}\.)*{_LDH_LABEL}\.?", re.IGNORECASE)


def valid_host(text: str) -> bool:
    text = text.strip()
    if len(text) <= 255 and _HOST.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _server(element: ET.Element, server: tuple[Direction, int], address: str) -> list[Rejection]:
    found: list[Rejection] = []
    values: dict[str, str] = {}
    methods: list[str] = []
    for child in element:
        if child.tag not in KEY_OF_ELEMENT:
            continue  # other elements (pop3, password, ...) are skipped unread
        if len(child):
            found.append(Rejection(f"<{child.tag}>: expected text, found an element", server, child.tag))
            continue
        text = child.text or ""
        if child.tag == "authentication":
            if text in _AUTH:
                methods.append(text)
        else:
            values[child.tag] = text
    for required in ("hostname", "port", "socketType", "username"):
        if required not in values:
            found.append(Rejection(f"missing <{required}>", server, required))
    if "hostname" in values and not valid_host(substitute(values["hostname"], address)):
        found.append(Rejection(f"invalid hostname {values['hostname']!r}", server, "hostname"))
    if "port" in values and not (values["port"].isdecimal() and 0 <= int(values["port"]) <= 65535):
        found.append(Rejection(f"invalid port {values['port']!r}", server, "port"))
    if "socketType" in values and values["socketType"] not in _SOCKET_TYPES:
        found.append(Rejection(f"socketType {values['socketType']!r} is not SSL or STARTTLS", server, "socketType"))
    if not methods:
        reason = "no usable authentication (password-cleartext, password-encrypted or OAuth2)"
        found.append(Rejection(reason, server, "authentication"))
    return found


def rejections(document: bytes, address: str = "user@example.org") -> list[Rejection]:
    """Why Thunderbird for Android rejects ``document`` for ``address``; empty if it accepts it."""
    if document.startswith(b"\xef\xbb\xbf"):
        return [Rejection("the document starts with a UTF-8 byte order mark")]
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        return [Rejection(f"not well-formed XML: {exc}")]
    if root.tag != "clientConfig":
        return [Rejection("missing <clientConfig> element")]
    # Only <emailProvider> is read among clientConfig's children; the rest
    # (calendar, addressbook, ...) is skipped unread, as the app skips it.
    provider = root.find("emailProvider")
    if provider is None:
        return [Rejection("missing <emailProvider> element")]
    found: list[Rejection] = []
    provider_id = provider.get("id")
    if provider_id is None:
        found.append(Rejection("missing emailProvider id attribute"))
    elif not valid_host(provider_id):
        found.append(Rejection(f"emailProvider id {provider_id!r} is not a host name"))
    domains = []
    for element in provider.findall("domain"):
        if len(element):
            found.append(Rejection("<domain>: expected text, found an element"))
        else:
            domains.append(element.text or "")
    if not any(valid_host(substitute(text, address)) for text in domains):
        found.append(Rejection("no <domain> that is a valid host name"))
    counts = {"incoming": 0, "outgoing": 0}
    sections: tuple[tuple[Direction, str, str], ...] = (
        ("incoming", "incomingServer", "imap"),
        ("outgoing", "outgoingServer", "smtp"),
    )
    for direction, tag, kind in sections:
        for index, element in enumerate(provider.findall(tag)):
            if element.get("type") == kind:
                counts[direction] += 1
                found += _server(element, (direction, index), address)
    if not counts["incoming"]:
        found.append(Rejection("no incoming server of type imap (POP3-only settings are rejected)"))
    if not counts["outgoing"]:
        found.append(Rejection("no outgoing server of type smtp"))
    return found


def problems(document: bytes, address: str = "user@example.org") -> list[str]:
    """:func:`rejections` in words."""
    return [str(rejection) for rejection in rejections(document, address)]


@dataclass(frozen=True)
class Chosen:
    """A server the app sets up from a document it accepts."""

    kind: str  # "imap" or "smtp"
    hostname: str  # with the address filled in, as the app connects to it
    port: int
    socket_type: str


def chosen_servers(root: ET.Element, address: str) -> tuple[Chosen, Chosen]:
    """The imap and the smtp server the app sets up from ``root``, a document :func:`rejections` accepts.

    It uses the first section of each type, whatever follows.
    """
    provider = root.find("emailProvider")
    assert provider is not None  # rejections() said so
    found = []
    for tag, kind in (("incomingServer", "imap"), ("outgoingServer", "smtp")):
        element = next(e for e in provider.findall(tag) if e.get("type") == kind)
        found.append(
            Chosen(
                kind,
                substitute(_text(element, "hostname"), address).strip().lower(),
                int(_text(element, "port") or 0),
                _text(element, "socketType"),
            )
        )
    return found[0], found[1]


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return "" if child is None else (child.text or "")
