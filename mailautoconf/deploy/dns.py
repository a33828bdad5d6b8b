"""``python service.py dns``: the DNS records every hosted domain needs, as BIND zone-file lines.

Clients find this service only through DNS (docs/clients.md section 4):
Thunderbird, Evolution, KMail and K-9 ask ``autoconfig.<d>``; Outlook and
Windows Mail ask ``autodiscover.<d>`` and then the ``_autodiscover._tcp.<d>``
SRV record. Clients that follow RFC 6186 (Evolution among them) look for
the mail servers themselves under ``_imaps._tcp.<d>`` and friends; calendar
and contacts clients (Thunderbird after mail setup, DAVx5, Apple devices)
look for ``_caldavs._tcp.<d>`` and ``_carddavs._tcp.<d>`` with a TXT
``path=`` beside them (RFC 6764). All of it is derived here
from the same model that serves the clients, so the records cannot drift
from the settings handed out.

A domain hoster's customers often keep their DNS elsewhere: with
``own_names = false`` a domain gets no ``autoconfig``/``autodiscover`` names,
and clients find the service through its MX records instead (the MX host's
domain is asked ``autoconfig.<mx domain>``, draft-ietf-mailmaint-autoconfig,
"domain hosters"). So a provider that lists ``mx`` hosts gets MX records for
every domain, and each MX lookup domain that is not itself hosted gets its
``autoconfig.<mx domain>`` once. ``[dns] common_names`` adds the classic
``imap.<d>`` ... ``submission.<d>`` as CNAMEs to the domain's servers.

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
from dataclasses import field

from mailautoconf import dav
from mailautoconf import paccspec
from mailautoconf.deploy import AUTOCONFIG
from mailautoconf.deploy import AUTODISCOVER
from mailautoconf.deploy import ServerHost
from mailautoconf.deploy import comment_text
from mailautoconf.deploy import common_names
from mailautoconf.deploy import load_or_report
from mailautoconf.deploy import mx_lookup_domains
from mailautoconf.deploy import select_domains
from mailautoconf.deploy import server_hosts
from mailautoconf.dnsnames import AUTODISCOVER_SRV
from mailautoconf.dnsnames import SRV_SERVICES
from mailautoconf.dnsnames import SrvService
from mailautoconf.endpoints import AUTOCONFIG as AUTOCONFIG_ENDPOINT
from mailautoconf.endpoints import AUTODISCOVER_POX
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import PORTS
from mailautoconf.model import Config
from mailautoconf.model import DavService
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import SocketType
from mailautoconf.names import to_unicode
from mailautoconf.pacc import digest as paccdns

__all__ = [
    "MX_PRIORITY_STEP",
    "SRV_SERVICES",
    "DomainPlan",
    "Group",
    "LookupPlan",
    "RRset",
    "SrvService",
    "dns_command",
    "lookup_plans",
    "plan",
    "records",
    "warnings",
    "zone_txt",
]


@dataclass(frozen=True)
class RRset:
    """Every record of one name and type that a domain needs; checked as a whole."""

    name: str  # absolute A-label name with a trailing dot
    type: str  # CNAME, A, AAAA, SRV, MX or TXT
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
class LookupPlan:
    """``autoconfig.<mx domain>`` of an MX lookup domain that is not hosted: published once."""

    mx_domain: str  # hoster.net
    provider: Provider
    groups: tuple[Group, ...]


PROTOCOL_NAMES = {"imap": "IMAP", "pop3": "POP3", "smtp": "submission (sending mail)"}
# RFC 6186 section 3.4 and RFC 2782 ("Target"): a target of "." says the
# service is decidedly not available at this domain, so clients stop looking.
NOT_OFFERED = "0 0 0 ."
# Weight 1, as in RFC 6186's examples; with one target per priority the
# weight selects nothing (RFC 2782), so its value does not matter.
SRV_WEIGHT = 1
# MX preferences 10, 20, ... in the order of [[provider]] mx: room for records in between.
MX_PRIORITY_STEP = 10


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


@dataclass(frozen=True)
class _Context:
    """What every domain's records are planned against: computed once, not per domain."""

    config: Config
    public: str  # the public host name, absolute
    hosted: dict[str, tuple[Provider, Domain]]
    cnames: frozenset[str]  # every name the records make a CNAME (absolute)
    # Caches filled while planning (server_hosts' shared lists; SRV plans by host names).
    shared_hosts: dict[int, tuple[Provider, list[ServerHost]]] = field(default_factory=dict)
    srv_plans: dict[tuple[int, tuple[str, ...]], tuple[Provider, _SrvPlan]] = field(default_factory=dict)
    # RFC 6764 plans by DAV service (id, the object kept so the id cannot be reused): computed once.
    dav_plans: dict[tuple[int, str], tuple[DavService, _DavPlan]] = field(default_factory=dict)
    pacc_bodies: paccdns.Bodies = field(default_factory=paccdns.Bodies)


