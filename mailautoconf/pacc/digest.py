"""PACC's DNS records and names: ``ua-auto-config.<d>`` and the ``_ua-auto-config.<d>`` digest.

draft-ietf-mailmaint-pacc: a client asks
``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json`` and
accepts the body only when a TXT record of ``_ua-auto-config.<d>`` carries
``d=<base64 SHA-256 of the body>`` (paccspec). So ``dns`` prints, for every
domain with a PACC document, the name (a CNAME to the service, or its
A/AAAA records, as for ``autoconfig.<d>``) and the TXT record computed from
exactly the bytes the service serves: the provider's shared template filled
for the domain (render/templates.py guarantees those equal a direct render),
or the domain's own render. ``check-dns`` reports ``stale`` when the live
TXT records carry other digests only.

A domain gets PACC names only if it opts in (``pacc = true``), has a
document (PACC can describe its servers) and has own names: ``own_names =
false`` means no names under the customer's domain, and PACC has no other
way to be found.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailautoconf import paccspec
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Config
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import PACC
from mailautoconf.render import pacc
from mailautoconf.render.templates import Template
from mailautoconf.render.templates import domain_values
from mailautoconf.render.templates import provider_templates

__all__ = ["Bodies", "digest_status", "host_names", "is_digest", "txt_name", "txt_text"]


def txt_name(domain: str) -> str:
    """``_ua-auto-config.<d>.``: where the digest lives (absolute)."""
    return f"{paccspec.TXT_LABEL}.{domain}."


def is_digest(name: str, rdtype: str) -> bool:
    """Whether an RRset is a PACC digest record (checked as ``stale``/``ok``, not by equality)."""
    return rdtype == "TXT" and name.startswith(paccspec.TXT_LABEL + ".")


class Bodies:
    """The PACC bodies the service serves, per domain, from one template per provider.

    Filling a template is a join of byte strings: at 100,000 domains this
    costs a fraction of rendering each domain's JSON again.
    """

    def __init__(self) -> None:
        self._templates: dict[int, tuple[Provider, Template | None]] = {}

    def body(self, provider: Provider, domain: Domain) -> bytes:
        """The exact bytes served for ``domain``; empty when it has no PACC document."""
        if provider.pacc is None:
            return b""
        known = self._templates.get(id(provider))
        if known is None or known[0] is not provider:
            shared = provider_templates(provider).shared
            known = (provider, shared[PACC] if shared is not None else None)
            self._templates[id(provider)] = known
        template = known[1]
        if template is not None and domain.override is NO_OVERRIDE:
            return template.fill(domain_values(domain))
        return pacc.render(provider, domain)


def domains(config: Config, bodies: Bodies | None = None) -> Iterator[tuple[Provider, Domain, bytes]]:
    """Every domain that gets PACC names, with the body it is served, in config order."""
    bodies = bodies or Bodies()
    for provider in config.providers:
        if provider.pacc is None:
            continue
        for domain in provider.domains:
            if provider.has_own_names(domain):
                body = bodies.body(provider, domain)
                if body:
                    yield provider, domain, body


def host_names(config: Config) -> list[str]:
    """``ua-auto-config.<d>`` of every domain with PACC names (certificates, nginx), in config order."""
    return [f"{paccspec.HOST_LABEL}.{domain.name}" for _, domain, _ in domains(config)]


def digest_status(expected: tuple[str, ...], found: list[str]) -> str:
    """``ok`` when one live TXT record carries the digest ``expected`` holds, else ``stale``.

    ``found`` are TXT rdata in zone-file form (quoted strings, a long one
    split in several); a client accepts the body if any record matches.
    """
    want = {paccspec.parse_txt(txt_text(value)) for value in expected}
    have = {paccspec.parse_txt(txt_text(value)) for value in found}
    return "ok" if want & have - {None} else "stale"


def txt_text(rdata: str) -> str:
    """A TXT rdata's text: its quoted strings joined (RFC 1035 section 3.3.14), escapes undone."""
    parts: list[str] = []
    current: list[str] = []
    inside = escaped = False
    for char in rdata:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and inside:
            escaped = True
        elif char == '"':
            if inside:
                parts.append("".join(current))
                current = []
            inside = not inside
        elif inside:
            current.append(char)
    return "".join(parts) if parts else rdata
