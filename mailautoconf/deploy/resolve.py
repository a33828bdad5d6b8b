"""Live DNS look-ups for ``certs --only-resolving``.

``certs --only-resolving`` asks whether a name already points at this
service: a CNAME to the service's public host name, or addresses that are
the service's (``[dns] addresses``, else those of the public host name).
The look-up and the resolver are :mod:`mailautoconf.dnslookup`'s.

No such name and no record of the type both mean "no DNS record yet".
A question DNS did not answer (timeout, SERVFAIL, REFUSED) raises
:class:`~mailautoconf.dnslookup.Unanswered`: it proves neither, and
leaving a name out on it would drop a certificate name from renewal for a
resolver's hiccup.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.resolver

from mailautoconf.dnslookup import lookup
from mailautoconf.model import Config

__all__ = ["points_here_check"]


def _values(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The record texts for ``name``, lower case; [] for no such name or no record of the type."""
    return [value.lower() for value in lookup(resolver, name, rdtype).values]


def points_here_check(loaded: Config, resolver: dns.resolver.Resolver) -> Callable[[str], str | None]:
    """Return ``check(name)``: None when ``name`` points at this service, else why not."""
    public = loaded.service.public_hostname
    expected_addresses: set[str] | None = set(loaded.dns.addresses) or None

    def service_addresses() -> set[str]:
        nonlocal expected_addresses
        if expected_addresses is None:
            expected_addresses = set(_values(resolver, public, "A") + _values(resolver, public, "AAAA"))
        return expected_addresses

    def check(name: str) -> str | None:
        """Raises Unanswered when DNS does not answer: nothing can be decided then."""
        cname = _values(resolver, name, "CNAME")
        if cname:
            target = cname[0].rstrip(".")
            return None if target == public else f"CNAME to {target}, not to {public}"
        found = set(_values(resolver, name, "A") + _values(resolver, name, "AAAA"))
        if not found:
            return "no DNS record yet"
        if found & service_addresses():
            return None
        return f"points at {', '.join(sorted(found))}, not at this service ({public})"

    return check
