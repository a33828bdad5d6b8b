"""A hoster's deployments as the real-client tests see them: services, their web names, DNS records.

tests/test_thunderbird.py and tests/test_deltachat.py run real clients
against services of several configs behind one nginx and one dnsmasq
(tests/support/tlsnet.py). What a config's hoster publishes is the same for
every client: :class:`Deployment` names its web names (DNS, certificate,
nginx site), :func:`dns_records` its SRV and MX records.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mailautoconf.model import Config
from support.hoster import web_names
from support.pki import CA
from support.service import Service
from support.tlsnet import MxRecord
from support.tlsnet import Nginx
from support.tlsnet import Site
from support.tlsnet import SrvRecord

__all__ = ["Deployment", "WebWorld", "base_domain", "dns_records", "serve_behind_nginx"]


def base_domain(host: str) -> str:
    """Thunderbird's ``Services.eTLD`` base domain for the test names (one-label public suffixes)."""
    return ".".join(host.split(".")[-2:])


@dataclass(frozen=True)
class Deployment:
    """One config served by its own service, behind the shared nginx and DNS."""

    key: str
    config: Config
    service: Service

    @property
    def public_hostname(self) -> str:
        return self.config.service.public_hostname

    @property
    def provider_domain(self) -> str:
        return base_domain(self.public_hostname)

    @property
    def mx_host(self) -> str:
        """The provider's mail exchanger, MX target of every hosted domain."""
        return f"mx.{self.provider_domain}"

    def names(self) -> list[str]:
        """The web names the hoster publishes (DNS, certificate, nginx): support/hoster.py."""
        return web_names(self.config)


def dns_records(deployment: Deployment) -> tuple[list[SrvRecord], list[MxRecord]]:
    """What a hoster publishes for each customer domain: SRV for Autodiscover, MX to its mail hosts.

    The MX records are the provider's ``mx`` hosts (preference 10, 20, ...
    in their order), else ``deployment.mx_host``.
    """
    srv: list[SrvRecord] = []
    mx: list[MxRecord] = []
    for provider, domain in deployment.config.domains().values():
        srv.append(SrvRecord(f"_autodiscover._tcp.{domain.name}", deployment.public_hostname))
        hosts = provider.mx or (deployment.mx_host,)
        mx += [MxRecord(domain.name, host, 10 * (rank + 1)) for rank, host in enumerate(hosts)]
    return srv, mx


@dataclass(frozen=True)
class WebWorld:
    """The services of several configs behind one nginx with TLS from a test CA."""

    deployments: dict[str, Deployment]
    nginx: Nginx
    trusted_ca: CA  # signs every certificate nginx presents
    untrusted_ca: CA  # one no client trusts, for the certificate faults
    names: list[str]  # every web name nginx serves, the unhosted domain's included


def serve_behind_nginx(
    stack: contextlib.ExitStack, root: Path, configs: Mapping[str, tuple[str, Config]], unhosted: str
) -> WebWorld:
    """Start a service per config (key -> TOML text and its loaded config) and nginx in front of them all.

    The first config's service also gets ``unhosted``'s three names, so a
    domain nobody hosts reaches a real service and is refused by it. Every
    process is stopped by ``stack``, in reverse order, also when a later
    start fails. Each http Autodiscover name redirects to its provider's
    public host name, as a hoster's "HTTP redirect method" does.
    """
    deployments: dict[str, Deployment] = {}
    for key, (text, config) in configs.items():
        service = Service(root / f"service-{key}", text)
        stack.callback(service.stop)
        service.start()
        deployments[key] = Deployment(key, config, service)
    trusted = CA.create("mailautoconf test CA")
    untrusted = CA.create("mailautoconf untrusted CA")
    first = next(iter(deployments.values()))
    sites = [Site(tuple(d.names()), d.service.port, d.public_hostname) for d in deployments.values()]
    sites.append(
        Site(
            (f"autoconfig.{unhosted}", f"autodiscover.{unhosted}", unhosted), first.service.port, first.public_hostname
        )
    )
    nginx = Nginx(root / "nginx", trusted, sites)
    stack.callback(nginx.stop)
    nginx.start()
    names = [name for site in sites for name in site.names]
    return WebWorld(deployments, nginx, trusted, untrusted, names)
