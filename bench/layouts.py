"""Which on-disk layout to publish a reload in, at 100,000 domains (issue 8).

Plain Python in a temporary folder, no mailautoconf code: each candidate
design publishes the same documents (4 files of 2 KiB per domain, in
``mail/`` and ``autodiscover/``, as ``service.py render`` writes them):

* ``full``: today's layout: a whole new generation folder per publish,
  then one rename of the ``current`` symlink; the generation before the
  previous one is removed afterwards (two are kept).
* ``hardlink``: a new generation folder per publish made of hard links to
  the previous generation's files, except the changed domains' files, which
  are written; the same ``current`` swap and clean-up.
* ``versions``: per-domain version folders ``versions/<domain>@<hash>/``,
  one symlink per domain in ``domains/`` switched by rename(2) for a
  changed domain, ``current -> domains``; a replaced version is removed
  one publish later (readers that resolved the old symlink just before the
  switch still find it). ``versions1s``: the same, but a replaced version
  is removed only by a publish 1 s or more after it was replaced.
* ``in-place``: for contrast, one tree whose changed files are replaced one
  by one (temporary file + rename).

For each: cold publish, a change of 1 domain and of 1,000 domains (time
until the change is visible to readers), the clean-up of what that change
retired, the time a restarted publisher needs to learn what is on disk,
and the files, folders, symlinks and inodes in use afterwards (all timed
with nothing else running). Then the 1-domain change is published again,
and, where that is fast, up to 200 more back to back, while two reader
threads in a process of their own loop over that domain's
``mail/config-v1.1.xml`` and ``autodiscover/autodiscover.json``:
``path`` opens each by its full path under ``current/`` (as nginx does, one
request at a time), ``pinned`` opens the domain's folder once and both
files inside it. Each file says which version of the domain it belongs to;
a pair of two versions is *mixed*, a failed open or a short file *missing*.

    .venv/bin/python bench/layouts.py [--domains 100000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from harness import exit_on_sigterm
from harness import make_progress
from harness import table_line
from harness import work_folder

PATHS = (
    "mail/config-v1.1.xml",
    "mail/config-v1.1.evolution.xml",
    "autodiscover/autodiscover.xml",
    "autodiscover/autodiscover.json",
)
FOLDERS = ("mail", "autodiscover")
SIZE = 2048  # bytes per document, about what the renderer writes
PAIR = ("mail/config-v1.1.xml", "autodiscover/autodiscover.json")  # what the readers compare
FLIP_SECONDS = 3.0  # at most this long of repeated 1-domain changes for the readers
FLIPS = 200


progress = make_progress("layouts")


def domain_name(number: int) -> str:
    return f"d{number:06d}.example"


def document(domain: str, version: int, path: str) -> bytes:
    head = f"{domain} v{version} {path}\n".encode()
    return head + b"x" * (SIZE - len(head))


def digest(domain: str, version: int) -> str:
    return hashlib.sha256(f"{domain}\0{version}".encode()).hexdigest()[:16]


def write_domain(folder: str, domain: str, version: int) -> None:
    """One domain's folder with its four documents."""
    for sub in FOLDERS:
        os.makedirs(os.path.join(folder, sub))
    for path in PATHS:
        with open(os.path.join(folder, path), "wb") as handle:
            handle.write(document(domain, version, path))


