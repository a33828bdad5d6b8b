"""The config-v1.1.xml URLs every autoconfig client builds, and the MX lookup's, as request futures.

Thunderbird, Thunderbird for Android, Evolution and KMail ask the same two
URL forms (docs/clients.md 1.2) in different orders, schemes, query strings
and agents; the walks name theirs and ask them all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.steps import AUTOCONFIG_PATH
from mailautoconf.probe.steps import WELL_KNOWN_PATH
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import query

__all__ = ["URL", "fetch_all", "provider_urls"]

URL = tuple[str, str]  # (label, url)


def provider_urls(domain: str, order: Sequence[str], params: dict[str, str]) -> list[URL]:
    """``order`` of "https autoconfig", "https well-known", "http autoconfig", "http well-known"."""
    urls = []
    for entry in order:
        scheme, _, form = entry.partition(" ")
        host, path = (f"autoconfig.{domain}", AUTOCONFIG_PATH) if form == "autoconfig" else (domain, WELL_KNOWN_PATH)
        urls.append(
            (
                f"{scheme} {host}{'' if form == 'autoconfig' else ' .well-known'}",
                f"{scheme}://{host}{path}{query(params)}",
            )
        )
    return urls


def mx_urls(domains: Sequence[str], params: dict[str, str], schemes: Sequence[str] = ("https",)) -> list[URL]:
    """``https://autoconfig.<x>/mail/config-v1.1.xml`` for each MX lookup domain, in order."""
    return [
        (f"MX {scheme} autoconfig.{domain}", f"{scheme}://autoconfig.{domain}{AUTOCONFIG_PATH}{query(params)}")
        for domain in domains
        for scheme in schemes
    ]


def fetch_all(
    target: Target, urls: Sequence[URL], agent: str, redirects: Redirects, *, common_name: bool = False
) -> list[Future[Exchange]]:
    """``common_name``: the client's TLS library accepts a host name in the Common Name only (Network.request)."""
    return [
        target.net.request_later(url, headers={"User-Agent": agent}, redirects=redirects, common_name=common_name)
        for _, url in urls
    ]
