"""The serving side: what each hosted domain is answered with, and lookups into it.

A :class:`Generation` maps every hosted domain to an entry; the whole
generation is swapped by one reference assignment, so a request sees either
the old or the new answer of a domain. Lookups take a domain name and use it
only as a dictionary key: nothing a client sends ever becomes a path.

At 100,000 domains the documents themselves are not held: an entry points
at its provider's shared templates (render/templates.py) and holds only its
domain's names, so memory grows by a few hundred bytes per domain rather
than by its documents. The bytes served are the bytes ``publish`` wrote to
the domain's folder (the same templates filled the same way), and
Last-Modified is those files' mtime, which nginx sends for them too.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from mailautoconf import names
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import APPLE_PROFILE
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import MX_FOLDER_PREFIX
from mailautoconf.render import THUNDERBIRD
from mailautoconf.render import apple
from mailautoconf.render import placeholders
from mailautoconf.render.signing import Signer
from mailautoconf.render.templates import DOMAIN
from mailautoconf.render.templates import UNICODE
from mailautoconf.render.templates import Template
from mailautoconf.render.templates import own_document
from mailautoconf.tree import publish

__all__ = [
    "RELOAD_OUTCOMES",
    "RENDER_BUCKETS",
    "DavTargets",
    "DiskEntry",
    "Entry",
    "Generation",
    "Health",
    "OwnTemplates",
    "PaccDns",
    "ReloadStats",
    "SigningHealth",
    "Store",
    "TemplateEntry",
    "TreeHealth",
    "etag",
    "load_generation",
]


def _address_values(address: str, path: str, domain: str) -> dict[str, bytes]:
    """What document ``path`` of ``domain`` is filled with for ``address``, escaped for XML."""
    localpart = address.rpartition("@")[0]
    values = {
        placeholders.ADDRESS: escape(address).encode("utf-8"),
        placeholders.LOCALPART: escape(localpart).encode("utf-8"),
    }
    if path == APPLE_PROFILE:
        values |= apple.profile_values(domain, address)
    return values


@functools.lru_cache(maxsize=1024)
def http_date(mtime: int) -> str:
    return format_datetime(datetime.fromtimestamp(mtime, UTC), usegmt=True)


def etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


# The documents most asked for, filled and tagged: a few popular domains get
# most requests. The key is what the bytes are made of, so an entry can never
# be stale; at most ~1024 documents of ~2 KiB are held, at any number of domains.
@functools.lru_cache(maxsize=1024)
def _filled(template: Template, name: bytes, unicode: bytes) -> tuple[bytes, str]:
    return template.fill({DOMAIN: name, UNICODE: unicode}), _template_etag(template, name, unicode)


def _template_etag(template: Template, name: bytes, unicode: bytes) -> str:
    """The ETag of ``template`` filled with a domain's names: from its digest, without hashing the document.

    The filled bytes are a function of exactly these three, so equal tags
    mean equal documents. A tag differs from :func:`etag` of the same
    bytes (which a DiskEntry answers with): a client then gets one 200
    instead of a 304, once.
    """
    digest = hashlib.blake2b(template.digest, digest_size=16)
    digest.update(b"%d:" % len(name) + name + unicode)
    return '"' + digest.hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class TemplateEntry:
    """A domain answered from templates: its provider's shared ones, or its own."""

    templates: Mapping[str, Template]
    name: bytes  # the fill-ins: A-label name, escaped U-label name
    unicode: bytes
    mtime: int  # Last-Modified of its documents

    def content(self, path: str, address: str | None = None) -> bytes:
        """Document ``path``; with ``address`` its address placeholders filled in, escaped (Autodiscover)."""
        values = {DOMAIN: self.name, UNICODE: self.unicode}
        if address is not None:
            values |= _address_values(address, path, self.name.decode("ascii"))
        return self.templates[path].fill(values)

    def document(self, path: str) -> tuple[bytes, str]:
        """Document ``path`` as it is (no address) and its ETag."""
        return _filled(self.templates[path], self.name, self.unicode)


@dataclass(frozen=True, slots=True)
class DiskEntry:
    """A domain answered from its folder on disk: the last good tree, when the config is broken at start."""

    folder: str
    mtime: int

    def content(self, path: str, address: str | None = None) -> bytes:
        with open(os.path.join(self.folder, path), "rb") as handle:
            data = handle.read()
        if address is not None:
            # Split at the tokens once and filled, as every other document: an address that spells a
            # token stays as typed.
            values = _address_values(address, path, os.path.basename(self.folder))
            data = Template.split(data, names=False).fill(values)
        return data

    def document(self, path: str) -> tuple[bytes, str]:
        """Document ``path`` as it is on disk and its ETag."""
        data = self.content(path)
        return data, etag(data)


Entry = TemplateEntry | DiskEntry


