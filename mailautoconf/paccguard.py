"""The PACC digest guard: which domains a reload gave a new PACC document.

A PACC client accepts ``user-agent-configuration.json`` only if its SHA-256
is in the ``_ua-auto-config.<d>`` TXT record (paccspec). Any byte change,
a new host name or a display name edited, breaks every affected domain
silently until DNS is updated. So each reload that applies counts the
domains whose document changed (or appeared), the watcher logs it and
``/healthz`` carries it, and the operator runs ``dns --domain D``.

Cheap at 100,000 domains: only providers that are new objects (the loader
hands back the same object for an unchanged provider) and those that went
are looked at, and a domain answered from its provider's shared templates
is compared by the template's digest, one per provider, never by its bytes.
Only domains with their own documents (an override) are rendered again,
and only of changed providers. Counting by template digest may count a
domain whose bytes happen to come out the same from a different template;
never the other way round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Provider
from mailautoconf.render import PACC
from mailautoconf.render import pacc
from mailautoconf.render.templates import ProviderTemplates

__all__ = ["changed_domains", "document_keys"]


def document_keys(prepared: Iterable[tuple[Provider, ProviderTemplates]]) -> dict[str, bytes]:
    """Domain -> what its PACC document is made of, for the providers given; domains without one left out.

    The value is the shared template's digest (the domain's name, the only
    fill-in a PACC document has, is the key), or the SHA-256 of the
    domain's own document.
    """
    keys: dict[str, bytes] = {}
    for provider, templates in prepared:
        if provider.pacc is None:
            continue
        shared = templates.shared[PACC] if templates.shared is not None else None
        for domain in provider.domains:
            if shared is not None and domain.override is NO_OVERRIDE:
                if shared.parts:  # no parts: an empty document, none served
                    # The domain's name is the key; its U-label spelling is in no PACC document.
                    keys[domain.name] = shared.digest
                continue
            body = pacc.render(provider, domain)
            if body:
                keys[domain.name] = hashlib.sha256(body).digest()
    return keys


def changed_domains(
    before: Iterable[tuple[Provider, ProviderTemplates]], after: Iterable[tuple[Provider, ProviderTemplates]]
) -> int:
    """How many domains of ``after`` have a PACC document that differs from (or was not in) ``before``."""
    old = document_keys(before)
    return sum(1 for name, key in document_keys(after).items() if old.get(name) != key)
