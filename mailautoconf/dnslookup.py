"""The one DNS lookup of the deployment commands (dnspython): ``check-dns`` and ``certs --only-resolving``.

Both commands ask a live resolver about names the config produces, and
both must tell three answers apart, because each means something else to
the admin:

- *no such name*: the server says the name does not exist (NXDOMAIN,
  RCODE 3, RFC 1035 section 4.1.1; RFC 8020: nothing below it either);
- *no record of this type*: the name exists but has no record of the type
  asked for (NODATA, RFC 2308 section 2.2);
- *DNS did not answer*: a timeout, SERVFAIL, REFUSED, a malformed reply.
  That proves neither presence nor absence, so it is never turned into
  "no record": :func:`lookup` raises :class:`Unanswered` instead.

:func:`lookup` returns a :class:`Result` for the first two (and for records
found) and raises :class:`Unanswered`, and nothing else, for the third.

The resolver (:func:`make_resolver`) is the system's (/etc/resolv.conf) or
the one ``--resolver`` names, without a cache (a check must see the zone as
it is now) and with bounded timeouts (a dead resolver costs seconds).
Names are always asked as absolute names, never completed with search
domains: a config's host names are full names, and a search suffix could
make a missing name look present.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.resolver

from mailautoconf.model import PORTS

__all__ = ["QUERY_TIMEOUT", "Result", "Unanswered", "lookup", "make_resolver", "parse_resolver"]

QUERY_TIMEOUT = 2.0  # seconds for one query to one server
MAX_SERVERS = 2  # servers tried per query: no retry storm through a long resolv.conf


@dataclass(frozen=True)
class Result:
    """What DNS said about one name and record type.

    ``exists`` is False for *no such name* (NXDOMAIN); ``values`` is then
    empty. With ``exists`` True, empty ``values`` means *no record of this
    type* (NODATA). ``values`` are the records in zone-file form as the
    server sent them (letter case kept), sorted.
    """

    exists: bool
    values: tuple[str, ...] = ()


class Unanswered(Exception):
    """DNS gave no usable answer for ``name`` ``rdtype``: nothing can be concluded about the records.

    ``reason`` is short and fit for a report line ("SERVFAIL", "no answer
    within 2 s"); ``timed_out`` says whether the resolver stayed silent, so
    that callers can stop asking a dead one. A name DNS cannot carry (over
    255 octets, RFC 1035 section 2.3.4) is never asked and is unanswered too.
    """

    def __init__(self, name: str, rdtype: str, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{name} {rdtype}: {reason}")
        self.name = name
        self.rdtype = rdtype
        self.reason = reason
        self.timed_out = timed_out


def parse_resolver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` (a bare IPv6 address too) → (address, port).

    Raises ValueError with a message fit for the user.
    """
    problem = f'"{text}" is not IP, IP:PORT or [IPv6]:PORT (e.g. 127.0.0.1:5353 or [::1]:53)'
    port_text: str | None = None  # None: no port given
    versions: tuple[int, ...]  # the IP versions this spelling allows
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(problem)
        port_text = rest[1:] if rest else None
        versions = (6,)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        versions = (4,)
    else:
        host, versions = text, (4, 6)  # IPv4, or IPv6 without a port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(problem) from None
    if address.version not in versions:
        raise ValueError(problem)
    if port_text is None:
        return str(address), 53
    low, high = PORTS
    if not port_text.isdecimal() or not low <= int(port_text) <= high:
        raise ValueError(f'"{text}": the port is not {low}-{high}')
    return str(address), int(port_text)


def make_resolver(resolver: str | None) -> dns.resolver.Resolver:
    """A resolver asking ``resolver`` (see :func:`parse_resolver`), or the system's; bounded timeouts.

    Raises ValueError when the address is malformed or the system has no
    resolver configuration.
    """
    if resolver is None:
        try:
            made = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise ValueError(f"no system resolver configuration ({exc}); name one with --resolver IP") from None
    else:
        address, port = parse_resolver(resolver)
        made = dns.resolver.Resolver(configure=False)
        made.nameservers = [address]
        made.port = port
    made.timeout = QUERY_TIMEOUT
    # One try per server, at most MAX_SERVERS servers: no retry storm on a dead resolver.
    made.lifetime = QUERY_TIMEOUT * min(len(made.nameservers), MAX_SERVERS)
    made.cache = None
    return made


def lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Result:
    """Ask ``resolver`` for ``name``'s ``rdtype`` records (``name`` absolute, with or without the final dot).

    Returns a :class:`Result` when the server answered (records, NODATA or
    NXDOMAIN); raises :class:`Unanswered` otherwise. A CNAME is followed as
    the resolver does (RFC 1034 section 3.6.2): asking for A of an alias
    gives the target's addresses; asking for CNAME gives the alias itself.
    """
    try:
        qname = dns.name.from_text(name)  # absolute: relative to the root, never to a search domain
    except dns.exception.DNSException as exc:
        raise Unanswered(name, rdtype, f"not asked: {exc}") from exc
    shown = qname.to_text()
    try:
        answer = resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Result(exists=False)
    except dns.exception.Timeout as exc:
        raise Unanswered(shown, rdtype, f"no answer within {resolver.lifetime:g} s", timed_out=True) from exc
    except dns.resolver.NoNameservers as exc:
        raise Unanswered(shown, rdtype, _rcodes(exc)) from exc
    except dns.exception.DNSException as exc:
        raise Unanswered(shown, rdtype, str(exc)) from exc
    if answer.rrset is None:
        return Result(exists=True)  # NODATA: raise_on_no_answer=False returns it instead of raising
    return Result(exists=True, values=tuple(sorted(rdata.to_text() for rdata in answer.rrset)))


def _rcodes(exc: dns.resolver.NoNameservers) -> str:
    """Shorten dnspython's "All nameservers failed ...: Server X answered REFUSED" to the answers given."""
    errors = exc.kwargs.get("errors") or []
    answers = sorted({str(error[3]) for error in errors if len(error) > 3})
    return "; ".join(answers) if answers else str(exc)
