"""Every public path the service answers, with its methods and its metrics label, written once.

The routes (serve/), the request counts of ``/metrics``, the nginx site
(deploy/nginx.py and its parts), the probe, the settings page and the DNS
comments all take their paths from here, so a path added to the service
cannot be forgotten in one of them; tests/test_endpoints.py holds the
package to it (no other module spells a path of this table) and holds the
Flask app's URL map to the table. :mod:`mailautoconf.dav` and
:mod:`mailautoconf.paccspec` name their paths from here too.

Which client asks for which URL: docs/clients.md. The paths are as routed:
those under :data:`CASE_FOLDED` are answered in any letter case, folded to
the lower case written here before routing (serve/wsgi.py), as nginx
matches them (``location ~*``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACME_CHALLENGES",
    "ADDRESS_PARAMETER",
    "ALL",
    "APPLE_PROFILE",
    "AUTOCONFIG",
    "AUTODISCOVER_JSON",
    "AUTODISCOVER_POX",
    "CALDAV",
    "CARDDAV",
    "CASE_FOLDED",
    "DAV_METHODS",
    "GNOME_AUTOCONFIG",
    "HEALTHZ",
    "METRICS",
    "PACC",
    "PAGE",
    "Endpoint",
]


@dataclass(frozen=True)
class Endpoint:
    """One thing the service answers: its paths, the methods it takes there, what /metrics counts it as."""

    label: str  # the endpoint label of /metrics; endpoints counted together share one
    paths: tuple[str, ...]  # exact paths; the first is the one to link or ask
    methods: tuple[str, ...] = ("GET",)  # HEAD comes with GET (Flask routes it so, nginx too)
    # Also answered below this prefix ("": nowhere), the rest of the path being a mail address.
    address_prefix: str = ""

    @property
    def path(self) -> str:
        """The path to link or ask (the first)."""
        return self.paths[0]


# The query parameter that carries the user's address: Thunderbird's autoconfig
# URLs (docs/clients.md section 1.2), the Apple profile and the settings page.
ADDRESS_PARAMETER = "emailaddress"

# Paths below this folder are answered in any letter case: Microsoft's connectivity
# analyzer asks /Autodiscover/Autodiscover.xml, Windows 10 Mail /AutoDiscover/AutoDiscover.xml.
CASE_FOLDED = "/autodiscover/"

# Thunderbird's config-v1.1.xml: on autoconfig.<d>, then on <d> itself (docs/clients.md section 1.2).
AUTOCONFIG = Endpoint("autoconfig", ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"))
# GNOME Online Accounts (3.52, GNOME 47, and later) asks https://autoconfig.<d> here first, with the
# address, before the paths above; the same document format (docs/clients.md section 1.15). Counted
# apart in /metrics: the documents are autoconfig's, but the count says how many setups GNOME makes.
GNOME_AUTOCONFIG = Endpoint("autoconfig_gnome", ("/.well-known/mail-v1.xml",))
# An Apple configuration profile; the settings page links the first and its QR code points at it.
APPLE_PROFILE = Endpoint("apple_profile", ("/email.mobileconfig", "/mobileconfig", "/apple.mobileconfig"))
# Outlook's POX (2006), POSTed; a GET gets the Host's domain document for any address (Delta Chat) or 405
# (Thunderbird's redirect dance): docs/clients.md section 2.7.
AUTODISCOVER_POX = Endpoint("autodiscover_pox", ("/autodiscover/autodiscover.xml",), ("GET", "POST"))
# Outlook's v2 JSON, with the address in the query or after the path (docs/clients.md section 2.9).
AUTODISCOVER_JSON = Endpoint(
    "autodiscover_json", ("/autodiscover/autodiscover.json",), address_prefix="/autodiscover/autodiscover.json/v1.0/"
)
# draft-ietf-mailmaint-pacc, on ua-auto-config.<d> (paccspec.py).
PACC = Endpoint("pacc", ("/.well-known/user-agent-configuration.json",))
# The settings page for people: on autoconfig.<d> and autodiscover.<d>, and on <d> itself.
PAGE = Endpoint("page", ("/", "/.well-known/autoconfig/"))
# The methods DAV clients open discovery with: PROPFIND (Thunderbird, DAVx5, Apple), GET and HEAD
# (people, monitoring), OPTIONS (clients checking the DAV header), REPORT. Any of them is redirected.
DAV_METHODS = ("GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT")
# RFC 6764 section 5's well-known URIs as registered (section 8), and with the slash some clients append.
CALDAV = Endpoint("dav_redirect", ("/.well-known/caldav", "/.well-known/caldav/"), DAV_METHODS)
CARDDAV = Endpoint("dav_redirect", ("/.well-known/carddav", "/.well-known/carddav/"), DAV_METHODS)
# For the machine itself: what is served and what went wrong; the Prometheus figures.
HEALTHZ = Endpoint("healthz", ("/healthz",))
METRICS = Endpoint("metrics", ("/metrics",))

ALL = (
    AUTOCONFIG,
    GNOME_AUTOCONFIG,
    APPLE_PROFILE,
    AUTODISCOVER_POX,
    AUTODISCOVER_JSON,
    PACC,
    PAGE,
    CALDAV,
    CARDDAV,
    HEALTHZ,
    METRICS,
)

# Not the service's: nginx answers ACME http-01 challenges here from the TLS client's webroot (RFC 8555 section 8.3).
ACME_CHALLENGES = "/.well-known/acme-challenge/"
