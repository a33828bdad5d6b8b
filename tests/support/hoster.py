"""The names a hoster publishes for one mailautoconf config: web names and mail server names.

A test world that serves a config to a real client needs both: the web
names go into DNS, nginx and its certificate (where the client finds the
settings), the mail server names into DNS and the mail servers'
certificate (where the client then logs in). Computed from the loaded
config (mailautoconf.config), never from the service's output.
"""

from __future__ import annotations

from mailautoconf.model import Config

__all__ = ["mail_names", "web_names"]


def web_names(config: Config) -> list[str]:
    """The web names the hoster publishes (DNS, certificate, nginx), in order, once each.

    Its own public name, ``autoconfig.<x>`` for every MX lookup domain, and
    ``autoconfig.<d>``, ``autodiscover.<d>`` and ``<d>`` of every hosted
    domain that has names of its own (``own_names``).
    """
    names = [config.service.public_hostname]
    for provider in config.providers:
        names += [f"autoconfig.{x}" for x in provider.mx_domains]
    for provider, domain in config.domains().values():
        if provider.has_own_names(domain):
            names += [f"autoconfig.{domain.name}", f"autodiscover.{domain.name}", domain.name]
    return list(dict.fromkeys(names))


def mail_names(config: Config) -> list[str]:
    """Every IMAP, POP3 and SMTP host name a client of a hosted domain is given, once each.

    ``{domain}`` resolved per domain (``imap.<d>``), overrides applied: the
    names a mail server's certificate must cover.
    """
    names: list[str] = []
    for provider, domain in config.domains().values():
        names += [server.hostname for server in provider.resolve_servers(domain)]
    return list(dict.fromkeys(names))
