"""``python service.py dns``: the DNS records every hosted domain needs, as BIND zone-file lines.

Clients find this service only through DNS (clients.md section 4):
Thunderbird, Evolution, KMail and K-9 ask ``autoconfig.<d>``; Outlook and
Windows Mail ask ``autodiscover.<d>`` and then the ``_autodiscover._tcp.<d>``
SRV record. Clients that follow RFC 6186 look for the mail servers
themselves under ``_imaps._tcp.<d>`` and friends. All of it is derived here
from the same model that serves the clients, so the records cannot drift
from the settings handed out.

The records are planned once (:func:`plan`) and then either printed
(:func:`records`, pure) or looked up live (:mod:`mailautoconf.deploy.checkdns`):
what is published and what is checked are the same list. Names are
absolute A-labels with a trailing dot and no ``$ORIGIN``, so the lines can be
pasted into any zone (the parent's or the domain's own) unchanged.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass

from mailautoconf.deploy import AUTOCONFIG
from mailautoconf.deploy import AUTODISCOVER
from mailautoconf.deploy import load_or_report
from mailautoconf.deploy import select_domains
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType
from mailautoconf.names import to_unicode

__all__ = ["SRV_SERVICES", "DomainPlan", "Group", "RRset", "SrvService", "dns_command", "plan", "records", "warnings"]


@dataclass(frozen=True)
class RRset:
    """Every record of one name and type that a domain needs; checked as a whole."""

    name: str  # absolute A-label name with a trailing dot
    type: str  # CNAME, A, AAAA or SRV
    values: tuple[str, ...]  # rdata in zone-file form, in output order
    optional: bool  # clients work without it; check-dns still reports it


@dataclass(frozen=True)
class Group:
    """Records published for one reason, printed under one comment."""

    comment: tuple[str, ...]  # lines without the leading "; "
    rrsets: tuple[RRset, ...]
    # Problems with these records: printed as "; WARNING:" lines above them.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainPlan:
    domain: Domain
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class SrvService:
    """One RFC 6186 / RFC 8314 service label and which configured servers it announces."""

    label: str  # "_imaps._tcp"
    type: str  # server type in the config: imap, pop3, smtp
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
PROTOCOL_NAMES = {"imap": "IMAP", "pop3": "POP3", "smtp": "submission (sending mail)"}
# RFC 6186 section 3.4 and RFC 2782 ("Target"): a target of "." says the
# service is decidedly not available at this domain, so clients stop looking.
NOT_OFFERED = "0 0 0 ."
# Weight 1, as in RFC 6186's examples; with one target per priority the
# weight selects nothing (RFC 2782), so its value does not matter.
SRV_WEIGHT = 1


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def plan(config: Config, only: str | None = None) -> list[DomainPlan]:
    """The records of every hosted domain (or just ``only``), in config order.

    Raises ValueError naming the domain when ``only`` is not hosted.
    """
    return [_domain_plan(config, provider, domain) for provider, domain in select_domains(config, only)]


def warnings(config: Config, only: str | None = None) -> list[str]:
    """Problems with the records, as messages naming the config file and domain."""
    return [
        f'{config.source}: warning: domain "{domain_plan.domain.name}": {warning}'
        for domain_plan in plan(config, only)
        for group in domain_plan.groups
        for warning in group.warnings
    ]


def _cname_names(config: Config) -> set[str]:
    """The names our records make CNAMEs: autoconfig.<d> and autodiscover.<d> of every domain.

    The service's own public_hostname is never one (it cannot alias itself),
    and with [dns] addresses set there are no CNAMEs at all.
    """
    if config.dns.addresses:
        return set()
    public = _absolute(config.service.public_hostname)
    names = {_absolute(f"{prefix}.{name}") for name in config.domains() for prefix in (AUTOCONFIG, AUTODISCOVER)}
    return names - {public}


def _service_name_group(config: Config, domain: Domain, prefix: str, why: tuple[str, ...]) -> Group:
    """``autoconfig.<d>`` or ``autodiscover.<d>``: a CNAME to the service, or its A/AAAA records."""
    name = _absolute(f"{prefix}.{domain.name}")
    public = _absolute(config.service.public_hostname)
    addresses = [ipaddress.ip_address(text) for text in config.dns.addresses]
    if addresses:
        v4 = tuple(str(a) for a in addresses if a.version == 4)
        v6 = tuple(str(a) for a in addresses if a.version == 6)
        rrsets = tuple(RRset(name, rdtype, values, False) for rdtype, values in (("A", v4), ("AAAA", v6)) if values)
        return Group((*why, "The addresses of this service ([dns] addresses in the config)."), rrsets)
    if name == public:
        # A CNAME to itself would be a loop: this name is the service's own host.
        comment = (
            *why,
            f"{name} is this service's own public_hostname: give it the service's A/AAAA",
            "records yourself (or set [dns] addresses to have them generated here).",
        )
        return Group(comment, ())
    return Group((*why, "A CNAME to this service."), (RRset(name, "CNAME", (public,), False),))


def _srv_values(config: Config, provider: Provider, domain: Domain) -> tuple[dict[SrvService, list[str]], list[str]]:
    """The SRV values of every label (empty: not offered), and problems with their targets.

    Priorities are numbered per direction, across labels, so that one list of
    preferences reads from them: incoming protocols in the order the config
    first names them (RFC 6186 section 3.4: the priority across _imap and
    _pop3 says which protocol the provider prefers); within a protocol the
    implicit-TLS label first (RFC 8314 section 5.1: it gets the lower
    priority numbers); within a label the servers in config order ("most
    preferred first").
    """
    servers = provider.resolve_servers(domain)
    cnames = _cname_names(config)
    values: dict[SrvService, list[str]] = {service: [] for service in SRV_SERVICES}
    problems = []
    for direction in ("incoming", "outgoing"):
        protocols = list(dict.fromkeys(server.type for server in servers if server.direction == direction))
        priority = 0
        for protocol in protocols:
            for service in (s for s in SRV_SERVICES if s.type == protocol):
                seen: set[tuple[str, int]] = set()
                for server in servers:
                    if server.type != protocol or _implicit(server) != service.implicit_tls:
                        continue
                    target = _absolute(server.hostname)
                    if (target, server.port) in seen:  # overrides can make two servers one
                        continue
                    seen.add((target, server.port))
                    if target in cnames:
                        # RFC 2782: the target "MUST NOT be an alias"; clients may refuse it.
                        problems.append(
                            f"{service.label}.{domain.name}. points at {target}, which these records make a "
                            "CNAME; RFC 2782 forbids an alias as SRV target: use the mail server's own host name"
                        )
                    values[service].append(f"{priority} {SRV_WEIGHT} {server.port} {target}")
                    priority += 1
    return values, problems


def _srv_groups(config: Config, provider: Provider, domain: Domain) -> list[Group]:
    """The RFC 6186 SRV records for the domain's servers, one group per protocol."""
    values, problems = _srv_values(config, provider, domain)
    groups = []
    for protocol in ("imap", "pop3", "smtp"):
        services = [service for service in SRV_SERVICES if service.type == protocol]
        labels = [f"{service.label}.{domain.name}." for service in services]
        comment = [
            f"Optional: {PROTOCOL_NAMES[protocol]} servers, for clients that find them by SRV (RFC 6186);",
            "Thunderbird, K-9 and Evolution do not look these up.",
        ]
        offered = [values[service] for service in services if values[service]]
        if len(offered) == 2:
            comment.append("Implicit TLS has the lower priority number, so it is preferred (RFC 8314).")
        if offered and not offered[0][0].startswith("0 "):
            comment.append("IMAP and POP3 share one priority order: the lower numbers say which is preferred.")
        if len(offered) < 2:
            comment.append(f'"{NOT_OFFERED}": not offered at this domain (RFC 6186), so clients stop looking.')
        rrsets = tuple(
            RRset(label, "SRV", tuple(values[service]) or (NOT_OFFERED,), True)
            for label, service in zip(labels, services, strict=True)
        )
        own = tuple(problem for problem in problems if problem.split(" ", 1)[0] in labels)
        groups.append(Group(tuple(comment), rrsets, own))
    return groups


def _implicit(server: ResolvedServer) -> bool:
    return server.socket_type is SocketType.SSL


def _domain_plan(config: Config, provider: Provider, domain: Domain) -> DomainPlan:
    public = _absolute(config.service.public_hostname)
    autoconfig_why = (
        "Needed: Thunderbird, Evolution, KMail and K-9 fetch their settings from",
        f"https://{AUTOCONFIG}.{domain.name}/mail/config-v1.1.xml.",
    )
    autodiscover_why = (
        "Needed for Outlook and Windows Mail: they post to",
        f"https://{AUTODISCOVER}.{domain.name}/autodiscover/autodiscover.xml.",
    )
    autodiscover_srv = Group(
        (
            "Optional: Outlook, and Thunderbird for Exchange, fall back to this SRV record",
            f"when {AUTODISCOVER}.{domain.name} does not answer; Thunderbird ignores the port.",
        ),
        (RRset(f"_autodiscover._tcp.{domain.name}.", "SRV", (f"0 {SRV_WEIGHT} 443 {public}",), True),),
    )
    groups = [
        _service_name_group(config, domain, AUTOCONFIG, autoconfig_why),
        _service_name_group(config, domain, AUTODISCOVER, autodiscover_why),
        autodiscover_srv,
        *_srv_groups(config, provider, domain),
    ]
    return DomainPlan(domain, tuple(groups))


def records(config: Config, only: str | None = None) -> str:
    """Zone-file lines for every hosted domain (or just ``only``), one block per domain.

    Deterministic: the same config always gives the same text. Raises
    ValueError naming the domain when ``only`` is not hosted.
    """
    ttl = config.dns.ttl
    blocks = []
    for domain_plan in plan(config, only):
        name = domain_plan.domain.name
        unicode = to_unicode(name)
        title = f"{name} ({unicode})" if unicode != name else name
        lines = [f"; ---- {title}: mail client auto-configuration ----"]
        for group in domain_plan.groups:
            lines.append("")
            lines += [f"; {line}" for line in group.comment]
            lines += [f"; WARNING: {warning}" for warning in group.warnings]
            for rrset in group.rrsets:
                lines += [f"{rrset.name} {ttl} IN {rrset.type} {value}" for value in rrset.values]
        blocks.append("\n".join(lines) + "\n")
    public = _absolute(config.service.public_hostname)
    header = [
        f"; DNS records for mail client auto-configuration, generated from {config.source}.",
        "; Names are absolute (trailing dot): paste them into the zone that holds them.",
        f"; {public} is this service's public_hostname: it needs A/AAAA records of its own",
        "; (the CNAMEs and the _autodiscover._tcp SRV records point at it).",
    ]
    if config.dns.addresses:
        header[-1] = "; (the _autodiscover._tcp SRV records point at it)."
    return "\n".join(["\n".join(header) + "\n", *blocks])


def dns_command(args: argparse.Namespace) -> int:
    """Print the records; config errors and unknown domains exit 1, like ``check``."""
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    try:
        text = records(loaded, args.domain)
    except ValueError as exc:
        print(f"dns: --domain: {exc}", file=sys.stderr)
        return 1
    for warning in warnings(loaded, args.domain):
        print(warning, file=sys.stderr)
    sys.stdout.write(text)
    return 0
