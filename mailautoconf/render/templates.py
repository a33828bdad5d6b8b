"""What a provider's domains share: its documents rendered once, with stand-ins for the domain.

A hoster's 100,000 domains often share a handful of providers, and each
domain's documents differ from its neighbours' only where the domain name
stands. Rendering every document of every domain, and holding all of them
in memory, costs time and gigabytes; rendering each provider once with a
stand-in domain, and filling in the real name where the stand-in landed,
costs neither.

:class:`Template` is a document split at its fill-in points: the domain's
A-label name, its U-label spelling (logins use what the admin wrote), and
the address placeholders of :mod:`mailautoconf.render.placeholders`. Filling
is a join of byte strings, cheap enough to do per request.

The stand-in trick must never change a byte. :func:`provider_templates`
therefore renders one real domain both ways and compares; a provider for
which they differ (its settings contain the stand-in text, or list every
domain with ``list_all_domains``) and every domain with an override are
rendered directly instead (:func:`own_templates`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import escape

from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import MX_DOCUMENTS
from mailautoconf.render import placeholders

__all__ = [
    "ADDRESS_TOKENS",
    "CODE_FINGERPRINT",
    "DOMAIN",
    "UNICODE",
    "ProviderTemplates",
    "Template",
    "domain_values",
    "mx_values",
    "own_document",
    "own_templates",
    "provider_templates",
]

# Tokens a template holds besides literal bytes.
DOMAIN = "domain"  # the A-label name
UNICODE = "unicode"  # the U-label name, XML-escaped
ADDRESS_TOKENS = (placeholders.ADDRESS, placeholders.LOCALPART)

# Stand-ins rendered in place of a domain: valid host names under .invalid
# (RFC 2606), so every renderer treats them as it treats a real domain.
_NAME_STAND_IN = "domain-stand-in.mailautoconf.invalid"
_UNICODE_STAND_IN = "unicode-stand-in.mailautoconf.invalid"
_STAND_IN = Domain(_NAME_STAND_IN, _UNICODE_STAND_IN)
_SPLIT_AT = (
    (_NAME_STAND_IN.encode("ascii"), DOMAIN),
    (_UNICODE_STAND_IN.encode("ascii"), UNICODE),
    *((token.encode("ascii"), token) for token in ADDRESS_TOKENS),
    *((token.encode("ascii"), token) for token in placeholders.PROFILE_TOKENS),
)


def _code_fingerprint() -> str:
    """A digest of the code that turns the model into bytes.

    Part of every version name on disk, so a new release that renders
    differently never reuses documents an old one wrote.
    """
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    # The Jinja templates of the settings page (render/page.py) shape bytes too.
    pages = package.parent / "templates"
    for path in sorted([*package.glob("*.py"), package.parent / "model.py", *pages.glob("*.*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


CODE_FINGERPRINT = _code_fingerprint()


@dataclass(frozen=True, slots=True)
class Template:
    """A document as literal byte runs and tokens (str) to fill in.

    What filling needs is worked out once, since it runs per request: the
    runs with each token as its own text, the positions of the tokens, and
    a digest of the whole, from which the service derives a filled
    document's ETag without hashing the filled bytes.
    """

    parts: tuple[bytes | str, ...]
    _literal: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        literal = tuple(part if isinstance(part, bytes) else part.encode("ascii") for part in self.parts)
        slots = tuple((index, part) for index, part in enumerate(self.parts) if isinstance(part, str))
        digest = hashlib.sha256()
        for part in self.parts:
            # Kind and length before each part: no two templates share a digest.
            raw = part if isinstance(part, bytes) else part.encode("ascii")
            digest.update(b"%c%d:" % (98 if isinstance(part, bytes) else 116, len(raw)) + raw)
        object.__setattr__(self, "_literal", literal)
        object.__setattr__(self, "_slots", slots)
        object.__setattr__(self, "digest", digest.digest())

    @classmethod
    def split(cls, content: bytes, *, names: bool = True) -> Template:
        """``content`` split at its fill-in points; ``names=False``: at the address tokens only.

        A document rendered for its own domain holds the real name, and a
        provider that cannot share may hold the stand-in text as a setting
        of its own: those are split at the address tokens only.
        """
        parts: list[bytes | str] = [content]
        for needle, token in _SPLIT_AT if names else _SPLIT_AT[2:]:
            split: list[bytes | str] = []
            for part in parts:
                if isinstance(part, str):
                    split.append(part)
                    continue
                pieces = part.split(needle)
                for index, piece in enumerate(pieces):
                    if index:
                        split.append(token)
                    if piece:
                        split.append(piece)
            parts = split
        return cls(tuple(parts))

    def size(self, values: Mapping[str, bytes]) -> int:
        """The length of :meth:`fill`'s result, without making it (the self-check compares it with the disk's)."""
        total = sum(len(part) for part in self._literal)
        for index, token in self._slots:
            value = values.get(token)
            if value:
                total += len(value) - len(self._literal[index])
        return total

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """The document with each token replaced by ``values[token]``, or left as its own text.

        Address tokens are left for the client (Thunderbird replaces
        ``%EMAILADDRESS%`` itself) unless ``values`` has them (Autodiscover).
        """
        filled = list(self._literal)
        for index, token in self._slots:
            value = values.get(token)
            if value:
                filled[index] = value
        return b"".join(filled)


def domain_values(domain: Domain) -> dict[str, bytes]:
    """The fill-ins that make a template ``domain``'s document."""
    name = domain.name.encode("ascii")
    # A host name has nothing to escape; a U-label neither, but say so only by checking.
    unicode = name if domain.unicode == domain.name else escape(domain.unicode).encode("utf-8")
    return {DOMAIN: name, UNICODE: unicode}


