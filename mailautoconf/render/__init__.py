"""Render the model into the tree of documents clients are served.

Every renderer is a pure function ``(provider, domain) -> bytes``: no Flask,
no files, no clock, so the same config always gives the same bytes. Adding a
client format is a new module here and one line in :data:`DOCUMENTS`.

May import: the vocabulary only (the model is the contract).
"""

from __future__ import annotations

from collections.abc import Callable

from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import apple
from mailautoconf.render import evolution
from mailautoconf.render import outlook
from mailautoconf.render import pacc
from mailautoconf.render import page
from mailautoconf.render import thunderbird

__all__ = [
    "APPLE_PROFILE",
    "DOCUMENTS",
    "EVOLUTION",
    "MX_DOCUMENTS",
    "MX_FOLDER_PREFIX",
    "OUTLOOK_JSON",
    "OUTLOOK_POX",
    "PACC",
    "PAGES",
    "THUNDERBIRD",
    "Tree",
    "render",
]

# Paths inside a domain's folder. nginx and the web layer name documents by
# these constants, never by their own string literals.
THUNDERBIRD = "mail/config-v1.1.xml"
EVOLUTION = "mail/config-v1.1.evolution.xml"  # served to User-Agent Evolution/...
OUTLOOK_POX = "autodiscover/autodiscover.xml"  # template: %EMAILADDRESS% etc. filled per request
OUTLOOK_JSON = "autodiscover/autodiscover.json"
APPLE_PROFILE = "apple/email.mobileconfig"  # template: address and identifiers filled per request
PACC = "pacc/user-agent-configuration.json"  # empty for providers without pacc (render/pacc.py)
# The folder of a provider's MX lookup documents (autoconfig.<MX domain>,
# draft-ietf-mailmaint-autoconfig "domain hosters"): MX_FOLDER_PREFIX + the
# MX domain, e.g. "_mx.hoster.net". The underscore keeps it apart from every
# mail domain's folder. It holds THUNDERBIRD and EVOLUTION only.
MX_FOLDER_PREFIX = "_mx."
MX_DOCUMENTS = (THUNDERBIRD, EVOLUTION)
# The settings page for people, one per language (render/page.py, served by webpage.py).
PAGES = {language: f"page/{language}.html" for language in page.LANGUAGES}

Renderer = Callable[[Provider, Domain], bytes]
DOCUMENTS: dict[str, Renderer] = {
    THUNDERBIRD: thunderbird.render,
    EVOLUTION: evolution.render,
    OUTLOOK_POX: outlook.render_pox,
    OUTLOOK_JSON: outlook.render_json,
    APPLE_PROFILE: apple.render,
    PACC: pacc.render,
    **{path: page.renderer(language) for language, path in PAGES.items()},
}

# {domain name (A-label): {path inside the domain's folder: document bytes}}
Tree = dict[str, dict[str, bytes]]


def render(config: Config) -> Tree:
    """Render every document of every hosted domain."""
    return {
        domain.name: {path: renderer(provider, domain) for path, renderer in DOCUMENTS.items()}
        for provider in config.providers
        for domain in provider.domains
    }