def swap_symlink(target: str, link: str) -> None:
    """Point ``link`` at ``target`` in one rename(2)."""
    temporary = os.path.join(os.path.dirname(link), f".tmp-{os.path.basename(link)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, link)


def write_manifest(folder: str, versions: dict[str, int]) -> None:
    temporary = os.path.join(folder, ".manifest.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(versions, handle)
    os.replace(temporary, os.path.join(folder, "manifest.json"))


class Design:
    """A layout under ``root``; ``current/<domain>/<path>`` is what readers open."""

    name = ""
    summary = ""

    def __init__(self, root: str) -> None:
        self.root = root
        self.versions: dict[str, int] = {}  # what the publisher knows is on disk
        os.makedirs(root)

    def cold(self, versions: dict[str, int]) -> None:
        raise NotImplementedError

    def change(self, versions: dict[str, int]) -> None:
        """Publish new versions of some domains (``versions`` holds only those)."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove what is safe to remove now: what the publish before the last one made obsolete."""

    def remove_retired(self) -> None:
        """Remove as much as one publish makes obsolete (timed with no reader running)."""
        self.cleanup()

    def scan(self) -> int | None:
        """What a restarted publisher reads to know each domain's version on disk; None: it rewrites all."""
        with open(os.path.join(self.root, "current", "manifest.json"), encoding="utf-8") as handle:
            return len(json.load(handle))


class Generations(Design):
    """A new generation folder per publish, ``current`` swapped; two generations kept."""

    name = "full"
    summary = "whole generation per publish, swap current"
    link_unchanged = False

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.generation = 0
        self.retired: list[str] = []

    def _publish(self, new: dict[str, int]) -> None:
        previous = os.path.join(self.root, f"gen-{self.generation:06d}")
        self.generation += 1
        name = f"gen-{self.generation:06d}"
        staging = os.path.join(self.root, f".tmp-{name}")
        os.makedirs(staging)
        merged = {**self.versions, **new}
        for domain, version in merged.items():
            folder = os.path.join(staging, domain)
            if domain in new or not self.link_unchanged:
                write_domain(folder, domain, version)
                continue
            for sub in FOLDERS:
                os.makedirs(os.path.join(folder, sub))
            for path in PATHS:
                os.link(os.path.join(previous, domain, path), os.path.join(folder, path))
        write_manifest(staging, merged)
        os.rename(staging, os.path.join(self.root, name))
        swap_symlink(name, os.path.join(self.root, "current"))
        self.versions = merged
        if self.generation > 2:  # two are kept: current, and the one readers may still be in
            self.retired.append(os.path.join(self.root, f"gen-{self.generation - 2:06d}"))

    def cold(self, versions: dict[str, int]) -> None:
        self._publish(versions)

    def change(self, versions: dict[str, int]) -> None:
        self._publish(versions)

    def cleanup(self) -> None:
        for folder in self.retired:
            shutil.rmtree(folder)
        self.retired.clear()

    def scan(self) -> int | None:
        return None  # every publish writes everything: nothing to learn


class HardLinks(Generations):
    name = "hardlink"
    summary = "generation of hard links, changed files written"
    link_unchanged = True

    def scan(self) -> int | None:
        return Design.scan(self)


class Versions(Design):
    """``versions/<domain>@<hash>/``, ``domains/<domain>`` symlinks, ``current -> domains``.

    A version replaced by one publish is removed by a later one: the next
    (``grace = 0``), or the first that comes ``grace`` seconds after it was
    replaced, for readers that resolved the old symlink and have not yet
    opened their file.
    """

    name = "versions"
    summary = "per-domain version folders, symlink per domain; replaced version removed by the next publish"
    grace = 0.0

    def __init__(self, root: str) -> None:
        super().__init__(root)
        for sub in ("versions", "domains", ".staging"):
            os.makedirs(os.path.join(root, sub))
        self.publishes = 0
        self.retired: list[tuple[int, float, str]] = []  # (publish, when, folder) of replaced versions

    def _version(self, domain: str, version: int) -> str:
        name = f"{domain}@{digest(domain, version)}"
        staging = os.path.join(self.root, ".staging", name)
        write_domain(staging, domain, version)
        os.rename(staging, os.path.join(self.root, "versions", name))
        return name

    def cold(self, versions: dict[str, int]) -> None:
        domains = os.path.join(self.root, "domains")
        for domain, version in versions.items():
            os.symlink(f"../versions/{self._version(domain, version)}", os.path.join(domains, domain))
        swap_symlink("domains", os.path.join(self.root, "current"))
        self.versions = dict(versions)
        self.publishes += 1

    def change(self, versions: dict[str, int]) -> None:
        self.publishes += 1
        domains = os.path.join(self.root, "domains")
        for domain, version in versions.items():
            name = self._version(domain, version)
            swap_symlink(f"../versions/{name}", os.path.join(domains, domain))
            old = self.versions.get(domain)
            if old is not None:
                folder = os.path.join(self.root, "versions", f"{domain}@{digest(domain, old)}")
                self.retired.append((self.publishes, time.monotonic(), folder))
            self.versions[domain] = version

    def cleanup(self) -> None:
        now, kept = time.monotonic(), []
        for publish, when, folder in self.retired:
            if publish < self.publishes and now - when >= self.grace:
                shutil.rmtree(folder)
            else:
                kept.append((publish, when, folder))
        self.retired = kept

    def remove_retired(self) -> None:
        for _, _, folder in self.retired:
            shutil.rmtree(folder)
        self.retired = []

    def scan(self) -> int | None:
        found = 0
        with os.scandir(os.path.join(self.root, "domains")) as entries:
            for entry in entries:
                if not entry.name.startswith("."):
                    os.readlink(entry.path)
                    found += 1
        return found


class VersionsGrace(Versions):
    name = "versions1s"
    summary = "the same; a replaced version removed by the first publish 1 s or more later"
    grace = 1.0


class InPlace(Design):
    """One tree; each changed file replaced by its own rename."""

    name = "in-place"
    summary = "contrast: one tree, files replaced one by one"

    def __init__(self, root: str) -> None:
        super().__init__(root)
        os.makedirs(os.path.join(root, "tree"))

    def cold(self, versions: dict[str, int]) -> None:
        tree = os.path.join(self.root, "tree")
        for domain, version in versions.items():
            write_domain(os.path.join(tree, domain), domain, version)
        write_manifest(tree, versions)
        swap_symlink("tree", os.path.join(self.root, "current"))
        self.versions = dict(versions)

    def change(self, versions: dict[str, int]) -> None:
        tree = os.path.join(self.root, "tree")
        for domain, version in versions.items():
            for path in PATHS:
                final = os.path.join(tree, domain, path)
                with open(final + ".tmp", "wb") as handle:
                    handle.write(document(domain, version, path))
                os.replace(final + ".tmp", final)
        self.versions.update(versions)
        write_manifest(tree, self.versions)


DESIGNS: tuple[type[Design], ...] = (Generations, HardLinks, Versions, VersionsGrace, InPlace)


# -- readers ------------------------------------------------------------------------------


@dataclass
class ReaderCounts:
    pairs: int = 0
    mixed: int = 0
    missing: int = 0
    versions_seen: set[str] = field(default_factory=set)


def _version_of(data: bytes, domain: str, path: str) -> str | None:
    """The version a document says it is, or None for a torn or foreign one."""
    head, _, _ = data.partition(b"\n")
    parts = head.decode("ascii", "replace").split(" ")
    if len(data) != SIZE or len(parts) != 3 or parts[0] != domain or parts[2] != path:
        return None
    return parts[1]


class Reader(threading.Thread):
    """Loops over the pair of documents of one domain until stopped; counts what it saw."""

    def __init__(self, root: str, domain: str, pinned: bool) -> None:
        super().__init__(daemon=True, name=f"reader-{'pinned' if pinned else 'per-path'}")
        self.folder = os.path.join(root, "current", domain)
        self.domain = domain
        self.pinned = pinned
        self.counts = ReaderCounts()
        self.stop = threading.Event()

    def _read(self, path: str, folder_fd: int | None) -> bytes:
        if folder_fd is None:
            fd = os.open(os.path.join(self.folder, path), os.O_RDONLY)
        else:
            fd = os.open(path, os.O_RDONLY, dir_fd=folder_fd)
        try:
            return os.read(fd, SIZE + 1)
        finally:
            os.close(fd)

    def run(self) -> None:
        counts = self.counts
        while not self.stop.is_set():
            folder_fd = None
            try:
                if self.pinned:
                    folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
                found = [_version_of(self._read(path, folder_fd), self.domain, path) for path in PAIR]
            except OSError:
                found = [None]
            finally:
                if folder_fd is not None:
                    os.close(folder_fd)
            counts.pairs += 1
            if None in found:
                counts.missing += 1
            elif found[0] != found[1]:
                counts.mixed += 1
            counts.versions_seen.update(version for version in found if version)


def _reader_process(root: str, domain: str, ready: Any, stop: Any, results: Any) -> None:
    """In a process of its own (no GIL shared with the publisher): both reader threads until ``stop``."""
    sys.setswitchinterval(0.0001)  # the two readers alternate often, between each other's opens
    pair = (Reader(root, domain, pinned=False), Reader(root, domain, pinned=True))
    for reader in pair:
        reader.start()
    ready.set()
    stop.wait(3600)
    for reader in pair:
        reader.stop.set()
    for reader in pair:
        reader.join(timeout=10)
    results.send([(r.counts.pairs, r.counts.mixed, r.counts.missing, sorted(r.counts.versions_seen)) for r in pair])


@contextlib.contextmanager
def readers(root: str, domain: str, result: Result) -> Iterator[None]:
    """Both readers on ``domain`` while the block runs; their counts added to ``result``."""
    context = multiprocessing.get_context("fork")
    ready, stop = context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_reader_process, args=(root, domain, ready, stop, send), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the reader process did not start")
        yield
    finally:
        stop.set()
        counts = receive.recv() if receive.poll(30) else None
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
    if counts is None:
        raise RuntimeError("the reader process reported nothing")
    for (pairs, mixed, missing, seen), total in zip(counts, (result.per_path, result.pinned), strict=True):
        total.pairs += pairs
        total.mixed += mixed
        total.missing += missing
        total.versions_seen.update(seen)


# -- one design ---------------------------------------------------------------------------


@dataclass
class Result:
    design: type[Design]
    cold_s: float = 0.0
    one_s: float = 0.0
    many_s: float = 0.0
    cleanup_s: float = 0.0
    scan_s: float | None = None
    files: int = 0
    folders: int = 0
    symlinks: int = 0
    inodes: int = 0
    disk_bytes: int = 0
    flips: int = 0
    per_path: ReaderCounts = field(default_factory=ReaderCounts)
    pinned: ReaderCounts = field(default_factory=ReaderCounts)


def timed(action, *arguments) -> float:  # type: ignore[no-untyped-def]
    os.sync()  # the previous step's writeback is not charged to this one
    started = time.perf_counter()
    action(*arguments)
    return time.perf_counter() - started


def usage(root: str) -> tuple[int, int, int, int, int]:
    """Regular files, folders, symlinks, distinct inodes and bytes on disk under ``root``."""
    files = folders = symlinks = 0
    inodes: dict[tuple[int, int], int] = {}
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                status = entry.stat(follow_symlinks=False)
                inodes[(status.st_dev, status.st_ino)] = status.st_blocks * 512
                if entry.is_symlink():
                    symlinks += 1
                elif entry.is_dir(follow_symlinks=False):
                    folders += 1
                    stack.append(entry.path)
                else:
                    files += 1
    return files, folders, symlinks, len(inodes), sum(inodes.values())


def measure(design_type: type[Design], work: Path, domains: int, many: int, flip_seconds: float) -> Result:
    result = Result(design_type)
    root = str(work / design_type.name)
    design = design_type(root)
    names = [domain_name(number) for number in range(1, domains + 1)]
    watched = names[domains // 2]  # changed by every change below
    label = design_type.name
    try:
        # Timed, with nothing else running.
        progress(f"{label}: cold publish of {domains:,} domains")
        result.cold_s = timed(design.cold, dict.fromkeys(names, 1))
        step = max(1, domains // many)
        changed = [*[name for name in names[::step] if name != watched][: many - 1], watched]
        progress(f"{label}: change of 1 domain")
        result.one_s = timed(design.change, {watched: 2})
        design.cleanup()
        progress(f"{label}: change of {len(changed):,} domains")
        result.many_s = timed(design.change, dict.fromkeys(changed, 3))
        progress(f"{label}: removing what that change retired")
        result.cleanup_s = timed(design.remove_retired)
        progress(f"{label}: scan of what is on disk, then counting inodes")
        started = time.perf_counter()
        known = design.scan()
        result.scan_s = None if known is None else time.perf_counter() - started
        result.files, result.folders, result.symlinks, result.inodes, result.disk_bytes = usage(root)
        # Changes of the watched domain again, with the readers running (not
        # timed: they share the CPUs). Each switches it once, whatever else changes.
        progress(f"{label}: a 1-domain change again, readers running")
        with readers(root, watched, result):
            design.change({watched: 4})
            design.cleanup()
            if result.one_s < flip_seconds / 10:
                progress(f"{label}: repeated 1-domain changes for up to {flip_seconds:.0f} s, readers running")
                version, began = 4, time.perf_counter()
                while result.flips < FLIPS and time.perf_counter() - began < flip_seconds:
                    version += 1
                    design.change({watched: version})
                    design.cleanup()
                    result.flips += 1
            time.sleep(0.05)
    finally:
        progress(f"{label}: removing {root}")
        shutil.rmtree(root, ignore_errors=True)
    return result


# -- table ------------------------------------------------------------------------------------

COLUMNS = (
    ("design", 10),
    ("cold s", 8),
    ("1 dom s", 8),
    ("1,000 dom s", 12),
    ("cleanup s", 10),
    ("scan s", 7),
    ("files", 9),
    ("folders", 9),
    ("symlinks", 9),
    ("inodes", 10),
    ("disk MiB", 9),
    ("flips", 6),
    ("pairs read", 11),
    ("seen", 5),
    ("mixed/path", 11),
    ("mixed/pinned", 13),
    ("missing/path", 13),
    ("missing/pinned", 15),
)


def print_table(results: list[Result], domains: int, many: int) -> None:
    print(f"\n== Layouts: publishing a reload at {domains:,} domains (4 files of {SIZE} bytes each) ==")
    widths = [width for _, width in COLUMNS]
    print(table_line([title.replace("1,000", f"{many:,}") for title, _ in COLUMNS], widths))
    for r in results:
        cells = [
            r.design.name,
            f"{r.cold_s:.2f}",
            f"{r.one_s:.3f}",
            f"{r.many_s:.3f}",
            f"{r.cleanup_s:.3f}",
            "n/a" if r.scan_s is None else f"{r.scan_s:.3f}",
            f"{r.files:,}",
            f"{r.folders:,}",
            f"{r.symlinks:,}",
            f"{r.inodes:,}",
            f"{r.disk_bytes / 1024 / 1024:,.0f}",
            f"{r.flips}",
            f"{r.per_path.pairs + r.pinned.pairs:,}",
            f"{len(r.per_path.versions_seen | r.pinned.versions_seen)}",
            f"{r.per_path.mixed:,}",
            f"{r.pinned.mixed:,}",
            f"{r.per_path.missing:,}",
            f"{r.pinned.missing:,}",
        ]
        print(table_line(cells, widths))
    for r in results:
        print(f"  {r.design.name:<10} {r.design.summary}")
    for text in (
        "cold s, 1 dom s, N dom s: until readers can see the change (no fsync), nothing else running;",
        "cleanup s: removing what the N-domain change made obsolete; scan s: a restarted publisher learning",
        "each domain's version from disk (n/a: it rewrites everything); files..disk MiB: in use afterwards.",
        "Then a 1-domain change again while two reader threads (in another process) loop over that domain's",
        "config-v1.1.xml and autodiscover.json; flips: further 1-domain changes meanwhile; seen: versions",
        "the readers saw; mixed: a pair from two versions; missing: an open failed or a file was short.",
        "path: each file opened by its path under current/ (nginx, one request); pinned: the domain's folder",
        "opened once and both files opened inside it (a reader that needs both documents of one version).",
    ):
        print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure on-disk layouts for publishing a reload.")
    parser.add_argument("--domains", type=int, default=100_000, help="domains (default 100000)")
    parser.add_argument("--changed", type=int, default=1_000, help="domains of the larger change (default 1000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 domains, 20 changed, 0.5 s of flips")
    args = parser.parse_args(argv)
    args.flip_seconds = FLIP_SECONDS
    if args.quick:
        args.domains, args.changed, args.flip_seconds = 200, 20, 0.5
    if args.domains < 2 or not 1 <= args.changed <= args.domains:
        parser.error("--domains must be at least 2 and --changed between 1 and --domains")
    exit_on_sigterm()
    with work_folder("mailautoconf-layouts-") as work:
        results = [measure(design, work, args.domains, args.changed, args.flip_seconds) for design in DESIGNS]
    print_table(results, args.domains, args.changed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
