"""Live DNS look-ups for the deployment commands (dnspython).

``certs --only-resolving`` asks whether a name already points at this
service: a CNAME to the service's public host name, or addresses that are
the service's (``[dns] addresses``, else those of the public host name).
The resolver itself comes from :func:`mailautoconf.deploy.checkdns.make_resolver`.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.resolver

from mailautoconf.model import Config

__all__ = ["points_here_check"]


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The record texts for ``name``; [] when there is none (NXDOMAIN, no answer)."""
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return []
    return [record.to_text().lower() for record in answer] if answer.rrset else []


def points_here_check(loaded: Config, resolver: dns.resolver.Resolver) -> Callable[[str], str | None]:
    """Return ``check(name)``: None when ``name`` points at this service, else why not."""
    public = loaded.service.public_hostname
    expected_addresses: set[str] | None = set(loaded.dns.addresses) or None

    def service_addresses() -> set[str]:
        nonlocal expected_addresses
        if expected_addresses is None:
            expected_addresses = set(_lookup(resolver, public, "A") + _lookup(resolver, public, "AAAA"))
        return expected_addresses

    def check(name: str) -> str | None:
        """Raises dns.exception.DNSException when DNS does not answer: nothing can be decided then."""
        cname = _lookup(resolver, name, "CNAME")
        if cname:
            target = cname[0].rstrip(".")
            return None if target == public else f"CNAME to {target}, not to {public}"
        found = set(_lookup(resolver, name, "A") + _lookup(resolver, name, "AAAA"))
        if not found:
            return "no DNS record yet"
        if found & service_addresses():
            return None
        return f"points at {', '.join(sorted(found))}, not at this service ({public})"

    return check
