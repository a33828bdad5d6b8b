"""Deployment generators fed by the same model that serves the clients.

DNS records, certificate names, the nginx site: every hosted domain needs
``autoconfig.<d>`` and ``autodiscover.<d>`` to resolve to this service, to be
covered by a certificate and to be served by the web server. Generating all
of them from the config is what keeps them from drifting apart. Like the
renderers, the generators here are pure functions of the model (no IO);
the command functions beside them do the printing.
"""

from __future__ import annotations

import sys

from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.names import SERVICE_PREFIXES

__all__ = ["AUTOCONFIG", "AUTODISCOVER", "load_or_report", "mail_hostnames", "select_domains", "service_names"]

AUTOCONFIG, AUTODISCOVER = (prefix.rstrip(".") for prefix in SERVICE_PREFIXES)


def load_or_report(path: str) -> Config | None:
    """Load the config for a deployment command, or print its problems as ``check`` does and return None."""
    from mailautoconf import config

    try:
        return config.load(path).config
    except config.ConfigError as exc:
        for problem in exc.problems + exc.warnings:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} error(s); not usable", file=sys.stderr)
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


def service_names(config: Config, only: str | None = None) -> dict[str, list[str]]:
    """The names clients ask this service under: {"autoconfig": [...], "autodiscover": [...]}."""
    domains = [domain.name for _, domain in select_domains(config, only)]
    return {prefix: [f"{prefix}.{name}" for name in domains] for prefix in (AUTOCONFIG, AUTODISCOVER)}


def mail_hostnames(config: Config, only: str | None = None) -> list[str]:
    """The distinct mail server host names the config hands out, in first-use order."""
    seen: dict[str, None] = {}
    for provider, domain in select_domains(config, only):
        for server in provider.resolve_servers(domain):
            seen.setdefault(server.hostname, None)
    return list(seen)
