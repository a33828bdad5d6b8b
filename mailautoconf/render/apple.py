"""Apple configuration profiles (``.mobileconfig``) for Mail, Calendar and Contacts.

iOS, iPadOS and macOS look up nothing for an IMAP account: the user
installs a profile (docs/clients.md section 3). Payload keys follow Apple's
schema (com.apple.mail.managed, com.apple.caldav.account,
com.apple.carddav.account; TopLevel for the envelope).

The profile is rendered ahead per domain like every other document, with
the address left as placeholders, and filled per request (store.py). What
depends on the address besides the address itself are the identifiers:
``PayloadIdentifier`` is stable per (domain, address), so installing again
replaces the installed profile, and every ``PayloadUUID`` is a UUIDv5 of
(domain, address, payload), distinct per payload and the same on every
download (docs/clients.md section 3.2). A password is never included.
"""

from __future__ import annotations

import plistlib
import re
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from mailautoconf.model import DavService
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType
from mailautoconf.render import placeholders

__all__ = [
    "CONTENT_TYPE",
    "MailChoice",
    "apple_auth",
    "choose_servers",
    "profile_values",
    "render",
]

CONTENT_TYPE = "application/x-apple-aspen-config"
# The namespace of every UUID this service derives (uuid5 of the DNS namespace and our name).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "mailautoconf.profiles")

# Thunderbird's method -> Apple's (IncomingMailServerAuthentication / Outgoing...).
_APPLE_AUTH = {
    "password-cleartext": "EmailAuthPassword",
    "password-encrypted": "EmailAuthCRAMMD5",
    "NTLM": "EmailAuthNTLM",
    "none": "EmailAuthNone",
    "client-IP-address": "EmailAuthNone",
}


def apple_auth(methods: tuple[str, ...]) -> str | None:
    """Apple's name for the first of ``methods`` a profile can state; None when it can state none.

    GSSAPI, OAuth2, TLS client certificates and SMTP-after-POP have no
    profile value.
    """
    return next((_APPLE_AUTH[method] for method in methods if method in _APPLE_AUTH), None)


@dataclass(frozen=True)
class MailChoice:
    """The servers a profile can carry: one incoming (IMAP, else POP3) and one SMTP server."""

    incoming: ResolvedServer | None
    outgoing: ResolvedServer | None


def choose_servers(provider: Provider, domain: Domain) -> MailChoice:
    """The first IMAP server (else POP3) and the first SMTP server a profile can describe.

    A profile holds one server of each direction, and Mail cannot fall back
    to another, so servers whose authentication it cannot state are passed over.
    """
    servers = provider.resolve_servers(domain)
    usable = [server for server in servers if apple_auth(server.authentication) is not None]
    imap = next((server for server in usable if server.type == "imap"), None)
    incoming = imap or next((server for server in usable if server.type == "pop3"), None)
    outgoing = next((s for s in usable if s.type == "smtp"), None)
    return MailChoice(incoming, outgoing)


def _reverse(name: str) -> str:
    return ".".join(reversed(name.split(".")))


def _username(template: str | None, domain: Domain) -> str | None:
    return None if template is None else placeholders.username(template, domain)