def _context(config: Config) -> _Context:
    hosted = config.domains()
    public = _absolute(config.service.public_hostname)
    return _Context(config, public, hosted, frozenset(_cname_names(config, hosted, public)))


def plan(config: Config, only: str | None = None) -> list[DomainPlan]:
    """The records of every hosted domain (or just ``only``), in config order.

    Raises ValueError naming the domain when ``only`` is not hosted.
    """
    selected = select_domains(config, only)
    context = _context(config)
    return [_domain_plan(context, provider, domain) for provider, domain in selected]


def lookup_plans(config: Config) -> list[LookupPlan]:
    """``autoconfig.<mx domain>`` for every MX lookup domain that is not hosted, in config order."""
    plans = []
    for mx_domain, provider in mx_lookup_domains(config).items():
        hosts = ", ".join(host for host in provider.mx if mx_domain in (host, *_parents(host)))
        why = (
            f"Needed: the MX lookup target of provider {provider.id} (draft-ietf-mailmaint-autoconfig,",
            '"domain hosters"). Clients that find no autoconfig.<domain> take the domain of its MX',
            f"host ({hosts}) and ask https://{AUTOCONFIG}.{mx_domain}{AUTOCONFIG_ENDPOINT.path}.",
        )
        plans.append(LookupPlan(mx_domain, provider, (_service_name_group(config, mx_domain, AUTOCONFIG, why),)))
    return plans


def _parents(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[index:]) for index in range(1, len(labels))]


def warnings(config: Config, only: str | None = None) -> list[str]:
    """Problems with the records, as messages naming the config file and domain."""
    return [
        f'{config.source}: warning: domain "{domain_plan.domain.name}": {warning}'
        for domain_plan in plan(config, only)
        for group in domain_plan.groups
        for warning in group.warnings
    ]


def _cname_names(config: Config, hosted: dict[str, tuple[Provider, Domain]], public: str) -> set[str]:
    """The names our records make CNAMEs (absolute).

    ``autoconfig.<d>`` and ``autodiscover.<d>`` of the domains with own names
    and ``autoconfig.<mx domain>`` of the MX lookup domains, unless [dns]
    addresses makes them A/AAAA records; the common names. The service's own
    public_hostname is never one (it cannot alias itself).
    """
    names: set[str] = set()
    if not config.dns.addresses:
        for provider, domain in hosted.values():
            if provider.has_own_names(domain):
                names.add(_absolute(f"{AUTOCONFIG}.{domain.name}"))
                names.add(_absolute(f"{AUTODISCOVER}.{domain.name}"))
        names.update(_absolute(f"{AUTOCONFIG}.{name}") for name in mx_lookup_domains(config))
    if config.dns.common_names:
        for provider, domain in hosted.values():
            for alias in common_names(provider, domain, hosted=hosted, public_hostname=config.service.public_hostname):
                names.add(_absolute(alias.name))
    return names - {public}


def _service_name_group(config: Config, domain_name: str, prefix: str, why: tuple[str, ...]) -> Group:
    """``autoconfig.<d>`` or ``autodiscover.<d>``: a CNAME to the service, or its A/AAAA records."""
    name = _absolute(f"{prefix}.{domain_name}")
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


_SrvPlan = tuple[tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...], tuple[tuple[str, str], ...]], ...]


def _srv_values(
    context: _Context, provider: Provider, hostnames: tuple[str, ...]
) -> tuple[dict[SrvService, list[str]], list[tuple[SrvService, str]]]:
    """The SRV values of every label (empty: not offered), and the targets that are aliases.

    ``hostnames``: the domain's server host names, in the order of the
    provider's servers (incoming, then outgoing).

    Priorities are numbered per direction, across labels, so that one list of
    preferences reads from them: incoming protocols in the order the config
    first names them (RFC 6186 section 3.4: the priority across _imap and
    _pop3 says which protocol the provider prefers); within a protocol the
    implicit-TLS label first (RFC 8314 section 5.1: it gets the lower
    priority numbers); within a label the servers in config order ("most
    preferred first").
    """
    servers = list(zip(provider.incoming + provider.outgoing, hostnames, strict=True))
    cnames = context.cnames
    values: dict[SrvService, list[str]] = {service: [] for service in SRV_SERVICES}
    problems = []
    for direction in ("incoming", "outgoing"):
        protocols = list(dict.fromkeys(server.type for server, _ in servers if server.direction == direction))
        priority = 0
        for protocol in protocols:
            for service in (s for s in SRV_SERVICES if s.type == protocol):
                seen: set[tuple[str, int]] = set()
                for server, hostname in servers:
                    if server.type != protocol or (server.socket_type is SocketType.SSL) != service.implicit_tls:
                        continue
                    target = _absolute(hostname)
                    if (target, server.port) in seen:  # overrides can make two servers one
                        continue
                    seen.add((target, server.port))
                    if target in cnames:
                        problems.append((service, target))
                    values[service].append(f"{priority} {SRV_WEIGHT} {server.port} {target}")
                    priority += 1
    return values, problems