class OwnTemplates(Mapping[str, Template]):
    """The documents of a domain that does not share its provider's (an override), rendered when asked for.

    They are published to disk like every domain's, but answered from the
    model like the shared ones: a service that read them back from its tree
    answered 503 for good once the tree was deleted. Rendering a document
    costs about a millisecond, so the most asked ones are kept (a small
    LRU): memory stays bounded at any number of such domains.
    """

    __slots__ = ("domain", "provider")

    def __init__(self, provider: Provider, domain: Domain) -> None:
        self.provider = provider
        self.domain = domain

    def __getitem__(self, path: str) -> Template:
        key = (id(self.provider), self.domain.name, path)
        with _OWN_LOCK:
            found = _OWN.get(key)
            if found is not None and found[0] is self.provider:
                _OWN.move_to_end(key)
                return found[1]
        if path not in DOCUMENTS:
            raise KeyError(path)
        template = own_document(self.provider, self.domain, path)
        with _OWN_LOCK:
            _OWN[key] = (self.provider, template)
            if len(_OWN) > _OWN_SIZE:
                _OWN.popitem(last=False)
        return template

    def __iter__(self) -> Iterator[str]:
        return iter(DOCUMENTS)

    def __len__(self) -> int:
        return len(DOCUMENTS)


# (id of the provider, domain, path) -> (the provider, its template); the provider is kept to tell a
# new object that reuses a freed one's id.
_OWN: OrderedDict[tuple[int, str, str], tuple[Provider, Template]] = OrderedDict()
_OWN_LOCK = threading.Lock()
_OWN_SIZE = 1024


@dataclass(frozen=True, slots=True)
class DavTargets:
    """Where a domain's ``/.well-known/caldav`` and ``/.well-known/carddav`` redirect (RFC 6764 section 5).

    One object per provider, shared by all its domains without an override
    of their own: at 100,000 domains the map holds references, not URLs.
    The URLs are the config's, made ASCII (dav.wire_url); ``{domain}`` in a
    host stands for the domain and is filled in by :meth:`url` with the
    name the store's lookup found, so a hosted domain's A-label: a client
    chooses among the config's targets, it never makes one.
    """

    caldav: str | None  # None: no CalDAV for these domains (404)
    carddav: str | None
    per_domain: bool  # some URL holds {domain}

    def url(self, kind: str, domain: str) -> str | None:
        """The redirect target of ``kind`` (caldav, carddav) for hosted ``domain``; None if not configured."""
        url = self.caldav if kind == "caldav" else self.carddav
        if url is None or not self.per_domain:
            return url
        return url.replace("{domain}", domain)


@dataclass(frozen=True)
class Generation:
    name: str
    rendered_at: str  # ISO 8601, UTC
    domains: Mapping[str, Entry]
    # MX lookup domain -> its provider's document (autoconfig.<MX domain>).
    mx: Mapping[str, Entry] = field(default_factory=dict)
    # Hosted domain -> its RFC 6764 redirect targets; only domains with CalDAV or CardDAV.
    # Empty for a tree served from disk (load_generation): the URLs live in the config only.
    dav: Mapping[str, DavTargets] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    """What /healthz reports besides the generation: the last config outcome."""

    config_errors: tuple[str, ...] | None = None
    config_warnings: tuple[str, ...] = ()
    checked_at: str | None = None
    # Domains whose PACC document (and so DNS digest) the last applied reload changed (pacc/guard.py).
    pacc_digests_changed: int = 0


@dataclass(frozen=True)
class TreeHealth:
    """Whether the tree on disk matches what is served (selfcheck.py, and the last publish); swapped whole.

    nginx serves the static documents from the tree, so a tree that lost a
    domain's folder serves less than the service does, while the service
    answers in full from memory. Each problem names the path.
    """

    errors: tuple[str, ...] | None = None  # None: the tree matches what is served
    checked_at: str | None = None  # the last check that looked at every folder, or a publish
    repairs: int = 0  # publishes made to repair the tree since the start
    repaired_at: str | None = None
    repaired: tuple[str, ...] = ()  # what the last repair found, a few paths


@dataclass(frozen=True)
class SigningHealth:
    """Whether Apple profiles go out signed as ``[signing]`` says (pipeline.py, selfcheck.py); swapped whole."""

    state: str = "off"  # off (no [signing]), ok, expiring (within signing.EXPIRY_WARNING), error
    errors: tuple[str, ...] | None = None  # why profiles are not signed as the config says, naming the file
    warnings: tuple[str, ...] = ()
    expires_at: str | None = None  # of the certificate signing now
    signing: bool = False  # whether profiles go out signed now


