"""Generations on disk: write a rendered tree beside the current one, swap, prune.

Layout of the output folder (``static_xml/`` by default)::

    current -> gen-000042        symlink; replaced in one rename
    gen-000041/                  the previous generation, kept for readers in flight
    gen-000042/
      manifest.json              generation, rendered_at, domain count
      example.org/mail/config-v1.1.xml
      ...
    .tmp-gen-000043/             a render in progress (or killed: removed next time)
    .lock                        one publisher at a time

A reader that resolves ``current`` once sees one whole generation: a new one
is complete on disk before the symlink swap, and a crash at any point leaves
``current`` pointing at the last good one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from mailautoconf.render import Tree

__all__ = ["CURRENT", "MANIFEST", "Published", "current_generation", "generation_names", "prune", "publish"]

CURRENT = "current"
MANIFEST = "manifest.json"
_GENERATION = re.compile(r"^gen-(\d{6,})$")
_TEMPORARY_PREFIX = ".tmp-"
_KEEP = 2  # current and the one before it


@dataclass(frozen=True)
class Published:
    generation: str
    path: str
    rendered_at: str


@contextlib.contextmanager
def _locked(output_dir: str) -> Iterator[None]:
    with open(os.path.join(output_dir, ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def generation_names(output_dir: str) -> list[str]:
    """The complete generations in ``output_dir``, oldest first."""
    try:
        entries = os.listdir(output_dir)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), name) for name in entries if (m := _GENERATION.match(name))]
    return [name for _, name in sorted(found)]


def current_generation(output_dir: str) -> str | None:
    """The generation ``current`` points at, or None before the first publish."""
    try:
        target = os.readlink(os.path.join(output_dir, CURRENT))
    except OSError:
        return None
    return target if _GENERATION.match(target) else None


def publish(tree: Tree, output_dir: str, now: datetime | None = None) -> Published:
    """Write ``tree`` as a new generation and make it current atomically."""
    os.makedirs(output_dir, exist_ok=True)
    with _locked(output_dir):
        _remove_leftovers(output_dir)
        existing = generation_names(output_dir)
        number = int(_GENERATION.match(existing[-1]).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
        generation = f"gen-{number:06d}"
        rendered_at = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        temporary = os.path.join(output_dir, _TEMPORARY_PREFIX + generation)
        _write_tree(tree, temporary)
        manifest = {"generation": generation, "rendered_at": rendered_at, "domains": len(tree)}
        with open(os.path.join(temporary, MANIFEST), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
        final = os.path.join(output_dir, generation)
        os.rename(temporary, final)
        link = os.path.join(output_dir, _TEMPORARY_PREFIX + CURRENT)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(generation, link)
        os.replace(link, os.path.join(output_dir, CURRENT))  # the one atomic step
        return Published(generation, final, rendered_at)


def _write_tree(tree: Tree, root: str) -> None:
    os.makedirs(root)
    made: set[str] = set()
    for domain, documents in tree.items():
        for relative, content in documents.items():
            path = os.path.join(root, domain, relative)
            folder = os.path.dirname(path)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            with open(path, "wb") as handle:
                handle.write(content)


def _remove_leftovers(output_dir: str) -> None:
    """Remove what a killed render left behind (we hold the lock, so nobody is writing)."""
    for name in os.listdir(output_dir):
        if name.startswith(_TEMPORARY_PREFIX):
            path = os.path.join(output_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def prune(output_dir: str) -> None:
    """Remove old generations, keeping the current one and the one before it.

    The one before stays for readers that resolved ``current`` just before
    the swap (nginx serving straight from disk).
    """
    with _locked(output_dir):
        current = current_generation(output_dir)
        names = generation_names(output_dir)
        keep = set(names[-_KEEP:]) | ({current} if current else set())
        for name in names:
            if name not in keep:
                shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