def _srv_plan(context: _Context, provider: Provider, hostnames: tuple[str, ...]) -> _SrvPlan:
    """Per protocol: the comment, (label, values) of each SRV label, and (label, target) of alias targets.

    The same for every domain whose servers have these host names: computed once.
    """
    key = (id(provider), hostnames)
    known = context.srv_plans.get(key)
    if known is not None and known[0] is provider:
        return known[1]
    values, problems = _srv_values(context, provider, hostnames)
    found = []
    for protocol in INCOMING_TYPES + OUTGOING_TYPES:
        services = [service for service in SRV_SERVICES if service.type == protocol]
        comment = [
            f"Optional: {PROTOCOL_NAMES[protocol]} servers, for clients that find them by SRV (RFC 6186);",
            "Evolution reads them (docs/clients.md section 4.1); Thunderbird and K-9 do not.",
        ]
        offered = [values[service] for service in services if values[service]]
        if len(offered) == 2:
            comment.append("Implicit TLS has the lower priority number, so it is preferred (RFC 8314).")
        if offered and not offered[0][0].startswith("0 "):
            comment.append("IMAP and POP3 share one priority order: the lower numbers say which is preferred.")
        if len(offered) < 2:
            comment.append(f'"{NOT_OFFERED}": not offered at this domain (RFC 6186), so clients stop looking.')
        labels = tuple((service.label, tuple(values[service]) or (NOT_OFFERED,)) for service in services)
        aliased = tuple((service.label, target) for service, target in problems if service in services)
        found.append((tuple(comment), labels, aliased))
    context.srv_plans[key] = (provider, tuple(found))
    return tuple(found)


def _srv_groups(context: _Context, provider: Provider, domain: Domain) -> list[Group]:
    """The RFC 6186 SRV records for the domain's servers, one group per protocol."""
    hostnames = tuple(host.hostname for host in server_hosts(provider, domain, context.shared_hosts))
    groups = []
    for comment, labels, aliased in _srv_plan(context, provider, hostnames):
        rrsets = tuple(RRset(f"{label}.{domain.name}.", "SRV", values, True) for label, values in labels)
        # RFC 2782: the target "MUST NOT be an alias"; clients may refuse it.
        problems = tuple(
            f"{label}.{domain.name}. points at {target}, which these records make a CNAME; "
            "RFC 2782 forbids an alias as SRV target: use the mail server's own host name"
            for label, target in aliased
        )
        groups.append(Group(comment, rrsets, problems))
    return groups


@dataclass(frozen=True)
class _DavPlan:
    """What every domain of one CalDAV or CardDAV service shares: computed once per service, not per domain."""

    comment: tuple[str, ...]
    host: str | None  # the SRV target, {domain} still in it; None: no SRV (warnings say why)
    srv: str  # the SRV rdata without its target: "0 1 443"
    txt: str | None  # the TXT rdata in zone-file form; None: no TXT (warnings say why)
    warnings: tuple[str, ...]


# RFC 1035 section 3.3.14: a TXT record is character-strings of at most 255 octets each.
TXT_STRING_MAX = 255


