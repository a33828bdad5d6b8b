"""TOML configs that more than one test module runs against."""

from __future__ import annotations

import textwrap

__all__ = ["GROUPWARE", "HEAD", "HOSTING", "MINIMAL_AUTOCONFIG", "PAGE", "SMALL", "provider", "server", "service"]

# Two domains of one provider: enough for "another domain's document".
SMALL = """\
[service]
public_hostname = "autoconfig.example.net"

[[provider]]
id = "example.net"
display_name = "Example Mail"
domains = ["example.net", "example.org"]

[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
"""


# A hoster's config: an internationalised domain, per-domain host names, an
# override, and a second provider that lists all its domains.
HOSTING = """\
[service]
public_hostname = "autoconfig.provider.test"

[[provider]]
id = "provider.test"
display_name = "Hosting Provider"
domains = ["Bücher.Example", "shop.test", "customer.test"]

[[provider.incoming]]
type = "imap"
hostname = "mail.{domain}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.{domain}"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[provider.overrides."customer.test"]
hostname = "mx.customer-own.test"
outgoing_hostname = "out.customer-own.test"
display_name = "Customer's Own Mail"

[[provider]]
id = "other.test"
display_name = "Other Provider"
domains = ["other.test"]
list_all_domains = true

[[provider.incoming]]
type = "imap"
hostname = "imap.other.test"
port = 143
socket_type = "STARTTLS"
authentication = ["password-encrypted", "password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.other.test"
port = 587
socket_type = "STARTTLS"
authentication = ["password-encrypted"]
username = "{address}"
"""


# Calendars and contacts (issue 12, Autoconfig 1.2's <calendar> and
# <addressbook>): a CalDAV URL per domain ({domain} in the host, a query
# that needs escaping), one CardDAV service for all, a domain whose own
# services replace the provider's, and an IDN domain. Two servers of every
# type whose first and last differ in everything, and DAV usernames unlike
# the mail servers' last ones: a reader that took a DAV section's values
# for a mail server's, or the wrong server of a type, shows. An OAuth2
# issuer with a path: the <oAuth2> section beside the DAV ones.
GROUPWARE = """\
[service]
public_hostname = "autoconfig.groupware.test"

[[provider]]
id = "groupware.test"
display_name = "Groupware Mail"
domains = ["groupware.test", "Käse.Example", "office.test"]
caldav = { url = "https://dav.{domain}/caldav/?client=autoconfig&v=2", username = "{localpart}" }
carddav = { url = "https://contacts.groupware.test/carddav/" }
oauth_issuer = "https://login.groupware.test/realms/mail"

[[provider.incoming]]
type = "imap"
hostname = "imap.{domain}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "imap"
hostname = "imap-legacy.groupware.test"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.incoming]]
type = "pop3"
hostname = "pop.{domain}"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "pop3"
hostname = "pop-legacy.groupware.test"
port = 110
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.{domain}"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "submission.groupware.test"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}@{domain}"

[provider.overrides."office.test"]
caldav = { url = "https://calendar.office-own.test/dav/", username = "{address}" }
carddav = { url = "https://calendar.office-own.test/contacts/", username = "{address}" }
"""


# The [service] table of the configs built from provider() below.
HEAD = '[service]\npublic_hostname = "autoconfig.alpha.example"\n'


def service(public_hostname: str) -> str:
    """A [service] table naming ``public_hostname``: HEAD for another service name."""
    return f'[service]\npublic_hostname = "{public_hostname}"\n'


def server(direction: str, type_: str, host: str, port: int, socket_type: str, username: str = "{address}") -> str:
    """One [[provider.incoming]] or [[provider.outgoing]] table with password-cleartext."""
    return (
        f"[[provider.{direction}]]\n"
        f'type = "{type_}"\n'
        f'hostname = "{host}"\n'
        f"port = {port}\n"
        f'socket_type = "{socket_type}"\n'
        'authentication = ["password-cleartext"]\n'
        f'username = "{username}"\n'
    )


def provider(
    provider_id: str,
    domains: list[str],
    host: str = "",
    extra: str = "",
    *,
    display_name: str | None = None,
    incoming: str | None = None,
    outgoing: str | None = None,
    after: str = "",
) -> str:
    """A [[provider]] with one IMAP server (993, SSL) and one SMTP server (465, SSL), both on ``host``.

    ``extra`` goes right below ``domains`` (keys of the provider: mx, caldav, pacc ...), ``after``
    below the servers (tables such as overrides); ``incoming``/``outgoing`` name the IMAP and
    SMTP hosts where they differ, ``display_name`` replaces "<id> mail".
    """
    listed = ", ".join(f'"{domain}"' for domain in domains)
    name = f"{provider_id} mail" if display_name is None else display_name
    return (
        f'\n[[provider]]\nid = "{provider_id}"\ndisplay_name = "{name}"\ndomains = [{listed}]\n'
        f"{textwrap.dedent(extra)}\n"
        + server("incoming", "imap", incoming or host, 993, "SSL")
        + "\n"
        + server("outgoing", "smtp", outgoing or host, 465, "SSL")
        + (f"\n{after}" if after else "")
    )


# The smallest config-v1.1.xml every client takes (test_android, test_autoconfig12).
MINIMAL_AUTOCONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.org">
    <domain>example.org</domain>
    <incomingServer type="imap">
      <hostname>imap.example.org</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.org</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


# A provider with what the settings page shows (servers, help links, CalDAV): test_page and test_page_browser.
PAGE = """\
[service]
public_hostname = "autoconfig.example.net"

[[provider]]
id = "example.net"
display_name = "Example Mail"
domains = ["example.net", "example.org", "bücher.example"]

[[provider.incoming]]
type = "imap"
hostname = "imap.{domain}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]
type = "pop3"
hostname = "mail.example.net"
port = 110
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{localpart}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "mx-{localpart}.{domain}"

[provider.caldav]
url = "https://dav.{domain}/"
username = "{address}"

[provider.carddav]
url = "https://contacts.example.net/{domain}/"

[[provider.documentation]]
url = "https://help.example.net/"
description = { en = "Generic settings page", de = "Allgemeine Beschreibung" }

[[provider.documentation]]
url = "https://help.example.net/en-only"
description = { en = "Only in English" }
"""
