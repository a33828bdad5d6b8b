"""Every DNS name made from a hosted domain, in one place, and whether it fits into DNS.

``dns``, ``check-dns``, ``certs`` and ``nginx`` print names made of a hosted
domain and a prefix (``autoconfig.<d>``, ``_autodiscover._tcp.<d>``,
``_imaps._tcp.<d>`` ...) or a ``{domain}`` template (``mail.{domain}``,
``https://dav.{domain}/``). A domain that is a valid name may still be too
long for them: a name has at most 253 characters in presentation form
without the trailing dot (255 octets on the wire, RFC 1035 sections 2.3.4
and 3.1) and a label at most 63. A record with a longer owner name is
refused by every zone loader, and a certificate name by every CA, so
``check`` (config/checker.py) refuses such a domain, naming the derived name.

The generators take their prefixes from here and config/checker.py checks the
same ones, so the two cannot drift apart: a record type added to ``dns``
with a prefix that is not in :data:`PREFIXES` fails
tests/test_dns_names.py. This is vocabulary (no IO, no deploy imports):
config/ must not import the deployment package.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailautoconf import dav
from mailautoconf import paccspec
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ServerType
from mailautoconf.names import SERVICE_PREFIXES
from mailautoconf.names import hostname_problem

__all__ = [
    "AUTOCONFIG",
    "AUTODISCOVER",
    "AUTODISCOVER_SRV",
    "COMMON_NAMES",
    "MAX_DNS_DOMAIN",
    "MAX_DOMAIN",
    "MAX_MX_DOMAIN",
    "MAX_NAME",
    "PREFIXES",
    "SRV_SERVICES",
    "SrvService",
    "domain_problem",
    "host_templates",
    "longest_domain",
    "mx_lookup_problem",
    "template_problem",
    "templates_problem",
]

# RFC 1035 section 3.1: 255 octets on the wire are 253 characters written
# out, without the trailing dot (each label's length octet stands for a dot,
# plus the root's zero octet).
MAX_NAME = 253

AUTOCONFIG, AUTODISCOVER = (prefix.rstrip(".") for prefix in SERVICE_PREFIXES[:2])
# Outlook's and Thunderbird's Exchange fallback (docs/clients.md section 2.1).
AUTODISCOVER_SRV = "_autodiscover._tcp"


@dataclass(frozen=True)
class SrvService:
    """One RFC 6186 / RFC 8314 service label and which configured servers it announces."""

    label: str  # "_imaps._tcp"
    type: ServerType  # the configured servers it announces
    implicit_tls: bool  # SocketType.SSL; the other label takes STARTTLS and plain


# Output order: per protocol, the implicit-TLS label first.
SRV_SERVICES = (
    SrvService("_imaps._tcp", "imap", True),  # RFC 6186 section 3.2; implicit TLS per RFC 8314
    SrvService("_imap._tcp", "imap", False),  # RFC 6186 section 3.2: STARTTLS (or plain)
    SrvService("_pop3s._tcp", "pop3", True),  # RFC 6186 section 3.3; implicit TLS per RFC 8314
    SrvService("_pop3._tcp", "pop3", False),  # RFC 6186 section 3.3: STARTTLS (or plain)
    # RFC 8314 registers "submissions" for implicit TLS on port 465 (not "_smtps").
    SrvService("_submissions._tcp", "smtp", True),
    SrvService("_submission._tcp", "smtp", False),  # RFC 6186 section 3.1: STARTTLS (or plain)
)

# [dns] common_names: the classic per-domain names, by the server type they alias.
# Thunderbird's last resort guesses imap.<d>, smtp.<d> and mail.<d>; people
# type the others.
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "imap": ("imap", "imaps"),
    "pop3": ("pop3", "pop3s"),
    "smtp": ("smtp", "smtps", "submission"),
}

# Every prefix a generator puts before a hosted domain (with its dot); the
# domain itself (its MX records, --well-known) is the name with no prefix.
PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *SERVICE_PREFIXES,  # autoconfig., autodiscover., PACC's ua-auto-config.
            f"{paccspec.HOST_LABEL}.",
            f"{paccspec.TXT_LABEL}.",  # PACC's digest record
            f"{AUTODISCOVER_SRV}.",
            *(f"{service.label}." for service in SRV_SERVICES),
            *(f"{kind.srv_label}." for kind in dav.KINDS),  # RFC 6764 SRV and TXT
            *(f"{label}." for labels in COMMON_NAMES.values() for label in labels),
        )
    )
)
_LONGEST = max(PREFIXES, key=len)
# The longest hosted domain every prefix fits before. The longest prefix is
# printed for every domain (dns prints _autodiscover._tcp.<d> even without
# own names), so this is the limit whatever else the config turns on.
MAX_DNS_DOMAIN = MAX_NAME - len(_LONGEST)
# The rendered tree names a domain's versions <domain>@<16 hex digits>.<mtime, 10 digits> (publish.py),
# and a file name has at most 255 bytes on every Linux file system: that limit is tighter still.
MAX_FILE_NAME = 255
VERSION_SUFFIX = len("@") + 16 + len(".") + 10
MAX_DOMAIN = min(MAX_DNS_DOMAIN, MAX_FILE_NAME - VERSION_SUFFIX)
# The MX lookup documents live in _mx.<MX domain> (render.MX_FOLDER_PREFIX).
MAX_MX_DOMAIN = MAX_FILE_NAME - VERSION_SUFFIX - len("_mx.")

# {domain} standing as whole labels: the name then grows by the domain's length only.
_WHOLE_LABELS = re.compile(r"(?:^|(?<=\.))\{domain\}(?=\.|$)")


def domain_problem(domain: str) -> str | None:
    """Why names made of ``domain`` (a valid A-label name) and a prefix do not fit, or None."""
    if len(domain) <= MAX_DOMAIN:
        return None
    name = f"{_LONGEST}{domain}"
    if len(name) > MAX_NAME:
        return (
            f"{name} (dns prints it for every domain) would be {len(name)} characters long; a DNS name has "
            f"at most {MAX_NAME}, so a hosted domain at most {MAX_DOMAIN}"
        )
    return (
        f"its folder in the rendered tree ({domain}@<digest>.<time>) would be {len(domain) + VERSION_SUFFIX} "
        f"bytes long, and a file name has at most {MAX_FILE_NAME}: a hosted domain has at most {MAX_DOMAIN} characters"
    )


@functools.lru_cache(maxsize=1024)
def _shape(template: str) -> tuple[int, int, bool]:
    """How often ``{domain}`` stands in ``template``, its length without them, whether always as whole labels."""
    count = template.count("{domain}")
    return count, len(template) - count * len("{domain}"), count == len(_WHOLE_LABELS.findall(template))


def longest_domain(templates: Iterable[tuple[str, str]]) -> int | None:
    """The longest domain every template (what, template) surely makes a host name of; None: look at each.

    ``{domain}`` as whole labels of a valid template leaves every label
    valid, so only the length can fail; inside a label (``mail-{domain}``)
    the label may grow past 63, which :func:`templates_problem` sees.
    """
    longest = MAX_NAME
    for _, template in templates:
        count, fixed, whole = _shape(template)
        if not whole:
            return None
        if count:
            longest = min(longest, (MAX_NAME - fixed) // count)
    return longest


def template_problem(template: str, domain: str) -> tuple[str, str] | None:
    """(name, why) when ``template`` (a host name with ``{domain}``) filled with ``domain`` is no host name."""
    count, fixed, whole = _shape(template)
    if whole and fixed + count * len(domain) <= MAX_NAME:
        return None
    name = template.replace("{domain}", domain)
    problem = hostname_problem(name)
    if problem is None:
        return None
    return name, f"{problem} (it is {len(name)} characters long)" if len(name) > MAX_NAME else problem


def host_templates(provider: Provider, domain: Domain) -> list[tuple[str, str]]:
    """(what, template) of every ``{domain}`` host name ``domain``'s names are made from.

    As ``server_hosts`` (deploy) and ``Provider.resolve_servers`` resolve
    them: an override's host name replaces the servers'; the CalDAV and
    CardDAV URLs' hosts (SRV targets, certificate names) likewise.
    """
    override = domain.override
    found = []
    for direction, servers, own in (
        ("incoming", provider.incoming, override.incoming_hostname or override.hostname),
        ("outgoing", provider.outgoing, override.outgoing_hostname or override.hostname),
    ):
        if own is not None:
            found.append((f"the override's {direction} host name", own))
            continue
        for index, server in enumerate(servers):
            found.append((f"{direction} server {index + 1}'s hostname", server.hostname))
    for kind, service in (("caldav", provider.caldav_for(domain)), ("carddav", provider.carddav_for(domain))):
        parts = dav.endpoint(service.url) if service is not None else None
        if parts is not None:
            found.append((f"the {kind} url's host", parts.host))
    return [(what, template) for what, template in dict.fromkeys(found) if "{domain}" in template]


def templates_problem(templates: Iterable[tuple[str, str]], domain: str) -> str | None:
    """The first template of :func:`host_templates` that makes no host name of ``domain``, said; or None."""
    for what, template in templates:
        found = template_problem(template, domain)
        if found is not None:
            name, why = found
            return f'{what} "{template}" makes "{name}" of it, which is no host name: {why}'
    return None


def mx_lookup_problem(mx_domain: str) -> str | None:
    """Why ``autoconfig.<mx domain>``, the name MX lookup clients ask, does not fit; or None."""
    name = f"{AUTOCONFIG}.{mx_domain}"
    if len(name) > MAX_NAME:
        return (
            f"{name} (the name clients ask for its MX lookup) would be {len(name)} characters long; at most {MAX_NAME}"
        )
    if len(mx_domain) > MAX_MX_DOMAIN:
        return (
            f"the folder of its MX lookup documents (_mx.{mx_domain}@<digest>.<time>) would be longer than a file "
            f"name may be ({MAX_FILE_NAME} bytes): an MX domain has at most {MAX_MX_DOMAIN} characters"
        )
    return None
