"""Domain names and mail addresses: normalising, checking, masking.

One place decides what a domain name is, so that the config loader, the
web layer's routing and the deployment generators agree. Names are compared
as lower-case A-labels (IDNA 2008 with UTS #46 mapping, via the ``idna``
package), which is also the form DNS needs.
"""

from __future__ import annotations

import functools
import re

import idna

__all__ = [
    "MAX_ADDRESS",
    "candidate_domains",
    "domain_of_address",
    "host_without_port",
    "is_hostname",
    "mask_address",
    "mx_lookup_domains",
    "plain_hostname",
    "profile_address",
    "to_ascii",
    "to_unicode",
]

_LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # fullmatch: "$" would pass "label\n"
# The common case in one match: lower-case LDH labels, at least two, no
# punycode label (those are decoded to be checked), a last label that is not
# a number, at most 253 characters. A name that does not match is not
# necessarily wrong: hostname_problem then looks at it label by label.
_PLAIN_HOSTNAME = re.compile(
    r"(?=[a-z0-9.-]{1,253}\Z)(?!(?:.*\.)?xn--)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?![0-9]+\Z)(?!-)[a-z0-9-]{1,63}(?<!-)\Z"
)
# Prefixes clients put before the user's domain (docs/clients.md sections 1.2 and 2.1).
# ua-auto-config.: PACC (draft-ietf-mailmaint-pacc, paccspec.HOST_LABEL).
SERVICE_PREFIXES = ("autoconfig.", "autodiscover.", "ua-auto-config.")
# The longest address read (RFC 5321's longest path, 256, with room): a longer one has no domain here,
# and the nginx site's reading of the query (deploy/nginx.py) stops at the same length.
MAX_ADDRESS = 320


@functools.lru_cache(maxsize=4096)  # per request for Host and address; bounded against floods
def to_ascii(name: str) -> str:
    """Return ``name`` as a lower-case A-label domain; raise ValueError if it is not one.

    Accepts Unicode (``bücher.example``), any letter case and a trailing dot.
    """
    name = name.strip().rstrip(".")
    if not name:
        raise ValueError("the name is empty")
    if name.isascii():
        ascii_name = name.lower()
    else:
        try:
            ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"not a valid internationalised name ({exc})") from None
    problem = hostname_problem(ascii_name)
    if problem is not None:
        raise ValueError(problem)
    return ascii_name


def plain_hostname(name: str) -> bool:
    """Whether ``name`` is a host name already in its final form: lower-case LDH labels, no punycode."""
    return _PLAIN_HOSTNAME.match(name) is not None


def to_unicode(ascii_name: str) -> str:
    """Return the U-label form of an A-label name (for display)."""
    if "xn--" not in ascii_name:
        return ascii_name
    try:
        return idna.decode(ascii_name)
    except (idna.IDNAError, UnicodeError):
        return ascii_name


def hostname_problem(name: str) -> str | None:
    """Say why ``name`` (lower-case ASCII) is not a DNS host name, or return None."""
    if _PLAIN_HOSTNAME.match(name):
        return None
    if ":" in name:
        return "a host name has no :port (the port has a key of its own)"
    labels = name.split(".")
    if len(labels) == 4 and all(label.isdigit() for label in labels):
        return "an IP address is not a host name"
    if len(name) > 253:
        return "a host name is at most 253 characters long"
    for label in labels:
        if not label:
            return "a host name has no empty labels (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return "a label is longer than 63 characters"
        if not _LDH_LABEL.fullmatch(label):
            return f'the label "{label}" may only hold letters, digits and inner hyphens'
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                return f'the label "{label}" is not valid punycode'
    if len(labels) < 2:
        return "a host name has at least two labels, like mail.example.org"
    if labels[-1].isdigit():
        return "the last label of a host name is not a number"
    return None


def is_hostname(name: str) -> bool:
    """Whether ``name`` (lower-case ASCII) is a DNS host name with at least two labels."""
    return hostname_problem(name) is None


def host_without_port(host: str) -> str:
    """Strip an optional ``:port`` from a Host header value."""
    if host.startswith("["):  # IPv6 literal; never a hosted domain
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@functools.lru_cache(maxsize=4096)  # per request; clients ask by a few names each
def candidate_domains(host: str) -> tuple[str, ...]:
    """Domains a Host header may stand for, most specific first.

    ``autoconfig.Example.ORG.:443`` gives ``("autoconfig.example.org",
    "example.org")``. Anything that is not a host name gives ``()``; the result
    is only ever used as a dictionary key, never as a path.
    """
    if not host or len(host) > 300:
        return ()
    try:
        name = to_ascii(host_without_port(host))
    except ValueError:
        return ()
    candidates = [name]
    for prefix in SERVICE_PREFIXES:
        if name.startswith(prefix) and is_hostname(name[len(prefix) :]):
            candidates.append(name[len(prefix) :])
    return tuple(candidates)


def domain_of_address(address: str) -> str | None:
    """Return the A-label domain of a mail address, or None if it has none."""
    if not address or len(address) > MAX_ADDRESS:
        return None
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local:
        return None
    try:
        return to_ascii(domain)
    except ValueError:
        return None


def profile_address(address: str) -> str | None:
    """``address`` if it can stand in a profile: a domain, a local part of at most 64 octets, nothing invisible.

    RFC 5321 limits a local part to 64 octets and a path to 256; control
    characters and spaces would make the profile unreadable (or mean something
    other than what the user typed).
    """
    address = address.strip()
    local = address.rpartition("@")[0]
    if domain_of_address(address) is None or len(address) > 254 or len(local.encode("utf-8")) > 64:
        return None
    if not address.isprintable() or any(char.isspace() for char in address):
        return None
    return address


_public_suffixes = None


def mx_lookup_domains(mx_host: str) -> tuple[str, ...]:
    """The domains a client derives from an MX host, to ask ``autoconfig.<domain>``.

    draft-ietf-mailmaint-autoconfig, "Configuration retrieval" 3.1 and 3.2:
    MXFULLDOMAIN is the MX host without its first label, used only where it
    is longer than MXBASEDOMAIN, the registrable domain by the Public Suffix
    List (``mx.example.co.uk`` gives ``example.co.uk``). Thunderbird asks
    both, and so does Thunderbird for Android (MxLookupAutoconfigDiscovery,
    without the address).
    """
    global _public_suffixes
    if _public_suffixes is None:
        from publicsuffixlist import PublicSuffixList  # the list ships with the package

        _public_suffixes = PublicSuffixList()
    base = _public_suffixes.privatesuffix(mx_host)
    if base is None:
        return ()
    full = mx_host.partition(".")[2]
    return (full, base) if len(full) > len(base) else (base,)


# Letters and digits of any script, "-", "." and "_": what a domain name, or its U-label spelling, holds.
_PLAUSIBLE_DOMAIN = re.compile(r"[\w.-]{0,253}")


def mask_address(address: str) -> str:
    """Mask a mail address for logs: ``fred@example.org`` → ``f***@example.org``."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    # Only what a domain name can hold: the v2 path form and the query
    # string give this any text, and quotes or spaces would forge log fields.
    masked_domain = domain if _PLAUSIBLE_DOMAIN.fullmatch(domain) else "***"
    first = local[:1] if local[:1].isalnum() else ""
    return f"{first}***@{masked_domain}"
