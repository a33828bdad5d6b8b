"""PACC's ``user-agent-configuration.json`` (draft-ietf-mailmaint-pacc).

Clients fetch ``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json``
and accept it only if the SHA-256 of the exact body is in the TXT record of
``_ua-auto-config.<d>`` (mailautoconf/paccspec.py). So the bytes must never
move for a config that did not change: keys are sorted, separators fixed
(no spaces), every non-ASCII character and ``<``, ``>``, ``&`` spelled as
``\\uXXXX`` (a name with markup cannot become markup), one final newline.

What the draft cannot say, and what is done about it:
- no port and no TLS mode ("Protocols"): a protocol is implicit TLS on its
  default port, 993, 995 or 465. A server configured otherwise (STARTTLS,
  plain, another port) is left out; a provider left with no incoming or no
  outgoing server gets no document at all (empty bytes, a 404), never one
  that would send a client somewhere wrong (clientrules.py says why);
- authentication knows passwords and OAuth2 ("Authentication"): a server
  that takes neither (or OAuth2 without ``oauth_issuer``) is left out too;
  ``password`` says whether the servers listed take one, and
  ``oauth-public`` carries the provider's ``oauth_issuer``;
- ``info.provider.name`` holds at most 60 characters and ``shortName`` 20
  ("Information"): longer names are cut there (clientrules.py warns).

The revision decides one spelling: -02 names submission ``smtp``, -03
``submit`` (paccspec.REVISIONS). Documents are empty for providers without
``pacc = true``.
"""

from __future__ import annotations

import json
from typing import Any

from mailautoconf import paccspec
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import Server
from mailautoconf.model import SocketType

__all__ = ["CONTENT_TYPE", "PASSWORD_METHODS", "chosen_servers", "expressible", "render"]

CONTENT_TYPE = "application/json"
# Methods the draft's "password": true stands for.
PASSWORD_METHODS = frozenset({"password-cleartext", "password-encrypted"})
_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def expressible(server: Server | ResolvedServer, *, oauth: bool = False) -> bool:
    """Whether PACC can describe ``server``: implicit TLS, its protocol's default port, a login it can state.

    A login PACC can state: a password, or OAuth2 when the provider names
    its issuer (``oauth``; "oauth-public").
    """
    methods = set(server.authentication)
    return (
        server.socket_type is SocketType.SSL
        and server.port == paccspec.PORTS[server.type]
        and bool(PASSWORD_METHODS & methods or (oauth and "OAuth2" in methods))
    )


def chosen_servers(provider: Provider, domain: Domain) -> dict[str, ResolvedServer]:
    """The first expressible server of each protocol, by type (imap, pop3, smtp), in config order.

    Empty when the domain has no expressible incoming or no expressible
    outgoing server: then there is no document.
    """
    chosen: dict[str, ResolvedServer] = {}
    oauth = provider.oauth_issuer is not None
    for server in provider.resolve_servers(domain):
        if expressible(server, oauth=oauth):
            chosen.setdefault(server.type, server)
    if not any(kind in chosen for kind in INCOMING_TYPES) or not any(kind in chosen for kind in OUTGOING_TYPES):
        return {}
    return chosen


def render(provider: Provider, domain: Domain) -> bytes:
    """The document served for ``domain``; empty bytes when the provider has no ``pacc`` or nothing to say."""
    revision = provider.pacc
    if revision is None:
        return b""
    chosen = chosen_servers(provider, domain)
    if not chosen:
        return b""
    protocols: dict[str, Any] = {}
    for kind, server in chosen.items():
        # -02 "smtp", -03 "submit"; imap and pop3 are spelled alike in both.
        name = paccspec.REVISIONS[revision] if kind == "smtp" else kind
        protocols[name] = {"host": server.hostname}
    for name, service in (("caldav", provider.caldav_for(domain)), ("carddav", provider.carddav_for(domain))):
        if service is not None:
            protocols[name] = {"url": service.url_for(domain)}
    authentication: dict[str, Any] = {
        "password": any(PASSWORD_METHODS & set(server.authentication) for server in chosen.values())
    }
    if provider.oauth_issuer is not None:
        # "oauth-public": the issuer only; a client secret never goes into a public document.
        authentication["oauth-public"] = {"issuer": provider.oauth_issuer}
    document = {
        "protocols": protocols,
        "authentication": authentication,
        "info": {
            "provider": {
                "name": provider.display_name_for(domain)[: paccspec.MAX_NAME],
                "shortName": provider.short_name_for(domain)[: paccspec.MAX_SHORT_NAME],
            }
        },
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (text.translate(_MARKUP) + "\n").encode("ascii")
