"""``python service.py check-dns``: look the records ``dns`` prints up live and say which are right.

Every RRset :func:`mailautoconf.deploy.dns.plan` lists is asked for and
reported on one line, as ``ok``, ``missing`` (no such name, or no record of
that type) or ``wrong`` (with what was expected and what was found);
``error`` when the resolver gave no usable answer (timeout, SERVFAIL,
REFUSED), since that proves neither. First of all, the service's own
public_hostname must have an address: everything else points at it.

The resolver and the look-up are :mod:`mailautoconf.dnslookup`'s
(without search domains, without a cache; ``make_resolver``,
``parse_resolver`` and ``QUERY_TIMEOUT`` are named here too, as before).
Each query has one bounded try (:data:`QUERY_TIMEOUT`), and after a few
timeouts in a row the rest is not asked at all: a dead resolver costs
seconds, not minutes per hundred domains.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from typing import get_args

import dns.resolver

from mailautoconf.deploy import load_or_report
from mailautoconf.deploy.dns import RRset
from mailautoconf.deploy.dns import lookup_plans
from mailautoconf.deploy.dns import plan
from mailautoconf.dnslookup import QUERY_TIMEOUT
from mailautoconf.dnslookup import Unanswered
from mailautoconf.dnslookup import lookup
from mailautoconf.dnslookup import make_resolver
from mailautoconf.dnslookup import parse_resolver
from mailautoconf.model import Config
from mailautoconf.pacc import digest as paccdns

__all__ = ["QUERY_TIMEOUT", "Outcome", "check", "check_dns_command", "make_resolver", "parse_resolver"]

GIVE_UP_AFTER = 3  # timeouts in a row after which the resolver is taken to be dead
ADDRESS = "A/AAAA"  # pseudo type: any address (the public_hostname check)
# ok: as expected; missing: no such record; wrong: other values; error: DNS did not answer;
# stale: PACC digest TXT records, none of which carries the digest of what is served now.
Status = Literal["ok", "missing", "wrong", "error", "stale"]


@dataclass(frozen=True)
class Outcome:
    """What one lookup showed about one expected RRset."""

    status: Status
    rrset: RRset
    found: tuple[str, ...] = ()  # the values found, in zone-file form
    detail: str = ""  # why missing or error

    def line(self) -> str:
        """One report line; the first word is the status, for scripts to grep."""
        rrset = self.rrset
        expected = ", ".join(rrset.values) if rrset.values else "an address of this service"
        if self.status == "ok":
            return f"{'ok':<7} {rrset.name} {rrset.type} {', '.join(self.found)}"
        optional = " (optional)" if rrset.optional else ""
        found = ", ".join(self.found) if self.status in ("wrong", "stale") else self.detail
        return f"{self.status:<7} {rrset.name} {rrset.type}{optional}: expected {expected}; found {found}"


def _normalise(rdtype: str, value: str) -> tuple[object, ...]:
    """A comparable form of one value: names without letter case, addresses parsed."""
    if rdtype in ("A", "AAAA", ADDRESS):
        return (ipaddress.ip_address(value),)
    if rdtype == "SRV":
        priority, weight, port, target = value.split()
        target = target.lower().rstrip(".") + "."
        if target == ".":
            # RFC 2782: a target of "." means "not available"; the numbers say nothing then.
            return (target,)
        return (int(priority), int(weight), int(port), target)
    if rdtype == "MX":
        preference, exchange = value.split()
        return (int(preference), exchange.lower().rstrip(".") + ".")
    if rdtype == "TXT":
        # RFC 6764 section 4's path= is a URL path: letter case counts. Both sides are zone-file text
        # in the form dns.zone_txt writes and dnspython prints (quoted, \DDD escapes).
        return (value,)
    return (value.lower().rstrip(".") + ".",)  # CNAME target, with or without the trailing dot


def _check_one(resolver: dns.resolver.Resolver, rrset: RRset) -> Outcome:
    types = ("A", "AAAA") if rrset.type == ADDRESS else (rrset.type,)
    found: list[str] = []
    no_name = False
    for rdtype in types:
        result = lookup(resolver, rrset.name, rdtype)
        if not result.exists:
            no_name = True  # the name does not exist, whatever the type (RCODE 3, RFC 1035 section 4.1.1)
            break
        found += result.values
    if not found:
        detail = "nothing (no such name)" if no_name else f"nothing (the name has no {rrset.type} record)"
        return Outcome("missing", rrset, detail=detail)
    if rrset.type == ADDRESS:
        return Outcome("ok", rrset, tuple(found))
    if paccdns.is_digest(rrset.name, rrset.type):
        return Outcome("ok" if paccdns.digest_status(rrset.values, found) == "ok" else "stale", rrset, tuple(found))
    want = {_normalise(rrset.type, value) for value in rrset.values}
    have = {_normalise(rrset.type, value) for value in found}
    return Outcome("ok" if want == have else "wrong", rrset, tuple(found))


def expected(config: Config, only: str | None = None) -> list[RRset]:
    """Every RRset to check, in report order: the public_hostname first, then each domain's,
    then (without ``only``) each MX lookup domain's ``autoconfig.<mx domain>``.

    Raises ValueError naming the domain when ``only`` is not hosted.
    """
    public = config.service.public_hostname.lower().rstrip(".") + "."
    rrsets = [RRset(public, ADDRESS, (), False)]
    groups = [group for domain_plan in plan(config, only) for group in domain_plan.groups]
    if only is None:
        groups += [group for lookup in lookup_plans(config) for group in lookup.groups]
    for group in groups:
        rrsets += group.rrsets
    return rrsets


def check(config: Config, resolver: dns.resolver.Resolver, only: str | None = None) -> Iterator[Outcome]:
    """Look every expected RRset up, yielding outcomes in order as they come in."""
    timeouts = 0
    for rrset in expected(config, only):
        if timeouts >= GIVE_UP_AFTER:
            yield Outcome(
                "error", rrset, detail=f"nothing: not asked, the resolver timed out {timeouts} times in a row"
            )
            continue
        try:
            outcome = _check_one(resolver, rrset)
        except Unanswered as exc:
            timeouts = timeouts + 1 if exc.timed_out else 0
            yield Outcome("error", rrset, detail=f"nothing: {exc.reason}")
            continue
        timeouts = 0
        yield outcome


def check_dns_command(args: argparse.Namespace) -> int:
    """Report each record; 0 when all are ok, 1 otherwise (and on config errors, unknown domains)."""
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    try:
        expected(loaded, args.domain)
    except ValueError as exc:
        print(f"check-dns: --domain: {exc}", file=sys.stderr)
        return 1
    try:
        resolver = make_resolver(args.resolver)
    except ValueError as exc:
        print(f"check-dns: --resolver: {exc}", file=sys.stderr)
        return 1
    counts: dict[Status, int] = {}
    for outcome in check(loaded, resolver, args.domain):
        print(outcome.line(), flush=True)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{counts.get(status, 0)} {status}" for status in get_args(Status))
    servers = ", ".join(f"{server}" for server in resolver.nameservers)
    print(f"check-dns: {summary} (asked {servers}, port {resolver.port})", file=sys.stderr)
    return 0 if set(counts) == {"ok"} else 1
