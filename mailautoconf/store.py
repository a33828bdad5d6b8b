"""The serving side: the current generation in memory, and lookups into it.

A generation is read from disk once, into an immutable :class:`Generation`,
and swapped in by one reference assignment, so a request sees either the old
or the new documents, never a mix. Lookups take a domain name and use it
only as a dictionary key: nothing a client sends ever becomes a path.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from mailautoconf import names
from mailautoconf import publish
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import Tree
from mailautoconf.render import placeholders

__all__ = ["Document", "Generation", "Health", "Store", "build_generation", "load_generation"]


@dataclass(frozen=True)
class Document:
    """One rendered document, split at its address placeholders."""

    content: bytes  # as rendered, placeholders left in
    parts: tuple[bytes | str, ...]  # bytes are literal, str are placeholder tokens
    etag: str

    @classmethod
    def from_bytes(cls, content: bytes) -> Document:
        tokens = (placeholders.ADDRESS, placeholders.LOCALPART)
        parts: list[bytes | str] = [content]
        for token in tokens:
            split: list[bytes | str] = []
            for part in parts:
                if isinstance(part, str):
                    split.append(part)
                    continue
                pieces = part.split(token.encode("ascii"))
                for index, piece in enumerate(pieces):
                    if index:
                        split.append(token)
                    split.append(piece)
            parts = split
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        return cls(content, tuple(part for part in parts if part != b""), etag)

    def filled(self, address: str) -> bytes:
        """The document with the address placeholders replaced, XML-escaped."""
        localpart = address.rpartition("@")[0]
        values = {
            placeholders.ADDRESS: escape(address).encode("utf-8"),
            placeholders.LOCALPART: escape(localpart).encode("utf-8"),
        }
        return b"".join(p if isinstance(p, bytes) else values[p] for p in self.parts)


@dataclass(frozen=True)
class Generation:
    name: str
    rendered_at: str  # ISO 8601, UTC
    last_modified: str  # the same instant as an HTTP date
    domains: dict[str, dict[str, Document]]


@dataclass(frozen=True)
class Health:
    """What /healthz reports besides the generation: the last config outcome."""

    config_errors: tuple[str, ...] | None = None
    config_warnings: tuple[str, ...] = ()
    checked_at: str | None = None


@dataclass
class Store:
    """The generation being served and the health of the last reload."""

    generation: Generation | None = None
    health: Health = field(default_factory=Health)

    def lookup(self, candidates: tuple[str | None, ...]) -> tuple[str, dict[str, Document]] | None:
        """The first hosted domain among ``candidates`` and its documents."""
        generation = self.generation
        if generation is None:
            return None
        for name in candidates:
            found = generation.domains.get(name) if name else None
            if found is not None:
                return name, found
        return None


def build_generation(name: str, rendered_at: str, tree: Tree) -> Generation:
    """Make the in-memory generation of a rendered tree (as published under ``name``)."""
    moment = datetime.strptime(rendered_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    domains = {
        domain: {path: Document.from_bytes(content) for path, content in documents.items()}
        for domain, documents in tree.items()
    }
    return Generation(name, rendered_at, format_datetime(moment, usegmt=True), domains)


def load_generation(output_dir: str) -> Generation | None:
    """Read the generation ``current`` points at from disk, or None if there is none.

    Used at start when the config cannot be loaded: the last good documents
    are served rather than nothing.
    """
    name = publish.current_generation(output_dir)
    if name is None:
        return None
    root = os.path.join(output_dir, name)
    with open(os.path.join(root, publish.MANIFEST), encoding="utf-8") as handle:
        manifest = json.load(handle)
    tree: Tree = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or not names.is_hostname(entry.name):
                continue
            documents = {}
            for relative in DOCUMENTS:
                with open(os.path.join(root, entry.name, relative), "rb") as handle:
                    documents[relative] = handle.read()
            tree[entry.name] = documents
    return build_generation(name, str(manifest["rendered_at"]), tree)