def zone_txt(text: str) -> str:
    """One TXT character-string in zone-file form (RFC 1035 section 5.1), as BIND and dnspython print it.

    Quoted; ``"`` and ``\\`` escaped with a backslash, any octet outside
    printable ASCII as ``\\DDD``. check-dns compares this text with the
    live record's as the resolver library prints it, so both must agree.
    """
    out = []
    for byte in text.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _dav_plan(context: _Context, kind: dav.DavKind, service: DavService) -> _DavPlan:
    key = (id(service), kind.kind)
    known = context.dav_plans.get(key)
    if known is not None and known[0] is service:
        return known[1]
    comment = (
        f"Optional: {kind.title} ({kind.what}) for clients that find it by SRV (RFC 6764 section 3):",
        "Thunderbird after mail setup, DAVx5, Apple devices; the TXT record beside it is the context",
        f"path (RFC 6764 section 4), without it they start at / or {kind.well_known} (section 5).",
        f"https only: no {kind.plain_label} record (RFC 6764 section 3, plain http), the config's URLs are https.",
    )
    found = dav.endpoint(service.url)
    problems: list[str] = []
    host: str | None = None
    srv = txt = ""
    if found is None:  # config/ lets no such URL through; said rather than crashed on
        problems.append(f'{kind.kind} url "{service.url}" is not an https URL: no {kind.srv_label} records')
    else:
        low, high = PORTS
        if not low <= found.port <= high:
            problems.append(f'{kind.kind} url "{service.url}": port {found.port} is not {low}-{high}: no SRV record')
        else:
            host, srv = found.host, f"0 {SRV_WEIGHT} {found.port}"
        if found.tail:
            problems.append(
                f'{kind.kind} url "{service.url}": "{found.tail}" cannot be published in DNS (SRV and TXT '
                "carry host, port and path only, RFC 6764 sections 3 and 4); clients that find it by DNS "
                f"start at {found.path}"
            )
        value = f"path={found.path}"
        if len(value.encode("utf-8")) > TXT_STRING_MAX:
            problems.append(f'{kind.kind} url "{service.url}": the path is too long for a TXT string: no TXT record')
        else:
            txt = zone_txt(value)
    plan = _DavPlan(comment, host, srv, txt or None, tuple(problems))
    context.dav_plans[key] = (service, plan)
    return plan


def _dav_groups(context: _Context, provider: Provider, domain: Domain) -> list[Group]:
    """RFC 6764: the SRV and TXT records of the domain's CalDAV and CardDAV services, where configured."""
    groups = []
    for kind in dav.KINDS:
        service = provider.caldav_for(domain) if kind.kind == "caldav" else provider.carddav_for(domain)
        if service is None:
            continue
        plan = _dav_plan(context, kind, service)
        name = f"{kind.srv_label}.{domain.name}."
        rrsets = []
        problems = plan.warnings
        if plan.host is not None:
            target = _absolute(plan.host.replace("{domain}", domain.name))
            rrsets.append(RRset(name, "SRV", (f"{plan.srv} {target}",), True))
            if target in context.cnames:
                # RFC 2782: the target "MUST NOT be an alias"; clients may refuse it.
                problems += (
                    f"{name} points at {target}, which these records make a CNAME; RFC 2782 forbids an alias "
                    "as SRV target: use the DAV server's own host name",
                )
        if plan.txt is not None:
            rrsets.append(RRset(name, "TXT", (plan.txt,), True))
        groups.append(Group(plan.comment, tuple(rrsets), problems))
    return groups


def _mx_group(context: _Context, provider: Provider, domain: Domain) -> Group:
    """The provider's MX hosts as the domain's MX records, preferences 10, 20, ... in config order."""
    values = tuple(f"{MX_PRIORITY_STEP * (index + 1)} {_absolute(host)}" for index, host in enumerate(provider.mx))
    comment = (
        f"MX records (from [[provider]] mx of {provider.id}): mail delivery, and clients that find",
        "their settings through the MX host's domain. If the zone has MX records already, they must",
        "be these (check-dns compares them).",
    )
    problems = tuple(
        f"MX {_absolute(host)} is a name these records make a CNAME; an MX target must not be an alias "
        "(RFC 2181 section 10.3): use the mail server's own host name"
        for host in provider.mx
        if _absolute(host) in context.cnames
    )
    return Group(comment, (RRset(f"{domain.name}.", "MX", values, False),), problems)


def _common_name_group(context: _Context, provider: Provider, domain: Domain) -> Group | None:
    """[dns] common_names: imap.<d> ... submission.<d> as CNAMEs to the domain's first server of each type."""
    config = context.config
    aliases = common_names(provider, domain, hosted=context.hosted, public_hostname=config.service.public_hostname)
    if not aliases:
        return None
    comment = (
        "Optional ([dns] common_names): the classic names people type and clients guess",
        "(Thunderbird's last resort tries imap.<domain> and smtp.<domain>), as CNAMEs to the",
        "servers the settings name; the mail servers' certificates must cover them.",
    )
    rrsets = tuple(RRset(_absolute(alias.name), "CNAME", (_absolute(alias.target),), True) for alias in aliases)
    return Group(comment, rrsets)


