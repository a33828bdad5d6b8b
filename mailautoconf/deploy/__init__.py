"""Deployment generators fed by the same model that serves the clients.

DNS records, certificate names, the nginx site: every hosted domain needs
``autoconfig.<d>`` and ``autodiscover.<d>`` to resolve to this service, to be
covered by a certificate and to be served by the web server. Generating all
of them from the config is what keeps them from drifting apart. Like the
renderers, the generators here are pure functions of the model (no IO);
the command functions beside them do the printing.

Two kinds of domain need fewer names: a domain whose provider (or override)
sets ``own_names = false`` gets no ``autoconfig.<d>``/``autodiscover.<d>`` at
all (clients find the service through the provider's MX lookup domain and
the ``_autodiscover._tcp`` SRV record), and an MX lookup domain that is not
itself hosted gets exactly one name, ``autoconfig.<mx domain>``.

May import: the vocabulary, config/, render/, pacc/ (for the digest).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from mailautoconf.dnsnames import AUTOCONFIG
from mailautoconf.dnsnames import AUTODISCOVER
from mailautoconf.dnsnames import COMMON_NAMES
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider

__all__ = [
    "AUTOCONFIG",
    "AUTODISCOVER",
    "COMMON_NAMES",
    "CommonName",
    "ServerHost",
    "comment_text",
    "common_names",
    "load_or_report",
    "mail_hostnames",
    "mx_lookup_domains",
    "own_name_domains",
    "select_domains",
    "server_hosts",
    "service_names",
]


def comment_text(text: str) -> str:
    """``text`` (a file name, say) for a comment line of generated output: control characters escaped.

    A line break would end the comment, and what follows it would be a zone
    record or an nginx directive of its own.
    """
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def load_or_report(path: str) -> Config | None:
    """Load the config for a deployment command, or print its problems as ``check`` does and return None."""
    from mailautoconf import config
    from mailautoconf import problems

    try:
        return config.load(path).config
    except config.ConfigError as exc:
        problems.report(path, exc)
        return None


def select_domains(config: Config, only: str | None = None) -> list[tuple[Provider, Domain]]:
    """Every hosted domain with its provider, in config order; or just ``only``.

    Raises ValueError naming the domain when ``only`` is not hosted.
    """
    from mailautoconf import names

    selected = [(provider, domain) for provider in config.providers for domain in provider.domains]
    if only is None:
        return selected
    try:
        wanted = names.to_ascii(only)
    except ValueError as exc:
        raise ValueError(f'"{only}" is not a domain name ({exc})') from None
    chosen = [(provider, domain) for provider, domain in selected if domain.name == wanted]
    if not chosen:
        raise ValueError(f'"{only}" is not a hosted domain of {config.source}')
    return chosen


def own_name_domains(config: Config, only: str | None = None) -> list[tuple[Provider, Domain]]:
    """The hosted domains that get ``autoconfig.<d>`` and ``autodiscover.<d>`` (own_names), in config order."""
    return [(provider, domain) for provider, domain in select_domains(config, only) if provider.has_own_names(domain)]


def mx_lookup_domains(config: Config) -> dict[str, Provider]:
    """The MX lookup domains that are not hosted domains, each with its provider, in config order.

    Each needs ``autoconfig.<mx domain>`` (DNS, certificate, nginx). An MX
    lookup domain that is hosted is just that domain: its own names serve.
    """
    hosted = config.domains()
    return {name: provider for name, provider in config.mx_providers().items() if name not in hosted}


def service_names(config: Config, only: str | None = None) -> dict[str, list[str]]:
    """The names clients ask this service under: {"autoconfig": [...], "autodiscover": [...]}.

    Only the domains with own names (see :func:`own_name_domains`).
    """
    domains = [domain.name for _, domain in own_name_domains(config, only)]
    return {prefix: [f"{prefix}.{name}" for name in domains] for prefix in (AUTOCONFIG, AUTODISCOVER)}


class ServerHost(NamedTuple):
    """A mail server's host name as one domain's clients get it."""

    direction: str  # incoming, outgoing
    type: str  # imap, pop3, smtp
    hostname: str
    # Made for this domain from a {domain} template (mail.{domain}), so no other
    # domain has it; a literal host name may be shared by many domains.
    per_domain: bool


def server_hosts(
    provider: Provider, domain: Domain, shared: dict[int, tuple[Provider, list[ServerHost]]] | None = None
) -> list[ServerHost]:
    """The host names of ``domain``'s servers, incoming first, in config order (as Provider.resolve_servers).

    ``shared``: a dict kept by the caller across calls; domains whose hosts
    are the provider's literal ones then share one list (do not change it).
    """
    override = domain.override
    plain = override.hostname is None and override.incoming_hostname is None and override.outgoing_hostname is None
    if plain and shared is not None:
        known = shared.get(id(provider))
        if known is not None and known[0] is provider:
            return known[1]
    templates = {
        "incoming": override.incoming_hostname or override.hostname,
        "outgoing": override.outgoing_hostname or override.hostname,
    }
    hosts = []
    for server in provider.incoming + provider.outgoing:
        template = templates[server.direction] or server.hostname
        per_domain = "{domain}" in template
        hostname = template.replace("{domain}", domain.name) if per_domain else template
        hosts.append(ServerHost(server.direction, server.type, hostname, per_domain))
    if plain and shared is not None and not any(host.per_domain for host in hosts):
        shared[id(provider)] = (provider, hosts)
    return hosts


def mail_hostnames(config: Config, only: str | None = None) -> list[str]:
    """The distinct mail server host names the config hands out, in first-use order."""
    seen: dict[str, None] = {}
    for provider, domain in select_domains(config, only):
        for server in provider.resolve_servers(domain):
            seen.setdefault(server.hostname, None)
    return list(seen)


@dataclass(frozen=True)
class CommonName:
    """``imap.<d>`` and friends ([dns] common_names): a CNAME to the domain's server of that type."""

    name: str  # imap.example.org
    target: str  # the domain's first server of that type, e.g. mail.example.net
    type: str  # imap, pop3, smtp
    direction: str  # incoming, outgoing


def common_names(
    provider: Provider,
    domain: Domain,
    *,
    hosted: Collection[str],
    public_hostname: str,
    hosts: list[ServerHost] | None = None,
) -> list[CommonName]:
    """The common names ``domain`` gets, each aliasing its first server of the type.

    Only types the provider offers. Left out, since a CNAME there would
    clash with records of their own: a name equal to its target or to any
    of the domain's server host names (an SRV target must not be an alias,
    RFC 2782), a hosted domain, the service's public host name and the
    provider's MX hosts (an MX target must not be an alias, RFC 2181 10.3).
    ``hosts``: :func:`server_hosts` of the domain, if already at hand.
    """
    if hosts is None:
        hosts = server_hosts(provider, domain)
    taken = {host.hostname for host in hosts} | {public_hostname, *provider.mx}
    found = []
    for type_, labels in COMMON_NAMES.items():
        first = next((host for host in hosts if host.type == type_), None)
        if first is None:
            continue
        for label in labels:
            name = f"{label}.{domain.name}"
            if name in taken or name in hosted:
                continue
            found.append(CommonName(name, first.hostname, type_, first.direction))
    return found
