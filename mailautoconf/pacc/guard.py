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

The same comparison tells the DNS watcher (pacc/watch.py) which domains to
look up again soon: :func:`digest_changes` names the domains with a
published TXT record (own names) whose digest changed or appeared, and
those that no longer have one. Its cost, like the count's, is that of the
changed providers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Provider
from mailautoconf.render import PACC
from mailautoconf.render import pacc
from mailautoconf.render.templates import ProviderTemplates

__all__ = ["DigestChanges", "digest_changes", "document_keys"]


@dataclass(frozen=True)
class DigestChanges:
    """What one applied reload did to the PACC digests."""

    count: int  # domains whose document changed or appeared (the log line, /healthz pacc_digests_changed)
    # Of those, the ones with a TXT record in `dns` (own names): what the DNS watcher looks up again.
    published: tuple[str, ...] = ()
    # Domains whose TXT record `dns` no longer prints (gone, opted out, no own names, no document).
    withdrawn: tuple[str, ...] = ()


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


def digest_changes(
    before: Iterable[tuple[Provider, ProviderTemplates]], after: Iterable[tuple[Provider, ProviderTemplates]]
) -> DigestChanges:
    """Which domains of ``after`` have a PACC document that differs from (or was not in) ``before``, and more.

    ``before`` are the providers a reload replaced or removed, ``after``
    the ones it added or replaced; unchanged providers are in neither.
    """
    before, after = list(before), list(after)
    old, new = document_keys(before), document_keys(after)
    old_published, new_published = _published(before, old), _published(after, new)
    changed = [name for name, key in new.items() if old.get(name) != key]
    published = [name for name in changed if name in new_published]
    # A domain that keeps its bytes but gains own names gets a TXT record now: look it up too.
    published += [name for name in new_published if name not in old_published and old.get(name) == new[name]]
    withdrawn = [name for name in old_published if name not in new_published]
    return DigestChanges(len(changed), tuple(published), tuple(withdrawn))


def _published(prepared: list[tuple[Provider, ProviderTemplates]], keys: dict[str, bytes]) -> set[str]:
    """The domains of ``keys`` that `dns` prints a TXT record for: those with own names (pacc/digest.py)."""
    return {
        domain.name
        for provider, _ in prepared
        if provider.pacc is not None
        for domain in provider.domains
        if domain.name in keys and provider.has_own_names(domain)
    }