@dataclass(frozen=True)
class PaccDns:
    """What pacc/watch.py last found of the PACC digests in DNS; swapped whole, read by /healthz and /metrics."""

    # "off": no provider has pacc = true, or [pacc] check_dns = false; "on"; "no resolver" (none configured).
    state: str = "off"
    stale: int = 0  # domains whose _ua-auto-config TXT records carry none of the digest served
    unknown: int = 0  # domains whose last look-up DNS did not answer
    unchecked: int = 0  # domains not looked up yet (changed and waiting, or ahead of the first sweep)
    stale_domains: tuple[str, ...] = ()  # a few of the stale ones, the longest stale first


# Upper bounds, in seconds, of the render-duration histogram: a few domains
# take milliseconds, a hoster's 100,000 a minute or more (docs/hosting.md).
RENDER_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)
# How a pipeline run ended (pipeline.Outcome.stage).
RELOAD_OUTCOMES = ("applied", "unchanged", "config_error", "publish_error", "error")


@dataclass
class ReloadStats:
    """What the pipeline did since the process started, for /metrics.

    Counts of runs by outcome, and the duration of the runs that rendered
    (applied, or failed while publishing) as histogram buckets. The
    pipeline records one run at a time; the lock keeps a scrape from
    reading a run half recorded.
    """

    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RELOAD_OUTCOMES, 0))
    render_buckets: list[int] = field(default_factory=lambda: [0] * len(RENDER_BUCKETS))
    render_count: int = 0
    render_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: str, seconds: float, *, rendered: bool) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if rendered:
                self.render_count += 1
                self.render_seconds += seconds
                for index, bound in enumerate(RENDER_BUCKETS):
                    if seconds <= bound:
                        self.render_buckets[index] += 1

    def snapshot(self) -> tuple[dict[str, int], list[int], int, float]:
        """Outcome counts, cumulative bucket counts, render count and total seconds, read together."""
        with self._lock:
            return dict(self.outcomes), list(self.render_buckets), self.render_count, self.render_seconds


@dataclass
class Store:
    """The generation being served, the health of the last reload, and what reloads did so far."""

    generation: Generation | None = None
    health: Health = field(default_factory=Health)
    reloads: ReloadStats = field(default_factory=ReloadStats)
    # Signs Apple profiles; None: they go out unsigned (no [signing], or none applied yet).
    signer: Signer | None = None
    pacc_dns: PaccDns = field(default_factory=PaccDns)
    tree: TreeHealth = field(default_factory=TreeHealth)
    signing: SigningHealth = field(default_factory=SigningHealth)

    def troubles(self) -> list[tuple[str, tuple[str, ...]]]:
        """Each kind of trouble there is now (config, tree, signing, in that order) and its lines, naming the file."""
        kinds = (("config", self.health.config_errors), ("tree", self.tree.errors), ("signing", self.signing.errors))
        return [(kind, errors) for kind, errors in kinds if errors is not None]

    def lookup(self, candidates: tuple[str | None, ...]) -> tuple[str, Entry] | None:
        """The first hosted domain among ``candidates`` and its entry."""
        generation = self.generation
        if generation is None:
            return None
        for name in candidates:
            found = generation.domains.get(name) if name else None
            if name and found is not None:
                return name, found
        return None

    def lookup_mx(self, candidates: tuple[str, ...]) -> tuple[str, Entry] | None:
        """The MX lookup domain among ``candidates`` (a Host ``autoconfig.<MX domain>``) and its entry."""
        generation = self.generation
        if generation is None:
            return None
        for name in candidates:
            found = generation.mx.get(name)
            if found is not None:
                return name, found
        return None


def load_generation(output_dir: str) -> Generation | None:
    """The tree ``current`` points at, answered from disk; None if there is none.

    Used at start when the config cannot be loaded: the last good documents
    are served rather than nothing. Files are read per request, so memory
    stays small however many domains the tree holds. Reads both this
    layout and the one before (``current`` -> ``gen-NNNNNN``).
    """
    root = os.path.join(output_dir, publish.CURRENT)
    if not os.path.isdir(root):
        return None
    manifest = publish.read_manifest(output_dir) or publish.read_manifest(root)
    domains: dict[str, Entry] = {}
    mx: dict[str, Entry] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            name = entry.name
            is_mx = name.startswith(MX_FOLDER_PREFIX)
            if not names.is_hostname(name[len(MX_FOLDER_PREFIX) :] if is_mx else name):
                continue
            # Only the document every client family starts from is required: a tree
            # written by an older release lacks the documents added since (the PACC
            # document, say), and should still be served, those answered 503 alone.
            try:
                mtime = os.stat(os.path.join(entry.path, THUNDERBIRD)).st_mtime
            except OSError:
                continue  # not a domain's folder: not served
            target = mx if is_mx else domains
            target[name[len(MX_FOLDER_PREFIX) :] if is_mx else name] = DiskEntry(entry.path, int(mtime))
    return Generation(str(manifest.get("generation", "on disk")), str(manifest.get("rendered_at", "")), domains, mx)