def mx_values() -> dict[str, bytes]:
    """The fill-ins of the MX lookup document: the client puts in the user's domain."""
    token = placeholders.DOMAIN.encode("ascii")
    return {DOMAIN: token, UNICODE: token}


@dataclass(frozen=True)
class ProviderTemplates:
    """A provider's documents for its plain domains (no override), or None where they cannot be shared."""

    digest: str  # of everything the documents depend on but the domain: part of version names
    shared: dict[str, Template] | None  # path -> template; None: render each domain itself
    mx: dict[str, Template]  # the MX lookup documents, domain left to the client


def _template_key(provider: Provider) -> Provider:
    """The provider as its plain domains' documents see it.

    Without ``list_all_domains`` a document never names another domain,
    so adding a customer domain changes no other domain's documents.
    """
    return provider if provider.list_all_domains else replace(provider, domains=())


def _dav_names_the_domain(provider: Provider) -> bool:
    """Whether a provider's CalDAV or CardDAV URL has ``{domain}`` in it.

    The MX lookup document cannot be the shared template filled with
    ``%EMAILDOMAIN%`` then: that would put the placeholder into ``<url>``,
    which the draft's clients need not fill in. It is rendered for the
    placeholder domain instead, which leaves such a section out
    (render/thunderbird.py, ``_dav``).
    """
    return any(service is not None and "{domain}" in service.url for service in (provider.caldav, provider.carddav))


def provider_templates(provider: Provider) -> ProviderTemplates:
    key = _template_key(provider)
    digest = hashlib.sha256(f"{CODE_FINGERPRINT}\0{key!r}".encode("utf-8", "surrogatepass")).hexdigest()[:24]
    shared: dict[str, Template] | None = {
        path: Template.split(render(key, _STAND_IN)) for path, render in DOCUMENTS.items()
    }
    assert shared is not None
    sample = next((domain for domain in provider.domains if domain.override is NO_OVERRIDE), None)
    if sample is not None:
        values = domain_values(sample)
        if any(shared[path].fill(values) != render(provider, sample) for path, render in DOCUMENTS.items()):
            shared = None
    mx_domain = Domain(placeholders.DOMAIN, placeholders.DOMAIN)
    if shared is not None and not _dav_names_the_domain(provider):
        mx = {path: shared[path] for path in MX_DOCUMENTS}
        mx_filled = {path: Template.split(mx[path].fill(mx_values())) for path in MX_DOCUMENTS}
    else:
        mx_filled = {path: Template.split(DOCUMENTS[path](provider, mx_domain)) for path in MX_DOCUMENTS}
    return ProviderTemplates(digest, shared, mx_filled)


def own_document(provider: Provider, domain: Domain, path: str) -> Template:
    """Document ``path`` of a domain that does not share its provider's: the very bytes publish writes for it."""
    return Template.split(DOCUMENTS[path](provider, domain), names=False)


def own_templates(provider: Provider, domain: Domain) -> dict[str, Template]:
    """The documents of a domain that does not share its provider's (an override, or no sharing)."""
    return {path: Template.split(render(provider, domain)) for path, render in DOCUMENTS.items()}
