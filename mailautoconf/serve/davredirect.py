"""``/.well-known/caldav`` and ``/.well-known/carddav``: the RFC 6764 section 5 redirects to the configured URLs.

Calendar and contacts clients that know only the mail address ask the
domain's host for these URIs (Thunderbird's account hub after mail setup,
``CardDAVUtils.sys.mjs`` and ``CalDavProvider.sys.mjs``; DAVx5's
``DavResourceFinder``; Apple devices), usually with PROPFIND, and follow a
redirect to the context path. They are answered here on the hosted
domains' own names and on ``autoconfig.<d>``/``autodiscover.<d>``: the
domain comes from the Host as the autoconfig view finds it (names.candidate_domains,
then the store's lookup), and its targets from the generation's
``dav`` map (pipeline.py), so a client picks one of the config's URLs and
never builds one. Not hosted, or no CalDAV/CardDAV configured: 404.

Thunderbird follows this redirect only to a URL of the same origin: to
another host its Opaque Response Blocking drops the DAV server's answer
(deploy/davnginx.py says why; tests/test_thunderbird_dav.py shows it).
For it, a hoster's DAV host needs the SRV and TXT records, or the DAV URL
goes on the domain's own name (``nginx --dav-upstream``).

Why 301: RFC 6764 section 5 shows the redirect as a 301 and clients expect
it; unlike 303 it keeps the method (RFC 9110 section 15.4.2 lets a client
change only POST), so a PROPFIND arrives at the target as a PROPFIND. A
301 is cacheable by default (RFC 9111 section 4.2.2), so ``Cache-Control``
bounds it to the DNS records' default TTL: after the operator moves the
service, the well-known answer goes stale no longer than the SRV and TXT
records do.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.dav import KINDS
from mailautoconf.serve import answers
from mailautoconf.serve import wsgi
from mailautoconf.tree.store import Store

__all__ = ["CACHE_SECONDS", "bp"]

bp = Blueprint("davredirect", __name__)
CALDAV, CARDDAV = KINDS
CACHE_SECONDS = 3600  # as [dns] ttl's default: see the module docstring


def _redirect(store: Store, kind: str) -> Response:
    """301 to the domain's ``kind`` URL; 404 when the Host names no hosted domain with one."""
    generation = store.generation  # not None: answers.rendered looked, and a store is never emptied
    found = store.lookup(names.candidate_domains(request.environ.get("HTTP_HOST", "")))
    request.environ[wsgi.LOG_KEY] = f"domain={found[0] if found else '-'}"
    targets = generation.dav.get(found[0]) if found and generation is not None else None
    url = targets.url(kind, found[0]) if targets is not None and found is not None else None
    if url is None:
        return answers.text(404, f"no {kind} service for this domain")
    headers = {"Location": url, "Cache-Control": f"max-age={CACHE_SECONDS}"}
    return answers.text(301, f"moved to {url}", **headers)


@answers.route(bp, endpoints.CALDAV)
@answers.rendered
def caldav(store: Store) -> Response:
    """Redirect to the domain's CalDAV URL (RFC 6764 section 5)."""
    return _redirect(store, CALDAV.kind)


@answers.route(bp, endpoints.CARDDAV)
@answers.rendered
def carddav(store: Store) -> Response:
    """Redirect to the domain's CardDAV URL (RFC 6764 section 5)."""
    return _redirect(store, CARDDAV.kind)