def _domain_plan(context: _Context, provider: Provider, domain: Domain) -> DomainPlan:
    config = context.config
    public = context.public
    autodiscover_srv = Group(
        (
            "Optional: Outlook, and Thunderbird for Exchange, fall back to this SRV record",
            f"when {AUTODISCOVER}.{domain.name} does not answer; Thunderbird ignores the port.",
        ),
        (RRset(f"{AUTODISCOVER_SRV}.{domain.name}.", "SRV", (f"0 {SRV_WEIGHT} 443 {public}",), True),),
    )
    if provider.has_own_names(domain):
        autoconfig_why = (
            "Needed: Thunderbird, Evolution, KMail and K-9 fetch their settings from",
            f"https://{AUTOCONFIG}.{domain.name}{AUTOCONFIG_ENDPOINT.path}.",
        )
        autodiscover_why = (
            "Needed for Outlook and Windows Mail: they post to",
            f"https://{AUTODISCOVER}.{domain.name}{AUTODISCOVER_POX.path}.",
        )
        groups = [
            _service_name_group(config, domain.name, AUTOCONFIG, autoconfig_why),
            _service_name_group(config, domain.name, AUTODISCOVER, autodiscover_why),
        ]
    else:
        found = (
            f"through the MX lookup (autoconfig.{', autoconfig.'.join(provider.mx_domains)})"
            if provider.mx_domains
            else "through the SRV records below only (the provider lists no mx hosts)"
        )
        groups = [
            Group(
                (
                    f"own_names = false: no {AUTOCONFIG}.{domain.name} or {AUTODISCOVER}.{domain.name};",
                    f"clients find the service {found}.",
                ),
                (),
            )
        ]
    groups += _pacc_groups(context, provider, domain)
    if provider.mx:
        groups.append(_mx_group(context, provider, domain))
    groups += [autodiscover_srv, *_srv_groups(context, provider, domain), *_dav_groups(context, provider, domain)]
    if config.dns.common_names:
        common = _common_name_group(context, provider, domain)
        if common is not None:
            groups.append(common)
    return DomainPlan(domain, tuple(groups))


def _pacc_groups(context: _Context, provider: Provider, domain: Domain) -> list[Group]:
    """PACC (pacc/digest.py): ua-auto-config.<d> and the digest of exactly the body served."""
    if provider.pacc is None or not provider.has_own_names(domain):
        return []
    body = context.pacc_bodies.body(provider, domain)
    if not body:
        return []  # PACC cannot describe the servers: no document (check says why)
    why = (
        f"PACC (draft-ietf-mailmaint-pacc {provider.pacc}, pacc = true): clients fetch",
        f"https://{paccspec.HOST_LABEL}.{domain.name}{paccspec.PATH}.",
    )
    digest = (
        "The SHA-256 of that document, byte for byte. It changes with every change of the",
        "provider's settings: publish the new record (keep the old one until caches expire),",
        "or PACC clients reject the document (check-dns says stale).",
    )
    txt = RRset(paccdns.txt_name(domain.name), "TXT", (f'"{paccspec.txt_record(body)}"',), False)
    return [_service_name_group(context.config, domain.name, paccspec.HOST_LABEL, why), Group(digest, (txt,))]


def records(config: Config, only: str | None = None) -> str:
    """Zone-file lines for every hosted domain (or just ``only``), one block per domain.

    Deterministic: the same config always gives the same text. Raises
    ValueError naming the domain when ``only`` is not hosted.
    """
    ttl = config.dns.ttl
    titled: list[tuple[str, tuple[Group, ...]]] = []
    for domain_plan in plan(config, only):
        name = domain_plan.domain.name
        unicode = to_unicode(name)
        title = f"{name} ({unicode})" if unicode != name else name
        titled.append((f"{title}: mail client auto-configuration", domain_plan.groups))
    if only is None:
        for lookup in lookup_plans(config):
            titled.append((f"{AUTOCONFIG}.{lookup.mx_domain}: MX lookup domain of {lookup.provider.id}", lookup.groups))
    blocks = []
    for title, groups in titled:
        lines = [f"; ---- {title} ----"]
        for group in groups:
            lines.append("")
            lines += [f"; {line}" for line in group.comment]
            lines += [f"; WARNING: {warning}" for warning in group.warnings]
            for rrset in group.rrsets:
                lines += [f"{rrset.name} {ttl} IN {rrset.type} {value}" for value in rrset.values]
        blocks.append("\n".join(lines) + "\n")
    public = _absolute(config.service.public_hostname)
    header = [
        f"; DNS records for mail client auto-configuration, generated from {comment_text(config.source)}.",
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
