"""Thunderbird for Android's (K-9's) autoconfig parser rules, as a checker.

It is the strictest reader of config-v1.1.xml (clients.md section 1): one
bad imap or smtp section and the whole document is rejected, silently. The
rules follow its ``RealAutoconfigParser`` (thunderbird-android,
feature/autodiscovery/autoconfig):

- ``emailProvider id`` present and a valid host name;
- at least one ``<domain>`` that is a valid host name after substitution;
- every ``incomingServer type="imap"`` and ``outgoingServer type="smtp"``
  has hostname, port, socketType, username and a usable authentication
  (``password-cleartext``, ``password-encrypted``, ``OAuth2``); other types
  (pop3) are skipped;
- socketType is exactly ``SSL`` or ``STARTTLS``, a port a number, a host
  name a host name: the text is used as it is, so whitespace fails;
- at least one imap and one smtp section: POP3-only settings are rejected.

:func:`problems` names each rule a document breaks; an empty list means
Android accepts it.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET

__all__ = ["problems"]

_USABLE_AUTH = {"password-cleartext", "password-encrypted", "OAuth2"}
_SOCKET_TYPES = {"SSL", "STARTTLS"}


def _substitute(text: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return text.replace("%EMAILDOMAIN%", domain).replace("%EMAILLOCALPART%", local).replace("%EMAILADDRESS%", address)


# HostNameUtils.isLegalHostName: RFC 1123 labels, single labels allowed, an
# optional final dot; the text is trimmed first (cleanUpHostName).
_LDH_LABEL = r"([a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])"
_HOST = re.compile(rf"^({_LDH_LABEL}\.)*{_LDH_LABEL}\.?$", re.IGNORECASE)


def _valid_host(text: str) -> bool:
    text = text.strip()
    if len(text) <= 255 and _HOST.match(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _text(element: ET.Element, what: str, found: list[str]) -> str | None:
    """The element's text, or None (with a problem) when it holds elements instead."""
    if len(element):
        found.append(f"{what}: expected text, found an element")
        return None
    return element.text or ""


def _server(element: ET.Element, label: str, address: str, found: list[str]) -> None:
    values: dict[str, str] = {}
    methods: list[str] = []
    for child in element:
        if child.tag not in ("authentication", "hostname", "port", "username", "socketType"):
            continue  # other elements (pop3, password, ...) are skipped unread
        text = _text(child, f"{label} <{child.tag}>", found)
        if text is None:
            continue
        if child.tag == "authentication":
            if text in _USABLE_AUTH:
                methods.append(text)
        elif child.tag in ("hostname", "port", "username", "socketType"):
            values[child.tag] = text
    for required in ("hostname", "port", "socketType", "username"):
        if required not in values:
            found.append(f"{label}: missing <{required}>")
    if "hostname" in values and not _valid_host(_substitute(values["hostname"], address)):
        found.append(f"{label}: invalid hostname {values['hostname']!r}")
    if "port" in values and not (values["port"].isdigit() and 0 <= int(values["port"]) <= 65535):
        found.append(f"{label}: invalid port {values['port']!r}")
    if "socketType" in values and values["socketType"] not in _SOCKET_TYPES:
        found.append(f"{label}: socketType {values['socketType']!r} is not SSL or STARTTLS")
    if not methods:
        found.append(f"{label}: no usable authentication (password-cleartext, password-encrypted or OAuth2)")


def problems(document: bytes, address: str = "user@example.org") -> list[str]:
    """Why Thunderbird for Android rejects ``document``; empty if it accepts it."""
    if document.startswith(b"\xef\xbb\xbf"):
        return ["the document starts with a UTF-8 byte order mark"]
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != "clientConfig":
        return ["missing <clientConfig> element"]
    provider = root.find("emailProvider")
    if provider is None:
        return ["missing <emailProvider> element"]
    found: list[str] = []
    provider_id = provider.get("id")
    if provider_id is None:
        found.append("missing emailProvider id attribute")
    elif not _valid_host(provider_id):
        found.append(f"emailProvider id {provider_id!r} is not a host name")
    domains = [_text(element, "<domain>", found) for element in provider.findall("domain")]
    if not any(text is not None and _valid_host(_substitute(text, address)) for text in domains):
        found.append("no <domain> that is a valid host name")
    imap = smtp = 0
    for index, element in enumerate(provider.findall("incomingServer"), start=1):
        if element.get("type") == "imap":
            imap += 1
            _server(element, f"incoming server {index} (imap)", address, found)
    for index, element in enumerate(provider.findall("outgoingServer"), start=1):
        if element.get("type") == "smtp":
            smtp += 1
            _server(element, f"outgoing server {index} (smtp)", address, found)
    if not imap:
        found.append("no incoming server of type imap (POP3-only settings are rejected)")
    if not smtp:
        found.append("no outgoing server of type smtp")
    return found
