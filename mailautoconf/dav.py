"""RFC 6764 vocabulary: how a CalDAV or CardDAV URL of the config is published for discovery.

Clients find calendars and address books of a mail domain in two ways
(RFC 6764; docs/clients.md; ../shared/reference/standards.md section 3):

- DNS: an SRV record ``_caldavs._tcp.<d>`` / ``_carddavs._tcp.<d>`` names
  host and port (section 3), a TXT record ``path=...`` at the same name
  the context path (section 4);
- HTTP: ``/.well-known/caldav`` and ``/.well-known/carddav`` on the
  domain's host redirect to the context path (section 5).

Both are derived here from the one URL the config names, so the DNS
generator (deploy/dns.py), the redirects (davredirect.py) and the nginx
site (deploy/nginx.py) cannot disagree on names or paths. Pure functions,
no IO.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from mailautoconf import endpoints

__all__ = ["KINDS", "DavKind", "Endpoint", "Kind", "endpoint", "wire_url"]

Kind = Literal["caldav", "carddav"]


@dataclass(frozen=True)
class DavKind:
    """One of the two services, with its RFC 6764 names."""

    kind: Kind
    title: str  # CalDAV, CardDAV
    what: str  # calendars, address books
    srv_label: str  # the TLS service label (RFC 6764 section 3)
    plain_label: str  # the label for plain http, never published (the config's URLs are https)
    well_known: str  # the well-known URI (RFC 6764 section 5, registered in section 8)


KINDS = (
    DavKind("caldav", "CalDAV", "calendars", "_caldavs._tcp", "_caldav._tcp", endpoints.CALDAV.path),
    DavKind("carddav", "CardDAV", "address books", "_carddavs._tcp", "_carddav._tcp", endpoints.CARDDAV.path),
)

# What config/schema.py lets through (HTTPS_URL): https, a host, an optional port, the rest.
_URL = re.compile(r"https://(?P<host>[^/:?#]+)(?::(?P<port>\d{1,5}))?(?P<path>[^?#]*)(?P<tail>[?#].*)?", re.S)
HTTPS_PORT = 443  # RFC 6764 section 3 has no default of its own: https's (RFC 9110 section 4.2.2)


@dataclass(frozen=True)
class Endpoint:
    """A DAV URL taken apart for DNS: what the SRV and TXT records of RFC 6764 can say."""

    host: str  # may still hold {domain}
    port: int  # as written, 443 when the URL names none; not range-checked here
    path: str  # the context path, percent-encoded ASCII, "/" when the URL has none
    tail: str  # the query and fragment, which DNS cannot carry ("" if none)


def wire_url(url: str) -> str:
    """``url`` with every non-ASCII character percent-encoded as UTF-8 (RFC 3986 section 2.1).

    The host is an A-label already (config/schema.py); only a path or query can
    hold other characters, and neither an HTTP header (Location) nor a
    client building a URL from a TXT record takes them raw.
    """
    if url.isascii():
        return url
    return "".join(char if char.isascii() else urllib.parse.quote(char, safe="") for char in url)


def endpoint(url: str) -> Endpoint | None:
    """Host, port, path and the rest of an https URL of the config; None if it is not one."""
    match = _URL.fullmatch(url)
    if match is None:
        return None
    port = int(match.group("port")) if match.group("port") else HTTPS_PORT
    path = wire_url(match.group("path")) or "/"
    return Endpoint(match.group("host"), port, path, wire_url(match.group("tail") or ""))