def _mail_payload(provider: Provider, domain: Domain, choice: MailChoice, identifier: str) -> dict[str, Any]:
    incoming, outgoing = choice.incoming, choice.outgoing
    assert incoming is not None and outgoing is not None
    payload: dict[str, Any] = {
        "EmailAccountDescription": provider.display_name_for(domain),
        "EmailAccountType": "EmailTypeIMAP" if incoming.type == "imap" else "EmailTypePOP",
        "EmailAddress": placeholders.ADDRESS,
        "PayloadDisplayName": f"{provider.display_name_for(domain)}: Mail",
        "PayloadIdentifier": f"{identifier}.mail",
        "PayloadType": "com.apple.mail.managed",
        "PayloadUUID": placeholders.MAIL_UUID,
        "PayloadVersion": 1,
    }
    for prefix, server in (("Incoming", incoming), ("Outgoing", outgoing)):
        payload[f"{prefix}MailServerAuthentication"] = apple_auth(server.authentication)
        payload[f"{prefix}MailServerHostName"] = server.hostname
        payload[f"{prefix}MailServerPortNumber"] = server.port
        # One boolean for both TLS forms: the port tells implicit TLS from STARTTLS (section 3.3).
        payload[f"{prefix}MailServerUseSSL"] = server.socket_type is not SocketType.PLAIN
        username = _username(server.username, domain)
        if username is not None:
            payload[f"{prefix}MailServerUsername"] = username
    if incoming.username == outgoing.username and incoming.username is not None:
        payload["OutgoingPasswordSameAsIncomingPassword"] = True
    return payload


_URL = re.compile(r"^https://(?P<host>[^/:?#]+)(:(?P<port>\d+))?")


def _dav_payload(
    kind: str, service: DavService, provider: Provider, domain: Domain, identifier: str, token: str
) -> dict[str, Any]:
    """A com.apple.caldav.account or com.apple.carddav.account payload (``kind``: CalDAV or CardDAV)."""
    url = service.url_for(domain)
    match = _URL.match(url)
    assert match is not None  # config/schema.py accepts https URLs only
    payload: dict[str, Any] = {
        f"{kind}AccountDescription": f"{provider.display_name_for(domain)}: {kind}",
        f"{kind}HostName": match.group("host"),
        f"{kind}Port": int(match.group("port") or 443),
        f"{kind}PrincipalURL": url,
        f"{kind}UseSSL": True,
        "PayloadDisplayName": f"{provider.display_name_for(domain)}: {kind}",
        "PayloadIdentifier": f"{identifier}.{kind.lower()}",
        "PayloadType": f"com.apple.{kind.lower()}.account",
        "PayloadUUID": token,
        "PayloadVersion": 1,
    }
    username = _username(service.username, domain)
    if username is not None:
        payload[f"{kind}Username"] = username
    return payload


def render(provider: Provider, domain: Domain) -> bytes:
    """The profile template for ``domain``; empty when no server pair can be described.

    An empty document makes the profile URL answer 404 with the reason (serve/mobileconfig.py).
    """
    choice = choose_servers(provider, domain)
    if choice.incoming is None or choice.outgoing is None:
        return b""
    # Stable per (domain, address): the provider's reversed id, then the profile UUID.
    identifier = f"{_reverse(provider.id)}.mailautoconf.{placeholders.PROFILE_UUID}"
    content = [_mail_payload(provider, domain, choice, identifier)]
    for kind, service, token in (
        ("CalDAV", provider.caldav_for(domain), placeholders.CALDAV_UUID),
        ("CardDAV", provider.carddav_for(domain), placeholders.CARDDAV_UUID),
    ):
        if service is not None:
            content.append(_dav_payload(kind, service, provider, domain, identifier, token))
    profile = {
        "PayloadContent": content,
        "PayloadDescription": f"Mail settings of {provider.display_name_for(domain)} for {placeholders.ADDRESS}",
        "PayloadDisplayName": f"{provider.display_name_for(domain)} ({domain.unicode})",
        "PayloadIdentifier": identifier,
        "PayloadOrganization": provider.display_name_for(domain),
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": placeholders.PROFILE_UUID,
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def profile_values(domain: str, address: str) -> dict[str, bytes]:
    """The per-request fill-ins of a profile's identifiers for ``address`` at ``domain`` (A-label).

    The address is compared without letter case, as mail systems do for domains
    and most do for local parts: Fred@ and fred@ get one profile.
    """
    key = f"{domain}\n{address.lower()}"
    return {
        token: escape(str(uuid.uuid5(_NAMESPACE, f"{key}\n{token}")).upper()).encode("ascii")
        for token in placeholders.PROFILE_TOKENS
    }
