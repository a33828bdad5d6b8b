"""The nginx site's part for a DAV service on the hosted domains' own names (``nginx --dav-upstream``).

Why it exists: Thunderbird finds calendars and address books through the
``/.well-known/caldav``/``carddav`` redirect alone only when the redirect
stays within one origin. Its DAV requests (``CardDAVUtils.makeRequest``
in ``CardDAVUtils.sys.mjs``, ``cal.provider.prepHttpChannel`` for CalDAV)
open their channel with a content principal of the first URL and
``SEC_ALLOW_CROSS_ORIGIN_SEC_CONTEXT_IS_NULL`` (a no-cors load); after a
301 to another origin the answer is opaque, and Gecko's Opaque Response
Blocking cancels the DAV server's 207 (its JavaScript validation fails on
XML) with NS_ERROR_FAILURE, which Thunderbird reports as "Connection
error" (seen with ``MOZ_LOG=ORB:5``; with ``browser.opaqueResponseBlocking``
off the same redirect works). ``tests/test_thunderbird_dav.py`` shows both.

So a DAV URL on the mail domain itself (``https://{domain}/dav/``) is the
shape Thunderbird follows through the redirect alone; with ``--well-known``
this site holds those names' certificates, so it proxies the URLs' context
paths there to the admin's DAV server (``--dav-upstream HOST:PORT``), path
unchanged, with Host, X-Forwarded-For and X-Forwarded-Proto like every
other proxied path. Across origins the SRV and TXT records work instead
(``service.py dns``): Thunderbird then starts at the DAV host's own origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailautoconf import endpoints
from mailautoconf.dav import endpoint
from mailautoconf.deploy import own_name_domains
from mailautoconf.model import Config

__all__ = ["UPSTREAM", "DavPaths", "location", "paths", "upstream_block"]

UPSTREAM = "mailautoconf_dav"
# Paths nginx can match as written: percent-encoded ones would not match the decoded URI.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*/?")
# First path segments the site answers itself (deploy/nginx.py, paccnginx.py): a DAV path there
# would take them from the service. The last is nginx.DYNAMIC's, which the site falls back from.
_SITE_SEGMENTS = frozenset(
    {path.split("/")[1] for served in endpoints.ALL for path in served.paths if path != "/"}
    | {endpoints.ACME_CHALLENGES.split("/")[1], ".mailautoconf-dynamic"}
)
# What the site lets through to the DAV server: contacts with photos and calendar attachments
# are larger than the service's 16k; 100 MB is radicale's own default max_content_length.
MAX_BODY = "100m"


@dataclass(frozen=True)
class DavPaths:
    """The context paths of DAV URLs on the hosted domains' own names, and those the site cannot proxy."""

    paths: tuple[str, ...]  # sorted, each once
    refused: tuple[tuple[str, str], ...]  # (URL, why), in config order


def paths(loaded: Config) -> DavPaths:
    """The context paths of the CalDAV/CardDAV URLs whose host is the domain's own name (own-name domains)."""
    found: set[str] = set()
    refused: dict[str, str] = {}
    for provider, domain in own_name_domains(loaded):
        for service in (provider.caldav_for(domain), provider.carddav_for(domain)):
            if service is None:
                continue
            url = service.url_for(domain)
            parts = endpoint(url)
            if parts is None or parts.host != domain.name:
                continue
            problem = _problem(parts.path, parts.tail)
            if problem is None:
                found.add(parts.path)
            else:
                refused.setdefault(url, problem)
    return DavPaths(tuple(sorted(found)), tuple(refused.items()))


def _problem(path: str, tail: str) -> str | None:
    if tail:
        return "it has a query or fragment"
    if path == "/":
        return "it is the domain's root, which this site answers"
    if not _PLAIN_PATH.fullmatch(path):
        return "its path holds characters nginx would match decoded"
    if path.strip("/").split("/")[0] in _SITE_SEGMENTS:
        return "its path is one the site answers itself"
    return None


def upstream_block(upstream: str) -> list[str]:
    """The upstream of the DAV server (``--dav-upstream``)."""
    return [f"upstream {UPSTREAM} {{", f"    server {upstream};", "    keepalive 16;", "}", ""]


def location(dav_paths: tuple[str, ...]) -> list[str]:
    """The DAV paths of an https server with own names: to the DAV server on those names, 404 on the others."""
    if not dav_paths:
        return []
    lines = ["    # The DAV server on the own names: Thunderbird follows a well-known redirect within one origin."]
    lines += [
        f"    location ^~ {path} {{ if ($mailautoconf_own_name = 0) {{ return 404; }}"
        f" client_max_body_size {MAX_BODY}; proxy_pass http://{UPSTREAM}; }}"
        for path in dav_paths
    ]
    return lines
